//! `GET /api/v1/inboxes`: every inbox with its counts (which inboxes exist
//! is `App::inboxes`; the `inbox` parameter is read by `web::lookup`).

use axum::Json;
use axum::extract::State;

use crate::store::InboxCounts;
use crate::web::{ApiError, AppState};

/// `[{"Name": "default", "Total": 3, "Unread": 1}, ...]`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<InboxCounts>>, ApiError> {
    Ok(Json(state.app.inboxes().await?))
}
