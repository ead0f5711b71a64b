//! Mailpit's JSON shape of a message summary, for the API's lists, `wait`
//! and the `new` event of the WebSocket and Server-Sent Events. The domain's
//! [`Summary`] is plain data; the names on the wire are Mailpit's and are
//! given here.

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

use crate::domain::Summary;
use crate::domain::message::Address;

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

/// A list of summaries, each as [`MessageSummaryJson`].
pub struct SummaryList {
    pub summaries: Vec<Summary>,
    pub additions: bool,
}

impl Serialize for SummaryList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.summaries.len()))?;
        for summary in &self.summaries {
            seq.serialize_element(&MessageSummaryJson::new(summary, self.additions))?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            id: "A".into(),
            message_id: "m@x".into(),
            read: false,
            from: Address::default(),
            to: vec![],
            cc: vec![],
            bcc: vec![],
            reply_to: vec![],
            subject: "s".into(),
            created: "2026-01-01T00:00:00.000Z".into(),
            username: String::new(),
            tags: vec![],
            size: 1,
            attachments: 0,
            snippet: String::new(),
            inbox: "team".into(),
        }
    }

    #[test]
    fn inbox_only_on_request() {
        let s = summary();
        let plain = serde_json::to_value(MessageSummaryJson::new(&s, false)).unwrap();
        assert!(plain.get("Inbox").is_none(), "{plain}");
        assert_eq!(plain["ID"], "A");
        let with = serde_json::to_value(MessageSummaryJson::new(&s, true)).unwrap();
        assert_eq!(with["Inbox"], "team");
    }

    #[test]
    fn keys_are_mailpits_in_mailpits_order() {
        let json = serde_json::to_string(&MessageSummaryJson::new(&summary(), false)).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"ID":"A","MessageID":"m@x","Read":false,"From":{"Name":"","Address":""},"#,
                r#""To":[],"Cc":[],"Bcc":[],"ReplyTo":[],"Subject":"s","#,
                r#""Created":"2026-01-01T00:00:00.000Z","Username":"","Tags":[],"Size":1,"#,
                r#""Attachments":0,"Snippet":""}"#
            )
        );
    }
}
