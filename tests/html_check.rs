//! `GET /api/v1/message/{ID}/html-check`: Mailpit's shape exactly, the
//! features found in elements, attributes, `<style>` blocks and inline
//! styles, the opt-in locations, and partial results for hostile HTML.

mod common;

use std::collections::HashSet;

use common::Letterbox;
use serde_json::{Value, json};

const HTML: &str = "<!DOCTYPE html>\n<html><head>\n<style>\n@media (prefers-color-scheme: dark) {\n  .card:hover { display: flex; }\n}\n</style>\n</head>\n<body>\n<div class=\"card\" style=\"border-radius: 8px; margin: 1rem\">\n<p>Hello</p>\n<svg width=\"10\"></svg>\n<img src=\"https://cdn.example.test/logo.webp\" alt=\"\">\n<a href=\"#top\">top</a>\n</div>\n</body></html>\n";

async fn send_html(lb: &Letterbox, html: &str) -> String {
    lb.send_api(&json!({
        "From": {"Email": "app@example.test"},
        "To": [{"Email": "user@example.test"}],
        "Subject": "newsletter",
        "HTML": html,
    }))
    .await
}

fn keys(value: &Value) -> HashSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

fn warning<'a>(check: &'a Value, slug: &str) -> &'a Value {
    check["Warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["Slug"] == slug)
        .unwrap_or_else(|| panic!("{slug} not among the warnings"))
}

#[tokio::test]
async fn features_are_found_and_scored_in_mailpits_shape() {
    let lb = Letterbox::start();
    let id = send_html(&lb, HTML).await;
    let check = lb.get_ok(&format!("/api/v1/message/{id}/html-check")).await;

    assert_eq!(
        keys(&check),
        HashSet::from(["Platforms", "Total", "Warnings"])
    );
    assert_eq!(
        keys(&check["Total"]),
        HashSet::from(["Nodes", "Partial", "Supported", "Tests", "Unsupported"])
    );
    let flex = warning(&check, "css-display-flex");
    assert_eq!(
        keys(flex),
        HashSet::from([
            "Category",
            "Description",
            "Keywords",
            "NotesByNumber",
            "Results",
            "Score",
            "Slug",
            "Tags",
            "Title",
            "URL"
        ])
    );
    assert_eq!(
        keys(&flex["Score"]),
        HashSet::from(["Found", "Partial", "Supported", "Unsupported"])
    );
    assert_eq!(flex["Score"]["Found"], 1);
    assert_eq!(flex["Category"], "css");
    assert!(
        flex["URL"]
            .as_str()
            .unwrap()
            .starts_with("https://www.caniemail.com/")
    );
    let result = &flex["Results"][0];
    assert_eq!(
        keys(result),
        HashSet::from([
            "Family",
            "Name",
            "NoteNumber",
            "Platform",
            "Support",
            "Version"
        ])
    );
    assert!(["yes", "no", "partial"].contains(&result["Support"].as_str().unwrap()));

    // Found in elements, attributes, the style block and inline styles.
    for slug in [
        "html-doctype",
        "html-style",
        "css-at-media",
        "css-at-media-prefers-color-scheme",
        "css-pseudo-class-hover",
        "css-selector-class",
        "html-div",
        "css-border-radius",
        "css-margin",
        "css-unit-rem",
        "html-svg",
        "html-width",
        "image-webp",
        "html-anchor-links",
    ] {
        warning(&check, slug);
    }
    // style, body, div, p, svg, img, a
    assert_eq!(check["Total"]["Nodes"], 7);
    let total = &check["Total"];
    let sum: f64 = ["Supported", "Partial", "Unsupported"]
        .iter()
        .map(|k| total[*k].as_f64().unwrap())
        .sum();
    assert!((sum - 100.0).abs() < 0.01, "{total}");
    assert!(total["Tests"].as_u64().unwrap() > 250);
    assert!(
        check["Platforms"]["ios"]
            .as_array()
            .unwrap()
            .contains(&json!("Gmail"))
    );

    // Worst first: unsupported and partial shares, weighted by use.
    let nodes = total["Nodes"].as_f64().unwrap();
    let badness: Vec<f64> = check["Warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let s = &w["Score"];
            let weight = (s["Found"].as_f64().unwrap() / nodes).min(1.0);
            (s["Partial"].as_f64().unwrap() + s["Unsupported"].as_f64().unwrap()) * weight
        })
        .collect();
    assert!(
        badness.windows(2).all(|w| w[0] >= w[1] - 1e-3),
        "{badness:?}"
    );

    // `latest` works as elsewhere.
    assert_eq!(lb.get_ok("/api/v1/message/latest/html-check").await, check);
}

