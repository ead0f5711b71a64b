//! The single writer: a thread that owns the writing connection and commits
//! queued operations in batches. A message's sender hears back only after
//! the transaction holding it has committed (`synchronous = FULL`, so a
//! `250` survives a crash or power loss).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::{mpsc, oneshot};
use tracing::error;

use super::index;
use super::query::Condition;
use super::relay::RelayOutcome;
use super::{NewMessage, Selection, StoreError, relay, schema};
use crate::domain::timefmt;
use crate::events::{Event, Events};

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

/// What the writer keeps: at most `max_messages` (0 = no limit) messages,
/// none older than `max_age`.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_messages: u64,
    pub max_age: Option<Duration>,
}

/// Changes to messages already stored.
#[derive(Debug, Clone)]
pub enum Change {
    Delete(Selection),
    SetRead(Selection, bool),
    /// Replace the tags of these messages.
    SetTags {
        ids: Vec<String>,
        tags: Vec<String>,
    },
    RenameTag {
        from: String,
        to: String,
    },
    DeleteTag(String),
    /// Queue a release of message `id` to the relay (1 if it exists).
    QueueRelay {
        id: String,
        mail_from: String,
        recipients: Vec<String>,
        now_ms: i64,
    },
    /// Claim a queued release for an attempt (1 if it was queued).
    StartRelay(i64),
    /// Record an attempt of a release and what follows from it for each
    /// group of its recipients.
    FinishRelay {
        job: i64,
        outcomes: Vec<RelayOutcome>,
    },
}

pub fn start(
    path: &Path,
    retention: Retention,
    events: Events,
) -> Result<mpsc::Sender<Op>, StoreError> {
    let mut conn = open(path).map_err(|source| StoreError::Open {
        path: path.display().to_string(),
        source,
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
        let Retention {
            max_messages,
            max_age,
        } = self.retention;
        let excess = if max_messages > 0 {
            self.count.saturating_sub(max_messages)
        } else {
            0
        };
        if excess == 0 && max_age.is_none() {
            return false;
        }
        let cutoff_ms = max_age.map(|age| {
            timefmt::now_millis().saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX))
        });
        let result = (|| -> Result<Vec<String>, rusqlite::Error> {
            let tx = self.conn.transaction()?;
            let doomed: Vec<(i64, String)> = {
                // Oldest first: everything over the count, then whatever is
                // still too old. Arrival order is rowid order, so the scan
                // stops at the first message young enough to keep.
                let mut stmt = tx.prepare_cached(
                    "SELECT rowid, id, received_at FROM messages ORDER BY rowid LIMIT ?1",
                )?;
                let rows = stmt.query_map([PRUNE_BATCH], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?;
                let mut doomed = Vec::new();
                for (n, row) in rows.enumerate() {
                    let (rowid, id, received_at) = row?;
                    let over_count = (n as u64) < excess;
                    let expired = cutoff_ms.is_some_and(|cutoff| received_at < cutoff);
                    if !(over_count || expired) {
                        break;
                    }
                    doomed.push((rowid, id));
                }
                doomed
            };
            for (rowid, _) in &doomed {
                delete_row(&tx, *rowid)?;
            }
            delete_unused_tags(&tx)?;
            tx.commit()?;
            Ok(doomed.into_iter().map(|(_, id)| id).collect())
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
            let result = maybe_savepoint(tx, isolate, |tx| insert(tx, message))?;
            Applied::Insert(result.map(|()| {
                *count += 1;
                Event::New(message.summary().into())
            }))
        }
        Op::Change(change, _) => Applied::Change(maybe_savepoint(tx, isolate, |tx| {
            apply_change(tx, change, count)
        })?),
        Op::Close(_) | Op::Expire => Applied::Other,
    })
}

