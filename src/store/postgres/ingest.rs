//! Group commit for ingest. Sessions queue their messages (a bounded
//! queue: memory stays within [`QUEUE`] messages); a free writer task
//! ([`WRITERS`] per node) takes what is queued, up to [`MAX_BATCH`]
//! messages and [`MAX_BATCH_BYTES`], into one transaction on a pooled
//! connection it keeps, its statements prepared once and sent pipelined,
//! and commits once. Only then does it publish each message's event and
//! answer each session, in the batch's order: a `250` still means
//! committed. (Two writers' batches commit in either order, as two
//! sessions' transactions did before.) A lone message does not wait for
//! company: a writer takes what is there.
//!
//! If a batch fails with an error the database reported, each of its
//! messages is tried again in a transaction of its own, so one bad
//! message fails alone; if the database did not answer at all, every
//! message of the batch fails with it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::future::{join, join3, try_join, try_join_all};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use tokio_postgres::Statement;
use tokio_util::sync::CancellationToken;

use super::listen::Shared;
use super::pool::Conn;
use super::{notify, webhook, write};
use crate::events::Event;
use crate::store::{NewMessage, StoreError};

/// Writers, each with a connection of its own: while one waits for its
/// commit to be flushed, another sends the next batch.
const WRITERS: usize = 3;
/// Messages one transaction takes at most.
const MAX_BATCH: usize = 256;
/// Message bytes one transaction takes at most, unless its first message
/// alone is larger.
const MAX_BATCH_BYTES: u64 = 16 << 20;
/// Messages waiting for the writer at most; beyond, a session waits for
/// room.
const QUEUE: usize = 2 * MAX_BATCH;

/// A message waiting to be stored, and who waits for the outcome.
struct Queued {
    id: String,
    received_at_ms: i64,
    size: u64,
    row: write::Row,
    webhook: Option<String>,
    event: Event,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// The sessions' side of the writer.
pub struct Ingest {
    queue: mpsc::Sender<Queued>,
    /// Cancelled once the writer has answered everything queued and
    /// ended.
    done: CancellationToken,
}

impl Ingest {
    /// Starts the writer; it drains the queue and ends once `stop` is
    /// cancelled (or every [`Ingest`] is dropped).
    pub fn start(shared: Arc<Shared>, prune: Arc<Notify>, stop: CancellationToken) -> Ingest {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let queued = Arc::new(Mutex::new(Queue {
            receiver,
            carried: None,
            stopping: false,
        }));
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let writer = Writer {
                    shared: shared.clone(),
                    prune: prune.clone(),
                    session: None,
                };
                tokio::spawn(writer.run(queued.clone(), stop.clone()))
            })
            .collect();
        let done = CancellationToken::new();
        let finished = done.clone();
        tokio::spawn(async move {
            futures_util::future::join_all(writers).await;
            finished.cancel();
        });
        Ingest { queue, done }
    }

    /// Stores `message`; returns once the transaction holding it
    /// committed (or failed).
    pub async fn insert(&self, mut message: NewMessage, node: &str) -> Result<(), StoreError> {
        let raw = std::mem::take(&mut message.raw_zstd);
        let (reply, outcome) = oneshot::channel();
        let queued = Queued {
            row: write::Row::new(&message, raw, node),
            event: Event::New(message.summary().into()),
            id: message.id,
            received_at_ms: message.received_at_ms,
            size: message.size,
            webhook: message.webhook,
            reply,
        };
        self.queue
            .send(queued)
            .await
            .map_err(|_| StoreError::Closed)?;
        // The writer answers every message it takes; if it ended without
        // (it panicked), the message is not known to be stored.
        outcome.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Waits until the writer has ended (after `stop`).
    pub async fn finished(&self) {
        self.done.cancelled().await;
    }
}

/// A connection kept by the writer, with its statements prepared.
struct Session {
    conn: Conn,
    insert: Statement,
    webhook: Statement,
    notify: Statement,
}

