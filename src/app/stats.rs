//! Runtime counters for `/api/v1/info` and `/metrics`: plain atomics, so
//! counting never takes a lock on the ingest path.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why an SMTP transaction (or connection) was refused: the `reason` label
/// of `letterbox_smtp_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Message larger than `--max-message-size` (552 5.3.4).
    MessageTooBig,
    /// More recipients than `--smtp-max-recipients` (452 4.5.3).
    TooManyRecipients,
    /// MAIL or AUTH before the required login or STARTTLS (530 5.7.0).
    AccessDenied,
    /// Wrong SMTP credentials (535 5.7.8).
    AuthFailed,
    /// The store could not commit the message (451 4.3.0).
    Storage,
    /// Turned away because the server is shutting down (421 4.3.2).
    ShuttingDown,
    /// Over `--smtp-max-connections` (421 4.7.0).
    TooManyConnections,
    /// Over `--smtp-max-connections-per-ip` from one address (421 4.7.0).
    TooManyFromAddress,
    /// An HTTP request sent to the SMTP port, e.g. by a web page (554 5.7.0).
    HttpRequest,
    /// Several unrecognized commands in a row (421 4.5.0).
    UnknownCommands,
    /// Message content in memory over `--smtp-data-budget` (452 4.3.1).
    DataBudget,
    /// Message content slower than `--smtp-min-data-rate` (421 4.4.2).
    DataTooSlow,
}

impl RejectReason {
    pub const ALL: [RejectReason; 12] = [
        RejectReason::MessageTooBig,
        RejectReason::TooManyRecipients,
        RejectReason::AccessDenied,
        RejectReason::AuthFailed,
        RejectReason::Storage,
        RejectReason::ShuttingDown,
        RejectReason::TooManyConnections,
        RejectReason::TooManyFromAddress,
        RejectReason::HttpRequest,
        RejectReason::UnknownCommands,
        RejectReason::DataBudget,
        RejectReason::DataTooSlow,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RejectReason::MessageTooBig => "message_too_big",
            RejectReason::TooManyRecipients => "too_many_recipients",
            RejectReason::AccessDenied => "access_denied",
            RejectReason::AuthFailed => "auth_failed",
            RejectReason::Storage => "storage",
            RejectReason::ShuttingDown => "shutting_down",
            RejectReason::TooManyConnections => "too_many_connections",
            RejectReason::TooManyFromAddress => "too_many_connections_from_address",
            RejectReason::HttpRequest => "http_request",
            RejectReason::UnknownCommands => "unknown_commands",
            RejectReason::DataBudget => "data_budget",
            RejectReason::DataTooSlow => "data_too_slow",
        }
    }

    /// The reason a negative SMTP reply stands for, by its code and enhanced
    /// status; `None` for protocol errors (bad syntax, wrong order), which
    /// are the client's mistakes rather than refusals. The listener counts
    /// the refusals whose replies are shared with others itself (too many
    /// connections from an address, data too slow).
    pub fn of_reply(code: u16, status: Option<&str>) -> Option<RejectReason> {
        match (code, status?) {
            (552, "5.3.4") => Some(RejectReason::MessageTooBig),
            (452, "4.5.3") => Some(RejectReason::TooManyRecipients),
            (530, "5.7.0") => Some(RejectReason::AccessDenied),
            (535, "5.7.8") => Some(RejectReason::AuthFailed),
            (451, "4.3.0") => Some(RejectReason::Storage),
            (421, "4.3.2") => Some(RejectReason::ShuttingDown),
            (421, "4.7.0") => Some(RejectReason::TooManyConnections),
            (554, "5.7.0") => Some(RejectReason::HttpRequest),
            (421, "4.5.0") => Some(RejectReason::UnknownCommands),
            (452, "4.3.1") => Some(RejectReason::DataBudget),
            _ => None,
        }
    }
}

/// Upper bounds, in seconds, of the ingest latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A Prometheus-style histogram with fixed buckets.
#[derive(Debug, Default)]
struct Histogram {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, value: Duration) {
        let secs = value.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&bound| secs <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = [0; LATENCY_BUCKETS.len() + 1];
        let mut total = 0;
        for (slot, bucket) in cumulative.iter_mut().zip(&self.buckets) {
            total += bucket.load(Relaxed);
            *slot = total;
        }
        HistogramSnapshot {
            cumulative,
            sum_secs: self.sum_micros.load(Relaxed) as f64 / 1e6,
        }
    }
}

/// Cumulative bucket counts (`le` each of [`LATENCY_BUCKETS`], then `+Inf`,
/// which is the total count) and the sum of all observations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramSnapshot {
    pub cumulative: [u64; LATENCY_BUCKETS.len() + 1],
    pub sum_secs: f64,
}

impl HistogramSnapshot {
    pub fn count(&self) -> u64 {
        self.cumulative[LATENCY_BUCKETS.len()]
    }
}

