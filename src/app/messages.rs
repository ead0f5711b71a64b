//! Reading messages: one, the newest, a page of a list or a search.

use crate::domain::search::Query;
use crate::store::{Counts, Page, StoreError, StoredMessage};

use super::App;

/// How often `latest` looks again when the newest message was deleted
/// between finding it and reading it; beyond this, it gives up as if none
/// matched (mail is being deleted faster than it can be read).
const LATEST_ATTEMPTS: usize = 8;

impl App {
    pub async fn message(&self, id: String) -> Result<Option<StoredMessage>, StoreError> {
        self.store().message(id).await
    }

    /// The raw message exactly as received.
    pub async fn raw(&self, id: String) -> Result<Option<Vec<u8>>, StoreError> {
        self.store().raw(id).await
    }

    /// A message with its raw bytes; `None` if it does not exist (or was
    /// deleted between the two reads).
    pub async fn message_with_raw(
        &self,
        id: String,
    ) -> Result<Option<(StoredMessage, Vec<u8>)>, StoreError> {
        let Some(message) = self.store().message(id.clone()).await? else {
            return Ok(None);
        };
        Ok(self.store().raw(id).await?.map(|raw| (message, raw)))
    }

    /// The newest message matching `query` (every message without one).
    /// A newest message deleted before it could be read is not an answer:
    /// the one that is newest then is looked up instead, so `latest` never
    /// answers "not found" while messages match.
    pub async fn latest(&self, query: Option<Query>) -> Result<Option<StoredMessage>, StoreError> {
        self.newest_of(query, |id| self.message(id)).await
    }

    /// [`latest`](App::latest) with its raw bytes.
    pub async fn latest_with_raw(
        &self,
        query: Option<Query>,
    ) -> Result<Option<(StoredMessage, Vec<u8>)>, StoreError> {
        self.newest_of(query, |id| self.message_with_raw(id)).await
    }

    /// Reads the newest match with `read`, looking again while the one
    /// found is gone by the time it is read.
    async fn newest_of<T, F: Future<Output = Result<Option<T>, StoreError>>>(
        &self,
        query: Option<Query>,
        read: impl Fn(String) -> F,
    ) -> Result<Option<T>, StoreError> {
        for _ in 0..LATEST_ATTEMPTS {
            let Some(id) = self.store().latest_id(query.clone()).await? else {
                return Ok(None);
            };
            if let Some(found) = read(id).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Every message, newest first.
    pub async fn list(&self, start: u64, limit: u64) -> Result<Page, StoreError> {
        self.store().list(start, limit).await
    }

    /// Matches of `query`, newest first.
    pub async fn search(&self, query: Query, start: u64, limit: u64) -> Result<Page, StoreError> {
        self.store().search(query, start, limit).await
    }

    /// Whether the message `id` matches `query`.
    pub async fn matches(&self, query: Query, id: String) -> Result<bool, StoreError> {
        self.store().matches(query, id).await
    }

    /// How many messages there are, unread ones and the store's size.
    pub async fn counts(&self) -> Result<Counts, StoreError> {
        self.store().counts().await
    }
}
