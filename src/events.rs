//! Publish/subscribe of store changes (new, deleted, read, tagged, relay)
//! and chaos changes: what the web UI pushes to browsers and `wait`
//! requests listen for. [`Events`] is the interface; [`LocalEvents`], an
//! in-process broadcast, the one backend today. A backend that shares
//! events between nodes (say, PostgreSQL's LISTEN/NOTIFY) becomes another
//! variant that feeds the same kind of subscription.
//!
//! Publishing never blocks: a subscriber that falls behind loses the oldest
//! events and is told so by `broadcast`'s `Lagged`, and ingest never waits
//! for anyone.

use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

pub use crate::domain::events::Event;

/// A stream of every event published after it was taken.
pub type Subscription = broadcast::Receiver<Event>;

/// Where events are published and heard. Cloning it is cheap and every
/// clone is the same channel.
#[derive(Clone)]
pub enum Events {
    Local(LocalEvents),
}

impl Default for Events {
    fn default() -> Self {
        Events::Local(LocalEvents::default())
    }
}

impl Events {
    /// Tells every current subscriber.
    pub fn publish(&self, event: Event) {
        match self {
            Events::Local(local) => local.publish(event),
        }
    }

    /// A subscription to every event published from now on. After
    /// [`close`] it reports `Closed` at once.
    ///
    /// [`close`]: Events::close
    pub fn subscribe(&self) -> Subscription {
        match self {
            Events::Local(local) => local.subscribe(),
        }
    }

    /// Ends every subscription: receivers get `Closed`, so long-lived
    /// streams (Server-Sent Events, WebSockets, waiting requests) finish
    /// and a graceful shutdown need not wait for them.
    pub fn close(&self) {
        match self {
            Events::Local(local) => local.close(),
        }
    }
}

const CAPACITY: usize = 4096;

/// Events within this process: a broadcast channel, `None` once closed.
#[derive(Clone)]
pub struct LocalEvents {
    tx: Arc<RwLock<Option<broadcast::Sender<Event>>>>,
}

impl Default for LocalEvents {
    fn default() -> Self {
        LocalEvents {
            tx: Arc::new(RwLock::new(Some(broadcast::channel(CAPACITY).0))),
        }
    }
}

impl LocalEvents {
    fn publish(&self, event: Event) {
        if let Some(tx) = &*self.tx.read().expect("events lock") {
            // An error only means nobody is listening right now.
            let _ = tx.send(event);
        }
    }

    fn subscribe(&self) -> Subscription {
        match &*self.tx.read().expect("events lock") {
            Some(tx) => tx.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    fn close(&self) {
        self.tx.write().expect("events lock").take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::RecvError;

    #[tokio::test]
    async fn closing_ends_every_subscription() {
        let events = Events::default();
        let mut before = events.subscribe();
        events.publish(Event::Cleared);
        events.close();
        assert!(matches!(before.recv().await, Ok(Event::Cleared)));
        assert!(matches!(before.recv().await, Err(RecvError::Closed)));
        let mut after = events.clone().subscribe();
        assert!(matches!(after.recv().await, Err(RecvError::Closed)));
        events.publish(Event::Cleared); // nobody to tell, no panic
    }
}
