//! `GET /api/v1/search` and `DELETE /api/v1/search`.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;

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

/// Matches, newest first, paginated in SQL.
pub async fn search(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Json<MessagesSummary>, ApiError> {
    let query = required_query(&state, &params).await?;
    let (start, limit) = paging(&params)?;
    let page = state.app.search(query, start, limit).await?;
    Ok(Json(MessagesSummary::new(
        page,
        start,
        additions::requested(&params),
    )))
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
