//! The webhook queue's rows in SQLite. Changes run in the writer's
//! transactions; reads on the pooled readers.

use rusqlite::{Connection, Transaction, params};

use crate::store::{NewMessage, StoreError, WebhookDelivery, WebhookNext, WebhookQueueStats};

/// Queues the delivery announcing `message`, if it has one, due at once.
pub fn queue(tx: &Transaction<'_>, message: &NewMessage) -> Result<(), rusqlite::Error> {
    let Some(payload) = &message.webhook else {
        return Ok(());
    };
    tx.prepare_cached(
        "INSERT INTO webhook_deliveries (message_id, payload, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?3)",
    )?
    .execute(params![message.id, payload, message.received_at_ms])?;
    Ok(())
}

/// Claims a due delivery until `until_ms`; 0 if it is gone or not due.
pub fn claim(
    tx: &Transaction<'_>,
    id: i64,
    now_ms: i64,
    until_ms: i64,
) -> Result<u64, rusqlite::Error> {
    let n = tx
        .prepare_cached(
            "UPDATE webhook_deliveries SET next_attempt_at = ?3
             WHERE id = ?1 AND next_attempt_at <= ?2",
        )?
        .execute(params![id, now_ms, until_ms])?;
    Ok(n as u64)
}

/// Records an attempt; 0 if the delivery is gone.
pub fn finish(tx: &Transaction<'_>, id: i64, next: &WebhookNext) -> Result<u64, rusqlite::Error> {
    let n = match next {
        WebhookNext::Delivered | WebhookNext::Dropped => tx
            .prepare_cached("DELETE FROM webhook_deliveries WHERE id = ?1")?
            .execute([id])?,
        WebhookNext::RetryAt { at_ms, error } => tx
            .prepare_cached(
                "UPDATE webhook_deliveries
                 SET next_attempt_at = ?2, attempts = attempts + 1, last_error = ?3
                 WHERE id = ?1",
            )?
            .execute(params![id, at_ms, error])?,
    };
    Ok(n as u64)
}

/// Deliveries due at `now_ms`, the longest waiting first.
pub fn due(conn: &Connection, now_ms: i64, limit: u64) -> Result<Vec<WebhookDelivery>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, message_id, payload, created_at, next_attempt_at, attempts, last_error
         FROM webhook_deliveries WHERE next_attempt_at <= ?1
         ORDER BY next_attempt_at, id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now_ms, limit], |r| {
        Ok(WebhookDelivery {
            id: r.get(0)?,
            message_id: r.get(1)?,
            payload: r.get(2)?,
            created_ms: r.get(3)?,
            next_attempt_ms: r.get(4)?,
            attempts: r.get(5)?,
            last_error: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn stats(conn: &Connection) -> Result<WebhookQueueStats, StoreError> {
    Ok(conn
        .prepare_cached("SELECT count(*), min(next_attempt_at) FROM webhook_deliveries")?
        .query_row([], |r| {
            Ok(WebhookQueueStats {
                queued: r.get(0)?,
                next_due_ms: r.get(1)?,
            })
        })?)
}