#[derive(Debug)]
pub struct Stats {
    started: Instant,
    smtp_accepted: AtomicU64,
    smtp_accepted_bytes: AtomicU64,
    smtp_rejected: [AtomicU64; RejectReason::ALL.len()],
    smtp_sessions: AtomicU64,
    /// Message content held in memory by SMTP sessions (the data budget's
    /// count, shared with it).
    smtp_data_in_flight: Arc<AtomicUsize>,
    messages_deleted: AtomicU64,
    websocket_clients: AtomicU64,
    ingest_latency: Histogram,
    /// Injected failures by (source, stage, outcome); rare enough for a lock.
    chaos_injected: Mutex<BTreeMap<ChaosKey, u64>>,
    relay: [AtomicU64; 3],
    /// Webhook attempts: delivered, failed (to be retried), dropped.
    webhook: [AtomicU64; 3],
    webhook_last_failure: Mutex<Option<WebhookFailure>>,
}

/// A webhook attempt that failed, for `/api/v1/info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookFailure {
    /// When the attempt ended, RFC 3339.
    pub at: String,
    /// The message the delivery announces.
    pub message_id: String,
    /// What went wrong: the receiver's status, a timeout, a refused connection.
    pub error: String,
}

/// `source` (rule or address), `stage` and `outcome` (reply code,
/// `disconnect` or `delay`) of an injected failure.
pub type ChaosKey = (&'static str, &'static str, String);

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            smtp_accepted: AtomicU64::new(0),
            smtp_accepted_bytes: AtomicU64::new(0),
            smtp_rejected: Default::default(),
            smtp_sessions: AtomicU64::new(0),
            smtp_data_in_flight: Arc::default(),
            messages_deleted: AtomicU64::new(0),
            websocket_clients: AtomicU64::new(0),
            ingest_latency: Histogram::default(),
            chaos_injected: Mutex::default(),
            relay: Default::default(),
            webhook: Default::default(),
            webhook_last_failure: Mutex::default(),
        }
    }
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub uptime_secs: u64,
    pub smtp_accepted: u64,
    pub smtp_accepted_bytes: u64,
    /// Per reason, in the order of [`RejectReason::ALL`].
    pub smtp_rejected: [u64; RejectReason::ALL.len()],
    pub smtp_sessions: u64,
    pub smtp_data_in_flight_bytes: u64,
    pub messages_deleted: u64,
    pub websocket_clients: u64,
    pub ingest_latency: HistogramSnapshot,
    /// Relay attempts: delivered, given up for good, to be retried.
    pub relay_sent: u64,
    pub relay_failed: u64,
    pub relay_retried: u64,
    /// Webhook attempts: delivered, failed and tried again later, failed
    /// and given up (dropped).
    pub webhook_delivered: u64,
    pub webhook_retried: u64,
    pub webhook_dropped: u64,
}

impl Snapshot {
    pub fn smtp_rejected_total(&self) -> u64 {
        self.smtp_rejected.iter().sum()
    }
}

impl Stats {
    /// A message was committed; `latency` is from the end of its data to
    /// the commit.
    pub fn message_accepted(&self, bytes: u64, latency: Duration) {
        self.smtp_accepted.fetch_add(1, Relaxed);
        self.smtp_accepted_bytes.fetch_add(bytes, Relaxed);
        self.ingest_latency.observe(latency);
    }

    pub fn message_rejected(&self, reason: RejectReason) {
        let index = RejectReason::ALL
            .iter()
            .position(|&r| r == reason)
            .expect("ALL lists every reason");
        self.smtp_rejected[index].fetch_add(1, Relaxed);
    }

    /// Counts a failure (or delay) injected at an SMTP stage.
    pub fn chaos_injected(&self, source: &'static str, stage: &'static str, outcome: &str) {
        let mut counts = self
            .chaos_injected
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *counts
            .entry((source, stage, outcome.to_string()))
            .or_default() += 1;
    }

