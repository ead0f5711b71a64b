//! The webhook queue's rows in PostgreSQL. A delivery is queued in the
//! transaction of its message; a claim moves its next attempt past the
//! attempt's time limit, so of the nodes running the webhook worker one
//! sends it, and a delivery cut off by a crash comes due again by itself.

use tokio_postgres::{GenericClient, Transaction};

use crate::store::{StoreError, WebhookDelivery, WebhookNext, WebhookQueueStats};

type Result<T> = std::result::Result<T, StoreError>;

/// Queues a delivery, due at once: `$1` the message's ID, `$2` the
/// payload, `$3` when it was received.
pub const QUEUE: &str = "INSERT INTO webhook_deliveries
    (message_id, payload, created_at, next_attempt_at) VALUES ($1, $2, $3, $3)";

/// Claims a due delivery until `until_ms`; 0 if it is gone, not due,
/// or claimed by another node.
pub async fn claim(
    tx: &Transaction<'_>,
    id: i64,
    now_ms: i64,
    until_ms: i64,
) -> std::result::Result<u64, tokio_postgres::Error> {
    tx.execute(
        "UPDATE webhook_deliveries SET next_attempt_at = $3
         WHERE id = $1 AND next_attempt_at <= $2",
        &[&id, &now_ms, &until_ms],
    )
    .await
}

/// Records an attempt; 0 if the delivery is gone.
pub async fn finish(
    tx: &Transaction<'_>,
    id: i64,
    next: &WebhookNext,
) -> std::result::Result<u64, tokio_postgres::Error> {
    match next {
        WebhookNext::Delivered | WebhookNext::Dropped => {
            tx.execute("DELETE FROM webhook_deliveries WHERE id = $1", &[&id])
                .await
        }
        WebhookNext::RetryAt { at_ms, error } => {
            tx.execute(
                "UPDATE webhook_deliveries
                 SET next_attempt_at = $2, attempts = attempts + 1, last_error = $3
                 WHERE id = $1",
                &[&id, at_ms, error],
            )
            .await
        }
    }
}

/// Deliveries due at `now_ms`, the longest waiting first.
pub async fn due(
    client: &impl GenericClient,
    now_ms: i64,
    limit: u64,
) -> Result<Vec<WebhookDelivery>> {
    let limit = limit.min(i64::MAX as u64) as i64;
    let rows = client
        .query(
            "SELECT id, message_id, payload, created_at, next_attempt_at, attempts, last_error
             FROM webhook_deliveries WHERE next_attempt_at <= $1
             ORDER BY next_attempt_at, id LIMIT $2",
            &[&now_ms, &limit],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(WebhookDelivery {
                id: r.try_get(0)?,
                message_id: r.try_get(1)?,
                payload: r.try_get(2)?,
                created_ms: r.try_get(3)?,
                next_attempt_ms: r.try_get(4)?,
                attempts: r.try_get::<_, i32>(5)?.max(0) as u32,
                last_error: r.try_get(6)?,
            })
        })
        .collect()
}

pub async fn stats(client: &impl GenericClient) -> Result<WebhookQueueStats> {
    let row = client
        .query_one(
            "SELECT count(*), min(next_attempt_at) FROM webhook_deliveries",
            &[],
        )
        .await?;
    Ok(WebhookQueueStats {
        queued: row.try_get::<_, i64>(0)? as u64,
        next_due_ms: row.try_get(1)?,
    })
}
