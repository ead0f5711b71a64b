//! `/api/v1/info` and the readiness probe.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Serialize;

use crate::app::stats::WebhookFailure;
use crate::web::params::Params;
use crate::web::{ApiError, AppState, additions};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RuntimeStats {
    uptime: u64,
    memory: u64,
    messages_deleted: u64,
    #[serde(rename = "SMTPAccepted")]
    smtp_accepted: u64,
    #[serde(rename = "SMTPAcceptedSize")]
    smtp_accepted_size: u64,
    #[serde(rename = "SMTPRejected")]
    smtp_rejected: u64,
    #[serde(rename = "SMTPIgnored")]
    smtp_ignored: u64,
}

/// Mailpit's `AppInformation`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Info {
    version: &'static str,
    latest_version: &'static str,
    database: String,
    database_size: u64,
    messages: u64,
    unread: u64,
    tags: serde_json::Map<String, serde_json::Value>,
    runtime_stats: RuntimeStats,
    /// Letterbox addition, only with `?additions=1`: `null` without
    /// `--webhook-url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook: Option<Option<WebhookInfo>>,
    /// Letterbox addition, only with `?additions=1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<NodeInfo>,
}

/// Which node answered, and which of the numbers are whose: the store's
/// are the same on every node sharing it, a node's own count what this
/// process did since it started.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NodeInfo {
    #[serde(rename = "ID")]
    id: String,
    /// Whether other nodes share the store (PostgreSQL).
    store_shared: bool,
    shared: &'static [&'static str],
    per_node: &'static [&'static str],
}

/// The fields (as paths) that count what is stored.
const SHARED: &[&str] = &[
    "DatabaseSize",
    "Messages",
    "Unread",
    "Tags",
    "Webhook.Queued",
];

/// The fields that count what this process did.
const PER_NODE: &[&str] = &[
    "RuntimeStats",
    "Webhook.Delivered",
    "Webhook.Retried",
    "Webhook.Dropped",
    "Webhook.LastFailure",
];

/// The webhook's state: where it goes, its counters since start, the queue
/// and the last failure.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WebhookInfo {
    /// The receiver's scheme, host and port only: a webhook URL's path
    /// often holds a token.
    receiver: String,
    queued: u64,
    delivered: u64,
    /// Failed attempts that are tried again.
    retried: u64,
    /// Deliveries given up once their time was up.
    dropped: u64,
    last_failure: Option<FailureInfo>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct FailureInfo {
    at: String,
    #[serde(rename = "ID")]
    id: String,
    error: String,
}

impl From<WebhookFailure> for FailureInfo {
    fn from(failure: WebhookFailure) -> Self {
        FailureInfo {
            at: failure.at,
            id: failure.message_id,
            error: failure.error,
        }
    }
}

pub async fn info(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Json<impl Serialize>, ApiError> {
    let counts = state.app.counts().await?;
    let store = state.app.store_info().await?;
    let tags = state.app.tag_counts().await?;
    let stats = state.app.stats().snapshot();
    let additions = additions::requested(&params);
    let webhook = match (&state.webhook, additions) {
        (_, false) => None,
        (None, true) => Some(None),
        (Some(webhook), true) => Some(Some(WebhookInfo {
            receiver: webhook.settings().url.origin(),
            queued: state.app.webhook_queue().await?.queued,
            delivered: stats.webhook_delivered,
            retried: stats.webhook_retried,
            dropped: stats.webhook_dropped,
            last_failure: state.app.stats().webhook_last_failure().map(Into::into),
        })),
    };
    Ok(Json(Info {
        version: env!("CARGO_PKG_VERSION"),
        // Letterbox never calls home to learn about new releases.
        latest_version: "",
        database: store.location,
        database_size: store.bytes.unwrap_or(0),
        messages: counts.total,
        unread: counts.unread,
        tags: tags.into_iter().map(|(tag, n)| (tag, n.into())).collect(),
        runtime_stats: RuntimeStats {
            uptime: stats.uptime_secs,
            memory: resident_memory_bytes(),
            messages_deleted: stats.messages_deleted,
            smtp_accepted: stats.smtp_accepted,
            smtp_accepted_size: stats.smtp_accepted_bytes,
            smtp_rejected: stats.smtp_rejected_total(),
            smtp_ignored: 0,
        },
        webhook,
        node: additions.then(|| NodeInfo {
            id: state.app.node_id().to_string(),
            store_shared: state.app.store_is_shared(),
            shared: SHARED,
            per_node: PER_NODE,
        }),
    }))
}

/// 200 once the store answers queries, 503 otherwise.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.app.counts().await {
        Ok(_) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable"),
    }
}

/// Resident set size on Linux; 0 where `/proc` is not available.
fn resident_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Mailpit's `WebUIConfiguration`: what the UI may offer. Spam checks are
/// not available in Letterbox; chaos always is.
pub async fn webui(State(state): State<AppState>) -> Json<serde_json::Value> {
    let relay = state.relay.as_ref().map(|r| r.settings());
    let allowed = relay
        .and_then(|r| r.allowed.as_ref().map(|a| a.pattern.clone()))
        .unwrap_or_default();
    Json(serde_json::json!({
        "Label": "",
        "MessageRelay": {
            "Enabled": relay.is_some(),
            "SMTPServer": relay.map(|r| r.server.clone()).unwrap_or_default(),
            "ReturnPath": relay.and_then(|r| r.from.clone()).unwrap_or_default(),
            "AllowedRecipients": allowed,
            // Mailpit's former name for the same setting, still sent.
            "RecipientAllowlist": allowed,
            "BlockedRecipients": "",
            "OverrideFrom": "",
            "PreserveMessageIDs": false,
        },
        "SpamAssassin": state.checks.spamd.is_some(),
        "ChaosEnabled": true,
        "DuplicatesIgnored": false,
        "HideDeleteAllButton": false,
    }))
}
