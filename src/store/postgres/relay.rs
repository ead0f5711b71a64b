//! The relay queue's rows in PostgreSQL. A release is claimed with
//! `FOR UPDATE SKIP LOCKED`, so of the nodes running the relay worker
//! exactly one sends it, and the others move on without waiting.

use tokio_postgres::{GenericClient, Row, Transaction};

use crate::store::StoreError;
use crate::store::relay::{RelayJob, RelayNext, RelayOutcome, RelayState};

type Result<T> = std::result::Result<T, tokio_postgres::Error>;

/// A release still `sending` this long after it was claimed was cut off
/// (its node crashed or stopped) and is queued again.
pub const ABANDONED_AFTER_MS: i64 = 10 * 60 * 1000;

pub async fn queue(
    tx: &Transaction<'_>,
    id: &str,
    mail_from: &str,
    recipients: &[String],
    now_ms: i64,
) -> Result<u64> {
    let recipients = serde_json::to_string(recipients).expect("strings serialize");
    tx.execute(
        "INSERT INTO relay_jobs (message, mail_from, recipients, state, created_at, next_attempt_at)
         SELECT rowid, $2, $3, 'queued', $4, $4 FROM messages WHERE id = $1",
        &[&id, &mail_from, &recipients, &now_ms],
    )
    .await
}

/// Claims a queued release; 0 if it is gone, not queued, or being claimed
/// by another node right now.
pub async fn start(tx: &Transaction<'_>, job: i64) -> Result<u64> {
    let now = crate::domain::timefmt::now_millis();
    tx.execute(
        "UPDATE relay_jobs SET state = 'sending', claimed_at = $2
         WHERE id = (SELECT id FROM relay_jobs WHERE id = $1 AND state = 'queued'
                     FOR UPDATE SKIP LOCKED)",
        &[&job, &now],
    )
    .await
}

/// Records an attempt and what follows for each group of recipients: the
/// first group keeps the row, the others get rows of their own with the
/// same history. 0 if the release is gone.
pub async fn finish(tx: &Transaction<'_>, job: i64, outcomes: &[RelayOutcome]) -> Result<u64> {
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
    for outcome in others {
        let (state, next_ms, recipients, attempt) = columns(outcome);
        tx.execute(
            "INSERT INTO relay_jobs (message, mail_from, recipients, state, created_at,
                next_attempt_at, attempts)
             SELECT message, mail_from, $2, $3, created_at, coalesce($4, next_attempt_at),
                attempts || jsonb_build_array($5::text::jsonb)
             FROM relay_jobs WHERE id = $1",
            &[&job, &recipients, &state, &next_ms, &attempt],
        )
        .await?;
    }
    let (state, next_ms, recipients, attempt) = columns(first);
    tx.execute(
        "UPDATE relay_jobs SET state = $2, recipients = $3,
            next_attempt_at = coalesce($4, next_attempt_at),
            attempts = attempts || jsonb_build_array($5::text::jsonb)
         WHERE id = $1",
        &[&job, &state, &recipients, &next_ms, &attempt],
    )
    .await
}

pub async fn message_of(tx: &Transaction<'_>, job: i64) -> Result<Option<String>> {
    Ok(tx
        .query_opt(
            "SELECT m.id FROM relay_jobs j JOIN messages m ON m.rowid = j.message WHERE j.id = $1",
            &[&job],
        )
        .await?
        .map(|r| r.get(0)))
}

/// Releases cut off while sending (their node went away) are queued again.
pub async fn requeue_abandoned(client: &impl GenericClient, now_ms: i64) -> Result<u64> {
    client
        .execute(
            "UPDATE relay_jobs SET state = 'queued'
             WHERE state = 'sending' AND claimed_at < $1",
            &[&(now_ms - ABANDONED_AFTER_MS)],
        )
        .await
}

const JOB_COLUMNS: &str = "j.id, m.id, j.mail_from, j.recipients, j.state, j.created_at,
    j.next_attempt_at, j.attempts::text FROM relay_jobs j JOIN messages m ON m.rowid = j.message";

fn job_from_row(row: &Row) -> std::result::Result<RelayJob, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    Ok(RelayJob {
        job: row.try_get(0)?,
        message_id: row.try_get(1)?,
        mail_from: row.try_get(2)?,
        recipients: serde_json::from_str(row.try_get(3)?).map_err(corrupt)?,
        state: RelayState::parse(row.try_get(4)?)?,
        created_ms: row.try_get(5)?,
        next_attempt_ms: row.try_get(6)?,
        attempts: serde_json::from_str(row.try_get(7)?).map_err(corrupt)?,
    })
}

fn jobs(rows: Vec<Row>) -> std::result::Result<Vec<RelayJob>, StoreError> {
    rows.iter().map(job_from_row).collect()
}

pub async fn due(
    client: &impl GenericClient,
    now_ms: i64,
    limit: u64,
) -> std::result::Result<Vec<RelayJob>, StoreError> {
    let limit = limit.min(i64::MAX as u64) as i64;
    jobs(
        client
            .query(
                &format!(
                    "SELECT {JOB_COLUMNS} WHERE j.state = 'queued' AND j.next_attempt_at <= $1
                     ORDER BY j.next_attempt_at, j.id LIMIT $2"
                ),
                &[&now_ms, &limit],
            )
            .await?,
    )
}

pub async fn next_due(client: &impl GenericClient) -> std::result::Result<Option<i64>, StoreError> {
    Ok(client
        .query_one(
            "SELECT min(next_attempt_at) FROM relay_jobs WHERE state = 'queued'",
            &[],
        )
        .await?
        .try_get(0)?)
}

pub async fn for_message(
    client: &impl GenericClient,
    id: &str,
) -> std::result::Result<Vec<RelayJob>, StoreError> {
    jobs(
        client
            .query(
                &format!("SELECT {JOB_COLUMNS} WHERE m.id = $1 ORDER BY j.id"),
                &[&id],
            )
            .await?,
    )
}
