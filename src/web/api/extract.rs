//! `GET /api/v1/message/{ID}/links` and `/codes`: what a test needs from a
//! sign-up or login mail, without parsing it itself.

use axum::Json;
use axum::extract::{Path, Query, State};

use super::messages::bodies;
use crate::domain::extract::{self, Code, Link};
use crate::web::lookup::find_with_raw;
use crate::web::params::Params;
use crate::web::{ApiError, AppState};

/// Every link in the HTML (with its text) and the text part, each once.
pub async fn links(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Json<Vec<Link>>, ApiError> {
    let (message, raw) = find_with_raw(&state, id, &params).await?;
    let (text, html) = bodies(&message, &raw);
    Ok(Json(extract::links(&html, &text)))
}

/// One-time codes with the line they were found on.
pub async fn codes(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Json<Vec<Code>>, ApiError> {
    let (message, raw) = find_with_raw(&state, id, &params).await?;
    let (text, html) = bodies(&message, &raw);
    Ok(Json(extract::codes(&html, &text)))
}
