//! What a list shows of a message.

use serde::Serialize;

use crate::domain::message::Address;

/// A list entry, in Mailpit's `MessageSummary` JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "MessageID")]
    pub message_id: String,
    pub read: bool,
    pub from: Address,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub subject: String,
    /// Receive time, RFC 3339 with milliseconds.
    pub created: String,
    pub username: String,
    pub tags: Vec<String>,
    pub size: u64,
    pub attachments: u32,
    pub snippet: String,
    /// The message's inbox: a Letterbox addition, left out of Mailpit's
    /// shape (the API adds it on request, see `web::api::additions`).
    #[serde(skip)]
    pub inbox: String,
}
