//! Waiting for mail: the first message matching a query that arrived after
//! a cursor, at once if one is stored, else as soon as one is committed.
//!
//! It subscribes to the events *before* looking in the store, so a message
//! committed between the look and the wait is still seen. Waiting costs a
//! broadcast receiver and no polling. A new message is checked against the
//! query with one indexed lookup; those that arrived while the last check
//! ran are checked together, in one request. A check of words has the
//! writer index the text still pending first, so checking each message of a
//! burst in a request of its own would index it one message at a time.

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::domain::Summary;
use crate::domain::search::Query;
use crate::domain::timefmt;
use crate::events::Event;
use crate::store::{Cursor, StoreError};

use super::App;

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("shutting down")]
    ShuttingDown,
}

/// Whether a just-committed message lies after the cursor.
fn after_cursor(cursor: &Cursor, summary: &Summary) -> bool {
    match cursor {
        Cursor::AfterId(id) => summary.id.as_str() > id.as_str(),
        Cursor::AfterTime(ms) => {
            timefmt::parse_datetime_millis(&summary.created).is_none_or(|created| created >= *ms)
        }
    }
}

impl App {
    /// The ID of the oldest message after `cursor` that matches `query`,
    /// waiting for one to arrive if none is stored yet (for as long as the
    /// caller awaits this).
    pub async fn first_match(&self, query: &Query, cursor: &Cursor) -> Result<String, WaitError> {
        let mut events = self.subscribe();
        let stored = || self.store().first_after(query.clone(), cursor.clone());
        if let Some(id) = stored().await? {
            return Ok(id);
        }
        loop {
            let arrived = match events.recv().await {
                Ok(Event::New(summary)) => {
                    let mut arrived = Arrived::default();
                    arrived.add(query, cursor, &summary);
                    arrived.take_queued(&mut events, query, cursor)?;
                    arrived
                }
                Ok(Event::Resync) | Err(RecvError::Lagged(_)) => Arrived {
                    missed: true,
                    ..Arrived::default()
                },
                Ok(_) => continue,
                Err(RecvError::Closed) => return Err(WaitError::ShuttingDown),
            };
            match (arrived.missed, arrived.candidates.as_slice()) {
                (false, []) => {}
                (false, [first, ..]) if query.is_empty() => return Ok(first.clone()),
                // Each is tested on its own, all in one request (running
                // the whole query again would read every match of a common
                // word in the store).
                (false, _) => {
                    let candidates = arrived.candidates;
                    if let Some(id) = self
                        .store()
                        .first_matching(query.clone(), candidates)
                        .await?
                    {
                        return Ok(id);
                    }
                }
                // Missed events: the store knows what arrived meanwhile.
                (true, _) => {
                    if let Some(id) = stored().await? {
                        return Ok(id);
                    }
                }
            }
        }
    }
}

/// New messages that may match a wait, in the order they were committed.
#[derive(Default)]
struct Arrived {
    candidates: Vec<String>,
    /// Events were missed: only the store can say what arrived.
    missed: bool,
}

impl Arrived {
    fn add(&mut self, query: &Query, cursor: &Cursor, summary: &Summary) {
        let elsewhere = query.inbox().is_some_and(|inbox| inbox != summary.inbox);
        if after_cursor(cursor, summary) && !elsewhere {
            self.candidates.push(summary.id.clone());
        }
    }

    /// Adds the new messages whose events are already queued, without
    /// waiting for more.
    fn take_queued(
        &mut self,
        events: &mut broadcast::Receiver<Event>,
        query: &Query,
        cursor: &Cursor,
    ) -> Result<(), WaitError> {
        loop {
            match events.try_recv() {
                Ok(Event::New(summary)) => self.add(query, cursor, &summary),
                Ok(Event::Resync) | Err(TryRecvError::Lagged(_)) => self.missed = true,
                Ok(_) => {}
                Err(TryRecvError::Empty) => return Ok(()),
                Err(TryRecvError::Closed) => return Err(WaitError::ShuttingDown),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::message::Address;

    fn new_message(id: &str, inbox: &str, created: &str) -> Event {
        Event::New(Arc::new(Summary {
            id: id.into(),
            message_id: String::new(),
            read: false,
            from: Address::default(),
            to: Vec::new(),
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to: Vec::new(),
            subject: String::new(),
            created: created.into(),
            username: String::new(),
            tags: Vec::new(),
            size: 0,
            attachments: 0,
            snippet: String::new(),
            inbox: inbox.into(),
        }))
    }

    const LATE: &str = "2026-12-03T10:00:00.000Z";
    const EARLY: &str = "2026-12-03T09:00:00.000Z";

    #[test]
    fn queued_messages_are_taken_in_order_without_those_that_cannot_match() {
        let (tx, mut rx) = broadcast::channel(16);
        let query = Query::parse("inbox:qa needle").unwrap();
        let cursor = Cursor::AfterTime(timefmt::parse_datetime_millis(LATE).unwrap());
        tx.send(new_message("b", "qa", LATE)).unwrap();
        tx.send(Event::Cleared).unwrap();
        tx.send(new_message("c", "default", LATE)).unwrap(); // another inbox
        tx.send(new_message("d", "qa", EARLY)).unwrap(); // before the cursor
        tx.send(new_message("e", "qa", LATE)).unwrap();
        let mut arrived = Arrived::default();
        arrived.take_queued(&mut rx, &query, &cursor).unwrap();
        assert_eq!(arrived.candidates, ["b", "e"]);
        assert!(!arrived.missed);
        // Nothing queued: it returns at once.
        arrived.take_queued(&mut rx, &query, &cursor).unwrap();
        assert_eq!(arrived.candidates, ["b", "e"]);
    }

    #[test]
    fn missed_events_are_noticed() {
        let (tx, mut rx) = broadcast::channel(2);
        for id in ["a", "b", "c"] {
            tx.send(new_message(id, "default", LATE)).unwrap();
        }
        let mut arrived = Arrived::default();
        arrived
            .take_queued(&mut rx, &Query::default(), &Cursor::AfterTime(0))
            .unwrap();
        assert!(arrived.missed, "the oldest event was dropped");
        drop(tx);
        assert!(matches!(
            Arrived::default().take_queued(&mut rx, &Query::default(), &Cursor::AfterTime(0)),
            Err(WaitError::ShuttingDown)
        ));
    }
}
