//! Releases to the relay: queueing one, and the worker's side of the queue
//! (what is due, claiming, recording an attempt with its counters).

use crate::store::{RelayJob, RelayNext, RelayOutcome, StoreError};

use super::App;

impl App {
    /// Queues a release of message `id` to `recipients`, sent as from
    /// `mail_from`; false if there is no such message.
    pub async fn queue_release(
        &self,
        id: String,
        mail_from: String,
        recipients: Vec<String>,
    ) -> Result<bool, StoreError> {
        self.store().queue_relay(id, mail_from, recipients).await
    }

    /// Every release of message `id`, oldest first.
    pub async fn releases(&self, id: String) -> Result<Vec<RelayJob>, StoreError> {
        self.store().relay_jobs(id).await
    }

    /// Queued releases due at `now_ms`, the longest waiting first.
    pub async fn releases_due(&self, now_ms: i64, limit: u64) -> Result<Vec<RelayJob>, StoreError> {
        self.store().relay_due(now_ms, limit).await
    }

    /// When the next queued release is due.
    pub async fn next_release_due(&self) -> Result<Option<i64>, StoreError> {
        self.store().relay_next_due().await
    }

    /// Claims a queued release for an attempt; false if it is gone or was
    /// not queued.
    pub async fn claim_release(&self, job: i64) -> Result<bool, StoreError> {
        self.store().start_relay(job).await
    }

    /// Counts and records an attempt of a release: what became of each
    /// group of its recipients. The counters count the attempt even if
    /// recording it fails (it was made).
    pub async fn finish_release(
        &self,
        job: i64,
        outcomes: Vec<RelayOutcome>,
    ) -> Result<bool, StoreError> {
        let stats = &self.inner.stats;
        for outcome in &outcomes {
            match outcome.next {
                RelayNext::Sent => stats.relay_sent(),
                RelayNext::RetryAt(_) => stats.relay_retried(),
                RelayNext::Failed => stats.relay_failed(),
            }
        }
        self.store().finish_relay(job, outcomes).await
    }
}
