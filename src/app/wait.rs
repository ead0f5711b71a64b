//! Waiting for mail: the first message matching a query that arrived after
//! a cursor, at once if one is stored, else as soon as one is committed.
//!
//! It subscribes to the events *before* looking in the store, so a message
//! committed between the look and the wait is still seen. Waiting costs a
//! broadcast receiver and no polling; each new message is checked against
//! the query with one indexed lookup.

use tokio::sync::broadcast::error::RecvError;

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
            match events.recv().await {
                Ok(Event::New(summary)) => {
                    if !after_cursor(cursor, &summary)
                        || query.inbox().is_some_and(|inbox| inbox != summary.inbox)
                    {
                        continue;
                    }
                    if query.is_empty() || self.matches(query.clone(), summary.id.clone()).await? {
                        return Ok(summary.id.clone());
                    }
                }
                // Missed events: the store knows what arrived meanwhile.
                Ok(Event::Resync) | Err(RecvError::Lagged(_)) => {
                    if let Some(id) = stored().await? {
                        return Ok(id);
                    }
                }
                Ok(_) => {}
                Err(RecvError::Closed) => return Err(WaitError::ShuttingDown),
            }
        }
    }
}