/// Why a transaction failed.
enum Failure {
    /// A statement failed (the database refused it, or a value could not
    /// be sent): some message may be at fault. Taken for this until
    /// [`Writer::commit`] sees whether the connection is still there.
    Refused(tokio_postgres::Error),
    /// The database was not reached, or the connection broke.
    Unreachable(StoreError),
}

impl Failure {
    /// The error to give one of the batch's sessions.
    fn to_error(&self) -> StoreError {
        match self {
            Failure::Refused(err) => super::classify(err),
            Failure::Unreachable(err) => copy(err),
        }
    }
}

/// The same error again, for another session.
fn copy(err: &StoreError) -> StoreError {
    match err {
        StoreError::Unavailable(text) => StoreError::Unavailable(text.clone()),
        StoreError::Backend(text) => StoreError::Backend(text.clone()),
        StoreError::Corrupt(text) => StoreError::Corrupt(text.clone()),
        StoreError::CommitFailed(text) => StoreError::CommitFailed(text.clone()),
        StoreError::Incompatible(text) => StoreError::Incompatible(text.clone()),
        StoreError::Closed => StoreError::Closed,
        other => StoreError::Backend(other.to_string()),
    }
}

/// The queue as the writers share it.
struct Queue {
    receiver: mpsc::Receiver<Queued>,
    /// A message taken that did not fit the last batch: the next one's
    /// first.
    carried: Option<Queued>,
    /// `stop` came: no new messages; those queued are still stored.
    stopping: bool,
}

impl Queue {
    /// The next batch, once there is a message; `None` once stopped and
    /// empty.
    async fn take(&mut self, stop: &CancellationToken) -> Option<Vec<Queued>> {
        let first = match self.carried.take() {
            Some(first) => first,
            None => loop {
                tokio::select! {
                    next = self.receiver.recv() => break next?,
                    () = stop.cancelled(), if !self.stopping => {
                        self.stopping = true;
                        self.receiver.close();
                    }
                }
            },
        };
        let mut bytes = first.size;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            let Ok(next) = self.receiver.try_recv() else {
                break;
            };
            if bytes + next.size > MAX_BATCH_BYTES {
                self.carried = Some(next);
                break;
            }
            bytes += next.size;
            batch.push(next);
        }
        Some(batch)
    }
}

struct Writer {
    shared: Arc<Shared>,
    prune: Arc<Notify>,
    session: Option<Session>,
}

impl Writer {
    async fn run(mut self, queued: Arc<Mutex<Queue>>, stop: CancellationToken) {
        loop {
            // One writer at a time takes a batch; the others write theirs.
            let batch = queued.lock().await.take(&stop).await;
            let Some(batch) = batch else { break };
            self.write(batch).await;
        }
        // Its connection goes back to the pool before the pool closes.
        self.session = None;
    }

    /// Stores a batch and answers each of its sessions.
    async fn write(&mut self, batch: Vec<Queued>) {
        match self.commit(&batch).await {
            Ok(rowids) => self.stored(batch, &rowids),
            Err(Failure::Refused(err)) if batch.len() > 1 => {
                tracing::debug!(%err, messages = batch.len(), "a batch failed; storing its messages one by one");
                for queued in batch {
                    let one = std::slice::from_ref(&queued);
                    match self.commit(one).await {
                        Ok(rowids) => self.stored(vec![queued], &rowids),
                        Err(failure) => {
                            let _ = queued.reply.send(Err(failure.to_error()));
                        }
                    }
                }
            }
            Err(failure) => {
                for queued in batch {
                    let _ = queued.reply.send(Err(failure.to_error()));
                }
            }
        }
    }

    /// Publishes the committed messages' events and answers their
    /// sessions, in order.
    fn stored(&self, batch: Vec<Queued>, rowids: &[i64]) {
        if let Some(&max) = rowids.iter().max() {
            self.shared.announced.fetch_max(max, Ordering::AcqRel);
        }
        for queued in batch {
            self.shared.events.publish(queued.event);
            let _ = queued.reply.send(Ok(()));
        }
        self.prune.notify_one();
    }

