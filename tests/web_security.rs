//! Web security over HTTP: every kind of response carries the security
//! headers, every state-changing route and the WebSocket refuse other
//! origins, message parts cannot render as HTML on our origin, and no
//! filename or URL reaches outside what it names. (Script execution in a
//! real browser is `ui_xss.rs`.)

mod common;

use common::Letterbox;
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A message whose parts try every way to be rendered as a page, with
/// filenames that try to leave the download directory or break headers.
fn hostile_parts() -> Vec<u8> {
    let parts: &[(&str, &str, &str)] = &[
        ("text/html", "../../evil.html", "<script>alert(1)</script>"),
        ("TEXT/HTML", "..\\..\\win.ini", "<script>alert(2)</script>"),
        ("image/svg+xml", "/etc/passwd", "<svg onload=\"alert(3)\"/>"),
        (
            "application/xhtml+xml",
            "a\"b;c.xhtml",
            "<html xmlns=\"http://www.w3.org/1999/xhtml\"><script>alert(4)</script></html>",
        ),
        ("text/xml", ".htaccess", "<x/>"),
        ("application/pdf", "  . .hidden.pdf  ", "%PDF-1.4"),
        ("application/x-unknown", "ab\u{202e}lmth.exe", "MZ"),
        (
            "text/html; charset=utf-8\"; x=\"",
            "name\r\nSet-Cookie: x=y.html",
            "<script>alert(5)</script>",
        ),
        (
            "image/png",
            "looks-like.png",
            "<html><script>alert(6)</script></html>",
        ),
        ("text/plain", "plain.html", "<script>alert(7)</script>"),
        ("not a type", "", "<script>alert(8)</script>"),
    ];
    let mut out = String::from(
        "Subject: hostile parts\r\nContent-Type: multipart/mixed; boundary=\"h\"\r\n\r\n\
         --h\r\nContent-Type: text/plain\r\n\r\nbody\r\n",
    );
    for (ctype, name, body) in parts {
        let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
        // A CR LF inside the name would end the header: fold it instead.
        let quoted = quoted.replace("\r\n", "\r\n ");
        out.push_str(&format!(
            "--h\r\nContent-Type: {ctype}\r\n\
             Content-Disposition: attachment; filename=\"{quoted}\"\r\n\r\n{body}\r\n"
        ));
    }
    out.push_str("--h--\r\n");
    out.into_bytes()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map_or("", |v| v.to_str().unwrap_or("<not ASCII>"))
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw(
            "a@example.com",
            &["b@example.com"],
            b"Subject: h\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n\r\n\
              --a\r\nContent-Type: text/plain\r\n\r\ntext\r\n\
              --a\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--a--\r\n",
        )
        .await;
    let paths = [
        "/".to_string(),
        format!("/message/{id}"),
        format!("/message/{id}/raw"),
        format!("/message/{id}/nope"),
        "/message/01HZZZZZZZZZZZZZZZZZZZZZZZ".to_string(),
        format!("/view/{id}.html"),
        format!("/view/{id}.txt"),
        "/api/v1/messages".to_string(),
        format!("/api/v1/message/{id}"),
        format!("/api/v1/message/{id}/raw"),
        format!("/api/v1/message/{id}/part/1"),
        format!("/api/v1/messages/{id}/download"),
        "/api/v1/message/nope".to_string(),
        "/api/v1/".to_string(),
        "/api/v1/openapi.json".to_string(),
        "/api/v2/messages".to_string(),
        "/static/app.js".to_string(),
        "/static/style.css".to_string(),
        "/no/such/page".to_string(),
        "/livez".to_string(),
    ];
    for path in &paths {
        let response = lb.get(path).await;
        let status = response.status().as_u16();
        assert!(status < 500, "{path}: {status}");
        assert_eq!(
            header(&response, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        let frames = header(&response, "x-frame-options");
        let csp = header(&response, "content-security-policy").to_string();
        if path.starts_with("/view/") && path.ends_with(".html") {
            // The message's HTML is framed by our own message page only,
            // and sandboxed without script.
            assert_eq!(frames, "SAMEORIGIN", "{path}");
            assert!(csp.contains("sandbox"), "{path}: {csp}");
            assert!(!csp.contains("allow-scripts"), "{path}: {csp}");
        } else {
            assert_eq!(frames, "DENY", "{path}");
        }
        if header(&response, "content-type").starts_with("text/html") {
            assert!(
                csp.contains("default-src") && !csp.contains("'unsafe-eval'"),
                "{path}: an HTML response without a content security policy: {csp:?}"
            );
            assert!(
                csp.contains("frame-ancestors")
                    || frames == "SAMEORIGIN"
                    || csp.contains("sandbox"),
                "{path}: {csp}"
            );
        }
    }
}

/// Every route of the UI, with the kinds of answer each gives (a page, an
/// error page, a redirect), carries the full set of headers that keep it
/// to itself; the API's answers at least are not sniffed or embedded.
#[tokio::test]
async fn every_ui_route_keeps_its_window_and_resources_to_itself() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw(
            "a@example.com",
            &["b@example.com"],
            b"Subject: h\r\nContent-Type: multipart/related; boundary=\"a\"\r\n\r\n\
              --a\r\nContent-Type: text/html\r\n\r\n<img src=\"cid:i@x\">\r\n\
              --a\r\nContent-Type: image/png\r\nContent-ID: <i@x>\r\n\r\npng\r\n--a--\r\n",
        )
        .await;
    let mut pages = vec![
        "/".to_string(),
        "/?q=subject:h".to_string(),
        "/?q=is:starred".to_string(),
        "/?inbox=default".to_string(),
        "/?inbox=nosuch".to_string(),
        format!("/message/{id}"),
        "/message/latest?query=subject:h".to_string(),
        "/message/latest?query=subject:nothing".to_string(),
        format!("/message/{id}/nope"),
        "/message/01HZZZZZZZZZZZZZZZZZZZZZZZ".to_string(),
    ];
    for tab in [
        "html", "source", "text", "headers", "parts", "raw", "envelope", "checks",
    ] {
        pages.push(format!("/message/{id}/{tab}"));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in &pages {
        let response = client.get(lb.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        assert!(status < 500, "{path}: {status}");
        assert!(
            header(&response, "content-type").starts_with("text/html"),
            "{path}: {}",
            header(&response, "content-type")
        );
        let csp = header(&response, "content-security-policy");
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("base-uri 'none'"), "{path}: {csp}");
        assert_eq!(
            header(&response, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert_eq!(
            header(&response, "referrer-policy"),
            "no-referrer",
            "{path}"
        );
        assert_eq!(
            header(&response, "cross-origin-opener-policy"),
            "same-origin",
            "{path}"
        );
        assert_eq!(
            header(&response, "cross-origin-resource-policy"),
            "same-origin",
            "{path}"
        );
    }
    // The rest: the message's own documents, redirects, assets and the API.
    let others = [
        "/?start=1000".to_string(), // past the end: a redirect
        format!("/view/{id}"),
        "/view/latest".to_string(),
        format!("/view/{id}.html"),
        format!("/view/{id}.txt"),
        "/view/latest.html?query=subject:nothing".to_string(),
        "/static/app.js".to_string(),
        "/static/favicon.svg".to_string(),
        "/static/nope.js".to_string(),
        "/api/v1/messages".to_string(),
        format!("/api/v1/message/{id}/part/2"),
        "/api/v1/message/latest?query=subject:nothing".to_string(),
        "/api/events".to_string(),
        "/no/such/page".to_string(),
    ];
    for path in &others {
        let response = client.get(lb.url(path)).send().await.unwrap();
        assert!(response.status().as_u16() < 500, "{path}");
        assert_eq!(
            header(&response, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert_eq!(
            header(&response, "referrer-policy"),
            "no-referrer",
            "{path}"
        );
        assert_eq!(
            header(&response, "cross-origin-resource-policy"),
            "same-origin",
            "{path}"
        );
        assert_eq!(
            header(&response, "cross-origin-opener-policy"),
            "same-origin",
            "{path}"
        );
    }
    // The one exception: the parts the sandboxed HTML body embeds (its
    // origin is opaque, so not ours), by message ID only.
    let response = client
        .get(lb.url(&format!("/view/{id}/part/2")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "cross-origin-resource-policy"),
        "cross-origin"
    );
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert!(header(&response, "content-security-policy").starts_with("sandbox"));
    let html = client
        .get(lb.url(&format!("/view/{id}.html")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("/view/{id}/part/2")), "{html}");
    let latest = client
        .get(lb.url("/view/latest/part/2"))
        .send()
        .await
        .unwrap();
    assert_eq!(latest.status(), 404, "another site could probe with latest");
    assert_eq!(
        header(&latest, "cross-origin-resource-policy"),
        "same-origin"
    );
}

/// The `(method, path, JSON body)` of every route that changes something.
fn state_changing_requests(id: &str) -> Vec<(Method, String, Option<String>)> {
    let ids = json!({ "IDs": [id] }).to_string();
    vec![
        (Method::DELETE, "/api/v1/messages".into(), Some(ids.clone())),
        (Method::DELETE, "/api/v1/messages".into(), None),
        (
            Method::PUT,
            "/api/v1/messages".into(),
            Some(json!({"IDs": [id], "Read": true}).to_string()),
        ),
        (Method::DELETE, "/api/v1/search?query=keep".into(), None),
        (
            Method::POST,
            "/api/v1/send".into(),
            Some(json!({"From": {"Email": "x@example.com"}, "To": [{"Email": "y@example.com"}], "Subject": "forged"}).to_string()),
        ),
        (
            Method::PUT,
            "/api/v1/tags".into(),
            Some(json!({"IDs": [id], "Tags": ["forged"]}).to_string()),
        ),
        (
            Method::PUT,
            "/api/v1/tags/keep".into(),
            Some(json!({"Name": "forged"}).to_string()),
        ),
        (Method::DELETE, "/api/v1/tags/keep".into(), None),
        (Method::DELETE, format!("/api/v1/messages/{id}"), None),
    ]
}

#[tokio::test]
async fn no_state_changing_route_accepts_another_origin() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw(
            "a@example.com",
            &["b@example.com"],
            b"Subject: keep\r\nX-Tags: keep\r\n\r\nkeep me\r\n",
        )
        .await;
    let before = lb.message(&id).await;
    let origins = [
        "https://evil.example",
        "null",
        // Same host name, another port: another origin.
        "http://127.0.0.1:1",
        "http://localhost.evil.example",
    ];
    for origin in origins {
        for (method, path, body) in state_changing_requests(&id) {
            let mut request = lb
                .client()
                .request(method.clone(), lb.url(&path))
                .header("Origin", origin);
            if let Some(body) = &body {
                // A form can send text/plain without a preflight.
                request = request
                    .header("Content-Type", "text/plain")
                    .body(body.clone());
            }
            let response = request.send().await.expect("sending");
            assert_eq!(
                response.status(),
                403,
                "{method} {path} from {origin} was not refused"
            );
        }
    }
    assert_eq!(lb.ids().await, std::slice::from_ref(&id));
    assert_eq!(
        lb.message(&id).await,
        before,
        "a refused request changed the message"
    );
}

#[tokio::test]
async fn a_cross_origin_websocket_is_refused() {
    let lb = Letterbox::start();
    let url = format!("ws://{}/api/events", lb.http_addr);
    for origin in ["https://evil.example", "null"] {
        let mut request = url.as_str().into_client_request().expect("a request");
        request
            .headers_mut()
            .insert("Origin", origin.parse().expect("a header value"));
        match tokio_tungstenite::connect_async(request).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403, "{origin}");
            }
            Err(other) => panic!("{origin}: unexpected error {other}"),
            Ok(_) => panic!("a WebSocket from {origin} was accepted"),
        }
    }
}

/// Checks a `Content-Disposition` value: the `filename` is a bare name that
/// cannot leave the download directory or end the header.
fn assert_safe_disposition(value: &str, what: &str) {
    assert!(!value.contains(['\r', '\n', '\0']), "{what}: {value:?}");
    let name = value
        .split_once("filename=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(name, _)| name)
        .unwrap_or_else(|| panic!("{what}: no quoted filename in {value:?}"));
    assert!(!name.is_empty(), "{what}: empty filename");
    assert!(!name.contains(['/', '\\']), "{what}: path in {name:?}");
    assert!(
        !name.starts_with('.'),
        "{what}: hidden or relative {name:?}"
    );
    assert!(!name.contains(".."), "{what}: {name:?}");
    if let Some((_, encoded)) = value.split_once("filename*=UTF-8''") {
        let upper = encoded.to_ascii_uppercase();
        assert!(
            !encoded.contains(['/', '\\', '"', ';', ' '])
                && !upper.contains("%2F")
                && !upper.contains("%5C"),
            "{what}: {encoded:?}"
        );
    }
}

#[tokio::test]
async fn parts_cannot_render_as_html_on_our_origin() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw("a@example.com", &["b@example.com"], &hostile_parts())
        .await;
    let message = lb.message(&id).await;
    let parts: Vec<(String, String)> = ["Attachments", "Inline"]
        .iter()
        .flat_map(|k| message[k].as_array().cloned().unwrap_or_default())
        .map(|p| {
            (
                p["PartID"].as_str().expect("a PartID").to_string(),
                p["ContentType"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(parts.len(), 11, "{message}");
    for (part, declared) in &parts {
        for query in ["", "?dl=1"] {
            let path = format!("/api/v1/message/{id}/part/{part}{query}");
            let response = lb.get(&path).await;
            assert_eq!(response.status(), 200, "{path}");
            let what = format!("{path} ({declared})");
            let ctype = header(&response, "content-type").to_ascii_lowercase();
            let disposition = header(&response, "content-disposition").to_string();
            let csp = header(&response, "content-security-policy").to_string();
            assert_eq!(
                header(&response, "x-content-type-options"),
                "nosniff",
                "{what}"
            );
            assert!(csp.starts_with("sandbox"), "{what}: {csp:?}");
            assert!(!csp.contains("script"), "{what}: {csp:?}");
            assert_safe_disposition(&disposition, &what);
            let passive = ctype.starts_with("image/png") || ctype.starts_with("text/plain");
            if query.is_empty() && passive {
                assert!(disposition.starts_with("inline"), "{what}: {disposition}");
            } else {
                assert!(
                    disposition.starts_with("attachment"),
                    "{what}: {disposition}"
                );
            }
        }
    }
    // The raw message and MailHog's download are never HTML either.
    for path in [
        format!("/api/v1/message/{id}/raw"),
        format!("/api/v1/messages/{id}/download"),
    ] {
        let response = lb.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        let ctype = header(&response, "content-type");
        assert!(!ctype.contains("html"), "{path}: {ctype}");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    }
}

#[tokio::test]
async fn no_url_reaches_outside_what_it_names() {
    let lb = Letterbox::start();
    let id = lb.send_simple("traversal").await;
    let attempts = [
        "/static/../../../../etc/passwd".to_string(),
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd".to_string(),
        "/static/..%2f..%2f..%2fetc%2fpasswd".to_string(),
        "/static/%2e%2e%5c%2e%2e%5cCargo.toml".to_string(),
        "/static//etc/passwd".to_string(),
        "/view/..%2f..%2f..%2fetc%2fpasswd.html".to_string(),
        "/view/%2e%2e%2f%2e%2e%2fCargo.toml".to_string(),
        "/api/v1/message/..%2f..%2fetc%2fpasswd/raw".to_string(),
        format!("/api/v1/message/{id}/part/..%2f..%2f1"),
        format!("/api/v1/message/{id}/part/%00"),
        "/message/..%2F..%2F..%2Fetc%2Fpasswd".to_string(),
    ];
    for path in &attempts {
        let response = lb.get(path).await;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert!((400..500).contains(&status), "{path}: {status}");
        assert!(
            !body.contains("root:") && !body.contains("[package]"),
            "{path} served a file: {body:.200}"
        );
    }
}
