//! How store events are sent to browsers and tools: Mailpit's event names
//! and payloads, shared by the Server-Sent Events stream and the WebSocket.
//!
//! Mailpit's event types carry Mailpit's payloads; with `additions` (see
//! `web::additions`) `new` also carries the `Inbox`, and Letterbox's
//! own types (`resync`, `relay`, `chaos`) are sent too. Without them a
//! subscriber that fell behind gets Mailpit's `prune` (re-fetch) instead
//! of `resync`, and `relay` and `chaos` are left out.
//!
//! | type       | data                                   |
//! |------------|----------------------------------------|
//! | `new`      | the message summary                    |
//! | `update`   | `{"ID": ..., "Read": bool}` or `{"ID": ..., "Tags": [...]}` |
//! | `delete`   | `{"ID": ...}`                          |
//! | `prune`    | `null`: many changed at once, re-fetch |
//! | `truncate` | `null`: every message deleted          |
//! | `resync`   | `null`: events were missed, re-fetch   |
//! | `relay`    | `{"ID": ...}`: a release of this message changed state |
//! | `chaos`    | `{"Active": bool, "Rules": "rcpt=451@50%" or null}` |

use serde_json::{Value, json};

use crate::events::Event;
use crate::web::json::MessageSummaryJson;

/// Beyond this many messages in one change, one `prune` replaces the
/// per-message `delete` or `update` events (marking 100,000 messages read
/// is one event, not 100,000).
const PRUNE_THRESHOLD: usize = 200;

/// The `(type, data)` messages an event becomes, in order; Letterbox's
/// additions only if asked for.
pub fn messages(event: &Event, additions: bool) -> Vec<(&'static str, Value)> {
    match event {
        Event::New(summary) => vec![("new", json!(MessageSummaryJson::new(summary, additions)))],
        Event::RelayChanged(_) | Event::ChaosChanged(_) if !additions => Vec::new(),
        Event::Deleted(ids) | Event::ReadChanged { ids, .. } if ids.len() > PRUNE_THRESHOLD => {
            vec![("prune", Value::Null)]
        }
        Event::TagsChanged(changed) if changed.len() > PRUNE_THRESHOLD => {
            vec![("prune", Value::Null)]
        }
        Event::Deleted(ids) => ids
            .iter()
            .map(|id| ("delete", json!({ "ID": id })))
            .collect(),
        Event::Cleared => vec![("truncate", Value::Null)],
        Event::ReadChanged { ids, read } => ids
            .iter()
            .map(|id| ("update", json!({ "ID": id, "Read": read })))
            .collect(),
        Event::TagsChanged(changed) => changed
            .iter()
            .map(|(id, tags)| ("update", json!({ "ID": id, "Tags": tags })))
            .collect(),
        Event::RelayChanged(id) => vec![("relay", json!({ "ID": id }))],
        Event::ChaosChanged(rules) => vec![(
            "chaos",
            json!({ "Active": rules.is_some(), "Rules": rules.as_deref() }),
        )],
        Event::Resync => vec![resync(additions)],
    }
}

/// Whether a subscriber confined to `inbox` (if any) hears of `event`:
/// new messages only from its inbox; changes by ID always (IDs it never
/// listed are harmless to it).
pub fn concerns(event: &Event, inbox: Option<&str>) -> bool {
    match (event, inbox) {
        (Event::New(summary), Some(inbox)) => summary.inbox == inbox,
        _ => true,
    }
}

/// What to send after missing events (a lagging subscriber): Mailpit's
/// `prune` also means "re-fetch everything".
pub fn resync(additions: bool) -> (&'static str, Value) {
    (if additions { "resync" } else { "prune" }, Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_deletes_become_one_prune() {
        let few: Vec<String> = (0..3).map(|i| i.to_string()).collect();
        assert_eq!(messages(&Event::Deleted(few.into()), false).len(), 3);
        let many: Vec<String> = (0..500).map(|i| i.to_string()).collect();
        assert_eq!(
            messages(&Event::Deleted(many.into()), false),
            vec![("prune", Value::Null)]
        );
    }

    #[test]
    fn bulk_read_and_tag_changes_become_one_prune() {
        let many: Vec<String> = (0..500).map(|i| i.to_string()).collect();
        let read = Event::ReadChanged {
            ids: many.clone().into(),
            read: true,
        };
        assert_eq!(messages(&read, false), vec![("prune", Value::Null)]);
        let tagged: Vec<(String, Vec<String>)> = many.into_iter().map(|id| (id, vec![])).collect();
        assert_eq!(
            messages(&Event::TagsChanged(tagged.into()), false),
            vec![("prune", Value::Null)]
        );
    }

    #[test]
    fn updates_carry_mailpit_payloads() {
        let event = Event::ReadChanged {
            ids: vec!["A".to_string()].into(),
            read: true,
        };
        assert_eq!(
            messages(&event, false),
            vec![("update", json!({"ID": "A", "Read": true}))]
        );
        let event = Event::TagsChanged(vec![("A".to_string(), vec!["x".to_string()])].into());
        assert_eq!(
            messages(&event, false),
            vec![("update", json!({"ID": "A", "Tags": ["x"]}))]
        );
    }

    #[test]
    fn letterbox_events_only_with_additions() {
        let chaos = Event::ChaosChanged(None);
        assert!(messages(&chaos, false).is_empty());
        assert_eq!(messages(&chaos, true)[0].0, "chaos");
        let relay = Event::RelayChanged("A".into());
        assert!(messages(&relay, false).is_empty());
        assert_eq!(resync(false).0, "prune");
        assert_eq!(messages(&Event::Resync, false), vec![resync(false)]);
        assert_eq!(messages(&Event::Resync, true), vec![resync(true)]);
        assert_eq!(resync(true).0, "resync");
    }
}
