//! The writes to stored messages and queues, as data: the store's methods
//! describe each one here and every backend applies it in one transaction
//! of its own, with the event that announces it once committed.

use super::{RelayOutcome, Selection, WebhookNext};

/// A change to what is stored: messages, tags, the relay and webhook
/// queues.
#[derive(Debug, Clone)]
pub enum Change {
    Delete(Selection),
    SetRead(Selection, bool),
    /// Replace the tags of these messages.
    SetTags {
        ids: Vec<String>,
        tags: Vec<String>,
    },
    RenameTag {
        from: String,
        to: String,
    },
    DeleteTag(String),
    /// Queue a release of message `id` to the relay (1 if it exists).
    QueueRelay {
        id: String,
        mail_from: String,
        recipients: Vec<String>,
        now_ms: i64,
    },
    /// Claim a queued release for an attempt (1 if it was queued).
    StartRelay(i64),
    /// Record an attempt of a release and what follows from it for each
    /// group of its recipients.
    FinishRelay {
        job: i64,
        outcomes: Vec<RelayOutcome>,
    },
    /// Claim a due webhook delivery until a time (1 if it was due).
    ClaimWebhook {
        id: i64,
        now_ms: i64,
        until_ms: i64,
    },
    /// Record a webhook delivery's attempt (1 if it is still queued).
    FinishWebhook {
        id: i64,
        next: WebhookNext,
    },
}
