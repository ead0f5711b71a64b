//! The in-process stream of store changes (new, deleted, read, tagged) that the
//! web UI pushes to browsers. Publishing never blocks: a consumer that falls
//! behind loses the oldest events and is told so by `broadcast`'s `Lagged`,
//! and ingest never waits for anyone.

use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

pub use crate::domain::events::Event;

const CAPACITY: usize = 4096;

/// The publishing side, shared by every clone. `None` once closed.
#[derive(Clone)]
pub struct Events {
    tx: Arc<RwLock<Option<broadcast::Sender<Event>>>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: Arc::new(RwLock::new(Some(broadcast::channel(CAPACITY).0))),
        }
    }
}

impl Events {
    pub fn publish(&self, event: Event) {
        if let Some(tx) = &*self.tx.read().expect("events lock") {
            // An error only means nobody is listening right now.
            let _ = tx.send(event);
        }
    }

    /// A receiver of every event published from now on. After [`close`]
    /// it reports `Closed` at once.
    ///
    /// [`close`]: Events::close
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        match &*self.tx.read().expect("events lock") {
            Some(tx) => tx.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    /// Ends every subscription: receivers get `Closed`, so long-lived
    /// streams (Server-Sent Events, WebSockets, waiting requests) finish
    /// and a graceful shutdown need not wait for them.
    pub fn close(&self) {
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
