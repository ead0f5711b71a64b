//! Runtime counters for `/api/v1/info` (and later metrics).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

#[derive(Debug)]
pub struct Stats {
    started: Instant,
    smtp_accepted: AtomicU64,
    smtp_accepted_bytes: AtomicU64,
    smtp_rejected: AtomicU64,
    smtp_sessions: AtomicU64,
    messages_deleted: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            smtp_accepted: AtomicU64::new(0),
            smtp_accepted_bytes: AtomicU64::new(0),
            smtp_rejected: AtomicU64::new(0),
            smtp_sessions: AtomicU64::new(0),
            messages_deleted: AtomicU64::new(0),
        }
    }
}

/// A point-in-time copy of the counters.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub uptime_secs: u64,
    pub smtp_accepted: u64,
    pub smtp_accepted_bytes: u64,
    pub smtp_rejected: u64,
    pub smtp_sessions: u64,
    pub messages_deleted: u64,
}

impl Stats {
    pub fn message_accepted(&self, bytes: u64) {
        self.smtp_accepted.fetch_add(1, Relaxed);
        self.smtp_accepted_bytes.fetch_add(bytes, Relaxed);
    }

    pub fn message_rejected(&self) {
        self.smtp_rejected.fetch_add(1, Relaxed);
    }

    pub fn smtp_session_opened(&self) {
        self.smtp_sessions.fetch_add(1, Relaxed);
    }

    pub fn smtp_session_closed(&self) {
        self.smtp_sessions.fetch_sub(1, Relaxed);
    }

    pub fn messages_deleted(&self, n: u64) {
        self.messages_deleted.fetch_add(n, Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            uptime_secs: self.started.elapsed().as_secs(),
            smtp_accepted: self.smtp_accepted.load(Relaxed),
            smtp_accepted_bytes: self.smtp_accepted_bytes.load(Relaxed),
            smtp_rejected: self.smtp_rejected.load(Relaxed),
            smtp_sessions: self.smtp_sessions.load(Relaxed),
            messages_deleted: self.messages_deleted.load(Relaxed),
        }
    }
}