/// Applies a change; returns how many messages it touched and the event
/// to publish once committed.
fn apply_change(
    tx: &Transaction<'_>,
    change: &Change,
    count: &mut u64,
) -> Result<(u64, Option<Event>), rusqlite::Error> {
    let ids = |rows: &[(i64, String)]| -> Arc<[String]> {
        rows.iter().map(|(_, id)| id.clone()).collect()
    };
    Ok(match change {
        Change::Delete(selection) => {
            let rows = select(tx, selection)?;
            if matches!(selection, Selection::All) {
                tx.execute_batch(
                    "DELETE FROM messages_fts; DELETE FROM messages_fields; DELETE FROM message_parts; DELETE FROM message_raw;
                     DELETE FROM message_tags; DELETE FROM tags; DELETE FROM relay_jobs;
                     DELETE FROM messages;",
                )?;
            } else {
                for (rowid, _) in &rows {
                    delete_row(tx, *rowid)?;
                }
                delete_unused_tags(tx)?;
            }
            let n = rows.len() as u64;
            *count = count.saturating_sub(n);
            let event = match selection {
                Selection::All => Event::Cleared,
                _ => Event::Deleted(ids(&rows)),
            };
            (n, (n > 0).then_some(event))
        }
        Change::SetRead(selection, read) => {
            let rows = select(tx, selection)?;
            let mut changed = Vec::new();
            let mut stmt =
                tx.prepare_cached("UPDATE messages SET read = ?1 WHERE rowid = ?2 AND read != ?1")?;
            for row in &rows {
                if stmt.execute(params![read, row.0])? > 0 {
                    changed.push(row.clone());
                }
            }
            let n = changed.len() as u64;
            // Messages named by ID are each announced, changed or not, as
            // Mailpit does (its clients wait for the `update`).
            let told = match selection {
                Selection::Ids(_) => &rows,
                _ => &changed,
            };
            let event = Event::ReadChanged {
                ids: ids(told),
                read: *read,
            };
            (n, (!told.is_empty()).then_some(event))
        }
        Change::SetTags { ids: wanted, tags } => {
            let rows = select(tx, &Selection::Ids(wanted.clone()))?;
            for (rowid, _) in &rows {
                tx.prepare_cached("DELETE FROM message_tags WHERE message = ?1")?
                    .execute([rowid])?;
                tag_message(tx, *rowid, tags)?;
            }
            delete_unused_tags(tx)?;
            let n = rows.len() as u64;
            (n, (n > 0).then_some(tags_changed(tx, &rows)?))
        }
        Change::RenameTag { from, to } => {
            let rows = tagged(tx, from)?;
            if rows.is_empty() {
                return Ok((0, None));
            }
            let target = tag_id(tx, to)?;
            let old: i64 =
                tx.query_row("SELECT id FROM tags WHERE name = ?1", [from], |r| r.get(0))?;
            if target != old {
                // Renaming onto an existing tag merges the two.
                tx.execute(
                    "UPDATE OR IGNORE message_tags SET tag = ?1 WHERE tag = ?2",
                    params![target, old],
                )?;
                tx.execute("DELETE FROM message_tags WHERE tag = ?1", [old])?;
                tx.execute("DELETE FROM tags WHERE id = ?1", [old])?;
            } else {
                // Only the letter case changes.
                tx.execute("UPDATE tags SET name = ?1 WHERE id = ?2", params![to, old])?;
            }
            (rows.len() as u64, Some(tags_changed(tx, &rows)?))
        }
        Change::QueueRelay {
            id,
            mail_from,
            recipients,
            now_ms,
        } => {
            let n = relay::queue(tx, id, mail_from, recipients, *now_ms)?;
            (n, (n > 0).then(|| Event::RelayChanged(id.clone())))
        }
        Change::StartRelay(job) => {
            let n = relay::start(tx, *job)?;
            (n, relay_event(tx, n, *job)?)
        }
        Change::FinishRelay { job, outcomes } => {
            let n = relay::finish(tx, *job, outcomes)?;
            (n, relay_event(tx, n, *job)?)
        }
        Change::DeleteTag(name) => {
            let rows = tagged(tx, name)?;
            tx.execute(
                "DELETE FROM message_tags WHERE tag IN (SELECT id FROM tags WHERE name = ?1)",
                [name],
            )?;
            tx.execute("DELETE FROM tags WHERE name = ?1", [name])?;
            let n = rows.len() as u64;
            (n, (n > 0).then_some(tags_changed(tx, &rows)?))
        }
    })
}

/// The event for a change to release `job`, if it changed anything.
fn relay_event(tx: &Transaction<'_>, n: u64, job: i64) -> Result<Option<Event>, rusqlite::Error> {
    if n == 0 {
        return Ok(None);
    }
    Ok(relay::message_of(tx, job)?.map(Event::RelayChanged))
}

/// The (rowid, id) of every message in the selection, oldest first.
fn select(
    tx: &Transaction<'_>,
    selection: &Selection,
) -> Result<Vec<(i64, String)>, rusqlite::Error> {
    let row = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
    match selection {
        Selection::All => tx
            .prepare("SELECT rowid, id FROM messages ORDER BY rowid")?
            .query_map([], row)?
            .collect(),
        Selection::Ids(ids) => {
            let mut stmt = tx.prepare_cached("SELECT rowid, id FROM messages WHERE id = ?1")?;
            let mut rows = Vec::new();
            for id in ids {
                if let Some(found) = stmt.query_row([id], row).optional()? {
                    rows.push(found);
                }
            }
            Ok(rows)
        }
        Selection::Query(query) => {
            let condition = Condition::for_query(query);
            let sql = format!(
                "SELECT m.rowid, m.id FROM messages m WHERE {} ORDER BY m.rowid",
                condition.sql
            );
            tx.prepare(&sql)?
                .query_map(rusqlite::params_from_iter(condition.params), row)?
                .collect()
        }
    }
}

