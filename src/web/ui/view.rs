//! Mailpit's `/view/{ID}.html` and `/view/{ID}.txt`: a message's HTML or
//! text body alone, and `/view/{ID}`, which redirects to the message page.
//!
//! The HTML is the sender's, so it is served as an inert document: a
//! Content-Security-Policy with no script at all, no network beyond this
//! server (remote images, styles and fonts only when `remote=1` asks for
//! them), no forms, no `<base>`, and a `sandbox` without `allow-scripts`
//! even when opened directly (which also stops `<meta http-equiv="refresh">`).
//! The sandbox keeps our origin (`allow-same-origin`) so that the message
//! page, which frames it in an `<iframe sandbox>` as well, can read the
//! body's height and size the frame to it: with no script able to run in
//! the document, our origin gives the sender's HTML nothing to act with.
//! `allow-scripts` and `allow-same-origin` together would (a script could
//! lift its own sandbox), so `allow-scripts` never appears. `cid:`
//! references point to `/view/{ID}/part/{PartID}`, the one route another
//! origin may embed, by the message's own ID only.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::PageError;
use crate::domain::message::part_text;
use crate::domain::message::{Part, PartRole};
use crate::web::lookup::find_with_raw;
use crate::web::parts;
use crate::web::{ApiError, AppState, webroot};

/// No script, no plugins, no forms, nothing from other servers.
const LOCAL_ONLY: &str = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; \
     font-src 'self' data:; media-src 'self' data:";
/// Remote images, styles, fonts and media allowed, still no script.
const WITH_REMOTE: &str = "default-src 'none'; img-src * data:; style-src * 'unsafe-inline'; \
     font-src * data:; media-src * data:";
/// Appended to either: framed only by our own pages, links may open in a
/// new tab (outside the sandbox), our origin kept for the frame's height
/// to be read (see the module comment), nothing else.
const ALWAYS: &str = "; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; \
     sandbox allow-popups allow-popups-to-escape-sandbox allow-same-origin";

pub async fn view(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let (id, extension) = match file.rsplit_once('.') {
        Some((id, ext @ ("html" | "txt"))) => (id.to_string(), ext),
        _ => (file, ""),
    };
    let (message, raw) = find_with_raw(&state, id, &params).await?;
    let id = &message.summary.id;
    let body_of = |role| message.parts.iter().find(|p| p.role == role);
    match extension {
        "html" => {
            let part = body_of(PartRole::Html)
                .ok_or_else(|| PageError::not_found(format!("message {id} has no HTML part")))?;
            let mut html = resolve_cids(&part_text(&raw, part), id, &message.parts);
            if params.get("embed").is_some_and(|v| v == "1") {
                // Links open in a new tab rather than inside the frame.
                html = crate::web::embed::links_open_in_new_tab(&html);
                html.insert_str(after_doctype(&html), "<base target=\"_blank\">");
            }
            let remote = params.get("remote").is_some_and(|v| v == "1");
            Ok((html_headers(remote), html).into_response())
        }
        "txt" => {
            let part = body_of(PartRole::Text)
                .ok_or_else(|| PageError::not_found(format!("message {id} has no text part")))?;
            let headers = [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("sandbox; default-src 'none'"),
                ),
            ];
            Ok((headers, part_text(&raw, part)).into_response())
        }
        _ => Ok(Redirect::to(&format!("{}message/{id}", webroot())).into_response()),
    }
}

