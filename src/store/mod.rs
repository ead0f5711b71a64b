//! The message store: one interface, with each backend behind it. Callers
//! see [`Store`] and the plain data types here; everything a backend does
//! its own way (SQL, connections, files) stays inside its module, so a
//! second backend is one more variant of [`Store`] and one more module.
//!
//! Every backend must pass the [`contract`] suite: the behaviour the rest of
//! Letterbox relies on, operation by operation.

mod change;
#[doc(hidden)]
pub mod contract;
mod postgres;
mod relay;
mod sqlite;
mod webhook;
mod window;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::domain::inbox::InboxName;
use crate::domain::message::{ParsedMessage, Part};
use crate::domain::retention::Retention;
use crate::domain::search::Query;
use crate::domain::{Envelope, Summary};
use crate::events::Events;

pub use change::Change;
pub use relay::{AttemptOutcome, RelayAttempt, RelayJob, RelayNext, RelayOutcome, RelayState};
pub use webhook::{WebhookDelivery, WebhookNext, WebhookQueueStats};

/// What went wrong in a store, in terms of the store rather than of the
/// backend's library.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be opened where it was asked to be.
    #[error("cannot open the database {location}: {reason}")]
    Open { location: String, reason: String },
    #[error("creating the database directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    /// The stored data was written by a newer version, or in a shape this
    /// version cannot use.
    #[error("{0}")]
    Incompatible(String),
    /// The backend cannot be reached or used right now (busy, disk full,
    /// I/O error); a later attempt may succeed.
    #[error("database: {0}")]
    Unavailable(String),
    /// Any other failure the backend reported.
    #[error("database: {0}")]
    Backend(String),
    #[error("committing to the database failed: {0}")]
    CommitFailed(String),
    #[error("stored message data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is shut down")]
    Closed,
}

/// Where the messages live; which backend keeps them follows from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite database file.
    File(PathBuf),
    /// A throw-away store: an SQLite database in a private temporary
    /// directory that is removed when the store closes.
    Temporary,
    /// A PostgreSQL database (`postgres://user:pass@host:5432/dbname`),
    /// which any number of Letterbox nodes may share.
    Postgres(String),
}

/// What an acknowledged write (a `250`) survives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Durability {
    /// Letterbox itself dying (a crash, `kill -9`, the OOM killer): a
    /// commit is in the operating system's hands before it is answered,
    /// but only a checkpoint waits for the disk, so a power loss or an OS
    /// crash can take the last commits.
    #[default]
    ProcessCrash,
    /// Power loss and OS crashes too: every commit waits for the disk.
    PowerLoss,
}

/// Store settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub location: Location,
    /// Keep at most this many messages; the oldest are pruned. 0 = no limit.
    pub max_messages: u64,
    /// Prune messages received longer ago than this.
    pub max_age: Option<Duration>,
    pub durability: Durability,
}

impl StoreConfig {
    pub fn retention(&self) -> Retention {
        Retention {
            max_messages: self.max_messages,
            max_age: self.max_age,
        }
    }
}

/// Which backend keeps the messages, where, and how much room they take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// The backend's name, e.g. `sqlite`.
    pub backend: &'static str,
    /// Where it keeps them, as a person would write it (a path, a URL
    /// without credentials).
    pub location: String,
    /// Bytes the stored data takes, if the backend can tell.
    pub bytes: Option<u64>,
}

/// A message ready to be written: parsed and compressed off the runtime.
#[derive(Debug)]
pub struct NewMessage {
    pub id: String,
    pub received_at_ms: i64,
    pub size: u64,
    /// The raw message, zstd-compressed.
    pub raw_zstd: Vec<u8>,
    pub parsed: ParsedMessage,
    pub envelope: Envelope,
    /// The inbox chosen at ingest.
    pub inbox: InboxName,
    /// The webhook request body announcing this message, when webhooks
    /// are on: queued for delivery in the same transaction as the message,
    /// so a message is never stored without it (nor it without the message).
    pub webhook: Option<String>,
}

