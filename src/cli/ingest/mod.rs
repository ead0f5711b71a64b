//! `letterbox ingest PATH…`: brings mail from files into Letterbox, either
//! straight into a store through the same preparation as SMTP ingest
//! (tags, inboxes, search index), or over SMTP into a running Letterbox.
//!
//! Three stages run at once, joined by bounded queues, so memory holds a
//! few messages whatever the input's size: a thread reads the files, the
//! blocking pool parses and compresses, and the store commits them in the
//! order they were read (so the list shows them in that order).

pub mod sources;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::app::{App, IngestError as AppIngestError, PreparedImport, Stats};
use crate::client::smtp::{SmtpClient, SmtpError};
use crate::domain::archive::{self, MboxFormat};
use crate::domain::inbox::{Inboxes, Rule};
use crate::domain::message;
use crate::events::Events;
use crate::store::{Store, StoreConfig, StoreError};

use super::progress::{Progress, Total};
use sources::{Item, ReadOptions};

/// Items read ahead of parsing.
const READ_AHEAD: usize = 64;
/// Messages parsed and compressed at once, on the blocking pool.
const PREPARE_AHEAD: usize = 8;
/// Messages handed to the store and not yet committed: enough for the
/// writer to commit many in one transaction.
const STORE_IN_FLIGHT: usize = 256;
/// Bytes of message content read and not yet stored. The queues above
/// count messages; this bounds their bytes, so memory holds about this much
/// plus the largest message, however large the messages are.
const BUDGET_BYTES: u32 = 64 << 20;
/// One SMTP step's time limit.
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the messages go.
#[derive(Debug, Clone)]
pub enum Target {
    /// Straight into the store, with these inbox rules.
    Store {
        config: StoreConfig,
        inbox_rules: Vec<Rule>,
    },
    /// Over SMTP to `HOST:PORT`.
    Smtp(String),
}

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub paths: Vec<PathBuf>,
    pub mbox_format: MboxFormat,
    pub keep_dates: bool,
    pub target: Target,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("opening the store: {0}")]
    Open(StoreError),
    #[error("storing {origin}: {source}")]
    Store {
        origin: String,
        source: AppIngestError,
    },
    #[error("sending {origin}: {source}")]
    Smtp { origin: String, source: SmtpError },
    #[error("the reader stopped unexpectedly")]
    Reader,
}

/// What an ingest did: for the summary.
#[derive(Debug, Default)]
pub struct Report {
    pub imported: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    /// Where (file, and line for an mbox) and why.
    pub skipped: Vec<(String, String)>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.elapsed.as_secs_f64().max(0.001);
        write!(
            f,
            "imported {} messages ({}) in {:.1}s, {:.0} messages/s; skipped {}",
            self.imported,
            super::progress::human_bytes(self.bytes),
            seconds,
            self.imported as f64 / seconds,
            self.skipped.len()
        )?;
        for (origin, reason) in &self.skipped {
            write!(f, "\n  skipped {origin}: {reason}")?;
        }
        Ok(())
    }
}

pub async fn run(options: &IngestOptions) -> Result<Report, IngestError> {
    let total = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let paths = options.paths.clone();
        let bytes = tokio::task::spawn_blocking(move || sources::total_bytes(&paths)).await;
        Total::Bytes(bytes.unwrap_or(0))
    } else {
        Total::Unknown
    };
    let mut progress = Progress::new(total);
    let (items, reader) = start_reader(options);
    let mut report = match &options.target {
        Target::Store {
            config,
            inbox_rules,
        } => into_store(config, inbox_rules, items, &mut progress).await,
        Target::Smtp(addr) => over_smtp(addr, items, &mut progress).await,
    };
    progress.clear();
    // The reader ends once its queue is gone (early, after an error).
    if reader.await.is_err() && report.is_ok() {
        report = Err(IngestError::Reader);
    }
    let mut report = report?;
    report.bytes = progress.bytes();
    report.elapsed = progress.elapsed();
    Ok(report)
}

