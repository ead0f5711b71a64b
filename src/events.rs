//! The in-process stream of store changes (new, deleted, read, tagged) that the
//! web UI pushes to browsers. Publishing never blocks: a consumer that falls
//! behind loses the oldest events and is told so by `broadcast`'s `Lagged`,
//! and ingest never waits for anyone.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::store::Summary;

const CAPACITY: usize = 4096;

#[derive(Debug, Clone)]
pub enum Event {
    New(Arc<Summary>),
    Deleted(Arc<[String]>),
    /// Every message was deleted.
    Cleared,
    /// These messages were marked read or unread.
    ReadChanged {
        ids: Arc<[String]>,
        read: bool,
    },
    /// The tags of these messages changed: each message with its tags now.
    TagsChanged(Arc<[(String, Vec<String>)]>),
}

#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl Events {
    pub fn publish(&self, event: Event) {
        // An error only means nobody is listening right now.
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}
