//! What a list shows of a message, and Mailpit's JSON shape of it (the
//! API's lists, the `new` event and the webhook's body all send it).

use serde::Serialize;

use crate::domain::message::Address;

/// A list entry: what a list, a search and the `new` event show of a
/// message. Plain data; [`MessageSummaryJson`] is its shape on the wire.
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

/// Mailpit's `MessageSummary`, with `Inbox` (a Letterbox addition) when the
/// additions are asked for.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageSummaryJson<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    #[serde(rename = "MessageID")]
    message_id: &'a str,
    read: bool,
    from: &'a Address,
    to: &'a [Address],
    cc: &'a [Address],
    bcc: &'a [Address],
    reply_to: &'a [Address],
    subject: &'a str,
    /// Receive time, RFC 3339 with milliseconds.
    created: &'a str,
    username: &'a str,
    tags: &'a [String],
    size: u64,
    attachments: u32,
    snippet: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    inbox: Option<&'a str>,
}

impl<'a> MessageSummaryJson<'a> {
    pub fn new(summary: &'a Summary, additions: bool) -> Self {
        MessageSummaryJson {
            id: &summary.id,
            message_id: &summary.message_id,
            read: summary.read,
            from: &summary.from,
            to: &summary.to,
            cc: &summary.cc,
            bcc: &summary.bcc,
            reply_to: &summary.reply_to,
            subject: &summary.subject,
            created: &summary.created,
            username: &summary.username,
            tags: &summary.tags,
            size: summary.size,
            attachments: summary.attachments,
            snippet: &summary.snippet,
            inbox: additions.then_some(summary.inbox.as_str()),
        }
    }
}