/// `/view/{ID}/part/{PartID}`: a part as the sandboxed HTML body embeds
/// it. Every other response tells the browser that only our own origin may
/// embed it; this one may be embedded anywhere, as Mailpit's may (a page
/// showing the body from elsewhere, or in an opaque origin, still gets its
/// images). That tells another site nothing: it needs the message's ID
/// (unguessable), as `latest` is refused here.
pub async fn part(
    State(state): State<AppState>,
    Path((id, part_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    if id == "latest" {
        return Err(ApiError::not_found(
            "the HTML view's parts are addressed by message ID, not latest",
        ));
    }
    let mut response = parts::part(State(state), Path((id, part_id)), Query(HashMap::new()))
        .await?
        .into_response();
    response.headers_mut().insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
    Ok(response)
}

fn view_part_url(id: &str, part_id: &str) -> String {
    format!("{}view/{id}/part/{part_id}", webroot())
}

fn html_headers(remote: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    let policy = format!("{}{ALWAYS}", if remote { WITH_REMOTE } else { LOCAL_ONLY });
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&policy).expect("a constant policy"),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    // Link hosts are not looked up ahead of a click.
    headers.insert(
        HeaderName::from_static("x-dns-prefetch-control"),
        HeaderValue::from_static("off"),
    );
    headers
}

/// Where content may be added at the start of a document without putting
/// it in quirks mode: after its `<!DOCTYPE ...>`, if it has one.
fn after_doctype(html: &str) -> usize {
    let start = html.len() - html.trim_start().len();
    let rest = &html[start..];
    match rest.get(..9) {
        Some(prefix) if prefix.eq_ignore_ascii_case("<!doctype") => {
            rest.find('>').map_or(0, |end| start + end + 1)
        }
        _ => 0,
    }
}

/// Replaces `cid:` references to the message's own parts with their URLs.
fn resolve_cids(html: &str, id: &str, parts: &[Part]) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find("cid:") {
        let start = from + found;
        let value_start = start + 4;
        let len = html[value_start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '<' | '>'))
            .unwrap_or(html.len() - value_start);
        let cid = &html[value_start..value_start + len];
        from = value_start;
        let decoded = percent_decode(cid);
        let part = parts.iter().find(|p| {
            p.content_id
                .as_deref()
                .is_some_and(|c| c == cid || c == decoded)
        });
        if let Some(part) = part {
            out.push_str(&html[copied..start]);
            out.push_str(&view_part_url(id, &part.part_id));
            copied = value_start + len;
            from = copied;
        }
    }
    out.push_str(&html[copied..]);
    out
}

/// `%XX` escapes decoded (RFC 2392 `cid:` URLs are URL-encoded); anything
/// that does not decode to UTF-8 is left as it was.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline_part(part_id: &str, cid: &str) -> Part {
        Part {
            part_id: part_id.into(),
            parent_id: Some("0".into()),
            role: PartRole::Inline,
            content_type: "image/png".into(),
            charset: None,
            transfer_encoding: "base64".into(),
            disposition: Some("inline".into()),
            filename: None,
            content_id: Some(cid.into()),
            size: 1,
            header_start: 0,
            body_start: 0,
            body_end: 0,
        }
    }

    #[test]
    fn cids_point_to_parts() {
        let parts = [inline_part("2", "logo@x"), inline_part("3", "a b")];
        let html = r#"<img src="cid:logo@x"><img src='CID:a%20b'><div style="background:url(cid:logo@x)"><img src="cid:missing">"#;
        assert_eq!(
            resolve_cids(html, "M", &parts),
            r#"<img src="/view/M/part/2"><img src='/view/M/part/3'><div style="background:url(/view/M/part/2)"><img src="cid:missing">"#
        );
        assert_eq!(resolve_cids("cid:", "M", &parts), "cid:");
    }

    #[test]
    fn the_doctype_stays_first() {
        assert_eq!(after_doctype("<p>x"), 0);
        assert_eq!(after_doctype("<!DOCTYPE html><p>x"), 15);
        assert_eq!(after_doctype("\r\n<!doctype html>\n<p>"), 17);
        assert_eq!(after_doctype("<!doc"), 0);
        assert_eq!(after_doctype("<!DOCTYPE html"), 0);
    }

    #[test]
    fn policies_never_allow_script() {
        for remote in [false, true] {
            let headers = html_headers(remote);
            let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(policy.starts_with("default-src 'none';"), "{policy}");
            assert!(!policy.contains("script"), "{policy}");
            assert!(policy.contains("sandbox allow-popups"), "{policy}");
            assert!(!policy.contains("allow-scripts"), "{policy}");
            // Our origin, but then never scripts (they could lift the sandbox).
            assert!(policy.ends_with(" allow-same-origin"), "{policy}");
            assert_eq!(policy.contains("img-src *"), remote, "{policy}");
        }
    }
}
