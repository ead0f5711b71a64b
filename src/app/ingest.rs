//! The one path every message takes into the store, whether it came over
//! SMTP or the HTTP send API: parse and compress off the async runtime, then
//! hand it to the writer and wait for the commit.

use std::time::Instant;

use tracing::{Level, info};

use crate::domain::Envelope;
use crate::domain::inbox::Inboxes;
use crate::domain::message;
use crate::domain::summary::MessageSummaryJson;
use crate::domain::timefmt;
use crate::store::{NewMessage, StoreError};

use super::App;

/// zstd level for raw messages: level 1 is several times faster than the
/// default and costs only a few percent in size on mail.
const ZSTD_LEVEL: i32 = 1;
thread_local! {
    /// A zstd context per thread: creating one per message was a measurable
    /// share of ingest time.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// Messages up to this size are prepared on the async worker itself.
const INLINE_PREPARE_MAX: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("shutting down")]
    ShuttingDown,
}

impl App {
    pub(super) fn next_id(&self) -> String {
        let mut ids = self.inner.ids.lock().expect("ID generator lock");
        // Fails only when 2^80 IDs are made in one millisecond.
        ids.generate()
            .unwrap_or_else(|_| ulid::Ulid::new())
            .to_string()
    }

    /// Stores a message and returns its ID once it is durably committed.
    /// The time this takes is the ingest latency in `/metrics`.
    pub async fn accept(
        &self,
        mut envelope: Envelope,
        raw: Vec<u8>,
    ) -> Result<String, IngestError> {
        let started = Instant::now();
        let id = self.next_id();
        if !envelope.transcript.is_empty() {
            // The reply the client gets once the commit below succeeds.
            let reply = (self.inner.queued_reply)(&id);
            envelope.transcript.push(format!("S: {reply}"));
        }
        let received_at_ms = timefmt::now_millis();
        // Small messages take microseconds to parse and compress: doing that
        // in place is cheaper than handing them to the blocking pool.
        let mut prepared = if raw.len() <= INLINE_PREPARE_MAX {
            prepare(id, received_at_ms, envelope, raw, &self.inner.inboxes)
        } else {
            let inboxes = self.inner.inboxes.clone();
            tokio::task::spawn_blocking(move || {
                prepare(id, received_at_ms, envelope, raw, &inboxes)
            })
            .await
            .map_err(|_| IngestError::ShuttingDown)?
        };
        // Mailpit's webhook body: the summary, without Letterbox's additions.
        if self.inner.webhook {
            let summary = prepared.summary();
            let body = serde_json::to_string(&MessageSummaryJson::new(&summary, false))
                .expect("a summary serializes");
            prepared.webhook = Some(body);
        }
        let (id, size) = (prepared.id.clone(), prepared.size);
        // The log line's fields are copied only when it will be written.
        let log = tracing::enabled!(Level::INFO).then(|| {
            let envelope = &prepared.envelope;
            (
                envelope.mail_from.clone(),
                envelope.rcpt_to.join(","),
                prepared.parsed.subject.clone(),
            )
        });
        match self.store().insert(prepared).await {
            Ok(()) => {
                self.inner.stats.message_accepted(size, started.elapsed());
                if let Some((from, to, subject)) = log {
                    info!(%id, %from, %to, %subject, size, "message stored");
                }
                Ok(id)
            }
            // The SMTP side counts the refusal it answers with.
            Err(err) => Err(err.into()),
        }
    }
}

/// Parses and compresses a message and chooses its inbox: CPU work kept
/// off the async runtime.
pub fn prepare(
    id: String,
    received_at_ms: i64,
    envelope: Envelope,
    raw: Vec<u8>,
    inboxes: &Inboxes,
) -> NewMessage {
    let mut parsed = message::parse(&raw);
    parsed.add_envelope_bcc(&envelope.rcpt_to);
    // Bcc recipients are only in the envelope; their plus-tags count too.
    let envelope_tags = envelope.rcpt_to.iter().filter_map(|a| message::plus_tag(a));
    message::add_tags(&mut parsed.tags, envelope_tags.collect::<Vec<_>>());
    let inbox = inboxes.choose(&envelope, &parsed, raw.len() as u64);
    let raw_zstd = COMPRESSOR.with_borrow_mut(|compressor| {
        let compressor = compressor.get_or_insert_with(|| {
            zstd::bulk::Compressor::new(ZSTD_LEVEL).expect("zstd level 1 is valid")
        });
        compressor
            .compress(&raw)
            .expect("zstd compression of an in-memory buffer does not fail")
    });
    NewMessage {
        id,
        received_at_ms,
        size: raw.len() as u64,
        raw_zstd,
        parsed,
        envelope,
        inbox,
        webhook: None,
    }
}
