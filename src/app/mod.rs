//! The operations Letterbox offers, each in one place with its store work,
//! its counters and its events: SMTP, the HTTP API, the web UI and the
//! relay worker call [`App`] and never the store.
//!
//! Changes to messages (new, deleted, read, tagged, released) are published
//! by the store as it commits them, so subscribers never hear of a change
//! that did not happen; what is not a store change (the chaos rules) is
//! published here.

mod chaos;
mod delete;
pub mod inboxes;
pub mod ingest;
mod messages;
mod read;
mod release;
pub mod stats;
mod tags;
pub mod transfer;
pub mod wait;
mod webhook;

use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::domain::inbox::Inboxes;
use crate::events::{Event, Events};
use crate::store::{Store, StoreError, StoreInfo};

pub use ingest::IngestError;
pub use stats::Stats;
pub use transfer::{Import, PreparedImport, Received};
pub use wait::WaitError;

/// What every operation works on. Cheap to clone: one `Arc` inside.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    events: Events,
    stats: Arc<Stats>,
    inboxes: Arc<Inboxes>,
    /// Monotonic ULIDs: IDs sort by arrival even within one millisecond.
    ids: Mutex<ulid::Generator>,
    /// The SMTP reply that says a message was queued under an ID, for the
    /// end of a session's transcript (the SMTP side words its replies).
    queued_reply: fn(&str) -> String,
    /// Queue a webhook delivery with every new message.
    webhook: bool,
    /// This process's name: the store's for a shared store (the one its
    /// changes are sent under), a fresh ULID otherwise.
    node_id: String,
}

impl App {
    pub fn new(
        store: Store,
        events: Events,
        stats: Arc<Stats>,
        inboxes: Arc<Inboxes>,
        queued_reply: fn(&str) -> String,
    ) -> Self {
        let node_id = store
            .node_id()
            .map_or_else(|| ulid::Ulid::new().to_string(), str::to_string);
        App {
            inner: Arc::new(Inner {
                node_id,
                store,
                events,
                stats,
                inboxes,
                ids: Mutex::new(ulid::Generator::new()),
                queued_reply,
                webhook: false,
            }),
        }
    }

    /// The same app, queueing a webhook delivery with every new message.
    /// Called before the app is shared.
    pub fn with_webhook(mut self) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("webhooks are turned on before the app is shared")
            .webhook = true;
        self
    }

    /// The counters, for SMTP sessions to count in and `/metrics` to read.
    /// Whether messages stored while earlier ones are still being stored
    /// keep the order they were handed over in ([`Store::keeps_insert_order`]).
    pub fn keeps_insert_order(&self) -> bool {
        self.store().keeps_insert_order()
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.inner.stats
    }

    /// Every change published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Which backend keeps the data, where, and how many bytes it uses.
    pub async fn store_info(&self) -> Result<StoreInfo, StoreError> {
        self.inner.store.info().await
    }

    /// Which node this is, among the processes that share its store: the
    /// counters of [`Stats`] are this node's, the store's are everyone's.
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// Whether other nodes share the store (and its counts).
    pub fn store_is_shared(&self) -> bool {
        self.store().is_shared()
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }
}

#[cfg(test)]
mod tests;
