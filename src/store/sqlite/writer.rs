//! The single writer: a thread that owns the writing connection and commits
//! queued operations in batches. A message's sender hears back only after
//! the transaction holding it has committed: written to the write-ahead
//! log, so a `250` survives Letterbox being killed (`synchronous =
//! NORMAL`); with [`Durability::PowerLoss`] also fsynced (`FULL`), so it
//! survives a power loss too.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rusqlite::{Connection, Transaction};
use tokio::sync::{mpsc, oneshot};
use tracing::error;

use super::change;
use super::index::{self, TextEntry};
use super::{relay, schema};
use crate::domain::retention::Retention;
use crate::domain::timefmt;
use crate::events::{Event, Events};
use crate::store::Change;
use crate::store::{Durability, NewMessage, StoreError};

/// Operations beyond this many wait for the next transaction.
const MAX_BATCH: usize = 256;
/// Messages pruned per transaction, so pruning never stalls ingest for long.
const PRUNE_BATCH: u64 = 1000;
/// Committed messages whose text waits to be indexed are indexed together
/// once there are this many, or this many bytes of text, or once no write
/// has come for [`INDEX_WHEN_IDLE`]. FTS5 writes one index segment per
/// transaction and merges them later: indexing in the same transaction as
/// each commit (a few messages at 10 sessions, one at 1) made many small
/// segments, and writing and merging them cost as much as tokenising.
const PENDING_MESSAGES: usize = 512;
const PENDING_BYTES: usize = 2 << 20;
const INDEX_WHEN_IDLE: Duration = Duration::from_millis(20);

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub enum Op {
    Insert(Box<NewMessage>, Reply<()>),
    /// A change to stored messages; answers how many it affected.
    Change(Change, Reply<u64>),
    /// Time has passed: messages may have grown older than `max_age`.
    Expire,
    /// Answered once every message committed before it is in the text
    /// indexes: a search asks this first while some are not (read your
    /// writes; see [`Unindexed`]).
    IndexText(Reply<()>),
    /// Acknowledged after everything queued before it is committed and the
    /// connection is closed; then the thread ends.
    Close(Reply<()>),
}

/// How many committed messages are not yet in the text indexes, shared
/// with the readers. The writer raises it before it answers an insert and
/// lowers it only after the indexing transaction has committed, so a read
/// that sees 0 finds every acknowledged message in the indexes.
pub type Unindexed = Arc<AtomicUsize>;