#[tokio::test]
async fn locations_say_where_each_feature_is_used() {
    let lb = Letterbox::start();
    let id = send_html(&lb, HTML).await;
    let check = lb
        .get_ok(&format!("/api/v1/message/{id}/html-check?locations=true"))
        .await;
    assert_eq!(check["Notes"], json!([]));
    let places = |slug: &str| warning(&check, slug)["Locations"].clone();
    assert_eq!(
        places("css-display-flex"),
        json!([{"Line": 5, "Context": "display: flex"}])
    );
    assert_eq!(
        places("css-at-media-prefers-color-scheme"),
        json!([{"Line": 4, "Context": "@media (prefers-color-scheme: dark)"}])
    );
    assert_eq!(
        places("css-border-radius"),
        json!([{"Line": 10, "Context": "border-radius: 8px"}])
    );
    assert_eq!(
        places("html-anchor-links"),
        json!([{"Line": 14, "Context": "<a href=\"#top\">"}])
    );
}

#[tokio::test]
async fn hostile_html_gets_a_partial_result_with_a_note() {
    let lb = Letterbox::start();
    // 6 MB of styled, deeply nested elements (only the first 4 MiB are
    // examined), and CSS nested 50,000 deep.
    let nested = format!(
        "<style>{}{}</style>{}",
        "@media screen {".repeat(50_000),
        "}".repeat(50_000),
        "<div style=\"color: rgb(1,2,3)\">".repeat(200_000)
    );
    assert!(nested.len() > 6_000_000);
    // Over SMTP: the send API takes smaller bodies.
    let mime = format!(
        "From: app@example.test\r\nTo: user@example.test\r\nSubject: big\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{}\r\n",
        nested.replace('>', ">\r\n")
    );
    let id = lb
        .send_raw("app@example.test", &["user@example.test"], mime.as_bytes())
        .await;
    let response = lb
        .get(&format!("/api/v1/message/{id}/html-check?locations=1"))
        .await;
    assert_eq!(response.status(), 200);
    let note = response.headers()["x-letterbox-note"]
        .to_str()
        .unwrap()
        .to_string();
    let check: Value = response.json().await.unwrap();
    let notes: Vec<&str> = check["Notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.iter().any(|n| n.starts_with("partial result:")),
        "{notes:?}"
    );
    assert!(
        notes.contains(&"CSS partly examined: CSS nested deeper than the check looks"),
        "{notes:?}"
    );
    assert_eq!(note, notes.join("; "));
    assert!(
        warning(&check, "css-rgb")["Score"]["Found"]
            .as_u64()
            .unwrap()
            > 1000
    );
    assert!(
        warning(&check, "css-at-media")["Locations"]
            .as_array()
            .unwrap()
            .len()
            <= 25
    );
}

#[tokio::test]
async fn messages_without_html_and_unknown_messages() {
    let lb = Letterbox::start();
    lb.send_simple("plain text only").await;
    let (status, body) = lb.get_json("/api/v1/message/latest/html-check").await;
    assert_eq!(
        (status, body),
        (400, json!({"Error": "message does not contain HTML"}))
    );
    let (status, body) = lb.get_json("/api/v1/message/nosuch/html-check").await;
    assert_eq!(status, 404, "{body}");
}
