//! The webhook queue, the worker's side: what is due, claiming, and
//! recording an attempt with its counters. Deliveries are queued by ingest,
//! with their message (see [`App::with_webhook`]).

use crate::store::{StoreError, WebhookDelivery, WebhookNext, WebhookQueueStats};

use super::App;
use super::stats::WebhookFailure;

impl App {
    /// Queued deliveries due at `now_ms`, the longest waiting first.
    pub async fn webhooks_due(
        &self,
        now_ms: i64,
        limit: u64,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        self.store().webhook_due(now_ms, limit).await
    }

    /// Claims a due delivery for an attempt until `until_ms`; false if it
    /// is gone or no longer due.
    pub async fn claim_webhook(
        &self,
        id: i64,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        self.store().claim_webhook(id, now_ms, until_ms).await
    }

    /// Counts and records an attempt; `failure` says why it failed, if it
    /// did. The counters count the attempt even if recording it fails (it
    /// was made).
    pub async fn finish_webhook(
        &self,
        id: i64,
        next: WebhookNext,
        failure: Option<WebhookFailure>,
    ) -> Result<bool, StoreError> {
        let stats = &self.inner.stats;
        match failure {
            None => stats.webhook_delivered(),
            Some(failure) => stats.webhook_failed(failure, next == WebhookNext::Dropped),
        }
        self.store().finish_webhook(id, next).await
    }

    /// How many deliveries wait, and when the next is due.
    pub async fn webhook_queue(&self) -> Result<WebhookQueueStats, StoreError> {
        self.store().webhook_stats().await
    }
}
