//! The webhook queue as every backend keeps it: one delivery per new
//! message, queued in the transaction that stores the message (see
//! [`NewMessage::webhook`](super::NewMessage::webhook)), claimed for an
//! attempt, and removed once delivered or given up.
//!
//! A backend implements four operations besides queueing at insert:
//! [`Store::webhook_due`](super::Store::webhook_due),
//! [`Store::claim_webhook`](super::Store::claim_webhook),
//! [`Store::finish_webhook`](super::Store::finish_webhook) and
//! [`Store::webhook_stats`](super::Store::webhook_stats).
//! A delivery does not belong to its message: deleting the message (or all
//! of them) leaves it queued, since the message did arrive.

/// A queued delivery of one message's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// The queue's own key, for claiming and finishing.
    pub id: i64,
    /// The ID of the message it announces; the same on every attempt.
    pub message_id: String,
    /// The request body, exactly as it is sent.
    pub payload: String,
    /// When the message was received, Unix milliseconds.
    pub created_ms: i64,
    /// When it is due (or, while claimed, when the claim runs out).
    pub next_attempt_ms: i64,
    /// Attempts made so far, all failed.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookNext {
    /// The receiver took it: the delivery leaves the queue.
    Delivered,
    /// Failed; try again at this Unix millisecond.
    RetryAt { at_ms: i64, error: String },
    /// Failed, and its time is up: the delivery leaves the queue.
    Dropped,
}

/// The queue at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WebhookQueueStats {
    /// Deliveries waiting (claimed ones included).
    pub queued: u64,
    /// When the earliest of them is due.
    pub next_due_ms: Option<i64>,
}