fn tagged(tx: &Transaction<'_>, name: &str) -> Result<Vec<(i64, String)>, rusqlite::Error> {
    tx.prepare_cached(
        "SELECT m.rowid, m.id FROM messages m JOIN message_tags mt ON mt.message = m.rowid
         JOIN tags t ON t.id = mt.tag WHERE t.name = ?1 ORDER BY m.rowid",
    )?
    .query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

/// The event for a tag change: each message with the tags it has now.
fn tags_changed(tx: &Transaction<'_>, rows: &[(i64, String)]) -> Result<Event, rusqlite::Error> {
    let mut stmt = tx.prepare_cached(
        "SELECT t.name FROM message_tags mt JOIN tags t ON t.id = mt.tag
         WHERE mt.message = ?1 ORDER BY t.name",
    )?;
    let mut changed = Vec::with_capacity(rows.len());
    for (rowid, id) in rows {
        let tags = stmt
            .query_map([rowid], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        changed.push((id.clone(), tags));
    }
    Ok(Event::TagsChanged(changed.into()))
}

/// The id of a tag, created if new.
fn tag_id(tx: &Transaction<'_>, name: &str) -> Result<i64, rusqlite::Error> {
    tx.prepare_cached("INSERT INTO tags (name) VALUES (?1) ON CONFLICT (name) DO NOTHING")?
        .execute([name])?;
    tx.prepare_cached("SELECT id FROM tags WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
}

fn tag_message(tx: &Transaction<'_>, rowid: i64, tags: &[String]) -> Result<(), rusqlite::Error> {
    for tag in tags {
        let tag = tag_id(tx, tag)?;
        tx.prepare_cached("INSERT OR IGNORE INTO message_tags (message, tag) VALUES (?1, ?2)")?
            .execute([rowid, tag])?;
    }
    Ok(())
}

fn delete_unused_tags(tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
    tx.execute_batch("DELETE FROM tags WHERE id NOT IN (SELECT tag FROM message_tags)")
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

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializing plain data cannot fail")
}

fn insert(tx: &Transaction<'_>, m: &NewMessage) -> Result<(), rusqlite::Error> {
    let p = &m.parsed;
    tx.prepare_cached(
        "INSERT INTO messages (id, received_at, message_id, subject, from_addr, to_addrs, cc_addrs,
            bcc_addrs, reply_to_addrs, date, size, attachments, inline, snippet, envelope, problems,
            inbox)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?
    .execute(params![
        m.id,
        m.received_at_ms,
        p.message_id,
        p.subject,
        p.from.as_ref().map(json),
        json(&p.to),
        json(&p.cc),
        json(&p.bcc),
        json(&p.reply_to),
        p.date,
        m.size,
        p.attachments,
        p.inline,
        p.snippet,
        json(&m.envelope),
        json(&p.problems),
        m.inbox.as_str(),
    ])?;
    let rowid = tx.last_insert_rowid();
    tx.prepare_cached("INSERT INTO message_raw (rowid, data) VALUES (?1, ?2)")?
        .execute(params![rowid, m.raw_zstd])?;
    tag_message(tx, rowid, &p.tags)?;
    index::index(tx, rowid, p)
}

fn delete_row(tx: &Transaction<'_>, rowid: i64) -> Result<(), rusqlite::Error> {
    for sql in [
        "DELETE FROM messages_fts WHERE rowid = ?1",
        "DELETE FROM messages_fields WHERE rowid = ?1",
        "DELETE FROM message_parts WHERE message = ?1",
        "DELETE FROM message_tags WHERE message = ?1",
        "DELETE FROM message_raw WHERE rowid = ?1",
        "DELETE FROM relay_jobs WHERE message = ?1",
        "DELETE FROM messages WHERE rowid = ?1",
    ] {
        tx.prepare_cached(sql)?.execute([rowid])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Envelope;

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
        let inboxes = crate::domain::inbox::Inboxes::default();
        let message = crate::app::ingest::prepare(id.into(), 0, Envelope::default(), raw, &inboxes);
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
            let inboxes = crate::domain::inbox::Inboxes::default();
            let message = crate::app::ingest::prepare(id, 0, Envelope::default(), raw, &inboxes);
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
