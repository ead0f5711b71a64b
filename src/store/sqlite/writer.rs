//! The single writer: a thread that owns the writing connection and commits
//! queued operations in batches. A message's sender hears back only after
//! the transaction holding it has committed (`synchronous = FULL`, so a
//! `250` survives a crash or power loss).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, Transaction};
use tokio::sync::{mpsc, oneshot};
use tracing::error;

use super::change::{self, Change};
use super::{relay, schema};
use crate::domain::retention::Retention;
use crate::domain::timefmt;
use crate::events::{Event, Events};
use crate::store::{NewMessage, StoreError};

/// Operations beyond this many wait for the next transaction.
const MAX_BATCH: usize = 256;
/// Messages pruned per transaction, so pruning never stalls ingest for long.
const PRUNE_BATCH: u64 = 1000;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub enum Op {
    Insert(Box<NewMessage>, Reply<()>),
    /// A change to stored messages; answers how many it affected.
    Change(Change, Reply<u64>),
    /// Time has passed: messages may have grown older than `max_age`.
    Expire,
    /// Acknowledged after everything queued before it is committed and the
    /// connection is closed; then the thread ends.
    Close(Reply<()>),
}

pub fn start(
    path: &Path,
    retention: Retention,
    events: Events,
) -> Result<mpsc::Sender<Op>, StoreError> {
    let mut conn = open(path).map_err(|err| StoreError::Open {
        location: path.display().to_string(),
        reason: err.to_string(),
    })?;
    schema::migrate(&mut conn)?;
    relay::requeue_interrupted(&conn)?;
    let count: u64 = conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?;
    let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
    let writer = Writer {
        conn,
        count,
        retention,
        // A lower --max-messages or --max-age than last time applies right
        // away, not only once new mail arrives.
        prune_pending: true,
        close_requested: None,
        events,
    };
    std::thread::Builder::new()
        .name("letterbox-writer".into())
        .spawn(move || writer.run(rx))
        .expect("spawning the writer thread");
    Ok(tx)
}

