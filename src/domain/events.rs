//! The changes the store publishes: what a browser, a `wait` or another
//! node is told.

use std::sync::Arc;

use crate::domain::summary::Summary;

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
    /// A release of this message to the relay was queued, started, sent
    /// or failed.
    RelayChanged(String),
    /// The chaos rules changed: their text while any is active.
    ChaosChanged(Option<Arc<str>>),
    /// Changes may have been missed (other nodes' changes while this node
    /// could not hear them): whoever shows messages fetches them again.
    Resync,
}
