//! MailHog's API, for the test suites and clients (the npm `mailhog`
//! package among them) still written against it.
//!
//! MailHog is dead; its shapes are kept ([`mailhog_json`]), with one
//! deliberate difference: `MIME.Parts` lists every leaf part of the message
//! in document order, not only the top-level ones, so clients find the text
//! and HTML of a `multipart/mixed` message whose body is a nested
//! `multipart/alternative`.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::mailhog_json;
use super::messages::eml_download;
use crate::domain::search::{AddressField, Filter, Query as SearchQuery, Term};
use crate::web::params::{Params, number};
use crate::web::{ApiError, AppState};

/// MailHog's own cap on a page.
const MAX_LIMIT: u64 = 250;

/// Routes under `/api/v1` (plural `messages/{id}`: no clash with Mailpit's).
pub fn v1_routes() -> Router<AppState> {
    Router::new()
        .route("/messages/{id}", get(message).delete(delete))
        .route("/messages/{id}/download", get(download))
        .route(
            "/messages/{id}/release",
            axum::routing::post(super::mailhog_release::release),
        )
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

/// One message in MailHog's shape.
async fn message(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(format!("message {id} not found"));
    let (message, raw) = state
        .app
        .message_with_raw(id.clone())
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(mailhog_json::to_json(&message, &raw)).into_response())
}

/// `start` and `limit` as MailHog reads them.
fn paging(params: &Params) -> Result<(u64, u64), ApiError> {
    let start = number(params, "start", 0)?;
    let limit = match number(params, "limit", 50)? {
        0 => 50,
        n => n.min(MAX_LIMIT),
    };
    Ok((start, limit))
}

/// The streamed list of `ids`, of `total` matches.
fn items(state: AppState, total: u64, start: u64, ids: Vec<String>) -> Response {
    let body = mailhog_json::stream_items(state, total, start, ids);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

async fn page(state: AppState, query: SearchQuery, params: &Params) -> Result<Response, ApiError> {
    let (start, limit) = paging(params)?;
    let page = state.app.search(query, start, limit).await?;
    let ids = page.messages.into_iter().map(|s| s.id).collect();
    Ok(items(state, page.matched, start, ids))
}

async fn list(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    page(state, SearchQuery::default(), &params).await
}

/// `kind=from|to|containing&query=...`
async fn search(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let text = params
        .get("query")
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty())
        .ok_or_else(|| ApiError::bad_request("query is required"))?;
    let filter = match params.get("kind").map(String::as_str) {
        Some("from") => Filter::Address(AddressField::From, text),
        Some("to") => Filter::Address(AddressField::Recipient, text),
        Some("containing") => return containing(state, text, &params).await,
        other => {
            return Err(ApiError::bad_request(format!(
                "kind must be from, to or containing, got {:?}",
                other.unwrap_or("")
            )));
        }
    };
    page(state, one_term(filter), &params).await
}

fn one_term(filter: Filter) -> SearchQuery {
    SearchQuery {
        terms: vec![Term {
            negated: false,
            filter,
        }],
    }
}

/// Messages read at a time by the `containing` scan.
const SCAN_PAGE: u64 = 500;

/// `kind=containing`: as MailHog, the query is looked for in each message's
/// raw source (ignoring ASCII case), so an encoded form such as
/// `=C3=BC` matches too; the decoded text (Letterbox's plain search)
/// matches as well. This reads every stored message, one at a time: it
/// costs time, not memory.
async fn containing(state: AppState, text: String, params: &Params) -> Result<Response, ApiError> {
    let (start, limit) = paging(params)?;
    let decoded = one_term(Filter::Text {
        text: text.clone(),
        phrase: false,
    });
    let needle = text.to_ascii_lowercase().into_bytes();
    let mut matched = Vec::new();
    // Mail arriving during the scan shifts the pages: a message may come
    // round twice.
    let mut seen = std::collections::HashSet::new();
    let mut offset = 0;
    loop {
        let scanned = state.app.list(offset, SCAN_PAGE).await?;
        if scanned.messages.is_empty() {
            break;
        }
        offset += scanned.messages.len() as u64;
        for summary in scanned.messages {
            if !seen.insert(summary.id.clone()) {
                continue;
            }
            let Some(raw) = state.app.raw(summary.id.clone()).await? else {
                continue; // deleted meanwhile
            };
            let needle = needle.clone();
            let in_raw = tokio::task::spawn_blocking(move || {
                memchr::memmem::find(&raw.to_ascii_lowercase(), &needle).is_some()
            })
            .await
            .unwrap_or(false);
            if in_raw
                || state
                    .app
                    .matches(decoded.clone(), summary.id.clone())
                    .await?
            {
                matched.push(summary.id);
            }
        }
    }
    let total = matched.len() as u64;
    let page = matched
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    Ok(items(state, total, start, page))
}

async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !state.app.delete_one(id.clone()).await? {
        return Err(ApiError::not_found(format!("message {id} not found")));
    }
    Ok(().into_response())
}

async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let raw = state
        .app
        .raw(id.clone())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("message {id} not found")))?;
    Ok(eml_download(&id, raw))
}
