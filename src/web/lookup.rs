//! Finding what a request names: a message by ID (or `latest`), an inbox
//! by the `inbox` parameter. Shared by the API, the web UI and the event
//! streams, with the API's errors (400 for a bad name, 404 for none).

use crate::app::inboxes::scope_query;
use crate::domain::inbox::InboxName;
use crate::domain::message::{Part, find_attached_part};
use crate::domain::search::Query;
use crate::store::StoredMessage;
use crate::web::params::{Params, search_query};
use crate::web::{ApiError, AppState};

/// Checks an inbox name: 400 when it cannot be a name, 404 when no such
/// inbox exists.
pub async fn existing_inbox(state: &AppState, name: &str) -> Result<InboxName, ApiError> {
    let name = InboxName::parse(name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if state.app.inbox_exists(&name).await? {
        Ok(name)
    } else {
        Err(ApiError::not_found(format!("inbox {name} not found")))
    }
}

/// The `inbox` parameter, checked; `None` when absent or blank (every
/// inbox, as before inboxes existed).
pub async fn inbox_param(state: &AppState, params: &Params) -> Result<Option<InboxName>, ApiError> {
    match params.get("inbox").map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(name) => existing_inbox(state, name).await.map(Some),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("message {id} not found"))
}

fn no_match() -> ApiError {
    ApiError::not_found("no message matches")
}

/// The query `latest` stands for: the newest message matching the `query`
/// parameter, if one is given, in the `inbox` one names.
async fn latest_query(state: &AppState, params: &Params) -> Result<Option<Query>, ApiError> {
    let inbox = inbox_param(state, params).await?;
    Ok(scope_query(search_query(params)?, inbox.as_ref()))
}

/// The message `id` names (`latest` resolved); 404 if there is none.
pub async fn find(
    state: &AppState,
    id: String,
    params: &Params,
) -> Result<StoredMessage, ApiError> {
    if id == "latest" {
        let query = latest_query(state, params).await?;
        return state.app.latest(query).await?.ok_or_else(no_match);
    }
    state
        .app
        .message(id.clone())
        .await?
        .ok_or_else(|| not_found(&id))
}

/// [`find`] with the message's raw bytes.
pub async fn find_with_raw(
    state: &AppState,
    id: String,
    params: &Params,
) -> Result<(StoredMessage, Vec<u8>), ApiError> {
    if id == "latest" {
        let query = latest_query(state, params).await?;
        return state.app.latest_with_raw(query).await?.ok_or_else(no_match);
    }
    state
        .app
        .message_with_raw(id.clone())
        .await?
        .ok_or_else(|| not_found(&id))
}

/// A message's part `{PartID}`, with the message and the bytes the part's
/// offsets point into (the raw message, or for a part of an attached
/// message, that message), or a 404 naming the part.
pub async fn find_part(
    state: &AppState,
    id: String,
    part_id: &str,
    params: &Params,
) -> Result<(StoredMessage, Vec<u8>, Part), ApiError> {
    let (message, raw) = find_with_raw(state, id, params).await?;
    if let Some(part) = message.parts.iter().find(|p| p.part_id == part_id) {
        let part = part.clone();
        return Ok((message, raw, part));
    }
    match find_attached_part(&raw, &message.parts, part_id) {
        Some((raw, part)) => Ok((message, raw, part)),
        None => Err(ApiError::not_found(format!(
            "message {} has no part {part_id}",
            message.summary.id
        ))),
    }
}
