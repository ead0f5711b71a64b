//! The SQLite backend. All SQL and every `rusqlite` type live below this
//! module.
//!
//! One writer thread owns the only writing connection and commits whatever
//! has queued up in one transaction ([`writer`]); reads use their own
//! connections from a small pool ([`read`]) and never wait for the writer.

mod allocator;
mod change;
mod index;
mod query;
mod read;
mod relay;
mod schema;
mod webhook;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rusqlite::ErrorCode;
use tokio::sync::{mpsc, oneshot};

use super::{
    Change, Counts, Cursor, InboxCounts, Location, NewMessage, Page, RelayJob, StoreConfig,
    StoreError, StoreInfo, StoredMessage, WebhookDelivery, WebhookQueueStats,
};
use crate::domain::search::Query;
use crate::events::Events;

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                StoreError::Corrupt(err.to_string())
            }
            Some(
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::ReadOnly,
            ) => StoreError::Unavailable(err.to_string()),
            _ => StoreError::Backend(err.to_string()),
        }
    }
}

#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: mpsc::Sender<writer::Op>,
    unindexed: writer::Unindexed,
    readers: read::Readers,
    path: PathBuf,
    _temp: Option<TempDir>,
}

/// Removes the temporary database directory when the store goes away.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Wakes the writer now and then to prune messages that grew too old while
/// no mail arrived (after each commit it checks anyway). Stops once the
/// store is gone.
async fn expiry_ticks(writer: mpsc::WeakSender<writer::Op>, max_age: Duration) {
    let period = (max_age / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(writer) = writer.upgrade() else {
            return;
        };
        // A full queue means the writer is busy and prunes after it anyway.
        if let Err(mpsc::error::TrySendError::Closed(_)) = writer.try_send(writer::Op::Expire) {
            return;
        }
    }
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database and starts the
    /// writer thread, which publishes committed changes to `events`.
    pub fn open(config: &StoreConfig, events: Events) -> Result<SqliteStore, StoreError> {
        let retention = config.retention();
        let (path, temp) = match &config.location {
            Location::File(path) => (path.clone(), None),
            Location::Temporary => {
                let dir = std::env::temp_dir().join(format!("letterbox-{}", ulid::Ulid::new()));
                (dir.join("letterbox.db"), Some(TempDir(dir)))
            }
            Location::Postgres(_) => {
                return Err(StoreError::Open {
                    location: "PostgreSQL".into(),
                    reason: "not an SQLite database".into(),
                });
            }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        // Before the writer's connection, the first this process opens.
        allocator::use_process_allocator();
        let (writer, unindexed) = writer::start(&path, retention, config.durability, events)?;
        if let Some(max_age) = retention.max_age {
            tokio::spawn(expiry_ticks(writer.downgrade(), max_age));
        }
        let readers = read::Readers::new(path.clone());
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer,
                unindexed,
                readers,
                path,
                _temp: temp,
            }),
        })
    }

    pub fn describe(&self) -> StoreInfo {
        StoreInfo {
            backend: "sqlite",
            location: self.inner.path.display().to_string(),
            bytes: None,
        }
    }

    pub async fn info(&self) -> Result<StoreInfo, StoreError> {
        let bytes = self.read(read::database_bytes).await?;
        Ok(StoreInfo {
            bytes: Some(bytes),
            ..self.describe()
        })
    }

    async fn write<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> writer::Op,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .writer
            .send(op(tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.readers.with(f))
            .await
            .map_err(|_| StoreError::Closed)?
    }

    pub async fn insert(&self, message: NewMessage) -> Result<(), StoreError> {
        self.write(|reply| writer::Op::Insert(Box::new(message), reply))
            .await
    }

    pub async fn change(&self, change: Change) -> Result<u64, StoreError> {
        self.write(|reply| writer::Op::Change(change, reply)).await
    }

    pub async fn tag_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.read(read::tag_counts).await
    }

    pub async fn tags(&self) -> Result<Vec<String>, StoreError> {
        self.read(read::tags).await
    }

    /// Read your writes: the writer indexes the text of new messages
    /// after their commit, many at a time, so a query that looks in the
    /// text indexes first has it index whatever is still waiting.
    async fn text_indexed(&self, query: &Query) -> Result<(), StoreError> {
        if self.inner.unindexed.load(Ordering::SeqCst) == 0 || !query::uses_text_index(query) {
            return Ok(());
        }
        self.write(writer::Op::IndexText).await
    }

    pub async fn search(&self, query: Query, start: u64, limit: u64) -> Result<Page, StoreError> {
        self.text_indexed(&query).await?;
        self.read(move |conn| read::search(conn, &query, start, limit))
            .await
    }

    pub async fn first_after(
        &self,
        query: Query,
        cursor: Cursor,
    ) -> Result<Option<String>, StoreError> {
        self.text_indexed(&query).await?;
        self.read(move |conn| read::first_after(conn, &query, &cursor))
            .await
    }

    pub async fn ids_after(
        &self,
        query: Query,
        after: Option<String>,
        limit: u64,
    ) -> Result<Vec<String>, StoreError> {
        self.read(move |conn| read::ids_after(conn, &query, after.as_deref(), limit))
            .await
    }

    pub async fn matches(&self, query: Query, id: String) -> Result<bool, StoreError> {
        self.text_indexed(&query).await?;
        self.read(move |conn| read::matches(conn, &query, &id))
            .await
    }

    pub async fn first_matching(
        &self,
        query: Query,
        ids: Vec<String>,
    ) -> Result<Option<String>, StoreError> {
        self.text_indexed(&query).await?;
        self.read(move |conn| read::first_matching(conn, &query, &ids))
            .await
    }

    pub async fn message(&self, id: String) -> Result<Option<StoredMessage>, StoreError> {
        self.read(move |conn| read::message(conn, &id)).await
    }

    pub async fn latest_id(&self, query: Query) -> Result<Option<String>, StoreError> {
        self.text_indexed(&query).await?;
        self.read(move |conn| read::latest_id(conn, &query)).await
    }

    pub async fn raw(&self, id: String) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(move |conn| read::raw(conn, &id)).await
    }

    pub async fn relay_due(&self, now_ms: i64, limit: u64) -> Result<Vec<RelayJob>, StoreError> {
        self.read(move |conn| relay::due(conn, now_ms, limit)).await
    }

    pub async fn relay_next_due(&self) -> Result<Option<i64>, StoreError> {
        self.read(relay::next_due).await
    }

    pub async fn relay_jobs(&self, id: String) -> Result<Vec<RelayJob>, StoreError> {
        self.read(move |conn| relay::for_message(conn, &id)).await
    }

    pub async fn webhook_due(
        &self,
        now_ms: i64,
        limit: u64,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        self.read(move |conn| webhook::due(conn, now_ms, limit))
            .await
    }

    pub async fn webhook_stats(&self) -> Result<WebhookQueueStats, StoreError> {
        self.read(webhook::stats).await
    }

    pub async fn counts(&self) -> Result<Counts, StoreError> {
        self.read(read::counts).await
    }

    pub async fn inbox_counts(&self) -> Result<Vec<InboxCounts>, StoreError> {
        self.read(read::inbox_counts).await
    }

    pub async fn inbox_in_use(&self, inbox: String) -> Result<bool, StoreError> {
        self.read(move |conn| read::inbox_in_use(conn, &inbox))
            .await
    }

    /// Waits until every write queued so far is committed, then stops the
    /// writer, closing the database cleanly (write-ahead log checkpointed
    /// and removed). Reads keep working on clones until they are dropped.
    pub async fn close(&self) {
        self.inner.readers.close_idle();
        let _ = self.write(writer::Op::Close).await;
    }
}