pub fn start(
    path: &Path,
    retention: Retention,
    durability: Durability,
    events: Events,
) -> Result<(mpsc::Sender<Op>, Unindexed), StoreError> {
    let mut conn = open(path, durability).map_err(|err| StoreError::Open {
        location: path.display().to_string(),
        reason: err.to_string(),
    })?;
    schema::migrate(&mut conn)?;
    relay::requeue_interrupted(&conn)?;
    index_after_crash(&mut conn)?;
    let count = super::read::counts(&conn)?.total;
    let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
    let unindexed = Unindexed::default();
    let writer = Writer {
        pending: Pending {
            indexed_through: index::indexed_through(&conn)?,
            entries: Vec::new(),
            bytes: 0,
            unindexed: unindexed.clone(),
            stalled: false,
        },
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
    Ok((tx, unindexed))
}

/// Messages committed but not yet indexed when Letterbox was killed are
/// indexed from their raw bytes before the store opens.
fn index_after_crash(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    let indexed = index::index_unindexed(&tx)?;
    tx.commit()?;
    if indexed > 0 {
        tracing::info!(
            messages = indexed,
            "indexed the text of messages stored just before the last stop"
        );
    }
    Ok(())
}

/// Opens the writing connection. SQLite opens files lazily, so the first
/// pragma is where an unwritable path shows up.
///
/// In WAL mode `synchronous = NORMAL` writes each commit to the log
/// without waiting for the disk: the commit is in the OS's page cache, so it
/// outlives the process (tests/faults.rs kills it mid-blast), and the fsync
/// happens at checkpoints. One fsync per commit cost 40 % of the
/// single-session ingest rate.
fn open(path: &Path, durability: Durability) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let synchronous = match durability {
        Durability::ProcessCrash => "NORMAL",
        Durability::PowerLoss => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// Committed messages whose text is not yet indexed, oldest first.
struct Pending {
    entries: Vec<TextEntry>,
    bytes: usize,
    /// Every message up to this rowid is in the text indexes, except those
    /// in `entries`; a message that gets a rowid at or below it (the
    /// newest ones were deleted, and SQLite reuses their rowids) is indexed
    /// at once, since a restart would not find it past the stored mark.
    indexed_through: i64,
    unindexed: Unindexed,
    /// Indexing failed (a full disk, say): no more tries while idle, only
    /// with the next write or search, so a lasting failure is not retried
    /// (and logged) in a loop.
    stalled: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn is_full(&self) -> bool {
        self.entries.len() >= PENDING_MESSAGES || self.bytes >= PENDING_BYTES
    }
}

struct Writer {
    conn: Connection,
    pending: Pending,
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
    /// The event, and the text to index once committed (`None`: indexed
    /// in the transaction).
    Insert(Result<(Event, Option<Box<TextEntry>>), rusqlite::Error>),
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
        // Only to wait for the next operation with a timeout.
        let clock = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a timer for the writer thread");
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            // Writes always go first. Indexing waits for a pause in them (or
            // for enough text), and pruning fills the gaps after that, one
            // bounded batch at a time, so neither holds ingest up.
            let first = if !self.pending.is_empty() && !self.pending.stalled {
                let next = async { tokio::time::timeout(INDEX_WHEN_IDLE, rx.recv()).await };
                match clock.block_on(next) {
                    Ok(Some(op)) => Some(op),
                    Ok(None) => return self.index_pending(),
                    Err(_) => None,
                }
            } else if self.prune_pending {
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
                if self.pending.is_empty() || self.pending.stalled {
                    self.prune_pending = self.prune();
                } else {
                    self.index_pending();
                }
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
            if self.pending.is_full() && !self.pending.stalled {
                self.index_pending();
            }
            self.prune_pending = true;
        }
    }

    /// Indexes the text of every pending message in one transaction.
    /// After a failure they stay pending (and `IndexText` answers with
    /// the error); the stored mark lets a restart index them in any case.
    fn index_pending(&mut self) {
        if let Err(err) = self.try_index_pending() {
            error!(%err, "indexing the text of new messages failed");
            self.pending.stalled = true;
        }
    }

    fn try_index_pending(&mut self) -> Result<(), rusqlite::Error> {
        let Some(last) = self.pending.entries.last().map(|e| e.rowid) else {
            return Ok(());
        };
        let tx = self.conn.transaction()?;
        for entry in &self.pending.entries {
            entry.insert(&tx)?;
        }
        index::set_indexed_through(&tx, last)?;
        tx.commit()?;
        self.pending.indexed_through = self.pending.indexed_through.max(last);
        self.pending.entries.clear();
        self.pending.bytes = 0;
        self.pending.unindexed.store(0, Ordering::SeqCst);
        Ok(())
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
    ///
    /// A batch of inserts alone leaves their text pending ([`Pending`]). A
    /// batch with anything else in it first indexes what is pending and
    /// then each message in it as it goes: a change selected by a search,
    /// a deletion and an `IndexText` all need the indexes complete.
    fn commit_batch(&mut self, batch: &mut Vec<Op>) {
        let index_now = batch.iter().any(|op| !matches!(op, Op::Insert(..)));
        let mut state = BatchState {
            count: self.count,
            pending: index_now.then_some(self.pending.entries.as_slice()),
            indexed_through: self.pending.indexed_through,
        };
        let result = match run_batch(&mut self.conn, batch, &mut state, false) {
            Ok(Some(applied)) => Ok(applied),
            Ok(None) => {
                state.count = self.count;
                run_batch(&mut self.conn, batch, &mut state, true)
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
                        Op::IndexText(reply) => drop(reply.send(Err(failed))),
                        Op::Close(reply) => self.close_requested = Some(reply),
                        Op::Expire => {}
                    }
                }
                return;
            }
        };
        let BatchState {
            count,
            indexed_through,
            ..
        } = state;
        self.count = count;
        self.pending.stalled = false;
        if index_now {
            self.pending.entries.clear();
            self.pending.bytes = 0;
            self.pending.unindexed.store(0, Ordering::SeqCst);
        }
        self.pending.indexed_through = indexed_through;
        for (op, applied) in batch.drain(..).zip(applied) {
            match (op, applied) {
                (Op::Insert(_, reply), Applied::Insert(result)) => {
                    let result = result.map(|(event, text)| {
                        if let Some(text) = text {
                            self.pending.bytes += text.bytes();
                            self.pending.entries.push(*text);
                            // Raised before the answer: see `Unindexed`.
                            self.pending.unindexed.fetch_add(1, Ordering::SeqCst);
                        }
                        self.events.publish(event)
                    });
                    let _ = reply.send(result.map_err(Into::into));
                }
                (Op::IndexText(reply), _) => drop(reply.send(Ok(()))),
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
        // Deleting a message removes it from the text indexes too.
        if let Err(err) = self.try_index_pending() {
            error!(%err, "indexing the text of new messages failed");
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

/// What a batch's transaction carries from one operation to the next.
struct BatchState<'a> {
    /// Messages in the store.
    count: u64,
    /// Some: index these pending texts first, then each message's text as
    /// it is inserted. None: leave the text of inserted messages pending.
    pending: Option<&'a [TextEntry]>,
    /// See [`Pending::indexed_through`]; raised as the batch indexes.
    indexed_through: i64,
}

/// Applies a batch's operations in one transaction and commits it.
/// Without `isolate`, the first failing operation abandons the transaction
/// (`Ok(None)`: redo it isolated); with it, each operation runs in its own
/// savepoint and a failure rolls back only that operation.
fn run_batch(
    conn: &mut Connection,
    batch: &[Op],
    state: &mut BatchState<'_>,
    isolate: bool,
) -> Result<Option<Vec<Applied>>, rusqlite::Error> {
    let tx = conn.transaction()?;
    let mut indexed_through = state.indexed_through;
    if let Some(pending) = state.pending {
        for entry in pending {
            entry.insert(&tx)?;
            indexed_through = indexed_through.max(entry.rowid);
        }
    }
    let mut applied = Vec::with_capacity(batch.len());
    for op in batch {
        let outcome = apply(&tx, op, state, &mut indexed_through, isolate)?;
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
    if indexed_through > state.indexed_through {
        index::set_indexed_through(&tx, indexed_through)?;
    }
    tx.commit()?;
    state.indexed_through = indexed_through;
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
    state: &mut BatchState<'_>,
    indexed_through: &mut i64,
    isolate: bool,
) -> Result<Applied, rusqlite::Error> {
    Ok(match op {
        Op::Insert(message, _) => {
            let index_now = state.pending.is_some();
            let result = maybe_savepoint(tx, isolate, |tx| {
                let rowid = change::insert(tx, message)?;
                let text = TextEntry::of(rowid, &message.parsed);
                if index_now || rowid <= *indexed_through {
                    text.insert(tx)?;
                    *indexed_through = (*indexed_through).max(rowid);
                    return Ok(None);
                }
                Ok(Some(Box::new(text)))
            })?;
            Applied::Insert(result.map(|text| {
                state.count += 1;
                (Event::New(message.summary().into()), text)
            }))
        }
        Op::Change(change, _) => Applied::Change(maybe_savepoint(tx, isolate, |tx| {
            change::apply_change(tx, change, &mut state.count)
        })?),
        Op::Close(_) | Op::Expire | Op::IndexText(_) => Applied::Other,
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
        let mut conn = open(&dir.join("test.db"), Durability::default()).unwrap();
        schema::migrate(&mut conn).unwrap();
        let writer = Writer {
            pending: Pending {
                entries: Vec::new(),
                bytes: 0,
                indexed_through: 0,
                unindexed: Unindexed::default(),
                stalled: false,
            },
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
        index_text(&mut writer).unwrap();
        let found = "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'shared'";
        assert_eq!(count(&writer, found), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn index_text(w: &mut Writer) -> Result<(), StoreError> {
        let (reply, mut answer) = oneshot::channel();
        w.commit_batch(&mut vec![Op::IndexText(reply)]);
        answer.try_recv().unwrap()
    }

    const SHARED: &str = "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'shared'";

    #[test]
    fn inserts_leave_their_text_pending_until_asked() {
        let (mut w, dir) = writer("pending");
        let (ops, answers): (Vec<_>, Vec<_>) = ["A", "B"].into_iter().map(insert).unzip();
        w.commit_batch(&mut { ops });
        for mut answer in answers {
            assert!(answer.try_recv().unwrap().is_ok());
        }
        assert_eq!(w.pending.unindexed.load(Ordering::SeqCst), 2);
        assert_eq!(count(&w, SHARED), 0);
        index_text(&mut w).unwrap();
        assert_eq!(w.pending.unindexed.load(Ordering::SeqCst), 0);
        assert_eq!(count(&w, SHARED), 2);
        assert_eq!(index::indexed_through(&w.conn).unwrap(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_change_in_the_batch_sees_every_message_indexed() {
        let (mut w, dir) = writer("change");
        let (first, _) = insert("A");
        w.commit_batch(&mut vec![first]);
        // A deletion chosen by a word, behind an insert in the same batch.
        let (second, _) = insert("B");
        let query = crate::domain::search::Query::parse("shared").unwrap();
        let (reply, mut deleted) = oneshot::channel();
        let delete = Op::Change(Change::Delete(crate::store::Selection::Query(query)), reply);
        w.commit_batch(&mut vec![second, delete]);
        assert_eq!(deleted.try_recv().unwrap().unwrap(), 2);
        assert_eq!(count(&w, "SELECT count(*) FROM messages"), 0);
        assert_eq!(count(&w, SHARED), 0);
        assert!(w.pending.is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn text_left_pending_by_a_crash_is_indexed_at_the_next_start() {
        let (mut w, dir) = writer("crash");
        let (ops, _answers): (Vec<_>, Vec<_>) = ["A", "B", "C"].into_iter().map(insert).unzip();
        w.commit_batch(&mut { ops });
        assert_eq!(count(&w, SHARED), 0);
        // Gone without indexing, as after kill -9.
        drop(w);
        let mut conn = open(&dir.join("test.db"), Durability::default()).unwrap();
        index_after_crash(&mut conn).unwrap();
        let found: i64 = conn.query_row(SHARED, [], |r| r.get(0)).unwrap();
        assert_eq!(found, 3);
        assert_eq!(index::indexed_through(&conn).unwrap(), 3);
        drop(conn);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_reused_rowid_is_indexed_with_its_commit() {
        let (mut w, dir) = writer("reuse");
        let (ops, _answers): (Vec<_>, Vec<_>) = ["A", "B"].into_iter().map(insert).unzip();
        w.commit_batch(&mut { ops });
        index_text(&mut w).unwrap();
        // The newest message goes, and SQLite hands its rowid to the next.
        let (reply, _) = oneshot::channel();
        let ids = crate::store::Selection::Ids(vec!["B".into()]);
        w.commit_batch(&mut vec![Op::Change(Change::Delete(ids), reply)]);
        let (again, _) = insert("C");
        w.commit_batch(&mut vec![again]);
        let rowid: i64 = w
            .conn
            .query_row("SELECT rowid FROM messages WHERE id = 'C'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(rowid, 2);
        assert!(
            w.pending.is_empty(),
            "indexed at once, not left for a restart"
        );
        assert_eq!(count(&w, SHARED), 2);
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
        index_text(&mut writer).unwrap();
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
