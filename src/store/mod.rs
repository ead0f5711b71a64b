//! The message store on SQLite. All SQL lives below this module, so another
//! engine can replace it without touching SMTP or web code.
//!
//! One writer thread owns the only writing connection and commits whatever
//! has queued up in one transaction ([`writer`]); reads use their own
//! connections from a small pool ([`read`]) and never wait for the writer.

mod index;
mod query;
mod read;
mod relay;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::domain::inbox::InboxName;
use crate::domain::message::{ParsedMessage, Part};
use crate::domain::search::Query;
use crate::domain::{Envelope, Summary};
use crate::events::Events;

pub use relay::{AttemptOutcome, RelayAttempt, RelayJob, RelayNext, RelayOutcome, RelayState};
pub use schema::MigrationError;
pub use writer::Change;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Migration(#[from] MigrationError),
    #[error("creating the database directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("committing to the database failed: {0}")]
    CommitFailed(String),
    #[error("stored message data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
}

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    /// A throw-away store: a database in a private temporary directory that
    /// is removed when the store closes.
    Temporary,
}

/// Store settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub location: Location,
    /// Keep at most this many messages; the oldest are pruned. 0 = no limit.
    pub max_messages: u64,
    /// Prune messages received longer ago than this.
    pub max_age: Option<Duration>,
}

/// A message ready to be written: parsed and compressed off the runtime.
#[derive(Debug)]
pub struct NewMessage {
    pub id: String,
    pub received_at_ms: i64,
    pub size: u64,
    pub raw_zstd: Vec<u8>,
    pub parsed: ParsedMessage,
    pub envelope: Envelope,
    /// The inbox chosen at ingest.
    pub inbox: InboxName,
}

/// Everything stored about one message except its raw bytes.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub summary: Summary,
    pub received_at_ms: i64,
    pub date: Option<i64>,
    pub inline: u32,
    pub envelope: Envelope,
    pub parts: Vec<Part>,
    pub problems: Vec<String>,
}

/// One page of a list or search, with the counts Mailpit's JSON carries.
#[derive(Debug, Clone)]
pub struct Page {
    pub messages: Vec<Summary>,
    /// Messages in the mailbox.
    pub total: u64,
    pub unread: u64,
    /// Messages matching the query (all of them for a plain list).
    pub matched: u64,
    pub matched_unread: u64,
    /// Every tag in use, sorted (read in the same snapshot).
    pub tags: Vec<String>,
}

/// Where a `wait` starts looking: after this message, or after this time.
#[derive(Debug, Clone)]
pub enum Cursor {
    AfterId(String),
    /// Received at or after this many Unix milliseconds (the clock has
    /// millisecond precision: a cursor taken just before sending must not
    /// miss a message received within the same millisecond).
    AfterTime(i64),
}

/// One inbox's message counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InboxCounts {
    pub name: String,
    pub total: u64,
    pub unread: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct Counts {
    pub total: u64,
    pub unread: u64,
    pub database_bytes: u64,
}

