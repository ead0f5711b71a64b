//! The PostgreSQL backend: any number of Letterbox nodes on one database.
//! All SQL and every `tokio_postgres` type live below this module.
//!
//! Each write is one transaction on a pooled connection ([`pool`]); new
//! messages share theirs, a batch at a time, through one writer per node
//! that keeps a pooled connection ([`ingest`]). A write sends its change
//! to the other nodes with `NOTIFY` before committing ([`notify`]), and
//! each node's listener publishes what the others committed into its own
//! events ([`listen`]). Retention pruning and
//! schema migrations take advisory locks, so one node does each at a time.

mod ingest;
mod listen;
mod notify;
mod pool;
mod query;
mod read;
mod relay;
mod schema;
mod text;
mod tls;
mod webhook;
mod write;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{
    Change, Counts, Cursor, InboxCounts, NewMessage, Page, RelayJob, StoreError, StoreInfo,
    StoredMessage, WebhookDelivery, WebhookQueueStats,
};
use crate::domain::retention::Retention;
use crate::domain::search::Query;
use crate::domain::timefmt::now_millis;
use crate::events::{Event, Events};
use pool::{Conn, Pool};

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        classify(&err)
    }
}

/// The store's error for what PostgreSQL (or the way to it) said.
fn classify(err: &tokio_postgres::Error) -> StoreError {
    // tokio-postgres names only the kind ("error performing TLS
    // handshake"); the cause says what went wrong.
    let text = match std::error::Error::source(err) {
        Some(cause) => format!("{err}: {cause}"),
        None => err.to_string(),
    };
    let Some(code) = err.code() else {
        // No answer from the server: the connection failed or closed.
        let io = std::error::Error::source(err).is_some_and(|s| s.is::<std::io::Error>());
        return if err.is_closed() || io || err.to_string().contains("connect") {
            StoreError::Unavailable(text)
        } else {
            StoreError::Backend(text)
        };
    };
    let class = &code.code()[..2];
    if matches!(class, "08" | "53" | "57")
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
    {
        StoreError::Unavailable(text)
    } else if class == "XX" {
        StoreError::Corrupt(text)
    } else {
        StoreError::Backend(text)
    }
}

#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<listen::Shared>,
    location: String,
    /// Stores messages in batches.
    ingest: ingest::Ingest,
    /// Stops the listener and the pruning task.
    stop: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// `postgres://user@host:port/dbname`: the URL without its password.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or_default(),
        config.get_dbname().unwrap_or_default()
    )
}

impl PgStore {
    /// Connects, brings the schema up to date, starts listening for other
    /// nodes' changes and (with retention limits) the pruning task.
    pub async fn connect(
        url: &str,
        retention: Retention,
        events: Events,
    ) -> Result<PgStore, StoreError> {
        let (config, tls) = tls::configure(url)?;
        let location = describe(&config);
        let open_error = |err: StoreError| match err {
            StoreError::Incompatible(_) => err,
            other => StoreError::Open {
                location: location.clone(),
                reason: tls.explain(other.to_string()),
            },
        };
        let pool = Pool::new(config, tls.clone());
        let announced = {
            let mut conn = pool.get().await.map_err(open_error)?;
            schema::migrate(&mut conn).await.map_err(open_error)?;
            relay::requeue_abandoned(&*conn, now_millis())
                .await
                .map_err(|e| open_error(e.into()))?;
            read::max_rowid(&*conn).await.map_err(open_error)?
        };
        let shared = Arc::new(listen::Shared {
            pool,
            events,
            node: ulid::Ulid::new().to_string(),
            announced: AtomicI64::new(announced),
        });
        let stop = CancellationToken::new();
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        tokio::spawn(listen::run(shared.clone(), stop.clone(), ready_tx));
        ready
            .await
            .map_err(|_| StoreError::Closed)?
            .map_err(open_error)?;
        let prune = Arc::new(Notify::new());
        if retention.max_messages > 0 || retention.max_age.is_some() {
            tokio::spawn(prune_task(
                shared.clone(),
                retention,
                prune.clone(),
                stop.clone(),
            ));
        }
        let ingest = ingest::Ingest::start(shared.clone(), prune.clone(), stop.clone());
        Ok(PgStore {
            inner: Arc::new(Inner {
                shared,
                location,
                ingest,
                stop,
            }),
        })
    }

    pub fn describe(&self) -> StoreInfo {
        StoreInfo {
            backend: "postgres",
            location: self.inner.location.clone(),
            bytes: None,
        }
    }

    pub fn node_id(&self) -> &str {
        &self.inner.shared.node
    }

    pub async fn info(&self) -> Result<StoreInfo, StoreError> {
        let bytes = read::database_bytes(&*self.conn().await?).await?;
        Ok(StoreInfo {
            bytes: Some(bytes),
            ..self.describe()
        })
    }

    async fn conn(&self) -> Result<Conn, StoreError> {
        self.inner.shared.pool.get().await
    }

    /// Publishes a committed change here; the other nodes heard of it
    /// through the `NOTIFY` that committed with it.
    fn publish(&self, event: Event) {
        self.inner.shared.events.publish(event);
    }

    /// Returns once the transaction holding the message committed: it
    /// shares one with the messages queued beside it ([`ingest`]).
    pub async fn insert(&self, message: NewMessage) -> Result<(), StoreError> {
        let inner = &self.inner;
        inner.ingest.insert(message, &inner.shared.node).await
    }

    pub async fn change(&self, change: Change) -> Result<u64, StoreError> {
        let shared = &self.inner.shared;
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let (n, event) = write::apply(&tx, &change).await?;
        if let Some(event) = &event {
            notify::send(&tx, &shared.node, event).await?;
        }
        tx.commit().await?;
        if let Some(event) = event {
            self.publish(event);
        }
        Ok(n)
    }

