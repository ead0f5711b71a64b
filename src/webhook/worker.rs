//! The delivery worker: sleeps until a message arrives or the next retry is
//! due, posts due deliveries one after another at the configured pace, and
//! records each attempt.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{MAX_RETRY_INTERVAL, RETRY_INITIAL, Webhook, signature};
use crate::app::stats::WebhookFailure;
use crate::client::http;
use crate::domain::timefmt;
use crate::events::Event;
use crate::store::{StoreError, WebhookDelivery, WebhookNext};

/// Deliveries read from the queue at a time.
const BATCH: u64 = 32;
/// With nothing queued, look again this often anyway (a cheap read): a
/// safety net, not the way work is found.
const IDLE_CHECK: Duration = Duration::from_secs(300);
/// A claim lasts the attempt's timeout and this much more: an attempt cut
/// off by a crash is due again soon after.
const CLAIM_MARGIN: Duration = Duration::from_secs(5);
/// The most of a receiver's error answer quoted in the failure.
const QUOTED_BODY: usize = 200;

pub async fn run(
    webhook: Arc<Webhook>,
    mut incoming: broadcast::Receiver<Event>,
    shutdown: CancellationToken,
) {
    let mut pace = Pace::new(webhook.settings.rate);
    loop {
        let now = timefmt::now_millis();
        let wait = match webhook.app.webhooks_due(now, BATCH).await {
            Ok(due) if !due.is_empty() => {
                let mut claimed = Ok(());
                for delivery in due {
                    tokio::select! {
                        // A delivery cut off here keeps its claim, which
                        // runs out: it is due again after a restart.
                        _ = shutdown.cancelled() => return,
                        result = async {
                            pace.wait().await;
                            attempt(&webhook, delivery).await
                        } => claimed = result,
                    }
                    if claimed.is_err() {
                        break;
                    }
                }
                let Err(err) = claimed else {
                    continue;
                };
                // The queue reads but cannot be written: wait, rather than
                // read the same deliveries again at once.
                let Some(pause) = store_trouble(err) else {
                    return;
                };
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(pause) => continue,
                }
            }
            Ok(_) => match webhook.app.webhook_queue().await {
                Ok(queue) => Some(match queue.next_due_ms {
                    Some(due) => Duration::from_millis(due.saturating_sub(now).max(0) as u64),
                    None => IDLE_CHECK,
                }),
                Err(err) => store_trouble(err),
            },
            Err(err) => store_trouble(err),
        };
        let Some(wait) = wait else {
            return;
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            // Any change may be a new message (and one missed is found by
            // the next read anyway); a closed stream means shutdown.
            event = incoming.recv() => if let Err(RecvError::Closed) = event {
                return;
            },
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
    warn!(%err, "using the webhook queue failed; trying again in a second");
    Some(Duration::from_secs(1))
}

/// Spaces attempts at least `1 / rate` seconds apart.
struct Pace {
    interval: Option<Duration>,
    next: Instant,
}

impl Pace {
    fn new(rate: Option<f64>) -> Pace {
        Pace {
            interval: rate.map(|r| Duration::from_secs_f64(1.0 / r)),
            next: Instant::now(),
        }
    }

    async fn wait(&mut self) {
        let Some(interval) = self.interval else {
            return;
        };
        tokio::time::sleep_until(self.next).await;
        self.next = self.next.max(Instant::now()) + interval;
    }
}

/// The wait before the next attempt, after `failures` failed ones.
fn backoff(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(20);
    RETRY_INITIAL.saturating_mul(factor).min(MAX_RETRY_INTERVAL)
}

/// Claims, posts and records one delivery; the error is a failed claim.
async fn attempt(webhook: &Webhook, delivery: WebhookDelivery) -> Result<(), StoreError> {
    let settings = &webhook.settings;
    let now = timefmt::now_millis();
    let until = now.saturating_add((settings.timeout + CLAIM_MARGIN).as_millis() as i64);
    if !webhook.app.claim_webhook(delivery.id, now, until).await? {
        return Ok(());
    }
    let result = post(webhook, &delivery).await;
    let ended = timefmt::now_millis();
    let (next, failure) = match result {
        Ok(()) => {
            debug!(id = %delivery.message_id, "webhook delivered");
            (WebhookNext::Delivered, None)
        }
        Err(error) => {
            let failures = delivery.attempts + 1;
            let retry_at = ended.saturating_add(backoff(failures).as_millis() as i64);
            let deadline = delivery
                .created_ms
                .saturating_add(settings.retry_for.as_millis() as i64);
            let next = if retry_at > deadline {
                warn!(id = %delivery.message_id, %error, attempts = failures, "webhook given up");
                WebhookNext::Dropped
            } else {
                info!(id = %delivery.message_id, %error, retry_in_ms = retry_at - ended, "webhook failed for now");
                WebhookNext::RetryAt {
                    at_ms: retry_at,
                    error: error.clone(),
                }
            };
            let failure = WebhookFailure {
                at: timefmt::rfc3339_millis(ended),
                message_id: delivery.message_id.clone(),
                error,
            };
            (next, Some(failure))
        }
    };
    if let Err(err) = webhook.app.finish_webhook(delivery.id, next, failure).await {
        // Its claim runs out and it is tried again.
        warn!(%err, id = %delivery.message_id, "recording a webhook attempt failed");
    }
    Ok(())
}

/// One POST of the delivery; the error says why it did not count as
/// delivered (any answer but 2xx).
async fn post(webhook: &Webhook, delivery: &WebhookDelivery) -> Result<(), String> {
    let settings = &webhook.settings;
    let body = delivery.payload.as_bytes();
    let user_agent = concat!("Letterbox/", env!("CARGO_PKG_VERSION"));
    let mut headers: Vec<(&str, &str)> = vec![
        ("Content-Type", "application/json"),
        ("User-Agent", user_agent),
        ("Letterbox-Delivery", &delivery.message_id),
    ];
    if let Some(label) = &settings.label {
        headers.push(("Mailpit-Label", label));
        headers.push(("Letterbox-Label", label));
    }
    let signed = settings.secret.as_ref().map(|secret| {
        let now = timefmt::now_millis().div_euclid(1000);
        signature::sign(secret.as_bytes(), now, body)
    });
    if let Some(signed) = &signed {
        headers.push((signature::HEADER, signed));
    }
    let response = http::post(
        &settings.url,
        &headers,
        body,
        webhook.tls.clone(),
        settings.timeout,
    )
    .await
    .map_err(|err| err.to_string())?;
    match response.status {
        200..=299 => Ok(()),
        status @ 300..=399 => Err(format!(
            "HTTP {status}: redirect to {} not followed",
            response.location.as_deref().unwrap_or("nowhere")
        )),
        status => {
            let text = String::from_utf8_lossy(&response.body_start);
            let quoted: String = text.trim().chars().take(QUOTED_BODY).collect();
            Err(match quoted.is_empty() {
                true => format!("HTTP {status}"),
                false => format!("HTTP {status}: {quoted}"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        assert_eq!(backoff(1), s(1));
        assert_eq!(backoff(2), s(2));
        assert_eq!(backoff(5), s(16));
        assert_eq!(backoff(40), MAX_RETRY_INTERVAL);
    }

    #[tokio::test]
    async fn pace_spaces_attempts() {
        let mut pace = Pace::new(Some(100.0));
        let start = Instant::now();
        for _ in 0..6 {
            pace.wait().await;
        }
        // The first goes at once, then one every 10 ms.
        assert!(start.elapsed() >= Duration::from_millis(50));
        let mut free = Pace::new(None);
        let start = Instant::now();
        for _ in 0..1000 {
            free.wait().await;
        }
        assert!(start.elapsed() < Duration::from_millis(50));
    }
}
