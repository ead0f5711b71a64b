//! The relay queue as every backend keeps it: releases of stored messages
//! to the upstream SMTP server, each with its state and every attempt's
//! outcome.

use serde::{Deserialize, Serialize};

use super::StoreError;

/// Where a release stands. Only `Queued` rows are picked up; `Sending`
/// rows found at start were cut off by a crash and are queued again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayState {
    Queued,
    Sending,
    Sent,
    Failed,
}

impl RelayState {
    /// The state as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RelayState::Queued => "queued",
            RelayState::Sending => "sending",
            RelayState::Sent => "sent",
            RelayState::Failed => "failed",
        }
    }

    /// Reads a stored state back.
    pub fn parse(text: &str) -> Result<RelayState, StoreError> {
        Ok(match text {
            "queued" => RelayState::Queued,
            "sending" => RelayState::Sending,
            "sent" => RelayState::Sent,
            "failed" => RelayState::Failed,
            other => return Err(StoreError::Corrupt(format!("relay state {other:?}"))),
        })
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptOutcome {
    /// The upstream accepted the message.
    Sent,
    /// 4xx, connection refused, timeout: worth trying again.
    Temporary,
    /// 5xx: trying again would get the same answer.
    Permanent,
}

/// One delivery attempt, as shown in the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RelayAttempt {
    /// When the attempt ended, RFC 3339.
    pub at: String,
    pub outcome: AttemptOutcome,
    /// The upstream's reply (the command it answered and its text), or why
    /// no reply came (connection refused, timeout, TLS).
    pub reply: String,
}

/// What becomes of a release after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayNext {
    Sent,
    /// Try again at this Unix millisecond.
    RetryAt(i64),
    Failed,
}

/// What an attempt means for some of a release's recipients. An attempt
/// that went to some recipients and not to others splits the release: one
/// row per outcome, each with the attempts so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayOutcome {
    pub recipients: Vec<String>,
    pub attempt: RelayAttempt,
    pub next: RelayNext,
}

/// A release of one message to some recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayJob {
    pub job: i64,
    pub message_id: String,
    pub mail_from: String,
    pub recipients: Vec<String>,
    pub state: RelayState,
    pub created_ms: i64,
    pub next_attempt_ms: i64,
    pub attempts: Vec<RelayAttempt>,
}
