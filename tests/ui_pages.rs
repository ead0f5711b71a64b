//! The UI's pages and the routes that serve message content, over plain
//! HTTP: every corpus message in every tab, part downloads, the locked-down
//! HTML view, escaping, pagination and the static files.

mod common;

use base64::Engine;
use common::{Letterbox, corpus_files, send_corpus, simple_message};

const TABS: [&str; 8] = [
    "html", "source", "text", "headers", "parts", "raw", "envelope", "checks",
];

/// GET returning the status, a header and the body text.
async fn fetch(lb: &Letterbox, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = lb.get(path).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("a text body"))
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map(|v| v.to_str().expect("an ASCII header"))
        .unwrap_or("")
}

/// Every `href="<prefix>..."` in a page, in order, without duplicates.
fn links_starting_with(html: &str, prefix: &str) -> Vec<String> {
    let needle = format!("href=\"{prefix}");
    let mut links: Vec<String> = Vec::new();
    for (at, _) in html.match_indices(&needle) {
        let link = &html[at + 6..];
        let link = &link[..link.find('"').expect("a closing quote")];
        if !links.iter().any(|l| l == link) {
            links.push(link.to_string());
        }
    }
    links
}

#[tokio::test]
async fn every_corpus_message_renders_in_every_tab() {
    let Some(files) = corpus_files("every_corpus_message_renders_in_every_tab") else {
        return;
    };
    let lb = Letterbox::start();
    let (sent, mut failures) = send_corpus(&lb, &files).await;
    let (mut html_views, mut parts) = (0, 0);
    for m in &sent {
        let mut check = async |path: String, allowed: &[u16]| -> String {
            let (status, headers, body) = fetch(&lb, &path).await;
            if !allowed.contains(&status) {
                failures.push(format!(
                    "{} ({}): GET {path}: {status}: {body:.300}",
                    m.name, m.id
                ));
            } else if status == 200
                && path.starts_with("/message/")
                && !header(&headers, "content-type").starts_with("text/html")
            {
                failures.push(format!("{}: GET {path}: not HTML", m.name));
            }
            body
        };
        check(format!("/message/{}", m.id), &[200]).await;
        let mut parts_page = String::new();
        for tab in TABS {
            let body = check(format!("/message/{}/{tab}", m.id), &[200]).await;
            if tab == "parts" {
                parts_page = body;
            }
        }
        // No HTML or text part is a 404, never a server error.
        if !check(format!("/view/{}.html", m.id), &[200, 404])
            .await
            .contains("404 Not Found")
        {
            html_views += 1;
        }
        check(format!("/view/{}.txt", m.id), &[200, 404]).await;
        let prefix = format!("/api/v1/message/{}/part/", m.id);
        for part in links_starting_with(&parts_page, &prefix) {
            check(part, &[200]).await;
            parts += 1;
        }
    }
    // The corpus has HTML mail and attachments: the loops above did run.
    assert!(
        html_views > 10 && parts > 100,
        "{html_views} HTML views, {parts} parts"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

fn parts_message() -> Vec<u8> {
    format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: parts\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/html\r\n\r\n<p><img src=\"cid:pixel@x\"></p>\r\n\
--b\r\nContent-Type: image/png\r\nContent-ID: <pixel@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n{PNG}\r\n\
--b\r\nContent-Type: text/html\r\nContent-Disposition: attachment; filename=\"page.html\"\r\n\r\n<script>alert(1)</script>\r\n\
--b\r\nContent-Type: image/svg+xml\r\nContent-Disposition: attachment; filename=\"logo.svg\"\r\n\r\n<svg onload=\"alert(1)\"/>\r\n\
--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
Content-Disposition: attachment; filename=\"../../etc/\\\"quoted\\\" café.txt\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9\r\n\
--b--\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn parts_download_decoded_and_never_render_active_content() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw("a@example.com", &["b@example.com"], &parts_message())
        .await;
    let part = |n: &str| format!("/api/v1/message/{id}/part/{n}");

    // The inline image, decoded, shown inline.
    let response = lb.get(&part("2")).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(header(&headers, "content-type"), "image/png");
    assert!(header(&headers, "content-disposition").starts_with("inline; filename=\"part-2.png\""));
    assert!(header(&headers, "content-security-policy").starts_with("sandbox"));
    let png = base64::engine::general_purpose::STANDARD
        .decode(PNG)
        .unwrap();
    assert_eq!(response.bytes().await.unwrap(), png);
    // `latest` works here too, and `dl=1` makes it a download.
    let (status, headers, _) = fetch(&lb, "/api/v1/message/latest/part/2?dl=1").await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-disposition").starts_with("attachment;"));

    // HTML and SVG are only ever downloads, sandboxed.
    for (n, name, content_type) in [
        ("3", "page.html", "text/html"),
        ("4", "logo.svg", "image/svg+xml"),
    ] {
        let (status, headers, body) = fetch(&lb, &part(n)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(header(&headers, "content-type"), content_type);
        assert_eq!(
            header(&headers, "content-disposition"),
            format!("attachment; filename=\"{name}\"; filename*=UTF-8''{name}")
        );
        assert!(header(&headers, "content-security-policy").starts_with("sandbox;"));
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    }

    // Text keeps its charset; the filename loses its path and quotes.
    let response = lb.get(&part("5")).await;
    let headers = response.headers().clone();
    assert_eq!(
        header(&headers, "content-type"),
        "text/plain; charset=iso-8859-1"
    );
    assert_eq!(
        header(&headers, "content-disposition"),
        "inline; filename=\"_quoted_ caf_.txt\"; filename*=UTF-8''%22quoted%22%20caf%C3%A9.txt"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"caf\xe9");

    // A container has no bytes of its own; unknown parts and messages are 404.
    for path in [
        part("0"),
        part("9"),
        "/api/v1/message/nope/part/1".to_string(),
    ] {
        let (status, json) = lb.get_json(&path).await;
        assert_eq!(status, 404, "{path}: {json}");
        assert!(json["Error"].is_string(), "{json}");
    }
}

#[tokio::test]
async fn the_html_view_is_locked_down() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw("a@example.com", &["b@example.com"], &parts_message())
        .await;

    let (status, headers, body) = fetch(&lb, &format!("/view/{id}.html")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    let csp = header(&headers, "content-security-policy");
    assert!(
        csp.starts_with("default-src 'none'; img-src 'self' data:;"),
        "{csp}"
    );
    assert!(
        csp.contains("sandbox allow-popups allow-popups-to-escape-sandbox"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
    assert!(!csp.contains("script"), "{csp}");
    assert_eq!(header(&headers, "x-frame-options"), "SAMEORIGIN");
    assert_eq!(body, format!("<p><img src=\"/view/{id}/part/2\"></p>"));

    let (_, headers, body) = fetch(&lb, &format!("/view/{id}.html?remote=1&embed=1")).await;
    assert!(
        header(&headers, "content-security-policy")
            .starts_with("default-src 'none'; img-src * data:;")
    );
    assert!(body.starts_with("<base target=\"_blank\"><p>"), "{body}");

    // No text part here; a message with one serves it as text.
    assert_eq!(fetch(&lb, &format!("/view/{id}.txt")).await.0, 404);
    let plain = lb.send_simple("plain").await;
    let (status, headers, body) = fetch(&lb, &format!("/view/{plain}.txt")).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        "text/plain; charset=utf-8"
    );
    assert!(header(&headers, "content-security-policy").starts_with("sandbox"));
    assert_eq!(body, "Hello from the tests.\r\n");
    assert_eq!(fetch(&lb, &format!("/view/{plain}.html")).await.0, 404);

    // Mailpit's /view/{ID} and /view/latest open the message page.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    for (path, target) in [
        (format!("/view/{id}"), &id),
        ("/view/latest".to_string(), &plain),
    ] {
        let response = no_redirects.get(lb.url(&path)).send().await.unwrap();
        assert!(
            response.status().is_redirection(),
            "{path}: {}",
            response.status()
        );
        assert_eq!(
            header(response.headers(), "location"),
            format!("/message/{target}")
        );
    }
}

#[tokio::test]
async fn pages_escape_everything_a_message_carries() {
    let lb = Letterbox::start();
    let data = "From: \"<b>Bold</b>\" <x@example.com>\r\nTo: y@example.com\r\n\
Subject: <script>alert(1)</script>\r\nX-Evil: \"><img src=x onerror=alert(1)>\r\n\r\n\
<script>alert(2)</script> https://example.com/?a=1&b=\"2\"\r\n";
    let id = lb
        .send_raw("x@example.com", &["y@example.com"], data.as_bytes())
        .await;
    let pages = [
        "/".to_string(),
        format!("/message/{id}"),
        format!("/message/{id}/text"),
        format!("/message/{id}/headers"),
        format!("/message/{id}/raw"),
    ];
    for page in pages {
        let (status, _, body) = fetch(&lb, &page).await;
        assert_eq!(status, 200, "{page}");
        for raw in ["<script>alert", "<b>Bold", "<img src=x"] {
            assert!(!body.contains(raw), "{page} contains {raw:?} unescaped");
        }
    }
    let (_, _, text) = fetch(&lb, &format!("/message/{id}/text")).await;
    assert!(
        text.contains("&#60;script&#62;alert(2)&#60;/script&#62;"),
        "{text}"
    );
    // The link stops at the quote; its text and target are escaped.
    assert!(
        text.contains("<a href=\"https://example.com/?a=1&#38;b=\" rel="),
        "{text}"
    );
}

#[tokio::test]
async fn pages_carry_our_policy_and_missing_things_are_404_pages() {
    let lb = Letterbox::start();
    let id = lb.send_simple("policy").await;
    let (status, headers, body) = fetch(&lb, "/").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    assert!(header(&headers, "content-security-policy").starts_with("default-src 'self';"));
    assert_eq!(header(&headers, "x-frame-options"), "DENY");
    assert!(
        body.contains("<title>(1) Inbox · Letterbox</title>"),
        "{body}"
    );

    for path in [
        "/message/01NOSUCHMESSAGE0000000000".to_string(),
        format!("/message/{id}/nope"),
    ] {
        let (status, headers, body) = fetch(&lb, &path).await;
        assert_eq!(status, 404, "{path}");
        assert!(
            header(&headers, "content-type").starts_with("text/html"),
            "{path}"
        );
        assert!(body.contains("<h1>404 Not Found</h1>"), "{path}: {body}");
        assert!(header(&headers, "content-security-policy").starts_with("default-src 'self';"));
    }
    // `latest` works for pages too.
    let (status, _, body) = fetch(&lb, "/message/latest/headers").await;
    assert_eq!(status, 200);
    assert!(body.contains(&format!("data-id=\"{id}\"")));
}

#[tokio::test]
async fn static_files_are_embedded_with_types_and_etags() {
    let lb = Letterbox::start();
    for (path, content_type) in [
        ("/static/app.js", "text/javascript; charset=utf-8"),
        ("/static/style.css", "text/css; charset=utf-8"),
        ("/static/favicon.svg", "image/svg+xml"),
    ] {
        let (status, headers, body) = fetch(&lb, path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(header(&headers, "content-type"), content_type, "{path}");
        assert!(!body.is_empty());
        let etag = header(&headers, "etag").to_string();
        assert!(etag.starts_with('"'), "{path}: {etag}");
        let again = reqwest::Client::new()
            .get(lb.url(path))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
    }
    assert_eq!(fetch(&lb, "/static/nope.js").await.0, 404);
}

/// The `./x.js` modules a script imports statically.
fn imports(script: &str) -> Vec<String> {
    script
        .split("from '")
        .skip(1)
        .filter_map(|rest| rest.split_once('\''))
        .filter_map(|(path, _)| path.strip_prefix("./"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn every_module_the_page_imports_is_preloaded_with_it() {
    // The browser learns of a module's imports only once it has it: without
    // preloading, the page's 11 modules came in three waves of requests
    // before it went live.
    let lb = Letterbox::start();
    let (_, _, page) = fetch(&lb, "/").await;
    let preloaded: std::collections::BTreeSet<String> = page
        .split("<link rel=\"modulepreload\" href=\"/static/")
        .skip(1)
        .filter_map(|rest| rest.split_once('"').map(|(path, _)| path.to_string()))
        .collect();
    let mut imported = std::collections::BTreeSet::new();
    let mut queue = vec!["app.js".to_string()];
    while let Some(module) = queue.pop() {
        let (status, _, script) = fetch(&lb, &format!("/static/{module}")).await;
        assert_eq!(status, 200, "{module}");
        for import in imports(&script) {
            if imported.insert(import.clone()) {
                queue.push(import);
            }
        }
    }
    assert!(imported.len() >= 5, "imports were read: {imported:?}");
    assert_eq!(preloaded, imported);
}

/// Message rows on an inbox page (not the empty row of the template).
fn rows(html: &str) -> usize {
    html.matches("class=\"open\" href=\"/message/0").count()
}

#[tokio::test]
async fn the_inbox_is_paginated() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    for i in 0..120 {
        smtp.send_message(
            "a@example.com",
            &["b@example.com"],
            &simple_message(&format!("page test {i}"), "x"),
        )
        .await;
    }
    smtp.quit().await;

    let (_, _, first) = fetch(&lb, "/").await;
    assert_eq!(rows(&first), 50);
    assert!(first.contains("page test 119") && !first.contains("page test 69<"));
    assert!(first.contains(">1–50 of 120<"));
    assert_eq!(
        links_starting_with(&first, "/?start"),
        ["/?start=50", "/?start=100"]
    );

    let (_, _, last) = fetch(&lb, "/?start=100").await;
    assert_eq!(rows(&last), 20);
    assert!(last.contains(">101–120 of 120<"));
    assert!(last.contains("page test 0<"));
    assert_eq!(links_starting_with(&last, "/?start"), ["/?start=50"]);

    let (_, _, found) = fetch(&lb, "/?q=subject%3A%22page+test+11%22").await;
    assert!(found.contains(">1–11 of 11<"), "{found}");
}
