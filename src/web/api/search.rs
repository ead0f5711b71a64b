//! `GET /api/v1/search` and `DELETE /api/v1/search`.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};

use super::messages::MessagesSummary;
use super::params::{Params, paging, search_query};
use crate::store::Selection;
use crate::web::{ApiError, AppState};

fn required_query(params: &Params) -> Result<crate::search::Query, ApiError> {
    search_query(params)?.ok_or_else(|| ApiError::bad_request("the query parameter is required"))
}

/// Matches, newest first, paginated in SQL.
pub async fn search(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Json<MessagesSummary>, ApiError> {
    let query = required_query(&params)?;
    let (start, limit) = paging(&params)?;
    let page = state.store.search(query, start, limit).await?;
    Ok(Json(MessagesSummary::new(page, start)))
}

/// Deletes every match. An empty query is refused: it is not a way to
/// delete everything by accident.
pub async fn delete(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let query = required_query(&params)?;
    let deleted = state.store.delete(Selection::Query(query)).await?;
    state.stats.messages_deleted(deleted);
    Ok(().into_response())
}
