//! Mailpit's JSON shape of a message summary, for the API's lists, `wait`
//! and the `new` event of the WebSocket and Server-Sent Events. The shape
//! itself is the domain's ([`MessageSummaryJson`]), as webhooks send it too.

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

pub use crate::domain::summary::MessageSummaryJson;

use crate::domain::Summary;

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
    use crate::domain::message::Address;

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