/// The memory budget of messages between reading and storing.
#[derive(Clone)]
pub(super) struct Budget(Arc<Semaphore>);

/// An item holding its share of the [`Budget`] until it is stored.
pub(super) struct Budgeted {
    item: Item,
    share: OwnedSemaphorePermit,
}

impl Budget {
    pub(super) fn new() -> Budget {
        Budget(Arc::new(Semaphore::new(BUDGET_BYTES as usize)))
    }

    /// Waits until the item's bytes fit (a message larger than the whole
    /// budget waits for all of it).
    pub(super) async fn admit(&self, item: Item) -> Budgeted {
        let bytes = match &item {
            Item::Message { import, .. } => import.raw.len(),
            Item::Skipped { .. } => 0,
        };
        let permits = u32::try_from(bytes)
            .unwrap_or(u32::MAX)
            .clamp(1, BUDGET_BYTES);
        let share = self
            .0
            .clone()
            .acquire_many_owned(permits)
            .await
            .expect("the budget is never closed");
        Budgeted { item, share }
    }
}

fn start_reader(
    options: &IngestOptions,
) -> (mpsc::Receiver<Budgeted>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    let budget = Budget::new();
    let runtime = tokio::runtime::Handle::current();
    let paths = options.paths.clone();
    let read = ReadOptions {
        mbox_format: options.mbox_format,
        keep_dates: options.keep_dates,
    };
    let reader = tokio::task::spawn_blocking(move || {
        sources::read_all(&paths, read, &mut |item| {
            let admitted = runtime.block_on(budget.admit(item));
            tx.blocking_send(admitted).is_ok()
        });
    });
    (rx, reader)
}

/// An item after parsing: ready to store, or skipped.
enum Prepared {
    Ready {
        origin: String,
        bytes: u64,
        prepared: Box<PreparedImport>,
        share: OwnedSemaphorePermit,
    },
    Skipped {
        origin: String,
        bytes: u64,
        reason: String,
    },
}

async fn into_store(
    config: &StoreConfig,
    inbox_rules: &[Rule],
    items: mpsc::Receiver<Budgeted>,
    progress: &mut Progress,
) -> Result<Report, IngestError> {
    let events = Events::default();
    let store = Store::connect(config, events.clone())
        .await
        .map_err(IngestError::Open)?;
    let app = App::new(
        store.clone(),
        events,
        Arc::new(Stats::default()),
        Arc::new(Inboxes::new(inbox_rules.to_vec())),
        |id| id.to_string(),
    );
    let result = store_all(&app, items, progress).await;
    store.close().await;
    result
}

/// Stores every item in order (see the module's description); `migrate`
/// feeds it from another store.
pub(super) async fn store_all(
    app: &App,
    mut items: mpsc::Receiver<Budgeted>,
    progress: &mut Progress,
) -> Result<Report, IngestError> {
    let preparer = app.clone();
    let mut prepared = futures_util::stream::poll_fn(move |cx| items.poll_recv(cx))
        .map(move |Budgeted { item, share }| {
            let app = preparer.clone();
            async move {
                match item {
                    Item::Message {
                        origin,
                        bytes,
                        import,
                    } => {
                        let prepared = tokio::task::spawn_blocking(move || {
                            Box::new(app.prepare_import(*import))
                        })
                        .await
                        .ok()?;
                        Some(Prepared::Ready {
                            origin,
                            bytes,
                            prepared,
                            share,
                        })
                    }
                    Item::Skipped {
                        origin,
                        bytes,
                        reason,
                    } => Some(Prepared::Skipped {
                        origin,
                        bytes,
                        reason,
                    }),
                }
            }
        })
        .buffered(PREPARE_AHEAD);

    // Mail is listed in the order it was stored: store one message at a
    // time where the store would not keep the reading order otherwise.
    let in_flight = if app.keeps_insert_order() {
        STORE_IN_FLIGHT
    } else {
        1
    };
    let mut report = Report::default();
    let mut storing = FuturesOrdered::new();
    let mut input_done = false;
    loop {
        tokio::select! {
            biased;
            Some(done) = storing.next(), if !storing.is_empty() => {
                let bytes = stored(done)?;
                report.imported += 1;
                progress.message(bytes);
            }
            next = prepared.next(), if !input_done && storing.len() < in_flight => {
                match next {
                    None => input_done = true,
                    Some(None) => return Err(IngestError::Reader),
                    Some(Some(Prepared::Skipped { origin, bytes, reason })) => {
                        progress.skipped_bytes(bytes);
                        report.skipped.push((origin, reason));
                    }
                    Some(Some(Prepared::Ready { origin, bytes, prepared, share })) => {
                        // Pushed in reading order and first polled in that
                        // order: the writer receives them in reading order.
                        let app = app.clone();
                        storing.push_back(async move {
                            let stored = app.store_import(*prepared).await;
                            drop(share);
                            (origin, bytes, stored)
                        });
                    }
                }
            }
            else => break,
        }
    }
    Ok(report)
}

