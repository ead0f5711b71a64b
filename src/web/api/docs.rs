//! The API's own description: the OpenAPI 3.1 document (kept by hand, and
//! checked against the router and real responses by tests/openapi.rs) and
//! a page rendered from it at `/api/v1/`.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

/// `openapi.json` as build.rs compressed it.
const OPENAPI_ZSTD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/openapi.json.zst"));

/// The document's text.
pub fn openapi_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let json = zstd::decode_all(OPENAPI_ZSTD).expect("the embedded document decompresses");
        String::from_utf8(json).expect("openapi.json is UTF-8")
    })
}

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], openapi_text()).into_response()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page's only resource is its inline style.
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Every path and method with its summary and parameters: a page that
/// needs no script and loads nothing from the network.
pub async fn page() -> impl IntoResponse {
    let spec: serde_json::Value =
        serde_json::from_str(openapi_text()).expect("openapi.json is valid JSON");
    let mut rows = String::new();
    if let Some(paths) = spec["paths"].as_object() {
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, op) in item {
                if method == "parameters" {
                    continue;
                }
                let params: Vec<String> = item
                    .get("parameters")
                    .into_iter()
                    .chain(op.get("parameters"))
                    .filter_map(|p| p.as_array())
                    .flatten()
                    .filter_map(|p| p["name"].as_str())
                    .map(|n| format!("<code>{}</code>", escape(n)))
                    .collect();
                rows.push_str(&format!(
                    "<tr><td class=m>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>\n",
                    escape(&method.to_uppercase()),
                    escape(path),
                    escape(op["summary"].as_str().unwrap_or("")),
                    params.join(" "),
                ));
            }
        }
    }
    let html = Html(format!(
        "<!doctype html><html lang=en><meta charset=utf-8><title>Letterbox API</title>\
<meta name=viewport content=\"width=device-width\">\
<style>body{{font:15px/1.4 system-ui,sans-serif;margin:2rem;max-width:75rem}}\
table{{border-collapse:collapse}}td{{border-top:1px solid #8884;padding:.35rem .6rem;vertical-align:top}}\
.m{{font-weight:600}}@media(prefers-color-scheme:dark){{body{{background:#111;color:#ddd}}a{{color:#8af}}}}</style>\
<h1>Letterbox API</h1><p>{}</p><p>Machine-readable: <a href=\"openapi.json\">openapi.json</a> (OpenAPI 3.1).</p>\
<table>{rows}</table></html>",
        escape(spec["info"]["description"].as_str().unwrap_or(""))
    ));
    ([(header::CONTENT_SECURITY_POLICY, PAGE_CSP)], html)
}
