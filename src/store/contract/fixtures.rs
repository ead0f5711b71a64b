//! Messages for the contract, prepared as ingest prepares them.

use crate::domain::Envelope;
use crate::domain::inbox::InboxName;
use crate::domain::message;
use crate::domain::search::Query;
use crate::domain::timefmt::now_millis;
use crate::store::NewMessage;

/// A message as ingest hands it to the store: parsed, the envelope's blind
/// copies and plus-tags added, compressed.
pub fn prepared(id: &str, received_at_ms: i64, rcpt_to: &[&str], raw: &[u8]) -> NewMessage {
    let envelope = Envelope {
        mail_from: "sender@example.com".into(),
        rcpt_to: rcpt_to.iter().map(|r| r.to_string()).collect(),
        helo: Some("client.example".into()),
        ..Envelope::default()
    };
    let mut parsed = message::parse(raw);
    parsed.add_envelope_bcc(&envelope.rcpt_to);
    let envelope_tags: Vec<String> = envelope
        .rcpt_to
        .iter()
        .filter_map(|a| message::plus_tag(a))
        .collect();
    message::add_tags(&mut parsed.tags, envelope_tags);
    NewMessage {
        id: id.to_string(),
        received_at_ms,
        size: raw.len() as u64,
        raw_zstd: zstd::bulk::compress(raw, 1).expect("compressing in memory"),
        parsed,
        envelope,
        inbox: InboxName::default_inbox(),
        webhook: None,
    }
}

/// A short text message with this subject, received now.
pub fn simple(id: &str, subject: &str) -> NewMessage {
    prepared(
        id,
        now_millis(),
        &["rcpt@example.com"],
        &simple_raw(subject),
    )
}

pub fn simple_raw(subject: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.com>\r\n\
         To: Recipient <rcpt@example.com>\r\n\
         Subject: {subject}\r\n\
         Message-ID: <{}@tests.example.com>\r\n\
         \r\n\
         Hello from the tests.\r\n",
        subject.replace(' ', ".")
    )
    .into_bytes()
}

pub fn query(text: &str) -> Query {
    Query::parse(text).unwrap_or_else(|e| panic!("query {text:?}: {e}"))
}

/// The IDs on a page, newest first.
pub fn ids(page: &crate::store::Page) -> Vec<String> {
    page.messages.iter().map(|m| m.id.clone()).collect()
}
