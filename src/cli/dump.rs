//! `letterbox dump`: every message of a store (or every match of a query)
//! out to files, oldest first: a directory with one `.eml` per message
//! and an `index.json` of what the files do not hold (received time, read
//! flag, tags, inbox, envelope), or one mboxrd file. `letterbox ingest` of
//! the directory brings back the same bytes, tags and read flags.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::app::{App, Stats};
use crate::domain::archive::{self, DUMP_INDEX, DumpEntry};
use crate::domain::inbox::Inboxes;
use crate::domain::search::Query;
use crate::domain::timefmt;
use crate::events::Events;
use crate::store::{Store, StoreConfig, StoreError, StoredMessage};

use super::progress::{Progress, Total};

/// Message IDs read from the store at a time.
const PAGE: u64 = 500;

#[derive(Debug, Clone)]
pub enum DumpTarget {
    /// One `.eml` per message and `index.json`.
    Directory(PathBuf),
    /// One mboxrd file.
    Mbox(PathBuf),
}

#[derive(Debug, Clone)]
pub struct DumpOptions {
    pub store: StoreConfig,
    pub query: Query,
    pub target: DumpTarget,
}

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("opening the store: {0}")]
    Open(StoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Messages and bytes written.
#[derive(Debug, Clone, Copy)]
pub struct DumpReport {
    pub messages: u64,
    pub bytes: u64,
}

pub async fn run(options: &DumpOptions) -> Result<DumpReport, DumpError> {
    let events = Events::default();
    let store = Store::connect(&options.store, events.clone())
        .await
        .map_err(DumpError::Open)?;
    let app = App::new(
        store.clone(),
        events,
        Arc::new(Stats::default()),
        Arc::new(Inboxes::new(Vec::new())),
        |id| id.to_string(),
    );
    let result = dump(&app, options).await;
    store.close().await;
    result
}

async fn dump(app: &App, options: &DumpOptions) -> Result<DumpReport, DumpError> {
    let total = if options.query.is_empty() {
        Total::Messages(app.counts().await?.total)
    } else {
        Total::Unknown
    };
    let mut progress = Progress::new(total);
    let mut writer = Writer::create(&options.target)?;
    let mut after = None;
    loop {
        let ids = app.ids_after(options.query.clone(), after, PAGE).await?;
        let Some(last) = ids.last().cloned() else {
            break;
        };
        for id in ids {
            // A message deleted since its ID was read is left out.
            if let Some((message, raw)) = app.message_with_raw(id).await? {
                writer.message(&message, &raw)?;
                progress.message(raw.len() as u64);
            }
        }
        after = Some(last);
    }
    writer.finish()?;
    progress.clear();
    Ok(DumpReport {
        messages: progress.messages(),
        bytes: progress.bytes(),
    })
}

/// The index entry of a stored message written to `file`.
pub fn dump_entry(message: &StoredMessage, file: String) -> DumpEntry {
    let summary = &message.summary;
    DumpEntry {
        id: summary.id.clone(),
        received: timefmt::rfc3339_millis(message.received_at_ms),
        read: summary.read,
        tags: summary.tags.clone(),
        inbox: summary.inbox.clone(),
        from: summary.from.address.clone(),
        to: summary.to.iter().map(|a| a.address.clone()).collect(),
        subject: summary.subject.clone(),
        file,
        envelope: message.envelope.clone(),
    }
}

enum Writer {
    Directory {
        dir: PathBuf,
        index: BufWriter<File>,
        first: bool,
    },
    Mbox {
        path: PathBuf,
        out: BufWriter<File>,
    },
}

fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> DumpError + '_ {
    move |source| DumpError::Write {
        path: path.display().to_string(),
        source,
    }
}

impl Writer {
    fn create(target: &DumpTarget) -> Result<Writer, DumpError> {
        match target {
            DumpTarget::Directory(dir) => {
                fs::create_dir_all(dir).map_err(write_error(dir))?;
                let path = dir.join(DUMP_INDEX);
                let mut index = BufWriter::new(File::create(&path).map_err(write_error(&path))?);
                index.write_all(b"[").map_err(write_error(&path))?;
                Ok(Writer::Directory {
                    dir: dir.clone(),
                    index,
                    first: true,
                })
            }
            DumpTarget::Mbox(path) => Ok(Writer::Mbox {
                path: path.clone(),
                out: BufWriter::new(File::create(path).map_err(write_error(path))?),
            }),
        }
    }

    fn message(&mut self, message: &StoredMessage, raw: &[u8]) -> Result<(), DumpError> {
        match self {
            Writer::Directory { dir, index, first } => {
                let file = format!("{}.eml", message.summary.id);
                let path = dir.join(&file);
                fs::write(&path, raw).map_err(write_error(&path))?;
                let entry = dump_entry(message, file);
                let index_path = dir.join(DUMP_INDEX);
                // One entry a line: the index stays readable with line tools.
                index
                    .write_all(if *first { b"\n" } else { b",\n" })
                    .and_then(|()| serde_json::to_writer(&mut *index, &entry).map_err(Into::into))
                    .map_err(write_error(&index_path))?;
                *first = false;
            }
            Writer::Mbox { path, out } => {
                let entry =
                    archive::mboxrd_entry(&message.envelope.mail_from, message.received_at_ms, raw);
                out.write_all(&entry).map_err(write_error(path))?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<(), DumpError> {
        match self {
            Writer::Directory { dir, mut index, .. } => {
                let path = dir.join(DUMP_INDEX);
                index
                    .write_all(b"\n]\n")
                    .and_then(|()| index.flush())
                    .map_err(write_error(&path))
            }
            Writer::Mbox { path, mut out } => out.flush().map_err(write_error(&path)),
        }
    }
}