/// The input bytes of a message whose storing ended, if it was stored.
fn stored(done: (String, u64, Result<String, AppIngestError>)) -> Result<u64, IngestError> {
    let (origin, bytes, result) = done;
    result.map_err(|source| IngestError::Store { origin, source })?;
    Ok(bytes)
}

/// Sends each message over one SMTP session, a new one after a failure;
/// a refused message is skipped with the server's reply.
async fn over_smtp(
    addr: &str,
    mut items: mpsc::Receiver<Budgeted>,
    progress: &mut Progress,
) -> Result<Report, IngestError> {
    let mut report = Report::default();
    let mut session: Option<SmtpClient> = None;
    // Each message's share of the budget is given back once it is sent.
    while let Some(Budgeted {
        item,
        share: _share,
    }) = items.recv().await
    {
        let (origin, bytes, import) = match item {
            Item::Skipped {
                origin,
                bytes,
                reason,
            } => {
                progress.skipped_bytes(bytes);
                report.skipped.push((origin, reason));
                continue;
            }
            Item::Message {
                origin,
                bytes,
                import,
            } => (origin, bytes, import),
        };
        let raw = import.raw;
        let sender = import.sender;
        let (raw, envelope) = tokio::task::spawn_blocking(move || {
            let parsed = message::parse(&raw);
            let envelope = archive::envelope_from_headers(&parsed, sender.as_deref());
            (raw, envelope)
        })
        .await
        .map_err(|_| IngestError::Reader)?;
        if envelope.rcpt_to.is_empty() {
            progress.skipped_bytes(bytes);
            report
                .skipped
                .push((origin, "no recipient in To, Cc or Bcc".to_string()));
            continue;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let client = match session.as_mut() {
                Some(client) => client,
                None => {
                    session.insert(connect(addr).await.map_err(|source| IngestError::Smtp {
                        origin: origin.clone(),
                        source,
                    })?)
                }
            };
            match client
                .send(&envelope.mail_from, &envelope.rcpt_to, &raw)
                .await
            {
                Ok(_) => {
                    report.imported += 1;
                    progress.message(bytes);
                    break;
                }
                Err(SmtpError::Refused { command, reply }) if reply.is_permanent() => {
                    // The session is still good: reset it for the next one.
                    let _ = client.command("RSET", 250).await;
                    progress.skipped_bytes(bytes);
                    report
                        .skipped
                        .push((origin, format!("refused: {command}: {reply}")));
                    break;
                }
                Err(source) => {
                    session = None;
                    if attempt >= 2 {
                        return Err(IngestError::Smtp { origin, source });
                    }
                }
            }
        }
    }
    if let Some(client) = session {
        client.quit().await;
    }
    Ok(report)
}

async fn connect(addr: &str) -> Result<SmtpClient, SmtpError> {
    let mut client = SmtpClient::connect(addr, addr, SMTP_TIMEOUT).await?;
    client.greeting().await?;
    client.ehlo("letterbox-ingest").await?;
    Ok(client)
}
