//! `GET /api/v1/message/{ID}/part/{PartID}`: one MIME part's decoded bytes,
//! read through the stored part index (only that part is parsed).
//!
//! A part is content from a stranger served on our origin, so only types a
//! browser shows passively (raster images, plain text, audio, video) are
//! served `inline`; anything that could run script (HTML, SVG, XML, PDF,
//! unknown types) is an `attachment`, and every part carries
//! `Content-Security-Policy: sandbox` in case a browser renders it anyway.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::domain::message::{Part, PartRole, part_bytes};
use crate::web::lookup::find_part;
use crate::web::params::Params;
use crate::web::{ApiError, AppState};

/// No script, no plugin, no network: even a part opened directly renders
/// as an inert document in an opaque origin.
const PART_CSP: &str = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; \
     style-src 'unsafe-inline'";

/// Longest filename put in a `Content-Disposition`, in characters.
const MAX_FILENAME_CHARS: usize = 150;

pub async fn part(
    State(state): State<AppState>,
    Path((id, part_id)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let (_, raw, part) = find_part(&state, id, &part_id, &params).await?;
    if part.role == PartRole::Container {
        return Err(ApiError::not_found(format!(
            "part {part_id} is a {} container: it has no content of its own",
            part.content_type
        )));
    }
    let download = params.get("dl").is_some_and(|v| v == "1" || v == "true");
    let headers = part_headers(&part, download);
    Ok((headers, part_bytes(&raw, &part)).into_response())
}

/// The headers a part is served with.
fn part_headers(part: &Part, download: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, content_type(part));
    let inline = !download && renders_passively(&part.content_type);
    headers.insert(
        header::CONTENT_DISPOSITION,
        content_disposition(inline, &filename(part)),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PART_CSP),
    );
    headers
}

/// Types a browser displays without running anything from them.
pub fn renders_passively(mimetype: &str) -> bool {
    const IMAGES: &[&str] = &[
        "image/png",
        "image/jpeg",
        "image/jpg",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/bmp",
        "image/x-icon",
        "image/vnd.microsoft.icon",
    ];
    IMAGES.contains(&mimetype)
        || mimetype == "text/plain"
        || mimetype.starts_with("audio/")
        || mimetype.starts_with("video/")
}

/// The part's media type (and charset), or `application/octet-stream` when
/// the message's value is not a plain `type/subtype` token.
fn content_type(part: &Part) -> HeaderValue {
    let is_token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let valid = part
        .content_type
        .split_once('/')
        .is_some_and(|(t, s)| is_token(t) && is_token(s));
    if !valid {
        return HeaderValue::from_static("application/octet-stream");
    }
    let value = match part.charset.as_deref().filter(|c| is_token(c)) {
        Some(charset) if part.content_type.starts_with("text/") => {
            format!("{}; charset={charset}", part.content_type)
        }
        _ => part.content_type.clone(),
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

/// The part's own filename, made safe, or `part-<ID>.<ext>`.
fn filename(part: &Part) -> String {
    part.filename
        .as_deref()
        .map(sanitize_filename)
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| {
            let ext = mime_guess::get_mime_extensions_str(&part.content_type)
                .and_then(|exts| exts.first())
                .map(|ext| format!(".{ext}"))
                .unwrap_or_default();
            format!("part-{}{ext}", part.part_id)
        })
}

/// A filename that cannot name a directory, hide its extension behind
/// control characters or break out of a header: the last path component,
/// control characters dropped, leading dots and surrounding spaces trimmed,
/// at most [`MAX_FILENAME_CHARS`] characters.
pub fn sanitize_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    cleaned
        .trim()
        .trim_start_matches('.')
        .chars()
        .take(MAX_FILENAME_CHARS)
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// `inline` or `attachment`, with an ASCII `filename` for old clients and
/// the exact name as RFC 5987 `filename*`.
fn content_disposition(inline: bool, filename: &str) -> HeaderValue {
    let ascii: String = filename
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' && c != ';' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::new();
    for byte in filename.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    let kind = if inline { "inline" } else { "attachment" };
    let value = format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    HeaderValue::from_str(&value).expect("only visible ASCII is left in the value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_lose_paths_and_controls() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("C:\\Users\\x\\evil.exe"), "evil.exe");
        assert_eq!(sanitize_filename("  .hidden "), "hidden");
        assert_eq!(sanitize_filename("a\r\nb\0c.txt"), "abc.txt");
        assert_eq!(
            sanitize_filename("invoice\u{202e}fdp.exe"),
            "invoicefdp.exe"
        );
        assert_eq!(
            sanitize_filename(&"x".repeat(500)).len(),
            MAX_FILENAME_CHARS
        );
        assert_eq!(sanitize_filename("☕ tables.txt"), "☕ tables.txt");
    }

    #[test]
    fn dispositions_are_header_safe() {
        let value = content_disposition(false, "a\"b;c ☕.txt");
        assert_eq!(
            value.to_str().unwrap(),
            "attachment; filename=\"a_b_c _.txt\"; filename*=UTF-8''a%22b%3Bc%20%E2%98%95.txt"
        );
        assert!(
            content_disposition(true, "x.png")
                .to_str()
                .unwrap()
                .starts_with("inline;")
        );
    }

    #[test]
    fn only_passive_types_render() {
        for t in [
            "image/png",
            "image/jpeg",
            "text/plain",
            "audio/mpeg",
            "video/mp4",
        ] {
            assert!(renders_passively(t), "{t}");
        }
        for t in [
            "text/html",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/xml",
            "application/pdf",
            "application/octet-stream",
            "multipart/mixed",
        ] {
            assert!(!renders_passively(t), "{t}");
        }
    }

    fn part(content_type: &str, charset: Option<&str>) -> Part {
        Part {
            part_id: "2".into(),
            parent_id: Some("0".into()),
            role: PartRole::Attachment,
            content_type: content_type.into(),
            charset: charset.map(Into::into),
            transfer_encoding: "base64".into(),
            disposition: None,
            filename: None,
            content_id: None,
            size: 0,
            header_start: 0,
            body_start: 0,
            body_end: 0,
        }
    }

    #[test]
    fn content_types_are_checked() {
        assert_eq!(
            content_type(&part("text/plain", Some("iso-8859-1"))),
            "text/plain; charset=iso-8859-1"
        );
        assert_eq!(content_type(&part("image/png", Some("utf-8"))), "image/png");
        assert_eq!(
            content_type(&part("text/html; x", None)),
            "application/octet-stream"
        );
        assert_eq!(
            content_type(&part("text/plain", Some("x\r\ny"))),
            "text/plain"
        );
        assert_eq!(filename(&part("image/png", None)), "part-2.png");
    }
}
