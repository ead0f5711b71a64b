//! `letterbox migrate --from A --to B`: copies every message of one store
//! into another through the store interface, whatever their backends:
//! raw bytes, received time, read flag, tags, inbox and envelope. The copy
//! takes the same way into the target as `ingest` (oldest first, committed
//! in order), and ends with a count check.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::app::{App, Import, Received, Stats};
use crate::domain::inbox::{InboxName, Inboxes};
use crate::domain::search::Query;
use crate::events::Events;
use crate::store::{Store, StoreConfig, StoreError};

use super::ingest::{self, Budget, Budgeted, IngestError, sources::Item};
use super::progress::{Progress, Total};

/// Message IDs read from the source at a time.
const PAGE: u64 = 500;
/// Messages read ahead of the target's writer.
const READ_AHEAD: usize = 64;

#[derive(Debug, Clone)]
pub struct MigrateOptions {
    pub from: StoreConfig,
    pub to: StoreConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("--from and --to name the same store")]
    SameStore,
    #[error("opening {which} store: {source}")]
    Open {
        which: &'static str,
        source: StoreError,
    },
    #[error("reading the source store: {0}")]
    Source(StoreError),
    #[error("the target store: {0}")]
    Target(StoreError),
    #[error(transparent)]
    Copy(#[from] IngestError),
    #[error(
        "count check failed: {copied} messages copied, but the target went from {before} to {after} messages"
    )]
    CountMismatch {
        copied: u64,
        before: u64,
        after: u64,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct MigrateReport {
    pub copied: u64,
    pub bytes: u64,
    /// Messages in the source when the copy started (mail that arrives
    /// or is deleted during the copy changes what is copied).
    pub source_total: u64,
    pub target_before: u64,
    pub target_after: u64,
    pub elapsed: Duration,
}

async fn open(config: &StoreConfig, which: &'static str) -> Result<(Store, App), MigrateError> {
    let events = Events::default();
    let store = Store::connect(config, events.clone())
        .await
        .map_err(|source| MigrateError::Open { which, source })?;
    let app = App::new(
        store.clone(),
        events,
        Arc::new(Stats::default()),
        Arc::new(Inboxes::new(Vec::new())),
        |id| id.to_string(),
    );
    Ok((store, app))
}

pub async fn run(options: &MigrateOptions) -> Result<MigrateReport, MigrateError> {
    if options.from.location == options.to.location {
        return Err(MigrateError::SameStore);
    }
    let (source_store, source) = open(&options.from, "the source").await?;
    let (target_store, target) = match open(&options.to, "the target").await {
        Ok(opened) => opened,
        Err(err) => {
            source_store.close().await;
            return Err(err);
        }
    };
    let result = copy(&source, &target).await;
    source_store.close().await;
    target_store.close().await;
    result
}

async fn copy(source: &App, target: &App) -> Result<MigrateReport, MigrateError> {
    let source_total = source.counts().await.map_err(MigrateError::Source)?.total;
    let target_before = target.counts().await.map_err(MigrateError::Target)?.total;
    let mut progress = Progress::new(Total::Messages(source_total));
    let (items, received) = mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(read_source(source.clone(), items));
    let stored = ingest::store_all(target, received, &mut progress).await;
    progress.clear();
    // The reader stops once the queue is gone, so this ends either way.
    let walked = reader.await.map_err(|_| IngestError::Reader)?;
    let report = stored?;
    let walked = walked.map_err(MigrateError::Source)?;
    let target_after = target.counts().await.map_err(MigrateError::Target)?.total;
    if report.imported != walked || target_after != target_before + walked {
        return Err(MigrateError::CountMismatch {
            copied: report.imported,
            before: target_before,
            after: target_after,
        });
    }
    Ok(MigrateReport {
        copied: report.imported,
        bytes: progress.bytes(),
        source_total,
        target_before,
        target_after,
        elapsed: progress.elapsed(),
    })
}

/// Hands every message of the source on, oldest first, with what is
/// stored about it; returns how many it handed on.
async fn read_source(source: App, items: mpsc::Sender<Budgeted>) -> Result<u64, StoreError> {
    let budget = Budget::new();
    let mut after = None;
    let mut walked = 0;
    loop {
        let ids = source.ids_after(Query::default(), after, PAGE).await?;
        let Some(last) = ids.last().cloned() else {
            return Ok(walked);
        };
        for id in ids {
            let Some((message, raw)) = source.message_with_raw(id).await? else {
                continue; // deleted since its ID was read
            };
            let summary = message.summary;
            let item = Item::Message {
                origin: format!("message {}", summary.id),
                bytes: raw.len() as u64,
                import: Box::new(Import {
                    raw,
                    envelope: Some(message.envelope),
                    sender: None,
                    received: Received::At(message.received_at_ms),
                    read: summary.read,
                    tags: Some(summary.tags),
                    inbox: InboxName::parse(&summary.inbox).ok(),
                }),
            };
            if items.send(budget.admit(item).await).await.is_err() {
                return Ok(walked); // the copy stopped; it reports why
            }
            walked += 1;
        }
        after = Some(last);
    }
}