    pub async fn tag_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        read::tag_counts(&*self.conn().await?).await
    }

    pub async fn tags(&self) -> Result<Vec<String>, StoreError> {
        read::tags(&*self.conn().await?).await
    }

    pub async fn search(&self, query: Query, start: u64, limit: u64) -> Result<Page, StoreError> {
        // One read-only snapshot: a page and its counts agree.
        let mut conn = self.conn().await?;
        let tx = conn
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let page = read::search(&tx, &query, start, limit).await?;
        tx.commit().await?;
        Ok(page)
    }

    pub async fn first_after(
        &self,
        query: Query,
        cursor: Cursor,
    ) -> Result<Option<String>, StoreError> {
        read::first_after(&*self.conn().await?, &query, &cursor).await
    }

    pub async fn matches(&self, query: Query, id: String) -> Result<bool, StoreError> {
        read::matches(&*self.conn().await?, &query, &id).await
    }

    pub async fn first_matching(
        &self,
        query: Query,
        ids: Vec<String>,
    ) -> Result<Option<String>, StoreError> {
        read::first_matching(&*self.conn().await?, &query, ids).await
    }

    pub async fn message(&self, id: String) -> Result<Option<StoredMessage>, StoreError> {
        read::message(&*self.conn().await?, &id).await
    }

    pub async fn latest_id(&self, query: Query) -> Result<Option<String>, StoreError> {
        read::latest_id(&*self.conn().await?, &query).await
    }

    pub async fn raw(&self, id: String) -> Result<Option<Vec<u8>>, StoreError> {
        read::raw(&*self.conn().await?, &id).await
    }

    pub async fn relay_due(&self, now_ms: i64, limit: u64) -> Result<Vec<RelayJob>, StoreError> {
        relay::due(&*self.conn().await?, now_ms, limit).await
    }

    pub async fn relay_next_due(&self) -> Result<Option<i64>, StoreError> {
        relay::next_due(&*self.conn().await?).await
    }

    pub async fn relay_jobs(&self, id: String) -> Result<Vec<RelayJob>, StoreError> {
        relay::for_message(&*self.conn().await?, &id).await
    }

    pub async fn ids_after(
        &self,
        query: Query,
        after: Option<String>,
        limit: u64,
    ) -> Result<Vec<String>, StoreError> {
        read::ids_after(&*self.conn().await?, &query, after.as_deref(), limit).await
    }

    pub async fn webhook_due(
        &self,
        now_ms: i64,
        limit: u64,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        webhook::due(&*self.conn().await?, now_ms, limit).await
    }

    pub async fn webhook_stats(&self) -> Result<WebhookQueueStats, StoreError> {
        webhook::stats(&*self.conn().await?).await
    }

    pub async fn counts(&self) -> Result<Counts, StoreError> {
        read::counts(&*self.conn().await?).await
    }

    pub async fn inbox_counts(&self) -> Result<Vec<InboxCounts>, StoreError> {
        read::inbox_counts(&*self.conn().await?).await
    }

    pub async fn inbox_in_use(&self, inbox: String) -> Result<bool, StoreError> {
        read::inbox_in_use(&*self.conn().await?, &inbox).await
    }

    pub async fn share_chaos(&self, rules: Option<Arc<str>>) -> Result<(), StoreError> {
        let shared = &self.inner.shared;
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        tx.execute(
            "INSERT INTO shared_settings (name, value) VALUES ('chaos', $1)
             ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            &[&rules.as_deref()],
        )
        .await?;
        notify::send(&tx, &shared.node, &Event::ChaosChanged(rules)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The chaos rules the nodes share: `None` when no node ever set any,
    /// `Some(None)` when they were turned off.
    pub async fn shared_chaos(&self) -> Result<Option<Option<String>>, StoreError> {
        let row = self
            .conn()
            .await?
            .query_opt(
                "SELECT value FROM shared_settings WHERE name = 'chaos'",
                &[],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Stops listening and pruning, stores the messages queued (a later
    /// insert fails with [`StoreError::Closed`]) and closes the idle
    /// connections. Reads keep working on clones (connecting again) until
    /// they are dropped.
    pub async fn close(&self) {
        self.inner.stop.cancel();
        self.inner.ingest.finished().await;
        self.inner.shared.pool.close_idle();
    }
}

/// Prunes after inserts (a short pause lets a burst share one pass) and
/// now and then while no mail comes, one batch per transaction, while this
/// node holds the prune lock.
async fn prune_task(
    shared: Arc<listen::Shared>,
    retention: Retention,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    let period = retention.max_age.map_or(Duration::from_secs(60), |age| {
        (age / 10).clamp(Duration::from_secs(1), Duration::from_secs(60))
    });
    loop {
        loop {
            match prune_batch(&shared, retention).await {
                Ok(n) if n as i64 == write::PRUNE_BATCH => continue,
                Ok(_) => break,
                Err(err) => {
                    warn!(%err, "pruning old messages failed");
                    break;
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(period) => {}
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

async fn prune_batch(shared: &listen::Shared, retention: Retention) -> Result<usize, StoreError> {
    let mut conn = shared.pool.get().await?;
    let tx = conn.transaction().await?;
    let ids = write::prune(&tx, retention, now_millis()).await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let event = Event::Deleted(ids.into());
    notify::send(&tx, &shared.node, &event).await?;
    tx.commit().await?;
    let n = match &event {
        Event::Deleted(ids) => ids.len(),
        _ => 0,
    };
    shared.events.publish(event);
    Ok(n)
}