/// Opens the writing connection. SQLite opens files lazily, so the first
/// pragma is where an unwritable path shows up.
fn open(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

struct Writer {
    conn: Connection,
    /// Messages in the store, kept here to decide on pruning without a query.
    count: u64,
    retention: Retention,
    /// Messages may be over the limits: prune a batch whenever no write is
    /// waiting.
    prune_pending: bool,
    /// A `Close` was committed with its batch: answer it once the
    /// connection is closed.
    close_requested: Option<Reply<()>>,
    events: Events,
}

/// What applying an operation inside the batch transaction produced; it
/// is answered (and its event published) only once the batch commits.
enum Applied {
    Insert(Result<Event, rusqlite::Error>),
    Change(Result<(u64, Option<Event>), rusqlite::Error>),
    Other,
}

impl Applied {
    fn failed(&self) -> bool {
        matches!(self, Applied::Insert(Err(_)) | Applied::Change(Err(_)))
    }
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Op>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            // Writes always go first; pruning fills the gaps between them,
            // one bounded batch at a time, so it never holds ingest up.
            let first = if self.prune_pending {
                match rx.try_recv() {
                    Ok(op) => Some(op),
                    Err(mpsc::error::TryRecvError::Empty) => None,
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                }
            } else {
                match rx.blocking_recv() {
                    Some(op) => Some(op),
                    None => return,
                }
            };
            let Some(first) = first else {
                self.prune_pending = self.prune();
                continue;
            };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            self.commit_batch(&mut batch);
            if let Some(reply) = self.close_requested.take() {
                self.close(reply);
                return;
            }
            self.prune_pending = true;
        }
    }

    /// Closes the connection, then answers the `Close`: its caller may exit
    /// the process as soon as it hears back. The last connection to close
    /// checkpoints the write-ahead log into the database and removes it.
    fn close(self, reply: Reply<()>) {
        if let Err((_, err)) = self.conn.close() {
            error!(%err, "closing the database failed");
        }
        let _ = reply.send(Ok(()));
    }

    /// Commits a batch in one transaction and answers every operation in
    /// it. The first attempt uses no savepoints: FTS5 flushes its pending
    /// index terms at every savepoint, so one per message wrote one index
    /// segment per message and then merged them, a third of ingest's CPU.
    /// Only when an operation fails is the batch redone with a savepoint
    /// per operation, so that one bad operation does not spoil the others.
    fn commit_batch(&mut self, batch: &mut Vec<Op>) {
        let mut count = self.count;
        let result = match run_batch(&mut self.conn, batch, &mut count, false) {
            Ok(Some(applied)) => Ok(applied),
            Ok(None) => {
                count = self.count;
                run_batch(&mut self.conn, batch, &mut count, true)
                    .map(|applied| applied.expect("an isolated batch runs to its end"))
            }
            Err(err) => Err(err),
        };
        let applied = match result {
            Ok(applied) => applied,
            Err(err) => {
                // The whole transaction rolled back (disk full, I/O error):
                // every operation in it failed and nothing is published.
                error!(%err, "committing a batch failed");
                for op in batch.drain(..) {
                    let failed = StoreError::CommitFailed(err.to_string());
                    match op {
                        Op::Insert(_, reply) => drop(reply.send(Err(failed))),
                        Op::Change(_, reply) => drop(reply.send(Err(failed))),
                        Op::Close(reply) => self.close_requested = Some(reply),
                        Op::Expire => {}
                    }
                }
                return;
            }
        };
        self.count = count;
        for (op, applied) in batch.drain(..).zip(applied) {
            match (op, applied) {
                (Op::Insert(_, reply), Applied::Insert(result)) => {
                    let result = result.map(|event| self.events.publish(event));
                    let _ = reply.send(result.map_err(Into::into));
                }
                (Op::Change(_, reply), Applied::Change(result)) => {
                    let result = result.map(|(n, event)| {
                        if let Some(event) = event {
                            self.events.publish(event);
                        }
                        n
                    });
                    let _ = reply.send(result.map_err(Into::into));
                }
                (Op::Close(reply), _) => self.close_requested = Some(reply),
                _ => {}
            }
        }
    }

    /// Deletes one batch of the oldest messages that are over the count
    /// limit or older than the age limit; true when more may be left.
    fn prune(&mut self) -> bool {
        if !self.retention.may_prune(self.count) {
            return false;
        }
        let (retention, count) = (self.retention, self.count);
        let result = (|| -> Result<Vec<String>, rusqlite::Error> {
            let tx = self.conn.transaction()?;
            let mut oldest: Vec<(i64, String, i64)> = tx
                .prepare_cached(
                    "SELECT rowid, id, received_at FROM messages ORDER BY rowid LIMIT ?1",
                )?
                .query_map([PRUNE_BATCH], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            // Arrival order is rowid order: the oldest come first.
            let doomed = retention.prune_count(
                count,
                timefmt::now_millis(),
                oldest.iter().map(|(_, _, received_at)| *received_at),
            );
            oldest.truncate(doomed);
            for (rowid, _, _) in &oldest {
                change::delete_row(&tx, *rowid)?;
            }
            change::delete_unused_tags(&tx)?;
            tx.commit()?;
            Ok(oldest.into_iter().map(|(_, id, _)| id).collect())
        })();
        match result {
            Ok(ids) if ids.is_empty() => false,
            Ok(ids) => {
                self.count = self.count.saturating_sub(ids.len() as u64);
                let full_batch = ids.len() as u64 == PRUNE_BATCH;
                self.events.publish(Event::Deleted(ids.into()));
                full_batch
            }
            Err(err) => {
                error!(%err, "pruning old messages failed");
                false
            }
        }
    }
}

