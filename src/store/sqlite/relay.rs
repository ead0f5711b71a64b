//! The relay queue's rows in SQLite. Changes run in the writer's
//! transactions; reads on the pooled readers.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::store::StoreError;
use crate::store::relay::{RelayJob, RelayNext, RelayOutcome, RelayState};

/// Queues a release of message `id`; 0 if there is no such message.
pub fn queue(
    tx: &Transaction<'_>,
    id: &str,
    mail_from: &str,
    recipients: &[String],
    now_ms: i64,
) -> Result<u64, rusqlite::Error> {
    let recipients = serde_json::to_string(recipients).expect("strings serialize");
    let n = tx
        .prepare_cached(
            "INSERT INTO relay_jobs (message, mail_from, recipients, state, created_at, next_attempt_at)
             SELECT rowid, ?2, ?3, 'queued', ?4, ?4 FROM messages WHERE id = ?1",
        )?
        .execute(params![id, mail_from, recipients, now_ms])?;
    Ok(n as u64)
}

/// Claims a queued release for an attempt; 0 if it is gone or not queued.
pub fn start(tx: &Transaction<'_>, job: i64) -> Result<u64, rusqlite::Error> {
    let n = tx
        .prepare_cached(
            "UPDATE relay_jobs SET state = 'sending' WHERE id = ?1 AND state = 'queued'",
        )?
        .execute([job])?;
    Ok(n as u64)
}

/// Records an attempt and what follows from it for each group of the
/// release's recipients: the first group keeps the release's row, the
/// others get rows of their own with the same history. 0 if the release
/// is gone (its message was deleted meanwhile).
pub fn finish(
    tx: &Transaction<'_>,
    job: i64,
    outcomes: &[RelayOutcome],
) -> Result<u64, rusqlite::Error> {
    let Some((first, others)) = outcomes.split_first() else {
        return Ok(0);
    };
    let columns = |outcome: &RelayOutcome| {
        let (state, next_ms) = match outcome.next {
            RelayNext::Sent => (RelayState::Sent, None),
            RelayNext::RetryAt(ms) => (RelayState::Queued, Some(ms)),
            RelayNext::Failed => (RelayState::Failed, None),
        };
        let recipients = serde_json::to_string(&outcome.recipients).expect("strings serialize");
        let attempt = serde_json::to_string(&outcome.attempt).expect("plain data serializes");
        (state.as_str(), next_ms, recipients, attempt)
    };
    // Copies first, while the row still holds only the earlier attempts.
    for outcome in others {
        let (state, next_ms, recipients, attempt) = columns(outcome);
        tx.prepare_cached(
            "INSERT INTO relay_jobs (message, mail_from, recipients, state, created_at, next_attempt_at, attempts)
             SELECT message, mail_from, ?2, ?3, created_at, coalesce(?4, next_attempt_at),
                    json_insert(attempts, '$[#]', json(?5))
             FROM relay_jobs WHERE id = ?1",
        )?
        .execute(params![job, recipients, state, next_ms, attempt])?;
    }
    let (state, next_ms, recipients, attempt) = columns(first);
    let n = tx
        .prepare_cached(
            "UPDATE relay_jobs SET state = ?2, recipients = ?3,
                next_attempt_at = coalesce(?4, next_attempt_at),
                attempts = json_insert(attempts, '$[#]', json(?5))
             WHERE id = ?1",
        )?
        .execute(params![job, state, recipients, next_ms, attempt])?;
    Ok(n as u64)
}

/// The ID of the message a release belongs to.
pub fn message_of(tx: &Transaction<'_>, job: i64) -> Result<Option<String>, rusqlite::Error> {
    tx.prepare_cached(
        "SELECT m.id FROM relay_jobs j JOIN messages m ON m.rowid = j.message WHERE j.id = ?1",
    )?
    .query_row([job], |r| r.get(0))
    .optional()
}

/// At start: attempts cut off by a crash or shutdown are queued again.
pub fn requeue_interrupted(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.execute(
        "UPDATE relay_jobs SET state = 'queued' WHERE state = 'sending'",
        [],
    )
    .map(drop)
}

const JOB_COLUMNS: &str = "j.id, m.id, j.mail_from, j.recipients, j.state, j.created_at,
    j.next_attempt_at, j.attempts FROM relay_jobs j JOIN messages m ON m.rowid = j.message";

fn job_from_row(row: &rusqlite::Row<'_>) -> Result<RelayJob, StoreError> {
    let json = |i: usize| -> Result<String, rusqlite::Error> { row.get(i) };
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    Ok(RelayJob {
        job: row.get(0)?,
        message_id: row.get(1)?,
        mail_from: row.get(2)?,
        recipients: serde_json::from_str(&json(3)?).map_err(corrupt)?,
        state: RelayState::parse(&row.get::<_, String>(4)?)?,
        created_ms: row.get(5)?,
        next_attempt_ms: row.get(6)?,
        attempts: serde_json::from_str(&json(7)?).map_err(corrupt)?,
    })
}

fn jobs(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<RelayJob>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(job_from_row(row)?);
    }
    Ok(out)
}

/// Queued releases due at `now_ms`, the longest waiting first.
pub fn due(conn: &Connection, now_ms: i64, limit: u64) -> Result<Vec<RelayJob>, StoreError> {
    jobs(
        conn,
        &format!(
            "SELECT {JOB_COLUMNS} WHERE j.state = 'queued' AND j.next_attempt_at <= ?1
             ORDER BY j.next_attempt_at, j.id LIMIT ?2"
        ),
        params![now_ms, limit],
    )
}

/// When the next queued release is due, if any is queued.
pub fn next_due(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT min(next_attempt_at) FROM relay_jobs WHERE state = 'queued'")?
        .query_row([], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Every release of message `id`, oldest first.
pub fn for_message(conn: &Connection, id: &str) -> Result<Vec<RelayJob>, StoreError> {
    jobs(
        conn,
        &format!("SELECT {JOB_COLUMNS} WHERE m.id = ?1 ORDER BY j.id"),
        [id],
    )
}