    /// Every injected failure counted so far, by kind.
    pub fn chaos_counts(&self) -> Vec<(ChaosKey, u64)> {
        let counts = self
            .chaos_injected
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    pub fn smtp_session_opened(&self) {
        self.smtp_sessions.fetch_add(1, Relaxed);
    }

    pub fn smtp_session_closed(&self) {
        self.smtp_sessions.fetch_sub(1, Relaxed);
    }

    /// The count of message content in memory, for the data budget to
    /// keep.
    pub fn smtp_data_in_flight(&self) -> Arc<AtomicUsize> {
        self.smtp_data_in_flight.clone()
    }

    pub fn messages_deleted(&self, n: u64) {
        self.messages_deleted.fetch_add(n, Relaxed);
    }

    /// Counts a connected WebSocket client until the returned guard is
    /// dropped (hold it for as long as the socket is open).
    pub fn websocket_client(self: &Arc<Self>) -> WebSocketClient {
        self.websocket_clients.fetch_add(1, Relaxed);
        WebSocketClient(self.clone())
    }

    /// A release was delivered to the relay.
    pub fn relay_sent(&self) {
        self.relay[0].fetch_add(1, Relaxed);
    }

    /// A release failed for good (5xx, or its lifetime ran out).
    pub fn relay_failed(&self) {
        self.relay[1].fetch_add(1, Relaxed);
    }

    /// An attempt failed temporarily; the release will be tried again.
    pub fn relay_retried(&self) {
        self.relay[2].fetch_add(1, Relaxed);
    }

    /// A webhook delivery was taken by the receiver.
    pub fn webhook_delivered(&self) {
        self.webhook[0].fetch_add(1, Relaxed);
    }

    /// A webhook attempt failed; `dropped` when the delivery is given up.
    pub fn webhook_failed(&self, failure: WebhookFailure, dropped: bool) {
        self.webhook[if dropped { 2 } else { 1 }].fetch_add(1, Relaxed);
        *self
            .webhook_last_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(failure);
    }

    /// The last failed webhook attempt since start, if any.
    pub fn webhook_last_failure(&self) -> Option<WebhookFailure> {
        self.webhook_last_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            uptime_secs: self.started.elapsed().as_secs(),
            smtp_accepted: self.smtp_accepted.load(Relaxed),
            smtp_accepted_bytes: self.smtp_accepted_bytes.load(Relaxed),
            smtp_rejected: std::array::from_fn(|i| self.smtp_rejected[i].load(Relaxed)),
            smtp_sessions: self.smtp_sessions.load(Relaxed),
            smtp_data_in_flight_bytes: self.smtp_data_in_flight.load(Relaxed) as u64,
            messages_deleted: self.messages_deleted.load(Relaxed),
            websocket_clients: self.websocket_clients.load(Relaxed),
            ingest_latency: self.ingest_latency.snapshot(),
            relay_sent: self.relay[0].load(Relaxed),
            relay_failed: self.relay[1].load(Relaxed),
            relay_retried: self.relay[2].load(Relaxed),
            webhook_delivered: self.webhook[0].load(Relaxed),
            webhook_retried: self.webhook[1].load(Relaxed),
            webhook_dropped: self.webhook[2].load(Relaxed),
        }
    }
}

/// One connected WebSocket client, counted in
/// `letterbox_websocket_clients` while this lives.
#[derive(Debug)]
pub struct WebSocketClient(Arc<Stats>);

impl Drop for WebSocketClient {
    fn drop(&mut self) {
        self.0.websocket_clients.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let stats = Stats::default();
        stats.message_accepted(10, Duration::from_micros(300)); // first bucket
        stats.message_accepted(10, Duration::from_millis(3)); // le 0.005
        stats.message_accepted(10, Duration::from_secs(60)); // +Inf only
        let h = stats.snapshot().ingest_latency;
        assert_eq!(h.cumulative[0], 1);
        assert_eq!(h.cumulative[2], 1, "le 0.0025");
        assert_eq!(h.cumulative[3], 2, "le 0.005");
        assert_eq!(h.cumulative[LATENCY_BUCKETS.len() - 1], 2, "le 5");
        assert_eq!(h.count(), 3);
        assert!((h.sum_secs - 60.0033).abs() < 1e-9, "{}", h.sum_secs);
    }

    #[test]
    fn rejections_are_counted_per_reason() {
        let stats = Stats::default();
        stats.message_rejected(RejectReason::Storage);
        stats.message_rejected(RejectReason::Storage);
        stats.message_rejected(RejectReason::AuthFailed);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.smtp_rejected_total(), 3);
        let storage = RejectReason::ALL
            .iter()
            .position(|&r| r == RejectReason::Storage)
            .unwrap();
        assert_eq!(snapshot.smtp_rejected[storage], 2);
    }

    #[test]
    fn reply_codes_map_to_reasons() {
        assert_eq!(
            RejectReason::of_reply(552, Some("5.3.4")),
            Some(RejectReason::MessageTooBig)
        );
        assert_eq!(RejectReason::of_reply(500, Some("5.5.2")), None);
        assert_eq!(RejectReason::of_reply(250, Some("2.0.0")), None);
        assert_eq!(RejectReason::of_reply(220, None), None);
    }

    #[test]
    fn websocket_clients_are_counted_while_the_guard_lives() {
        let stats = Arc::new(Stats::default());
        let a = stats.websocket_client();
        let b = stats.websocket_client();
        assert_eq!(stats.snapshot().websocket_clients, 2);
        drop(a);
        assert_eq!(stats.snapshot().websocket_clients, 1);
        drop(b);
        assert_eq!(stats.snapshot().websocket_clients, 0);
    }
}
