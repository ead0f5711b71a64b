//! The queue worker: sleeps until a release is queued or the next retry is
//! due, delivers due releases one after another, and records each attempt.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Relay;
use super::client::{self, Delivery, DeliveryError, Refusal};
use super::settings::MAX_RETRY_INTERVAL;
use crate::domain::message::without_header;
use crate::domain::search::Query;
use crate::domain::timefmt;
use crate::events::Event;
use crate::smtp::address::Mailbox;
use crate::store::{AttemptOutcome, RelayAttempt, RelayJob, RelayNext, RelayOutcome, StoreError};

/// `Received:` headers past which a message is not relayed: it is in a
/// loop (Exim's default; Postfix allows 50).
pub const MAX_HOPS: usize = 30;

/// Releases read from the queue at a time.
const BATCH: u64 = 16;
/// With nothing queued, look again this often anyway (a cheap read): a
/// safety net, not the way work is found.
const IDLE_CHECK: Duration = Duration::from_secs(300);

pub async fn run(relay: Arc<Relay>, shutdown: CancellationToken) {
    loop {
        let now = timefmt::now_millis();
        let wait = match relay.app.releases_due(now, BATCH).await {
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
            Ok(_) => match relay.app.next_release_due().await {
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
    match relay.app.claim_release(job.job).await {
        Ok(true) => {}
        Ok(false) => return, // deleted with its message meanwhile
        Err(err) => {
            warn!(%err, job = job.job, "claiming a release failed");
            return;
        }
    }
    let result = match relay.app.raw(job.message_id.clone()).await {
        Ok(Some(raw)) => match received_headers(&raw) {
            hops if hops >= MAX_HOPS => Err(DeliveryError::Permanent(format!(
                "554 5.4.6 Routing loop: the message has passed {hops} servers (Received: headers); at most {MAX_HOPS} are relayed"
            ))),
            _ => {
                // As MTAs do (RFC 5322 §3.6.3): blind copies stay blind
                // beyond Letterbox, whatever header `/send` or the app wrote.
                let raw = without_header(&raw, "Bcc");
                let data = with_trace_header(&raw, &relay.upstream.helo_name, &job.message_id);
                client::deliver(&relay.upstream, &job.mail_from, &job.recipients, &data).await
            }
        },
        Ok(None) => return, // the message and its release are gone
        Err(err) => Err(DeliveryError::Temporary(format!(
            "reading the message: {err}"
        ))),
    };
    let now = timefmt::now_millis();
    let failures = job.attempts.len() + 1;
    // A temporary failure is retried until the release's lifetime is over.
    let retry_at =
        now.saturating_add(backoff(relay.settings.retry_initial, failures).as_millis() as i64);
    let deadline = job
        .created_ms
        .saturating_add(relay.settings.lifetime.as_millis() as i64);
    let outcomes: Vec<RelayOutcome> = groups(&job.recipients, result)
        .into_iter()
        .map(|(recipients, outcome, reply)| {
            let next = match outcome {
                AttemptOutcome::Sent => RelayNext::Sent,
                AttemptOutcome::Permanent => RelayNext::Failed,
                AttemptOutcome::Temporary if retry_at > deadline => RelayNext::Failed,
                AttemptOutcome::Temporary => RelayNext::RetryAt(retry_at),
            };
            log_outcome(&job, &recipients, &reply, next, now, failures);
            RelayOutcome {
                recipients,
                attempt: RelayAttempt {
                    at: timefmt::rfc3339_millis(now),
                    outcome,
                    reply,
                },
                next,
            }
        })
        .collect();
    if let Err(err) = relay.app.finish_release(job.job, outcomes).await {
        // Left `sending`: queued again at the next start.
        warn!(%err, job = job.job, "recording a relay attempt failed");
    }
}

/// The `Received:` headers in the header section of `raw`.
fn received_headers(raw: &[u8]) -> usize {
    raw.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty())
        .filter(|line| line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"received:"))
        .count()
}

/// `raw` with the trace header a relaying server adds on top, so that a
/// loop through other servers shows in the hop count.
fn with_trace_header(raw: &[u8], hostname: &str, id: &str) -> Vec<u8> {
    let date = timefmt::rfc2822(timefmt::now_millis());
    let header = format!("Received: by {hostname} (Letterbox relay) id {id};\r\n\t{date}\r\n");
    [header.as_bytes(), raw].concat()
}

/// The recipients grouped by what the attempt did for them, each group
/// with the reply to record: those the message went to, those refused for
/// now, those refused for good. An error concerns them all.
fn groups(
    recipients: &[String],
    result: Result<Delivery, DeliveryError>,
) -> Vec<(Vec<String>, AttemptOutcome, String)> {
    let delivery = match result {
        Ok(delivery) => delivery,
        Err(err) => return vec![(recipients.to_vec(), outcome_of(&err), err.to_string())],
    };
    let mut groups = Vec::new();
    if !delivery.sent.is_empty() {
        groups.push((delivery.sent, AttemptOutcome::Sent, delivery.reply));
    }
    let (permanent, temporary): (Vec<Refusal>, Vec<Refusal>) = delivery
        .refused
        .into_iter()
        .partition(|r| outcome_of(&r.error) == AttemptOutcome::Permanent);
    for (refused, outcome) in [
        (temporary, AttemptOutcome::Temporary),
        (permanent, AttemptOutcome::Permanent),
    ] {
        if refused.is_empty() {
            continue;
        }
        let reply = refused
            .iter()
            .map(|r| r.error.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        groups.push((
            refused.into_iter().map(|r| r.recipient).collect(),
            outcome,
            reply,
        ));
    }
    groups
}

fn outcome_of(err: &DeliveryError) -> AttemptOutcome {
    match err {
        DeliveryError::Temporary(_) => AttemptOutcome::Temporary,
        DeliveryError::Permanent(_) => AttemptOutcome::Permanent,
    }
}

fn log_outcome(
    job: &RelayJob,
    recipients: &[String],
    reply: &str,
    next: RelayNext,
    now: i64,
    failures: usize,
) {
    match next {
        RelayNext::Sent => info!(id = %job.message_id, to = ?recipients, %reply, "relayed"),
        RelayNext::RetryAt(at) => {
            info!(id = %job.message_id, to = ?recipients, %reply, retry_in_ms = at - now, "relay failed for now")
        }
        RelayNext::Failed => {
            warn!(id = %job.message_id, to = ?recipients, %reply, attempts = failures, "relay failed for good")
        }
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
    if !relay.app.matches(query.clone(), id.clone()).await? {
        return Ok(());
    }
    let Some(message) = relay.app.message(id.clone()).await? else {
        return Ok(());
    };
    // Only what can be written in a command, checked in that form (the
    // form the store holds since the SMTP side serializes addresses).
    let allowed = |r: &&String| {
        Mailbox::parse(r).is_ok_and(|m| m.as_str() == r.as_str())
            && relay.settings.allowed.as_ref().is_none_or(|a| a.allows(r))
    };
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
    fn hops_are_counted_in_the_header_section_only() {
        let raw = b"Received: from a\r\n\tby b\r\nRECEIVED: x\r\nSubject: s\r\n\r\nReceived: in the body\r\n";
        assert_eq!(received_headers(raw), 2);
        assert_eq!(received_headers(b"Received: a\nReceived: b\n\nx"), 2);
        let traced = with_trace_header(b"Subject: s\r\n\r\nx", "lb.test", "ID1");
        assert_eq!(received_headers(&traced), 1);
        assert!(traced.starts_with(b"Received: by lb.test (Letterbox relay) id ID1;\r\n\t"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(30), 1), s(30));
        assert_eq!(backoff(s(30), 2), s(60));
        assert_eq!(backoff(s(30), 4), s(240));
        assert_eq!(backoff(s(30), 40), MAX_RETRY_INTERVAL);
    }

    #[test]
    fn recipients_are_grouped_by_outcome() {
        let rcpts: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let refused = |r: &str, error: DeliveryError| Refusal {
            recipient: r.into(),
            error,
        };
        let delivery = Delivery {
            sent: vec!["a".into()],
            reply: "250 ok".into(),
            refused: vec![
                refused("b", DeliveryError::Permanent("550 b".into())),
                refused("c", DeliveryError::Temporary("451 c".into())),
                refused("d", DeliveryError::Permanent("550 d".into())),
            ],
        };
        let to = |list: &[&str]| list.iter().map(|r| r.to_string()).collect::<Vec<_>>();
        assert_eq!(
            groups(&rcpts, Ok(delivery)),
            [
                (to(&["a"]), AttemptOutcome::Sent, "250 ok".to_string()),
                (to(&["c"]), AttemptOutcome::Temporary, "451 c".to_string()),
                (
                    to(&["b", "d"]),
                    AttemptOutcome::Permanent,
                    "550 b; 550 d".to_string()
                ),
            ]
        );
        // An error before any recipient concerns them all.
        assert_eq!(
            groups(&rcpts, Err(DeliveryError::Temporary("refused".into()))),
            [(
                rcpts.clone(),
                AttemptOutcome::Temporary,
                "refused".to_string()
            )]
        );
    }
}
