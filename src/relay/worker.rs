//! The queue worker: sleeps until a release is queued or the next retry is
//! due, delivers due releases one after another, and records each attempt.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Relay;
use super::client::{self, DeliveryError};
use super::settings::MAX_RETRY_INTERVAL;
use crate::events::Event;
use crate::search::Query;
use crate::store::{AttemptOutcome, RelayAttempt, RelayJob, RelayNext, StoreError};
use crate::timefmt;

/// Releases read from the queue at a time.
const BATCH: u64 = 16;
/// With nothing queued, look again this often anyway (a cheap read): a
/// safety net, not the way work is found.
const IDLE_CHECK: Duration = Duration::from_secs(300);

pub async fn run(relay: Arc<Relay>, shutdown: CancellationToken) {
    loop {
        let now = timefmt::now_millis();
        let wait = match relay.store.relay_due(now, BATCH).await {
            Ok(jobs) if !jobs.is_empty() => {
                for job in jobs {
                    tokio::select! {
                        // A delivery cut off here stays `sending` and is
                        // queued again at the next start.
                        _ = shutdown.cancelled() => return,
                        _ = attempt(&relay, job) => {}
                    }
                }
                continue;
            }
            Ok(_) => match relay.store.relay_next_due().await {
                Ok(Some(due)) => Some(Duration::from_millis(due.saturating_sub(now).max(0) as u64)),
                Ok(None) => Some(IDLE_CHECK),
                Err(err) => store_trouble(err),
            },
            Err(err) => store_trouble(err),
        };
        let Some(wait) = wait else {
            return;
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = relay.wake.notified() => {}
            _ = tokio::time::sleep(wait.min(IDLE_CHECK)) => {}
        }
    }
}

/// How long to wait after a failed read; `None` (stop) once the store is
/// closed.
fn store_trouble(err: StoreError) -> Option<Duration> {
    if matches!(err, StoreError::Closed) {
        return None;
    }
    warn!(%err, "reading the relay queue failed; trying again in a second");
    Some(Duration::from_secs(1))
}

/// The wait before the next attempt, after `failures` failed ones.
fn backoff(initial: Duration, failures: usize) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(20);
    initial.saturating_mul(factor).min(MAX_RETRY_INTERVAL)
}

async fn attempt(relay: &Relay, job: RelayJob) {
    match relay.store.start_relay(job.job).await {
        Ok(true) => {}
        Ok(false) => return, // deleted with its message meanwhile
        Err(err) => {
            warn!(%err, job = job.job, "claiming a release failed");
            return;
        }
    }
    let result = match relay.store.raw(job.message_id.clone()).await {
        Ok(Some(raw)) => {
            client::deliver(&relay.upstream, &job.mail_from, &job.recipients, &raw).await
        }
        Ok(None) => return, // the message and its release are gone
        Err(err) => Err(DeliveryError::Temporary(format!(
            "reading the message: {err}"
        ))),
    };
    let now = timefmt::now_millis();
    let failures = job.attempts.len() + 1;
    let (outcome, reply, next) = match result {
        Ok(reply) => (AttemptOutcome::Sent, reply, RelayNext::Sent),
        Err(DeliveryError::Permanent(reply)) => {
            (AttemptOutcome::Permanent, reply, RelayNext::Failed)
        }
        Err(DeliveryError::Temporary(reply)) => {
            let retry_at = now
                .saturating_add(backoff(relay.settings.retry_initial, failures).as_millis() as i64);
            let deadline = job
                .created_ms
                .saturating_add(relay.settings.lifetime.as_millis() as i64);
            let next = if retry_at > deadline {
                RelayNext::Failed
            } else {
                RelayNext::RetryAt(retry_at)
            };
            (AttemptOutcome::Temporary, reply, next)
        }
    };
    match next {
        RelayNext::Sent => {
            relay.stats.relay_sent();
            info!(id = %job.message_id, to = ?job.recipients, %reply, "relayed");
        }
        RelayNext::RetryAt(at) => {
            relay.stats.relay_retried();
            info!(id = %job.message_id, %reply, retry_in_ms = at - now, "relay failed for now");
        }
        RelayNext::Failed => {
            relay.stats.relay_failed();
            warn!(id = %job.message_id, %reply, attempts = failures, "relay failed for good");
        }
    }
    let attempt = RelayAttempt {
        at: timefmt::rfc3339_millis(now),
        outcome,
        reply,
    };
    if let Err(err) = relay.store.finish_relay(job.job, attempt, next).await {
        // Left `sending`: queued again at the next start.
        warn!(%err, job = job.job, "recording a relay attempt failed");
    }
}

/// `--relay-matching`: queues every new message that matches `query` for
/// its envelope recipients that the allowlist lets through.
pub async fn auto_relay(
    relay: Arc<Relay>,
    query: Query,
    mut incoming: broadcast::Receiver<Event>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            event = incoming.recv() => event,
        };
        let summary = match event {
            Ok(Event::New(summary)) => summary,
            Ok(_) => continue,
            Err(RecvError::Lagged(n)) => {
                warn!(
                    missed = n,
                    "auto-relay fell behind; some new messages were not checked"
                );
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let id = summary.id.clone();
        if let Err(err) = auto_relay_one(&relay, &query, id.clone()).await {
            warn!(%id, %err, "auto-relay failed");
        }
    }
}

async fn auto_relay_one(relay: &Relay, query: &Query, id: String) -> Result<(), StoreError> {
    if !relay.store.matches(query.clone(), id.clone()).await? {
        return Ok(());
    }
    let Some(message) = relay.store.message(id.clone()).await? else {
        return Ok(());
    };
    let allowed = |r: &&String| relay.settings.allowed.as_ref().is_none_or(|a| a.allows(r));
    let recipients: Vec<String> = message
        .envelope
        .rcpt_to
        .iter()
        .filter(allowed)
        .cloned()
        .collect();
    if recipients.is_empty() {
        info!(%id, "matches --relay-matching, but no recipient is allowed");
        return Ok(());
    }
    match relay.queue(&message, recipients).await {
        Ok(()) | Err(super::ReleaseError::NotFound(_)) => Ok(()),
        Err(super::ReleaseError::Store(err)) => Err(err),
        Err(other) => {
            warn!(%id, %other, "auto-relay refused");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(30), 1), s(30));
        assert_eq!(backoff(s(30), 2), s(60));
        assert_eq!(backoff(s(30), 4), s(240));
        assert_eq!(backoff(s(30), 40), MAX_RETRY_INTERVAL);
    }
}