/// Applies a batch's operations in one transaction and commits it.
/// Without `isolate`, the first failing operation abandons the transaction
/// (`Ok(None)`: redo it isolated); with it, each operation runs in its own
/// savepoint and a failure rolls back only that operation.
fn run_batch(
    conn: &mut Connection,
    batch: &[Op],
    count: &mut u64,
    isolate: bool,
) -> Result<Option<Vec<Applied>>, rusqlite::Error> {
    let tx = conn.transaction()?;
    let mut applied = Vec::with_capacity(batch.len());
    for op in batch {
        let outcome = apply(&tx, op, count, isolate)?;
        if tx.is_autocommit() {
            // SQLITE_FULL or an I/O error can make SQLite roll the whole
            // transaction back; the operations after it would then run
            // (and commit) on their own while this batch is reported failed.
            return Err(rolled_back());
        }
        if outcome.failed() && !isolate {
            return Ok(None); // dropping `tx` rolls it back
        }
        applied.push(outcome);
    }
    tx.commit()?;
    Ok(Some(applied))
}

fn rolled_back() -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
        Some("SQLite rolled the transaction back".into()),
    )
}

/// Applies one operation inside the batch transaction; in a savepoint of its
/// own when `isolate` is set. The outer error is a failure of the savepoint
/// itself, which spoils the transaction.
fn apply(
    tx: &Transaction<'_>,
    op: &Op,
    count: &mut u64,
    isolate: bool,
) -> Result<Applied, rusqlite::Error> {
    Ok(match op {
        Op::Insert(message, _) => {
            let result = maybe_savepoint(tx, isolate, |tx| change::insert(tx, message))?;
            Applied::Insert(result.map(|()| {
                *count += 1;
                Event::New(message.summary().into())
            }))
        }
        Op::Change(change, _) => Applied::Change(maybe_savepoint(tx, isolate, |tx| {
            change::apply_change(tx, change, count)
        })?),
        Op::Close(_) | Op::Expire => Applied::Other,
    })
}

