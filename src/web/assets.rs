//! `/static/...`: the UI's CSS, JavaScript and icons, embedded in the binary
//! as build.rs compressed them (zstd; decompressed per request, a few
//! microseconds for these sizes). Debug builds read the compressed files
//! from the build's output directory; `cargo run` remakes them when
//! `static/` changes.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "$OUT_DIR/static/"]
struct Static;

pub async fn serve(Path(path): Path<String>, request_headers: HeaderMap) -> Response {
    let Some(file) = Static::get(&format!("{path}.zst")) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let hash = file.metadata.sha256_hash();
    let etag = format!(
        "\"{}\"",
        hash[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is header-safe"),
    );
    // Revalidate every time: a new binary may ship new files under the same
    // names, and the check is one cheap round trip on localhost.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let unchanged = request_headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    if unchanged {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    let Ok(body) = zstd::decode_all(file.data.as_ref()) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "an embedded file is damaged",
        )
            .into_response();
    };
    (headers, body).into_response()
}

/// The type of one of the UI's files, by its extension: a table of the
/// kinds `static/` holds, so that mime_guess's whole table (its other use
/// only maps types to extensions) stays out of the binary.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, extension)| extension) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_of_the_ui_has_its_type() {
        for entry in std::fs::read_dir("static").unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert_ne!(
                super::content_type(&name),
                "application/octet-stream",
                "static/{name}: add its extension to content_type"
            );
        }
    }
}
