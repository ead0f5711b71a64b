//! Letterbox's additions to Mailpit's JSON shapes (a summary's `Inbox`; a
//! message's `Read`, `Created`, `Envelope`, `Problems` and `Inbox`; the
//! WebSocket's `Inboxes` and its `relay`, `chaos` and `resync` events),
//! sent only to a request that asks with `?additions=1`. Mailpit's clients
//! compare whole objects, so by default Mailpit's routes answer with
//! Mailpit's keys alone.

use serde::ser::{Serialize, SerializeSeq, Serializer};

use super::params::Params;
use crate::domain::Summary;

/// The query parameter that asks for the additions.
pub const PARAM: &str = "additions";

/// Whether the request asked for Letterbox's additions.
pub fn requested(params: &Params) -> bool {
    params
        .get(PARAM)
        .is_some_and(|v| matches!(v.as_str(), "1" | "true"))
}

/// A summary in Mailpit's shape, with `Inbox` when the additions are asked
/// for.
#[derive(serde::Serialize)]
pub struct SummaryJson<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    #[serde(rename = "Inbox", skip_serializing_if = "Option::is_none")]
    inbox: Option<&'a str>,
}

impl<'a> SummaryJson<'a> {
    pub fn new(summary: &'a Summary, additions: bool) -> Self {
        SummaryJson {
            summary,
            inbox: additions.then_some(summary.inbox.as_str()),
        }
    }
}

/// A list of summaries, each as [`SummaryJson`].
pub struct SummaryList {
    pub summaries: Vec<Summary>,
    pub additions: bool,
}

impl Serialize for SummaryList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.summaries.len()))?;
        for summary in &self.summaries {
            seq.serialize_element(&SummaryJson::new(summary, self.additions))?;
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
        let plain = serde_json::to_value(SummaryJson::new(&s, false)).unwrap();
        assert!(plain.get("Inbox").is_none(), "{plain}");
        assert_eq!(plain["ID"], "A");
        let with = serde_json::to_value(SummaryJson::new(&s, true)).unwrap();
        assert_eq!(with["Inbox"], "team");
    }
}