impl NewMessage {
    /// The list entry this message will have once stored.
    pub fn summary(&self) -> Summary {
        let p = &self.parsed;
        Summary {
            id: self.id.clone(),
            message_id: p.message_id.clone(),
            read: false,
            from: p.from.clone().unwrap_or_default(),
            to: p.to.clone(),
            cc: p.cc.clone(),
            bcc: p.bcc.clone(),
            reply_to: p.reply_to.clone(),
            subject: p.subject.clone(),
            created: crate::domain::timefmt::rfc3339_millis(self.received_at_ms),
            username: self.envelope.auth_user.clone().unwrap_or_default(),
            tags: p.tags.clone(),
            size: self.size,
            attachments: p.attachments,
            snippet: p.snippet.clone(),
            inbox: self.inbox.to_string(),
        }
    }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub unread: u64,
}

/// Which messages a change applies to.
#[derive(Debug, Clone)]
pub enum Selection {
    All,
    Ids(Vec<String>),
    Query(Query),
}

/// The store, dispatching each operation to its backend. Cloning it is
/// cheap and every clone is the same store.
#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

/// Runs the same call on whichever backend `$store` is.
macro_rules! dispatch {
    ($store:expr, $backend:ident => $call:expr) => {
        match $store {
            Store::Sqlite($backend) => $call,
            Store::Postgres($backend) => $call,
        }
    };
}

impl Store {
    /// Opens (creating and migrating if needed) the store at
    /// `config.location`, applying `config`'s retention, and publishes
    /// every committed change to `events`. With a `max_age` it must be
    /// called within a tokio runtime (a timer prunes while no mail comes).
    ///
    /// Only stores that open without waiting (SQLite) open here; a
    /// PostgreSQL store connects with [`Store::connect`].
    pub fn open(config: &StoreConfig, events: Events) -> Result<Store, StoreError> {
        match &config.location {
            Location::File(_) | Location::Temporary => {
                Ok(Store::Sqlite(sqlite::SqliteStore::open(config, events)?))
            }
            Location::Postgres(_) => Err(StoreError::Open {
                location: "PostgreSQL".into(),
                reason: "a PostgreSQL store is opened with Store::connect".into(),
            }),
        }
    }

    /// [`Store::open`] for every backend: connects to PostgreSQL (bringing
    /// its schema up to date and listening for other nodes' changes,
    /// which are published to `events` too).
    pub async fn connect(config: &StoreConfig, events: Events) -> Result<Store, StoreError> {
        match &config.location {
            Location::Postgres(url) => Ok(Store::Postgres(
                postgres::PgStore::connect(url, config.retention(), events).await?,
            )),
            _ => Store::open(config, events),
        }
    }

