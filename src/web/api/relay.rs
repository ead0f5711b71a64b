//! `POST /api/v1/message/{ID}/release` (Mailpit's shape) and
//! `GET /api/v1/message/{ID}/relay`: releasing a message through the relay
//! and what became of it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};

use crate::domain::timefmt;
use crate::relay::ReleaseError;
use crate::store::{RelayAttempt, RelayJob, RelayState};
use crate::web::lookup::find;
use crate::web::params::{Params, json_body};
use crate::web::{ApiError, AppState};

const EXPECTED: &str = r#"{"To": ["someone@example.com"]}"#;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReleaseRequest {
    #[serde(default)]
    to: Vec<String>,
}

impl From<ReleaseError> for ApiError {
    fn from(err: ReleaseError) -> Self {
        match err {
            ReleaseError::NotFound(_) => ApiError::not_found(err.to_string()),
            ReleaseError::Store(err) => err.into(),
            _ => ApiError::bad_request(err.to_string()),
        }
    }
}

/// The configured relay, or the error that says how to configure one.
fn no_relay() -> ApiError {
    ApiError::bad_request("no relay is configured: start Letterbox with --relay-host HOST:PORT")
}

/// Queues the message for delivery through the relay; answers `200` with
/// an empty body, as the other changes do. Delivery happens in the
/// background: its progress is at `GET /api/v1/message/{ID}/relay`.
pub async fn release(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    body: Bytes,
) -> Result<(), ApiError> {
    let relay = state.relay.clone().ok_or_else(no_relay)?;
    let request: ReleaseRequest = json_body(&body, EXPECTED)?;
    let message = find(&state, id, &params).await?;
    relay.release(&message, &request.to).await?;
    Ok(())
}

/// One release of a message, as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Release {
    #[serde(rename = "ID")]
    id: i64,
    /// The envelope sender used.
    from: String,
    to: Vec<String>,
    state: RelayState,
    created: String,
    /// When the next attempt is due, while queued.
    next_attempt: Option<String>,
    attempts: Vec<RelayAttempt>,
}

impl From<RelayJob> for Release {
    fn from(job: RelayJob) -> Self {
        Release {
            id: job.job,
            from: job.mail_from,
            to: job.recipients,
            state: job.state,
            created: timefmt::rfc3339_millis(job.created_ms),
            next_attempt: (job.state == RelayState::Queued)
                .then(|| timefmt::rfc3339_millis(job.next_attempt_ms)),
            attempts: job.attempts,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RelayStatus {
    /// Whether a relay is configured.
    enabled: bool,
    /// The relay's `host:port`, when configured.
    #[serde(rename = "SMTPServer")]
    smtp_server: String,
    /// Every release of the message, oldest first.
    releases: Vec<Release>,
}

/// The message's releases and every attempt with the relay's reply.
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Json<impl Serialize>, ApiError> {
    let message = find(&state, id, &params).await?;
    let jobs = state.app.releases(message.summary.id).await?;
    Ok(Json(RelayStatus {
        enabled: state.relay.is_some(),
        smtp_server: state
            .relay
            .as_ref()
            .map(|r| r.settings().server.clone())
            .unwrap_or_default(),
        releases: jobs.into_iter().map(Release::from).collect(),
    }))
}
