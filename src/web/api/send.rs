//! `POST /api/v1/send`: build a message from JSON (Mailpit's shape) and
//! store it through the same ingest path as SMTP.

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::domain::Envelope;
use crate::domain::compose::{Attachment, Draft, Mailbox};
use crate::web::auth::LoggedIn;
use crate::web::params::go_json_body;
use crate::web::{ApiError, AppState};

// Read as Go reads Mailpit's request: keys in any case, unknown keys
// ignored (see `go_json_body`), so no `deny_unknown_fields` here.

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Person {
    email: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendAttachment {
    /// Base64, optionally as a `data:...;base64,` URL.
    content: String,
    filename: String,
    #[serde(default)]
    content_type: String,
    #[serde(rename = "ContentID", default)]
    content_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendRequest {
    from: Option<Person>,
    #[serde(default)]
    to: Vec<Person>,
    #[serde(default)]
    cc: Vec<Person>,
    /// Envelope-only recipients (plain addresses).
    #[serde(default)]
    bcc: Vec<String>,
    #[serde(default)]
    reply_to: Vec<Person>,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    text: String,
    #[serde(rename = "HTML", default)]
    html: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    attachments: Vec<SendAttachment>,
}

#[derive(Serialize)]
pub struct Sent {
    #[serde(rename = "ID")]
    id: String,
}

fn mailbox(p: Person) -> Mailbox {
    Mailbox {
        name: p.name,
        email: p.email.trim().to_string(),
    }
}

/// A content type from the file name, for attachments sent without one.
fn guess_content_type(filename: &str) -> &'static str {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("webp") => "image/webp",
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("csv") => "text/csv",
        Some("html" | "htm") => "text/html",
        Some("json") => "application/json",
        Some("ics") => "text/calendar",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

fn attachment(a: SendAttachment) -> Result<Attachment, ApiError> {
    let data = match a.content.split_once(";base64,") {
        Some((prefix, data)) if prefix.starts_with("data:") => data,
        _ => a.content.as_str(),
    };
    let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
    let content = B64.decode(compact).map_err(|e| {
        ApiError::bad_request(format!(
            "attachment {:?}: Content is not base64 ({e})",
            a.filename
        ))
    })?;
    let content_type = if a.content_type.trim().is_empty() {
        guess_content_type(&a.filename).to_string()
    } else if a.content_type.contains(['\r', '\n', ';']) || !a.content_type.contains('/') {
        return Err(ApiError::bad_request(format!(
            "attachment {:?}: ContentType {:?} is not a MIME type",
            a.filename, a.content_type
        )));
    } else {
        a.content_type.trim().to_string()
    };
    Ok(Attachment {
        filename: a.filename,
        content_type,
        content_id: Some(a.content_id).filter(|c| !c.trim().is_empty()),
        content,
    })
}

/// Every field name of [`SendRequest`] and the types in it.
const FIELD_NAMES: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Bcc",
    "ReplyTo",
    "Subject",
    "Text",
    "HTML",
    "Tags",
    "Headers",
    "Attachments",
    "Email",
    "Name",
    "Content",
    "Filename",
    "ContentType",
    "ContentID",
];

const EXPECTED: &str = r#"expected {"From": {"Email": "..."}, "To": [{"Email": "..."}], "Subject": "...", "Text": "..."}"#;

/// The request body, up to `limit` bytes; a 413 in JSON beyond it.
async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body is over {limit} bytes, the most taken for a message \
                 of --max-message-size"
            ),
        )
    };
    let mut chunks = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The largest JSON body taken: a message of `--max-message-size` with its
/// attachments in base64 (4/3 of their size) and some room for the JSON
/// around them.
fn body_limit(max_message_size: u64) -> usize {
    let limit = max_message_size
        .saturating_add(max_message_size / 3)
        .saturating_add(64 * 1024);
    usize::try_from(limit).unwrap_or(usize::MAX)
}

pub async fn send(
    State(state): State<AppState>,
    logged_in: Option<Extension<LoggedIn>>,
    body: Body,
) -> Result<Json<Sent>, ApiError> {
    let body = read_body(body, body_limit(state.max_message_size)).await?;
    let request: SendRequest = go_json_body(&body, EXPECTED, FIELD_NAMES, &["Headers"])?;
    drop(body);
    let bcc: Vec<String> = request.bcc.iter().map(|a| a.trim().to_string()).collect();
    let recipients: Vec<String> = request
        .to
        .iter()
        .chain(&request.cc)
        .map(|p| p.email.trim().to_string())
        .chain(bcc.iter().cloned())
        .collect();
    if recipients.is_empty() {
        return Err(ApiError::bad_request(
            "at least one recipient (To, Cc or Bcc) is required",
        ));
    }
    let draft = Draft {
        from: request.from.map(mailbox),
        to: request.to.into_iter().map(mailbox).collect(),
        cc: request.cc.into_iter().map(mailbox).collect(),
        bcc,
        reply_to: request.reply_to.into_iter().map(mailbox).collect(),
        subject: request.subject,
        text: request.text,
        html: request.html,
        tags: request.tags,
        headers: request.headers.into_iter().collect(),
        attachments: request
            .attachments
            .into_iter()
            .map(attachment)
            .collect::<Result<_, _>>()?,
    };
    let message_key = ulid::Ulid::new().to_string();
    let raw = draft
        .build(&message_key, crate::domain::timefmt::now_millis())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if raw.len() as u64 > state.max_message_size {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the message is {} bytes, over the limit of {}",
                raw.len(),
                state.max_message_size
            ),
        ));
    }
    let envelope = Envelope {
        mail_from: draft.from.map(|f| f.email).unwrap_or_default(),
        rcpt_to: recipients,
        // Mailpit records the user who logged in to the API.
        auth_user: logged_in.map(|Extension(LoggedIn(user))| user),
        ..Envelope::default()
    };
    let id = state.app.accept(envelope, raw).await?;
    Ok(Json(Sent { id }))
}