    /// Whether other nodes share this store (and hear of its changes).
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }

    /// This node's name among the nodes sharing the store (the one its
    /// changes are sent under); `None` for a store no other node shares.
    pub fn node_id(&self) -> Option<&str> {
        match self {
            Store::Sqlite(_) => None,
            Store::Postgres(store) => Some(store.node_id()),
        }
    }

    /// Whether messages handed to [`insert`](Store::insert) while earlier
    /// ones are still being stored are kept in the order they were handed
    /// over. SQLite's one writer commits them in that order; PostgreSQL
    /// commits concurrent transactions in whatever order they finish.
    pub fn keeps_insert_order(&self) -> bool {
        matches!(self, Store::Sqlite(_))
    }

    /// Stores the chaos rules in force (their text while any is active)
    /// and tells the other nodes sharing this store, which publish it as
    /// [`Event::ChaosChanged`](crate::events::Event::ChaosChanged).
    pub async fn share_chaos(&self, rules: Option<std::sync::Arc<str>>) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(_) => Ok(()),
            Store::Postgres(store) => store.share_chaos(rules).await,
        }
    }

    /// The chaos rules stored by [`Store::share_chaos`]: `None` when none
    /// were ever shared (always, on a store of one node's own),
    /// `Some(None)` when they were turned off.
    pub async fn shared_chaos(&self) -> Result<Option<Option<String>>, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(None),
            Store::Postgres(store) => store.shared_chaos().await,
        }
    }

    /// Which backend this is and where it keeps the messages, without
    /// asking it anything (`bytes` is `None`; see [`Store::info`]).
    pub fn describe(&self) -> StoreInfo {
        dispatch!(self, s => s.describe())
    }

    /// [`Store::describe`] with the room the stored data takes.
    pub async fn info(&self) -> Result<StoreInfo, StoreError> {
        dispatch!(self, s => s.info().await)
    }

    /// Stores a message; returns once it is durably committed, readable
    /// by every later read and announced as [`Event::New`].
    ///
    /// [`Event::New`]: crate::events::Event::New
    pub async fn insert(&self, message: NewMessage) -> Result<(), StoreError> {
        dispatch!(self, s => s.insert(message).await)
    }

    /// Deletes messages; returns how many were deleted.
    pub async fn delete(&self, selection: Selection) -> Result<u64, StoreError> {
        dispatch!(self, s => s.change(Change::Delete(selection)).await)
    }

    /// Marks messages read or unread; returns how many changed.
    pub async fn set_read(&self, selection: Selection, read: bool) -> Result<u64, StoreError> {
        dispatch!(self, s => s.change(Change::SetRead(selection, read)).await)
    }

    /// Replaces the tags of these messages; returns how many exist.
    pub async fn set_tags(&self, ids: Vec<String>, tags: Vec<String>) -> Result<u64, StoreError> {
        dispatch!(self, s => s.change(Change::SetTags { ids, tags }).await)
    }

    /// Renames a tag (merging into `to` if that exists); returns how many
    /// messages carry it.
    pub async fn rename_tag(&self, from: String, to: String) -> Result<u64, StoreError> {
        dispatch!(self, s => s.change(Change::RenameTag { from, to }).await)
    }

    /// Removes a tag from every message; returns how many carried it.
    pub async fn delete_tag(&self, name: String) -> Result<u64, StoreError> {
        dispatch!(self, s => s.change(Change::DeleteTag(name)).await)
    }

    /// Each tag in use with how many messages carry it, sorted by name.
    pub async fn tag_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        dispatch!(self, s => s.tag_counts().await)
    }

    /// Every tag in use, sorted.
    pub async fn tags(&self) -> Result<Vec<String>, StoreError> {
        dispatch!(self, s => s.tags().await)
    }

    /// Newest first.
    pub async fn list(&self, start: u64, limit: u64) -> Result<Page, StoreError> {
        self.search(Query::default(), start, limit).await
    }

    /// Matches of `query`, newest first.
    pub async fn search(&self, query: Query, start: u64, limit: u64) -> Result<Page, StoreError> {
        dispatch!(self, s => s.search(query, start, limit).await)
    }

    /// The oldest message after `cursor` that matches `query`.
    pub async fn first_after(
        &self,
        query: Query,
        cursor: Cursor,
    ) -> Result<Option<String>, StoreError> {
        dispatch!(self, s => s.first_after(query, cursor).await)
    }

    /// IDs of up to `limit` messages matching `query` whose IDs sort after
    /// `after` (from the first when `None`), in ID order, which is arrival
    /// order. An export walks the store with it page by page, holding one
    /// page, and mail that arrives or is deleted meanwhile moves nothing.
    pub async fn ids_after(
        &self,
        query: Query,
        after: Option<String>,
        limit: u64,
    ) -> Result<Vec<String>, StoreError> {
        dispatch!(self, s => s.ids_after(query, after, limit).await)
    }

    /// Whether the message `id` matches `query`.
    pub async fn matches(&self, query: Query, id: String) -> Result<bool, StoreError> {
        dispatch!(self, s => s.matches(query, id).await)
    }

    /// The first of the messages `ids`, in the order they were stored,
    /// that matches `query`: each tested on its own, as [`Store::matches`]
    /// does, however many the query's words match in the whole store.
    pub async fn first_matching(
        &self,
        query: Query,
        ids: Vec<String>,
    ) -> Result<Option<String>, StoreError> {
        dispatch!(self, s => s.first_matching(query, ids).await)
    }

    pub async fn message(&self, id: String) -> Result<Option<StoredMessage>, StoreError> {
        dispatch!(self, s => s.message(id).await)
    }

    /// The newest message (matching `query`, if given).
    pub async fn latest_id(&self, query: Option<Query>) -> Result<Option<String>, StoreError> {
        dispatch!(self, s => s.latest_id(query.unwrap_or_default()).await)
    }

    /// The raw message exactly as received.
    pub async fn raw(&self, id: String) -> Result<Option<Vec<u8>>, StoreError> {
        dispatch!(self, s => s.raw(id).await)
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
        Ok(dispatch!(self, s => s.change(change).await)? > 0)
    }

    /// Claims a queued release for an attempt; false if it is gone or was
    /// not queued. Of concurrent claims of one release exactly one wins.
    pub async fn start_relay(&self, job: i64) -> Result<bool, StoreError> {
        Ok(dispatch!(self, s => s.change(Change::StartRelay(job)).await)? > 0)
    }

    /// Records an attempt of a release and what follows from it for each
    /// group of its recipients (see [`RelayOutcome`]).
    pub async fn finish_relay(
        &self,
        job: i64,
        outcomes: Vec<RelayOutcome>,
    ) -> Result<bool, StoreError> {
        let change = Change::FinishRelay { job, outcomes };
        Ok(dispatch!(self, s => s.change(change).await)? > 0)
    }

    /// Queued releases due at `now_ms`, the longest waiting first.
    pub async fn relay_due(&self, now_ms: i64, limit: u64) -> Result<Vec<RelayJob>, StoreError> {
        dispatch!(self, s => s.relay_due(now_ms, limit).await)
    }

    /// When the next queued release is due.
    pub async fn relay_next_due(&self) -> Result<Option<i64>, StoreError> {
        dispatch!(self, s => s.relay_next_due().await)
    }

    /// Every release of message `id`, oldest first.
    pub async fn relay_jobs(&self, id: String) -> Result<Vec<RelayJob>, StoreError> {
        dispatch!(self, s => s.relay_jobs(id).await)
    }

    /// Queued webhook deliveries due at `now_ms` and not claimed, the
    /// longest waiting first.
    pub async fn webhook_due(
        &self,
        now_ms: i64,
        limit: u64,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        dispatch!(self, s => s.webhook_due(now_ms, limit).await)
    }

    /// Claims a due delivery for an attempt until `until_ms` (then it is
    /// due again, should the attempt never finish); false if it is gone or
    /// not due at `now_ms`. Of concurrent claims of one delivery exactly
    /// one wins.
    pub async fn claim_webhook(
        &self,
        id: i64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let change = Change::ClaimWebhook {
            id,
            now_ms,
            until_ms,
        };
        Ok(dispatch!(self, s => s.change(change).await)? > 0)
    }

    /// Records an attempt: the delivery leaves the queue, or waits for
    /// its retry; false if it is gone.
    pub async fn finish_webhook(&self, id: i64, next: WebhookNext) -> Result<bool, StoreError> {
        let change = Change::FinishWebhook { id, next };
        Ok(dispatch!(self, s => s.change(change).await)? > 0)
    }

    /// How many deliveries are queued and when the next is due.
    pub async fn webhook_stats(&self) -> Result<WebhookQueueStats, StoreError> {
        dispatch!(self, s => s.webhook_stats().await)
    }

    pub async fn counts(&self) -> Result<Counts, StoreError> {
        dispatch!(self, s => s.counts().await)
    }

    /// Counts of every inbox holding messages, by name.
    pub async fn inbox_counts(&self) -> Result<Vec<InboxCounts>, StoreError> {
        dispatch!(self, s => s.inbox_counts().await)
    }

    /// Whether any message is in `inbox`.
    pub async fn inbox_in_use(&self, inbox: String) -> Result<bool, StoreError> {
        dispatch!(self, s => s.inbox_in_use(inbox).await)
    }

    /// Waits until every write queued so far is committed, then closes the
    /// store cleanly. Reads keep working on clones until they are dropped.
    pub async fn close(&self) {
        dispatch!(self, s => s.close().await)
    }
}
