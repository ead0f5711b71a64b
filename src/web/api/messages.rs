//! Listing, reading and deleting messages.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::app::inboxes::{scope_query, scope_selection};
use crate::domain::message::{Address, Part, PartRole, part_bytes, part_text};
use crate::domain::timefmt;
use crate::store::{Page, Selection, StoredMessage};
use crate::web::additions;
use crate::web::json::SummaryList;
use crate::web::lookup::{find_with_raw, inbox_param};
use crate::web::params::{Params, json_body, paging};
use crate::web::{ApiError, AppState};

/// Mailpit's `MessagesSummary`, the answer to list and search.
#[derive(Serialize)]
pub struct MessagesSummary {
    total: u64,
    unread: u64,
    messages_count: u64,
    messages_unread: u64,
    start: u64,
    tags: Vec<String>,
    /// Length of this page (legacy Mailpit field).
    count: usize,
    messages: SummaryList,
}

impl MessagesSummary {
    /// With `additions`, each summary carries its `Inbox`.
    pub fn new(page: Page, start: u64, additions: bool) -> Self {
        MessagesSummary {
            total: page.total,
            unread: page.unread,
            messages_count: page.matched,
            messages_unread: page.matched_unread,
            start,
            tags: page.tags,
            count: page.messages.len(),
            messages: SummaryList {
                summaries: page.messages,
                additions,
            },
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Json<MessagesSummary>, ApiError> {
    let (start, limit) = paging(&params)?;
    let inbox = inbox_param(&state, &params).await?;
    let page = match scope_query(None, inbox.as_ref()) {
        Some(query) => state.app.search(query, start, limit).await?,
        None => state.app.list(start, limit).await?,
    };
    Ok(Json(MessagesSummary::new(
        page,
        start,
        additions::requested(&params),
    )))
}

/// Mailpit's `Attachment`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Attachment {
    #[serde(rename = "PartID")]
    part_id: String,
    file_name: String,
    content_type: String,
    #[serde(rename = "ContentID")]
    content_id: String,
    size: u64,
    checksums: Checksums,
}

/// Hex digests of an attachment's decoded content, as Mailpit gives them.
#[derive(Serialize)]
struct Checksums {
    #[serde(rename = "MD5")]
    md5: String,
    #[serde(rename = "SHA1")]
    sha1: String,
    #[serde(rename = "SHA256")]
    sha256: String,
}

impl Checksums {
    fn of(content: &[u8]) -> Self {
        use md5::Digest as _;
        use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        Checksums {
            md5: hex(&md5::Md5::digest(content)),
            sha1: hex(digest(&SHA1_FOR_LEGACY_USE_ONLY, content).as_ref()),
            sha256: hex(digest(&SHA256, content).as_ref()),
        }
    }
}

impl Attachment {
    fn new(raw: &[u8], part: &Part) -> Self {
        let content_id = part.content_id.clone().unwrap_or_default();
        Attachment {
            part_id: part.part_id.clone(),
            file_name: part.filename.clone().unwrap_or_else(|| content_id.clone()),
            content_type: part.content_type.clone(),
            content_id,
            size: part.size,
            checksums: Checksums::of(&part_bytes(raw, part)),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListUnsubscribe {
    header: String,
    links: Vec<String>,
    errors: String,
    header_post: String,
}

/// How the message arrived (one of Letterbox's additions).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EnvelopeJson<'a> {
    mail_from: &'a str,
    rcpt_to: &'a [String],
    helo: Option<&'a str>,
    client_addr: Option<&'a str>,
    #[serde(rename = "TLS")]
    tls: bool,
    auth_user: Option<&'a str>,
    #[serde(rename = "SMTPUTF8")]
    smtputf8: bool,
    transcript: &'a [String],
}

/// Mailpit's `Message`, with Letterbox's additions when asked for.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MessageJson<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    #[serde(rename = "MessageID")]
    message_id: &'a str,
    from: &'a Address,
    to: &'a [Address],
    cc: &'a [Address],
    bcc: &'a [Address],
    reply_to: &'a [Address],
    return_path: &'a str,
    subject: &'a str,
    list_unsubscribe: ListUnsubscribe,
    date: String,
    tags: &'a [String],
    username: &'a str,
    text: String,
    #[serde(rename = "HTML")]
    html: String,
    size: u64,
    inline: Vec<Attachment>,
    attachments: Vec<Attachment>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    additions: Option<MessageAdditions<'a>>,
}

/// Letterbox's additions to a message.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MessageAdditions<'a> {
    read: bool,
    created: &'a str,
    envelope: EnvelopeJson<'a>,
    problems: &'a [String],
    inbox: &'a str,
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let (message, raw) = find_with_raw(&state, id, &params).await?;
    Ok(message_json(&message, &raw, additions::requested(&params)))
}

/// The decoded text and HTML bodies (empty when the message has none).
pub fn bodies(message: &StoredMessage, raw: &[u8]) -> (String, String) {
    let body_of = |role| {
        message
            .parts
            .iter()
            .find(|p| p.role == role)
            .map(|p| part_text(raw, p))
            .unwrap_or_default()
    };
    (body_of(PartRole::Text), body_of(PartRole::Html))
}

/// Mailpit's full `Message` JSON for a stored message, with Letterbox's
/// additions if asked for.
pub fn message_json(message: &StoredMessage, raw: &[u8], additions: bool) -> Response {
    let (text, html) = bodies(message, raw);
    let unsubscribe = crate::domain::unsubscribe::of_message(raw);
    let s = &message.summary;
    let e = &message.envelope;
    let json = MessageJson {
        id: &s.id,
        message_id: &s.message_id,
        from: &s.from,
        to: &s.to,
        cc: &s.cc,
        bcc: &s.bcc,
        reply_to: &s.reply_to,
        return_path: &e.mail_from,
        subject: &s.subject,
        list_unsubscribe: ListUnsubscribe {
            header: unsubscribe.header,
            links: unsubscribe.links,
            errors: unsubscribe.errors.join("; "),
            header_post: unsubscribe.header_post,
        },
        date: message
            .date
            .map(|secs| timefmt::rfc3339_millis(secs * 1000))
            .unwrap_or_else(|| s.created.clone()),
        tags: &s.tags,
        username: &s.username,
        text,
        html,
        size: s.size,
        inline: message
            .parts
            .iter()
            .filter(|p| p.role == PartRole::Inline)
            .map(|p| Attachment::new(raw, p))
            .collect(),
        attachments: message
            .parts
            .iter()
            .filter(|p| p.role == PartRole::Attachment)
            .map(|p| Attachment::new(raw, p))
            .collect(),
        additions: additions.then(|| MessageAdditions {
            read: s.read,
            created: &s.created,
            envelope: EnvelopeJson {
                mail_from: &e.mail_from,
                rcpt_to: &e.rcpt_to,
                helo: e.helo.as_deref(),
                client_addr: e.client_addr.as_deref(),
                tls: e.tls,
                auth_user: e.auth_user.as_deref(),
                smtputf8: e.smtputf8,
                transcript: &e.transcript,
            },
            problems: &message.problems,
            inbox: &s.inbox,
        }),
    };
    Json(json).into_response()
}

/// Go's canonical header key (`message-id` -> `Message-Id`), as Mailpit
/// returns them.
pub fn canonical_key(key: &str) -> String {
    if key.contains(|c: char| c == ' ' || !c.is_ascii()) {
        return key.to_string();
    }
    let mut out = String::with_capacity(key.len());
    let mut upper = true;
    for ch in key.chars() {
        out.push(if upper {
            ch.to_ascii_uppercase()
        } else {
            ch.to_ascii_lowercase()
        });
        upper = ch == '-';
    }
    out
}

pub async fn headers(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let (_, raw) = find_with_raw(&state, id, &params).await?;
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Ok(headers) = crate::domain::message::top_headers(&raw) {
        for header in headers {
            map.entry(canonical_key(header.get_key().trim()))
                .or_default()
                .push(crate::domain::message::header_value(&header));
        }
    }
    Ok(Json(map).into_response())
}

pub async fn raw(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let (message, raw) = find_with_raw(&state, id, &params).await?;
    if params.get("dl").is_some_and(|v| v == "1" || v == "true") {
        return Ok(eml_download(&message.summary.id, raw));
    }
    let mut response = raw.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

/// The raw message as an `<ID>.eml` download.
pub fn eml_download(id: &str, raw: Vec<u8>) -> Response {
    let mut response = raw.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("message/rfc822"),
    );
    // IDs are checked by the store lookup that found the message, but a
    // header value is built from them: never panic on an odd one.
    let disposition = format!("attachment; filename=\"{id}.eml\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRead {
    #[serde(rename = "IDs", alias = "ids", default)]
    ids: Vec<String>,
    /// Mailpit's clients leave it out to mean "unread".
    #[serde(rename = "Read", alias = "read", default)]
    read: bool,
    #[serde(rename = "Search", alias = "search", default)]
    search: String,
}

/// `PUT /api/v1/messages {"IDs": [...], "Read": true}`: marks the listed
/// messages, or the matches of `Search`, or (with neither) every message;
/// `?inbox=` confines the last two to one inbox.
pub async fn set_read(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let inbox = inbox_param(&state, &params).await?;
    let request: SetRead = json_body(
        &body,
        r#"expected {"IDs": ["<ID>", ...], "Read": true} or {"Search": "<query>", "Read": false}"#,
    )?;
    let selection = if !request.ids.is_empty() {
        Selection::Ids(request.ids)
    } else if !request.search.trim().is_empty() {
        let query = crate::domain::search::Query::parse(&request.search)
            .map_err(|e| ApiError::bad_request(format!("bad query in Search: {e}")))?;
        Selection::Query(query)
    } else {
        Selection::All
    };
    let selection = scope_selection(selection, inbox.as_ref());
    state.app.mark_read(selection, request.read).await?;
    Ok(super::ok())
}

/// Reads the body of `DELETE /api/v1/messages`.
///
/// Like Mailpit: no body, `{}` or an empty `IDs` list means every message,
/// and the key matches case-insensitively (Go's JSON does, so clients send
/// `ids` too). Unlike Mailpit, anything else that is not an `IDs` list of
/// strings is refused, never taken as "delete everything".
fn delete_selection(body: &[u8]) -> Result<Selection, ApiError> {
    const EXPECTED: &str = r#"expected {"IDs": ["<ID>", ...]}, or no body to delete every message"#;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Selection::All);
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body ({e}): {EXPECTED}")))?;
    let serde_json::Value::Object(fields) = value else {
        return Err(ApiError::bad_request(format!(
            "the body is not a JSON object: {EXPECTED}"
        )));
    };
    let mut ids = None;
    for (key, value) in fields {
        if !key.eq_ignore_ascii_case("ids") {
            return Err(ApiError::bad_request(format!(
                "unknown field {key:?}: {EXPECTED}"
            )));
        }
        let list: Vec<String> = serde_json::from_value(value).map_err(|_| {
            ApiError::bad_request(format!("IDs must be a list of strings: {EXPECTED}"))
        })?;
        ids = Some(list);
    }
    Ok(match ids {
        Some(ids) if !ids.is_empty() => Selection::Ids(ids),
        _ => Selection::All,
    })
}

/// `?inbox=` confines "every message" to one inbox.
pub async fn delete(
    State(state): State<AppState>,
    Query(params): Query<Params>,
    request: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let inbox = inbox_param(&state, &params).await?;
    let selection = scope_selection(delete_selection(&body)?, inbox.as_ref());
    state.app.delete(selection).await?;
    // Mailpit's `ok`, but not to the `mailhog` npm client (MailHog shares
    // this route and answers with nothing).
    Ok(super::ok_unless_mailhog(&request))
}

#[cfg(test)]
mod tests {
    use super::canonical_key;

    #[test]
    fn delete_bodies() {
        use super::delete_selection;
        use crate::store::Selection;
        let ids = |body: &str| match delete_selection(body.as_bytes()) {
            Ok(Selection::Ids(ids)) => Ok(Some(ids)),
            Ok(Selection::All) => Ok(None),
            Ok(Selection::Query(_)) => unreachable!("delete bodies never carry a query"),
            Err(e) => Err(e.message),
        };
        assert_eq!(ids(""), Ok(None));
        assert_eq!(ids("{}"), Ok(None));
        assert_eq!(ids(r#"{"IDs": []}"#), Ok(None));
        assert_eq!(ids(r#"{"IDs": ["a"]}"#), Ok(Some(vec!["a".into()])));
        assert_eq!(ids(r#"{"ids": ["a"]}"#), Ok(Some(vec!["a".into()])));
        assert!(ids("[]").is_err());
        assert!(ids("not json").is_err());
        assert!(ids(r#"{"Id": ["a"]}"#).is_err());
        assert!(ids(r#"{"IDs": "a"}"#).is_err());
    }

    #[test]
    fn canonical_keys_match_go() {
        assert_eq!(canonical_key("message-id"), "Message-Id");
        assert_eq!(canonical_key("X-MAILER"), "X-Mailer");
        assert_eq!(canonical_key("DKIM-Signature"), "Dkim-Signature");
    }
}
