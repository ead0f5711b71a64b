//! `GET /api/v1/wait`: answers with the first message matching a query
//! that arrived after a cursor: at once if one is already stored, else as
//! soon as one is committed, else 408 after the timeout.
//!
//! The waiting itself is `App::first_match`.

use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::messages::message_json;
use crate::app::inboxes::scope_query;
use crate::domain::timefmt;
use crate::domain::units::parse_duration;
use crate::store::Cursor;
use crate::web::json::MessageSummaryJson;
use crate::web::lookup::{find_with_raw, inbox_param};
use crate::web::params::{Params, search_query};
use crate::web::{ApiError, AppState};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// `after=` is a message ID or an RFC 3339 time; absent means "now".
fn cursor(params: &Params) -> Result<Cursor, ApiError> {
    let Some(after) = params
        .get("after")
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
    else {
        return Ok(Cursor::AfterTime(timefmt::now_millis()));
    };
    if let Some(ms) = timefmt::parse_datetime_millis(after) {
        return Ok(Cursor::AfterTime(ms));
    }
    let is_id = after.len() == 26 && after.bytes().all(|b| b.is_ascii_alphanumeric());
    if !is_id {
        return Err(ApiError::bad_request(format!(
            "after must be a message ID or an RFC 3339 time, got {after:?}"
        )));
    }
    Ok(Cursor::AfterId(after.to_ascii_uppercase()))
}

fn timeout(params: &Params) -> Result<Duration, ApiError> {
    match params
        .get("timeout")
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
    {
        None => Ok(DEFAULT_TIMEOUT),
        Some(text) => {
            let t =
                parse_duration(text).map_err(|e| ApiError::bad_request(format!("timeout: {e}")))?;
            if t > MAX_TIMEOUT {
                return Err(ApiError::bad_request("timeout may be at most 30m"));
            }
            Ok(t)
        }
    }
}

pub async fn wait(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let inbox = inbox_param(&state, &params).await?;
    let query = scope_query(search_query(&params)?, inbox.as_ref()).unwrap_or_default();
    let cursor = cursor(&params)?;
    let timeout = timeout(&params)?;
    let full = params.get("full").is_some_and(|v| v == "1" || v == "true");
    let id = match tokio::time::timeout(timeout, state.app.first_match(&query, &cursor)).await {
        Ok(found) => found?,
        Err(_) => {
            let what = params
                .get("query")
                .map_or(String::new(), |q| format!(" matching {q:?}"));
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!("no message{what} arrived within {}", humantime(timeout)),
            ));
        }
    };
    let (message, raw) = find_with_raw(&state, id, &Params::new()).await?;
    // Letterbox's own route: Letterbox's additions always.
    Ok(if full {
        message_json(&message, &raw, true)
    } else {
        Json(MessageSummaryJson::new(&message.summary, true)).into_response()
    })
}

fn humantime(d: Duration) -> String {
    match d.as_millis() {
        ms if ms % 1000 != 0 => format!("{ms}ms"),
        ms => format!("{}s", ms / 1000),
    }
}