/// Runs `f`, in a savepoint when `isolate` is set, so that its failure
/// rolls back only what it did.
fn maybe_savepoint<T>(
    tx: &Transaction<'_>,
    isolate: bool,
    f: impl FnOnce(&Transaction<'_>) -> Result<T, rusqlite::Error>,
) -> Result<Result<T, rusqlite::Error>, rusqlite::Error> {
    if !isolate {
        return Ok(f(tx));
    }
    tx.execute_batch("SAVEPOINT op")?;
    match f(tx) {
        Ok(value) => {
            tx.execute_batch("RELEASE op")?;
            Ok(Ok(value))
        }
        Err(err) => {
            tx.execute_batch("ROLLBACK TO op; RELEASE op")?;
            Ok(Err(err))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract::fixtures::prepared;

    /// A writer on a fresh database file, removed with the returned guard.
    fn writer(name: &str) -> (Writer, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("letterbox-writer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut conn = open(&dir.join("test.db")).unwrap();
        schema::migrate(&mut conn).unwrap();
        let writer = Writer {
            conn,
            count: 0,
            retention: Retention {
                max_messages: 0,
                max_age: None,
            },
            prune_pending: false,
            close_requested: None,
            events: Events::default(),
        };
        (writer, dir)
    }

    fn insert(id: &str) -> (Op, oneshot::Receiver<Result<(), StoreError>>) {
        let raw = format!("Subject: batch {id}\r\n\r\nshared words\r\n").into_bytes();
        let message = prepared(id, 0, &[], &raw);
        let (reply, answer) = oneshot::channel();
        (Op::Insert(Box::new(message), reply), answer)
    }

    fn count(writer: &Writer, sql: &str) -> i64 {
        writer.conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_failing_operation_does_not_spoil_its_batch() {
        let (mut writer, dir) = writer("isolate");
        let (first, mut first_answer) = insert("A");
        // The same ID again violates the UNIQUE constraint.
        let (duplicate, mut duplicate_answer) = insert("A");
        let (last, mut last_answer) = insert("B");
        writer.commit_batch(&mut vec![first, duplicate, last]);

        assert!(first_answer.try_recv().unwrap().is_ok());
        assert!(duplicate_answer.try_recv().unwrap().is_err());
        assert!(last_answer.try_recv().unwrap().is_ok());
        assert_eq!(writer.count, 2);
        assert_eq!(count(&writer, "SELECT count(*) FROM messages"), 2);
        // The redo left the full-text index in step with the table.
        let found = "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'shared'";
        assert_eq!(count(&writer, found), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_batch_without_failures_commits_every_operation() {
        let (mut writer, dir) = writer("fast");
        let (ops, answers): (Vec<_>, Vec<_>) = ["A", "B", "C"].into_iter().map(insert).unzip();
        writer.commit_batch(&mut { ops });
        for mut answer in answers {
            assert!(answer.try_recv().unwrap().is_ok());
        }
        assert_eq!(writer.count, 3);
        let found = "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'shared'";
        assert_eq!(count(&writer, found), 3);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Queues `n` inserts of incompressible messages of `size` bytes,
    /// commits them as one batch and returns how many succeeded.
    fn insert_batch(w: &mut Writer, n: usize, size: usize, tag: &str) -> usize {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut receivers = Vec::new();
        let mut batch = Vec::new();
        for i in 0..n {
            let mut raw = format!("Subject: {tag} {i}\r\n\r\n").into_bytes();
            raw.extend((0..size).map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                b'a' + (seed % 26) as u8
            }));
            let id = format!("{tag}-{i}");
            let message = prepared(&id, 0, &[], &raw);
            let (tx, rx) = oneshot::channel();
            batch.push(Op::Insert(Box::new(message), tx));
            receivers.push(rx);
        }
        w.commit_batch(&mut batch);
        assert!(batch.is_empty(), "every operation is answered");
        receivers
            .into_iter()
            .map(|mut rx| rx.try_recv().expect("an answer"))
            .filter(Result::is_ok)
            .count()
    }

    fn stored(w: &Writer) -> (u64, u64) {
        let count = |sql: &str| w.conn.query_row(sql, [], |r| r.get(0)).expect("counting");
        (
            count("SELECT count(*) FROM messages"),
            count("SELECT count(*) FROM message_raw"),
        )
    }

    #[test]
    fn a_full_or_read_only_database_fails_the_batch_and_recovers() {
        let (mut w, dir) = writer("full");
        assert_eq!(insert_batch(&mut w, 5, 1000, "fits"), 5);
        let pages: u64 = w
            .conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .expect("page_count");
        // The same limit SQLite reports for a full disk: SQLITE_FULL.
        w.conn
            .pragma_update(None, "max_page_count", pages + 4)
            .expect("limiting the size");
        let ok = insert_batch(&mut w, 20, 8000, "full");
        assert!(ok < 20, "the database never filled up");
        let (messages, raws) = stored(&w);
        assert_eq!(messages, 5 + ok as u64, "only answered messages are kept");
        assert_eq!(messages, raws, "no message is stored half");
        assert_eq!(w.count, messages);

        // Space comes back: writes succeed again.
        w.conn
            .pragma_update(None, "max_page_count", 1_000_000)
            .expect("lifting the limit");
        assert_eq!(insert_batch(&mut w, 3, 8000, "again"), 3);
        let (messages, raws) = stored(&w);
        assert_eq!((messages, raws), (8 + ok as u64, 8 + ok as u64));
        // A read-only database (SQLITE_READONLY) fails the same way.
        w.conn
            .pragma_update(None, "query_only", true)
            .expect("making the connection read-only");
        assert_eq!(insert_batch(&mut w, 3, 100, "read-only"), 0);
        w.conn
            .pragma_update(None, "query_only", false)
            .expect("making the connection writable");
        assert_eq!(insert_batch(&mut w, 2, 100, "writable"), 2);
        let (messages, raws) = stored(&w);
        assert_eq!((messages, raws), (10 + ok as u64, 10 + ok as u64));
        assert_eq!(w.count, messages);
        let check: String = w
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity_check");
        assert_eq!(check, "ok");
        drop(w);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
