//! `GET /api/v1/search` and `DELETE /api/v1/search`.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};

use super::messages::MessagesSummary;
use crate::app::inboxes::scope_query;
use crate::store::Selection;
use crate::web::additions;
use crate::web::lookup::inbox_param;
use crate::web::params::{Params, paging, search_query};
use crate::web::{ApiError, AppState};

/// The `query` parameter, confined to the `inbox` one if given.
async fn required_query(
    state: &AppState,
    params: &Params,
) -> Result<crate::domain::search::Query, ApiError> {
    let query = search_query(params)?
        .ok_or_else(|| ApiError::bad_request("the query parameter is required"))?;
    let inbox = inbox_param(state, params).await?;
    Ok(scope_query(Some(query), inbox.as_ref()).unwrap_or_default())
}

/// Matches, newest first, paginated in SQL. `auth:` terms are checked on
/// the store's newest matches of the rest (see `checks::auth::search`);
/// a header says when not all of them were.
pub async fn search(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let text = params.get("query").map(|q| q.trim()).unwrap_or_default();
    if text.is_empty() {
        return Err(ApiError::bad_request("the query parameter is required"));
    }
    let (query, auth) = crate::domain::search::Query::parse_with_auth(text)
        .map_err(|e| ApiError::bad_request(format!("bad query: {e}")))?;
    let inbox = inbox_param(&state, &params).await?;
    let query = scope_query(Some(query), inbox.as_ref()).unwrap_or_default();
    let (start, limit) = paging(&params)?;
    let (page, note) = if auth.is_empty() {
        (state.app.search(query, start, limit).await?, None)
    } else {
        let checker = &state.checks.auth;
        crate::checks::auth::search::search(&state.app, checker, query, &auth, start, limit).await?
    };
    let json = Json(MessagesSummary::new(
        page,
        start,
        additions::requested(&params),
    ));
    let mut response = json.into_response();
    if let Some(value) = note.and_then(|n| axum::http::HeaderValue::from_str(&n).ok()) {
        response.headers_mut().insert("x-letterbox-note", value);
    }
    Ok(response)
}

/// Deletes every match. An empty query is refused: it is not a way to
/// delete everything by accident.
pub async fn delete(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let query = required_query(&state, &params).await?;
    state.app.delete(Selection::Query(query)).await?;
    Ok(super::ok())
}
