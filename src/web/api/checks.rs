//! `GET /api/v1/message/{ID}/html-check`, `/link-check`, `/sa-check`, `/auth-check` and
//! `/part/{PartID}/thumb`: thin handlers over [`crate::checks`], in
//! Mailpit's shapes. `{ID}` may be `latest`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::messages::bodies;
use crate::checks::spamd::SpamCheck;
use crate::checks::{html, links};
use crate::domain::message::{PartRole, part_bytes};
use crate::web::lookup::{find_part, find_with_raw};
use crate::web::params::Params;
use crate::web::{ApiError, AppState};

/// Says why a result is partial (HTML and link checks) or a thumbnail is
/// blank, without changing Mailpit's JSON shapes.
const NOTE_HEADER: HeaderName = HeaderName::from_static("x-letterbox-note");

fn flag(params: &Params, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

fn note_headers(notes: &[String]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if !notes.is_empty() {
        let text: String = notes
            .join("; ")
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let Ok(value) = HeaderValue::from_str(&text) {
            headers.insert(NOTE_HEADER, value);
        }
    }
    headers
}

/// Which caniemail features the HTML part uses and how well clients
/// support them. `?locations=true` adds where each is used.
pub async fn html_check(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let (message, raw) = find_with_raw(&state, id, &params).await?;
    let (_, html) = bodies(&message, &raw);
    if html.trim().is_empty() {
        return Err(ApiError::bad_request("message does not contain HTML"));
    }
    let with_locations = flag(&params, "locations");
    let check = tokio::task::spawn_blocking(move || html::check(&html, with_locations))
        .await
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("HTML check failed: {e}"),
            )
        })?;
    let headers = note_headers(check.notes.as_deref().unwrap_or_default());
    Ok((headers, Json(check)).into_response())
}

/// The SpamAssassin score of the message as received. Not configured, the
/// route is as absent as in Mailpit (404); spamd failing is a 200 whose
/// `Error` says why, as Mailpit answers it.
pub async fn spam_check(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let Some(spamd) = &state.checks.spamd else {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "the spam check is off: start Letterbox with --spamassassin HOST:PORT",
        ));
    };
    let (_, raw) = find_with_raw(&state, id, &params).await?;
    let check = match spamd.check(&raw).await {
        Ok(check) => check,
        Err(error) => {
            tracing::warn!(%error, "spam check");
            SpamCheck::failed(&error)
        }
    };
    Ok(Json(check).into_response())
}

/// DKIM, SPF, DMARC and ARC of the message as received, computed at the
/// first request and kept. Keys and policies come from the configuration;
/// DNS is asked only with `--auth-dns`.
pub async fn auth_check(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let (message, raw) = find_with_raw(&state, id, &params).await?;
    let check = state
        .checks
        .auth
        .check(&message.summary.id, &raw, &message.envelope)
        .await;
    Ok((note_headers(&check.notes), Json(check.as_ref())).into_response())
}

/// Each http(s) link's status; `?follow=true` follows redirects.
pub async fn link_check(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let (message, raw) = find_with_raw(&state, id, &params).await?;
    let (text, html) = bodies(&message, &raw);
    let (urls, cut) = tokio::task::spawn_blocking(move || links::extract(&html, &text))
        .await
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                format!("link check failed: {e}"),
            )
        })?;
    let mut check = state
        .checks
        .links
        .check(urls, flag(&params, "follow"))
        .await;
    if let Some(cut) = cut {
        check
            .notes
            .insert(0, format!("links looked for in part of the HTML: {cut}"));
    }
    Ok((note_headers(&check.notes), Json(check)).into_response())
}

/// A 180×120 JPEG of an image part; blank (with the reason in a header)
/// for anything else.
pub async fn thumbnail(
    State(state): State<AppState>,
    Path((id, part_id)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let (message, raw, part) = find_part(&state, id, &part_id, &params).await?;
    if part.role == PartRole::Container {
        return Err(ApiError::not_found(format!(
            "message {} has no part {part_id}",
            message.summary.id
        )));
    }
    let bytes = part_bytes(&raw, &part);
    drop(raw);
    let thumbnail = state.checks.thumbnails.make(bytes).await;
    let notes: Vec<String> = thumbnail
        .blank
        .iter()
        .map(|r| format!("blank thumbnail: {r}"))
        .collect();
    let mut headers = note_headers(&notes);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok((headers, thumbnail.jpeg).into_response())
}
