//! Tags: list, set on messages, rename, delete (Mailpit's paths).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use crate::domain::message::{add_tags, clean_tag};
use crate::web::params::json_body;
use crate::web::{ApiError, AppState};

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(state.app.tags().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetTags {
    #[serde(rename = "IDs", alias = "ids")]
    ids: Vec<String>,
    /// Left out, like empty, clears the tags (as Mailpit's clients expect).
    #[serde(rename = "Tags", alias = "tags", default)]
    tags: Vec<String>,
}

/// `PUT /api/v1/tags {"IDs": [...], "Tags": [...]}`: replaces the tags of
/// those messages (an empty list clears them).
pub async fn set(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let request: SetTags = json_body(&body, r#"expected {"IDs": ["<ID>"], "Tags": ["tag"]}"#)?;
    if request.ids.is_empty() {
        return Err(ApiError::bad_request("IDs must name at least one message"));
    }
    let mut tags = Vec::new();
    add_tags(&mut tags, request.tags.iter().filter_map(|t| clean_tag(t)));
    state.app.set_tags(request.ids, tags).await?;
    Ok(super::ok())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rename {
    #[serde(rename = "Name", alias = "name")]
    name: String,
}

/// `PUT /api/v1/tags/{Tag} {"Name": "new"}`.
pub async fn rename(
    State(state): State<AppState>,
    Path(tag): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: Rename = json_body(&body, r#"expected {"Name": "new name"}"#)?;
    let name = clean_tag(&request.name)
        .ok_or_else(|| ApiError::bad_request("the new name has no allowed characters"))?;
    if !state.app.rename_tag(tag.clone(), name).await? {
        return Err(ApiError::not_found(format!("tag {tag:?} not found")));
    }
    Ok(super::ok())
}

/// `DELETE /api/v1/tags/{Tag}`: the messages stay.
pub async fn delete(
    State(state): State<AppState>,
    Path(tag): Path<String>,
) -> Result<Response, ApiError> {
    if !state.app.delete_tag(tag.clone()).await? {
        return Err(ApiError::not_found(format!("tag {tag:?} not found")));
    }
    Ok(super::ok())
}