/// Which messages a change applies to.
#[derive(Debug, Clone)]
pub enum Selection {
    All,
    Ids(Vec<String>),
    Query(Query),
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    writer: mpsc::Sender<writer::Op>,
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

impl Store {
    /// Opens (creating and migrating if needed) the database and starts the
    /// writer thread, which publishes committed changes to `events`. With a
    /// `max_age` it must be called within a tokio runtime (a timer task
    /// wakes the writer to prune).
    pub fn open(config: &StoreConfig, events: Events) -> Result<Store, StoreError> {
        let (path, temp) = match &config.location {
            Location::File(path) => (path.clone(), None),
            Location::Temporary => {
                let dir = std::env::temp_dir().join(format!("letterbox-{}", ulid::Ulid::new()));
                (dir.join("letterbox.db"), Some(TempDir(dir)))
            }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let retention = writer::Retention {
            max_messages: config.max_messages,
            max_age: config.max_age,
        };
        let writer = writer::start(&path, retention, events)?;
        if let Some(max_age) = config.max_age {
            tokio::spawn(expiry_ticks(writer.downgrade(), max_age));
        }
        let readers = read::Readers::new(path.clone());
        Ok(Store {
            inner: Arc::new(Inner {
                writer,
                readers,
                path,
                _temp: temp,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
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

    /// Stores a message; returns once its transaction has committed.
    pub async fn insert(&self, message: NewMessage) -> Result<(), StoreError> {
        self.write(|reply| writer::Op::Insert(Box::new(message), reply))
            .await
    }

    async fn change(&self, change: Change) -> Result<u64, StoreError> {
        self.write(|reply| writer::Op::Change(change, reply)).await
    }

    /// Deletes messages; returns how many were deleted.
    pub async fn delete(&self, selection: Selection) -> Result<u64, StoreError> {
        self.change(Change::Delete(selection)).await
    }

    /// Marks messages read or unread; returns how many changed.
    pub async fn set_read(&self, selection: Selection, read: bool) -> Result<u64, StoreError> {
        self.change(Change::SetRead(selection, read)).await
    }

    /// Replaces the tags of these messages; returns how many exist.
    pub async fn set_tags(&self, ids: Vec<String>, tags: Vec<String>) -> Result<u64, StoreError> {
        self.change(Change::SetTags { ids, tags }).await
    }

    /// Renames a tag (merging into `to` if that exists); returns how many
    /// messages carry it.
    pub async fn rename_tag(&self, from: String, to: String) -> Result<u64, StoreError> {
        self.change(Change::RenameTag { from, to }).await
    }

    /// Removes a tag from every message; returns how many carried it.
    pub async fn delete_tag(&self, name: String) -> Result<u64, StoreError> {
        self.change(Change::DeleteTag(name)).await
    }

    /// Each tag in use with how many messages carry it.
    pub async fn tag_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.read(read::tag_counts).await
    }

    /// Every tag in use, sorted.
    pub async fn tags(&self) -> Result<Vec<String>, StoreError> {
        self.read(read::tags).await
    }

    /// Newest first.
    pub async fn list(&self, start: u64, limit: u64) -> Result<Page, StoreError> {
        self.search(Query::default(), start, limit).await
    }

    /// Matches of `query`, newest first.
    pub async fn search(&self, query: Query, start: u64, limit: u64) -> Result<Page, StoreError> {
        self.read(move |conn| read::search(conn, &query, start, limit))
            .await
    }

    /// The oldest message after `cursor` that matches `query`.
    pub async fn first_after(
        &self,
        query: Query,
        cursor: Cursor,
    ) -> Result<Option<String>, StoreError> {
        self.read(move |conn| read::first_after(conn, &query, &cursor))
            .await
    }

    /// Whether the message `id` matches `query`.
    pub async fn matches(&self, query: Query, id: String) -> Result<bool, StoreError> {
        self.read(move |conn| read::matches(conn, &query, &id))
            .await
    }

    pub async fn message(&self, id: String) -> Result<Option<StoredMessage>, StoreError> {
        self.read(move |conn| read::message(conn, &id)).await
    }

    /// The newest message (matching `query`, if given).
    pub async fn latest_id(&self, query: Option<Query>) -> Result<Option<String>, StoreError> {
        let query = query.unwrap_or_default();
        self.read(move |conn| read::latest_id(conn, &query)).await
    }

    /// The raw message exactly as received.
    pub async fn raw(&self, id: String) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(move |conn| read::raw(conn, &id)).await
    }

    /// Queues a release of message `id` to the relay; false if there is no
    /// such message.
    pub async fn queue_relay(
        &self,
        id: String,
        mail_from: String,
        recipients: Vec<String>,
    ) -> Result<bool, StoreError> {
        let now_ms = crate::domain::timefmt::now_millis();
        let change = Change::QueueRelay {
            id,
            mail_from,
            recipients,
            now_ms,
        };
        Ok(self.change(change).await? > 0)
    }

    /// Claims a queued release for an attempt; false if it is gone or was
    /// not queued.
    pub async fn start_relay(&self, job: i64) -> Result<bool, StoreError> {
        Ok(self.change(Change::StartRelay(job)).await? > 0)
    }

    /// Records an attempt of a release and what follows from it for each
    /// group of its recipients (see [`RelayOutcome`]).
    pub async fn finish_relay(
        &self,
        job: i64,
        outcomes: Vec<RelayOutcome>,
    ) -> Result<bool, StoreError> {
        Ok(self.change(Change::FinishRelay { job, outcomes }).await? > 0)
    }

    /// Queued releases due at `now_ms`, the longest waiting first.
    pub async fn relay_due(&self, now_ms: i64, limit: u64) -> Result<Vec<RelayJob>, StoreError> {
        self.read(move |conn| relay::due(conn, now_ms, limit)).await
    }

    /// When the next queued release is due.
    pub async fn relay_next_due(&self) -> Result<Option<i64>, StoreError> {
        self.read(relay::next_due).await
    }

    /// Every release of message `id`, oldest first.
    pub async fn relay_jobs(&self, id: String) -> Result<Vec<RelayJob>, StoreError> {
        self.read(move |conn| relay::for_message(conn, &id)).await
    }

    pub async fn counts(&self) -> Result<Counts, StoreError> {
        self.read(read::counts).await
    }

    /// Counts of every inbox holding messages, by name.
    pub async fn inbox_counts(&self) -> Result<Vec<InboxCounts>, StoreError> {
        self.read(read::inbox_counts).await
    }

    /// Whether any message is in `inbox`.
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
