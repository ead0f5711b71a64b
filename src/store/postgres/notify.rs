//! Changes told to the other nodes: each committed change is sent with
//! `NOTIFY` inside the transaction that makes it, so PostgreSQL delivers it
//! exactly when (and only if) the change commits. The payload names what
//! changed by ID; the listener of each other node loads what it needs and
//! publishes the change into its own [`Events`](crate::events::Events).

use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;

use crate::events::Event;

/// The channel every node listens on.
pub const CHANNEL: &str = "letterbox_changes";

/// IDs per notification: a payload must stay under 8000 bytes.
const IDS_PER_NOTE: usize = 200;
/// Bytes of tags per notification, leaving room for the rest.
const TAG_BYTES_PER_NOTE: usize = 6000;

/// One change as sent between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "lowercase")]
pub enum Note {
    New { ids: Vec<String> },
    Deleted { ids: Vec<String> },
    Cleared,
    Read { ids: Vec<String>, read: bool },
    Tags { changed: Vec<(String, Vec<String>)> },
    Relay { id: String },
    Chaos { rules: Option<String> },
}

/// A note and the node it came from (so a node skips its own).
#[derive(Debug, Serialize, Deserialize)]
pub struct Sent {
    pub node: String,
    #[serde(flatten)]
    pub note: Note,
}

/// The notes that tell another node of `event`, each small enough.
pub fn notes(event: &Event) -> Vec<Note> {
    let chunks = |ids: &[String]| -> Vec<Vec<String>> {
        ids.chunks(IDS_PER_NOTE).map(<[String]>::to_vec).collect()
    };
    match event {
        Event::New(summary) => vec![Note::New {
            ids: vec![summary.id.clone()],
        }],
        Event::Deleted(ids) => chunks(ids)
            .into_iter()
            .map(|ids| Note::Deleted { ids })
            .collect(),
        Event::Cleared => vec![Note::Cleared],
        Event::ReadChanged { ids, read } => chunks(ids)
            .into_iter()
            .map(|ids| Note::Read { ids, read: *read })
            .collect(),
        Event::TagsChanged(changed) => {
            let mut notes = Vec::new();
            let (mut chunk, mut bytes) = (Vec::new(), 0);
            for (id, tags) in changed.iter() {
                // JSON quotes and commas: a few bytes a string.
                let size = id.len() + tags.iter().map(|t| t.len() + 8).sum::<usize>() + 12;
                if bytes + size > TAG_BYTES_PER_NOTE && !chunk.is_empty() {
                    notes.push(Note::Tags {
                        changed: std::mem::take(&mut chunk),
                    });
                    bytes = 0;
                }
                chunk.push((id.clone(), tags.clone()));
                bytes += size;
            }
            if !chunk.is_empty() {
                notes.push(Note::Tags { changed: chunk });
            }
            notes
        }
        Event::RelayChanged(id) => vec![Note::Relay { id: id.clone() }],
        Event::ChaosChanged(rules) => vec![Note::Chaos {
            rules: rules.as_deref().map(str::to_string),
        }],
        // Each node tells its own subscribers when it missed something.
        Event::Resync => Vec::new(),
    }
}

/// Sends `event` to the other nodes; inside a transaction it goes out
/// when that commits.
pub async fn send(
    client: &impl GenericClient,
    node: &str,
    event: &Event,
) -> Result<(), tokio_postgres::Error> {
    for payload in payloads(node, notes(event)) {
        client.execute(SEND, &[&CHANNEL, &payload]).await?;
    }
    Ok(())
}

/// The statement that sends a payload on [`CHANNEL`].
pub const SEND: &str = "SELECT pg_notify($1, $2)";

/// The payloads announcing messages stored together, in their order.
pub fn new_messages(node: &str, ids: &[String]) -> Vec<String> {
    let notes = ids
        .chunks(IDS_PER_NOTE)
        .map(|ids| Note::New { ids: ids.to_vec() });
    payloads(node, notes)
}

fn payloads(node: &str, notes: impl IntoIterator<Item = Note>) -> Vec<String> {
    notes
        .into_iter()
        .map(|note| {
            serde_json::to_string(&Sent {
                node: node.to_string(),
                note,
            })
            .expect("plain data serializes")
        })
        .collect()
}

/// Reads a payload; `None` for one this version does not know.
pub fn parse(payload: &str) -> Option<Sent> {
    serde_json::from_str(payload).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_split_and_fit_a_payload() {
        let ids: Vec<String> = (0..450).map(|_| ulid::Ulid::new().to_string()).collect();
        let notes = notes(&Event::Deleted(ids.clone().into()));
        assert_eq!(notes.len(), 3);
        for note in &notes {
            let sent = Sent {
                node: "n".repeat(26),
                note: note.clone(),
            };
            assert!(serde_json::to_string(&sent).unwrap().len() < 8000);
        }
        let back: Vec<String> = notes
            .into_iter()
            .flat_map(|n| match n {
                Note::Deleted { ids } => ids,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(back, ids);
        let tagged: Vec<(String, Vec<String>)> = (0..300)
            .map(|n| (format!("{n:026}"), vec!["t".repeat(100); 3]))
            .collect();
        let notes = super::notes(&Event::TagsChanged(tagged.into()));
        assert!(notes.len() > 1);
        for note in notes {
            assert!(serde_json::to_string(&note).unwrap().len() < 7900);
        }
        let payloads = new_messages(&"n".repeat(26), &ids);
        assert_eq!(payloads.len(), 3);
        let mut announced = Vec::new();
        for payload in &payloads {
            assert!(payload.len() < 8000);
            match parse(payload).unwrap().note {
                Note::New { ids } => announced.extend(ids),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(announced, ids);
        let sent = parse(r#"{"node":"a","k":"read","ids":["x"],"read":true}"#).unwrap();
        assert_eq!(
            sent.note,
            Note::Read {
                ids: vec!["x".into()],
                read: true
            }
        );
    }
}
