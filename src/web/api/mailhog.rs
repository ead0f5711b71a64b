//! MailHog's API, for the test suites and clients (the npm `mailhog`
//! package among them) still written against it.
//!
//! MailHog is dead; its shapes are kept, with one deliberate difference:
//! `MIME.Parts` lists every leaf part of the message in document order, not
//! only the top-level ones, so clients find the text and HTML of a
//! `multipart/mixed` message whose body is a nested `multipart/alternative`.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::messages::{canonical_key, eml_download};
use super::params::{Params, number};
use crate::message::PartRole;
use crate::search::{AddressField, Filter, Query as SearchQuery, Term};
use crate::store::{Selection, StoredMessage};
use crate::web::{ApiError, AppState};

/// MailHog's own cap on a page.
const MAX_LIMIT: u64 = 250;

/// Routes under `/api/v1` (plural `messages/{id}`: no clash with Mailpit's).
pub fn v1_routes() -> Router<AppState> {
    Router::new()
        .route("/messages/{id}", get(message).delete(delete))
        .route("/messages/{id}/download", get(download))
}

/// Routes under `/api/v2`.
pub fn v2_routes() -> Router<AppState> {
    Router::new()
        .route("/messages", get(list))
        .route("/search", get(search))
        .route(
            "/jim",
            get(super::chaos::jim_get)
                .post(super::chaos::jim_post)
                .put(super::chaos::jim_put)
                .delete(super::chaos::jim_delete),
        )
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MailPath {
    relays: Option<Vec<String>>,
    mailbox: String,
    domain: String,
    params: String,
}

impl MailPath {
    fn new(address: &str) -> Self {
        let (mailbox, domain) = address.rsplit_once('@').unwrap_or((address, ""));
        MailPath {
            relays: None,
            mailbox: mailbox.to_string(),
            domain: domain.to_string(),
            params: String::new(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Content {
    headers: std::collections::BTreeMap<String, Vec<String>>,
    /// Still transfer-encoded, as MailHog sends it.
    body: String,
    size: usize,
    #[serde(rename = "MIME")]
    mime: Option<MimeBody>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MimeBody {
    parts: Vec<Content>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Smtp {
    from: String,
    to: Vec<String>,
    data: String,
    helo: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Message {
    #[serde(rename = "ID")]
    id: String,
    from: MailPath,
    to: Vec<MailPath>,
    content: Content,
    created: String,
    #[serde(rename = "MIME")]
    mime: Option<MimeBody>,
    raw: Smtp,
}

/// Header block and body of `raw[header_start..body_end]` as MailHog shows
/// a part (or the whole message).
fn content(raw: &[u8], header_start: usize, body_start: usize, body_end: usize) -> Content {
    let clamp = |i: usize| i.min(raw.len());
    let (header_start, body_start, body_end) =
        (clamp(header_start), clamp(body_start), clamp(body_end));
    let mut headers = std::collections::BTreeMap::<String, Vec<String>>::new();
    if let Ok((parsed, _)) =
        mailparse::parse_headers(&raw[header_start..body_start.max(header_start)])
    {
        for h in parsed {
            headers
                .entry(canonical_key(h.get_key().trim()))
                .or_default()
                .push(
                    String::from_utf8_lossy(h.get_value_raw())
                        .trim()
                        .to_string(),
                );
        }
    }
    let body = &raw[body_start.min(body_end)..body_end];
    Content {
        headers,
        body: String::from_utf8_lossy(body).into_owned(),
        size: body_end.saturating_sub(header_start),
        mime: None,
    }
}

fn to_json(message: &StoredMessage, raw: &[u8]) -> Message {
    // MailHog keeps a message without the line break before the `.` that
    // ended its DATA (clients compare bodies with that in mind); the
    // stored bytes keep it, as every MTA does.
    let raw = raw
        .strip_suffix(b"\r\n")
        .or_else(|| raw.strip_suffix(b"\n"))
        .unwrap_or(raw);
    let body_start = mailparse::parse_headers(raw).map_or(raw.len(), |(_, end)| end);
    let leaves: Vec<Content> = message
        .parts
        .iter()
        .filter(|p| !matches!(p.role, PartRole::Container | PartRole::Message))
        .map(|p| {
            content(
                raw,
                p.header_start as usize,
                p.body_start as usize,
                p.body_end as usize,
            )
        })
        .collect();
    let multipart = message.parts.iter().any(|p| p.role == PartRole::Container);
    let envelope = &message.envelope;
    Message {
        id: message.summary.id.clone(),
        from: MailPath::new(&envelope.mail_from),
        to: envelope.rcpt_to.iter().map(|r| MailPath::new(r)).collect(),
        content: content(raw, 0, body_start, raw.len()),
        created: message.summary.created.clone(),
        mime: multipart.then_some(MimeBody { parts: leaves }),
        raw: Smtp {
            from: envelope.mail_from.clone(),
            to: envelope.rcpt_to.clone(),
            data: String::from_utf8_lossy(raw).into_owned(),
            helo: envelope.helo.clone().unwrap_or_default(),
        },
    }
}

async fn load(state: &AppState, id: &str) -> Result<Option<Message>, ApiError> {
    let Some(message) = state.store.message(id.to_string()).await? else {
        return Ok(None);
    };
    let Some(raw) = state.store.raw(id.to_string()).await? else {
        return Ok(None);
    };
    Ok(Some(to_json(&message, &raw)))
}

async fn found(state: &AppState, id: &str) -> Result<Message, ApiError> {
    load(state, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("message {id} not found")))
}

/// MailHog's v2 list wrapper.
#[derive(Serialize)]
struct Items {
    total: u64,
    count: usize,
    start: u64,
    items: Vec<Message>,
}

async fn page(
    state: &AppState,
    query: SearchQuery,
    params: &Params,
) -> Result<Json<Items>, ApiError> {
    let start = number(params, "start", 0)?;
    let limit = match number(params, "limit", 50)? {
        0 => 50,
        n => n.min(MAX_LIMIT),
    };
    let page = state.store.search(query, start, limit).await?;
    let mut items = Vec::with_capacity(page.messages.len());
    for summary in &page.messages {
        // Deleted meanwhile: leave it out.
        if let Some(item) = load(state, &summary.id).await? {
            items.push(item);
        }
    }
    Ok(Json(Items {
        total: page.matched,
        count: items.len(),
        start,
        items,
    }))
}

async fn list(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Json<Items>, ApiError> {
    page(&state, SearchQuery::default(), &params).await
}

/// `kind=from|to|containing&query=...`
async fn search(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Json<Items>, ApiError> {
    let text = params
        .get("query")
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty())
        .ok_or_else(|| ApiError::bad_request("query is required"))?;
    let filter = match params.get("kind").map(String::as_str) {
        Some("from") => Filter::Address(AddressField::From, text),
        Some("to") => Filter::Address(AddressField::Recipient, text),
        Some("containing") => Filter::Text {
            text,
            phrase: false,
        },
        other => {
            return Err(ApiError::bad_request(format!(
                "kind must be from, to or containing, got {:?}",
                other.unwrap_or("")
            )));
        }
    };
    let query = SearchQuery {
        terms: vec![Term {
            negated: false,
            filter,
        }],
    };
    page(&state, query, &params).await
}

async fn message(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Message>, ApiError> {
    Ok(Json(found(&state, &id).await?))
}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if state.store.delete(Selection::Ids(vec![id.clone()])).await? == 0 {
        return Err(ApiError::not_found(format!("message {id} not found")));
    }
    state.stats.messages_deleted(1);
    Ok(().into_response())
}

async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let raw = state
        .store
        .raw(id.clone())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("message {id} not found")))?;
    Ok(eml_download(&id, raw))
}