    /// One transaction storing `batch`; the rowids it got.
    async fn commit(&mut self, batch: &[Queued]) -> Result<Vec<i64>, Failure> {
        let outcome = self.try_commit(batch).await;
        let broken = self.session.as_ref().is_some_and(|s| s.conn.is_closed());
        if broken {
            self.session = None;
        }
        match outcome {
            Err(Failure::Refused(err))
                if broken
                    || err.code().is_none()
                        && matches!(super::classify(&err), StoreError::Unavailable(_)) =>
            {
                Err(Failure::Unreachable(err.into()))
            }
            other => other,
        }
    }

    /// `BEGIN`, the statements and (when no message has tags, whose rows
    /// wait for the message's rowid) `COMMIT` go out at once: one round
    /// trip for the batch. After an error PostgreSQL turns the `COMMIT`
    /// into a rollback, and the statements' own errors tell of it.
    async fn try_commit(&mut self, batch: &[Queued]) -> Result<Vec<i64>, Failure> {
        let shared = self.shared.clone();
        let session = self.session().await?;
        let client: &tokio_postgres::Client = &session.conn;
        let begin = client.batch_execute("BEGIN");
        // Sent together, answered in order: the rows get rowids in the
        // order the messages were queued.
        let rows = try_join_all(batch.iter().map(|queued| {
            let stored = write::insert(client, &session.insert, &queued.row);
            let delivery = async {
                if let Some(payload) = &queued.webhook {
                    let values: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
                        [&queued.id, payload, &queued.received_at_ms];
                    client.execute(&session.webhook, &values).await?;
                }
                Ok(())
            };
            async move { try_join(stored, delivery).await.map(|(rowid, ())| rowid) }
        }));
        let ids: Vec<String> = batch.iter().map(|q| q.id.clone()).collect();
        let payloads = notify::new_messages(&shared.node, &ids);
        let notes = try_join_all(payloads.iter().map(|payload| async {
            let values: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
                [&notify::CHANNEL, payload];
            client.execute(&session.notify, &values).await
        }));
        let pipelined = batch.iter().all(|q| !q.row.has_tags());
        let commit = async {
            if pipelined {
                Some(client.batch_execute("COMMIT").await)
            } else {
                None
            }
        };
        let (began, (rowids, notes), committed) = join3(begin, join(rows, notes), commit).await;
        let outcome = async {
            began?;
            let rowids = rowids?;
            notes?;
            match committed {
                Some(committed) => committed?,
                None => client.batch_execute("COMMIT").await?,
            }
            Ok(rowids)
        }
        .await;
        if outcome.is_err() {
            // Ends the transaction unless the `COMMIT` did (a warning
            // then, not an error); a connection that cannot is dropped.
            let _ = client.batch_execute("ROLLBACK").await;
        }
        outcome.map_err(Failure::Refused)
    }

    /// The writer's connection, connected and prepared if need be.
    async fn session(&mut self) -> Result<&mut Session, Failure> {
        // One that broke while idle (the server restarted) is replaced.
        if self.session.as_ref().is_some_and(|s| s.conn.is_closed()) {
            self.session = None;
        }
        if self.session.is_none() {
            let conn = self.shared.pool.get().await.map_err(Failure::Unreachable)?;
            let (insert, webhook, notify) = try_join(
                conn.prepare(write::INSERT),
                try_join(conn.prepare(webhook::QUEUE), conn.prepare(notify::SEND)),
            )
            .await
            .map(|(insert, (webhook, notify))| (insert, webhook, notify))
            .map_err(Failure::Refused)?;
            self.session = Some(Session {
                conn,
                insert,
                webhook,
                notify,
            });
        }
        Ok(self.session.as_mut().expect("connected above"))
    }
}
