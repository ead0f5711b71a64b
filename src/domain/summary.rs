//! What a list shows of a message.

use crate::domain::message::Address;

/// A list entry: what a list, a search and the `new` event show of a
/// message. Plain data; its JSON shapes are the web side's.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub id: String,
    /// The `Message-ID` header's value.
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
    /// Who logged in to send it (SMTP AUTH or the API), if anyone.
    pub username: String,
    pub tags: Vec<String>,
    pub size: u64,
    pub attachments: u32,
    /// The start of the text, for a list's preview.
    pub snippet: String,
    /// The inbox chosen at ingest.
    pub inbox: String,
}
