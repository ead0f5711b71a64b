//! Reading what `letterbox ingest` is given: `.eml` files, directories of
//! them (recursively), mbox files, Maildirs and dump directories, turned
//! into one message at a time. Runs on a blocking thread; an mbox is read
//! line by line, so memory holds the message being read, not the file.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::app::{Import, Received};
use crate::domain::archive::{self, DUMP_INDEX, DumpEntry, MboxFormat, MboxSplitter};
use crate::domain::inbox::InboxName;
use crate::domain::timefmt;

/// One thing read: a message, or what could not be one and why.
#[derive(Debug)]
pub enum Item {
    Message {
        /// The file, and for an mbox the line of its separator.
        origin: String,
        /// Input bytes it took, for the progress line.
        bytes: u64,
        import: Box<Import>,
    },
    Skipped {
        origin: String,
        bytes: u64,
        reason: String,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    pub mbox_format: MboxFormat,
    /// Received times from `Date:` (or the mbox separator).
    pub keep_dates: bool,
}

/// Hands every item of `paths` to `emit`, in order; stops early when
/// `emit` returns false (nobody takes them any more).
pub fn read_all(paths: &[PathBuf], options: ReadOptions, emit: &mut dyn FnMut(Item) -> bool) {
    let mut reader = Reader { options, emit };
    for path in paths {
        if !reader.path(path, true) {
            return;
        }
    }
}

/// The bytes of every file under `paths`, for the time left.
pub fn total_bytes(paths: &[PathBuf]) -> u64 {
    fn walk(path: &Path) -> u64 {
        match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => fs::read_dir(path).map_or(0, |entries| {
                entries.flatten().map(|e| walk(&e.path())).sum()
            }),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        }
    }
    paths.iter().map(|p| walk(p)).sum()
}

struct Reader<'a> {
    options: ReadOptions,
    emit: &'a mut dyn FnMut(Item) -> bool,
}

/// The entries of a directory, sorted by name (Maildir names start with
/// the delivery time, dumps with the ID: name order is arrival order).
fn sorted_entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    Ok(entries)
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Reader<'_> {
    fn skip(&mut self, origin: String, bytes: u64, reason: impl Into<String>) -> bool {
        (self.emit)(Item::Skipped {
            origin,
            bytes,
            reason: reason.into(),
        })
    }

    fn received(&self, fallback: Option<i64>) -> Received {
        if self.options.keep_dates {
            Received::Dated { fallback }
        } else {
            Received::Now
        }
    }

    /// A path given on the command line (`explicit`) or found in a walk.
    fn path(&mut self, path: &Path, explicit: bool) -> bool {
        match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => self.directory(path),
            Ok(meta) => self.file(path, meta.len(), explicit),
            Err(err) => self.skip(path.display().to_string(), 0, err.to_string()),
        }
    }

    fn directory(&mut self, dir: &Path) -> bool {
        let entries = match sorted_entries(dir) {
            Ok(entries) => entries,
            Err(err) => return self.skip(dir.display().to_string(), 0, err.to_string()),
        };
        let maildir = ["cur", "new"].iter().any(|sub| dir.join(sub).is_dir());
        let mut done: HashSet<PathBuf> = HashSet::new();
        if maildir {
            for sub in ["cur", "new", "tmp"] {
                done.insert(dir.join(sub));
            }
            for sub in ["cur", "new"] {
                if !self.maildir_folder(&dir.join(sub), sub == "cur") {
                    return false;
                }
            }
        } else if dir.join(DUMP_INDEX).is_file() {
            done.insert(dir.join(DUMP_INDEX));
            match self.dump(dir) {
                Some(listed) => done.extend(listed),
                None => return false,
            }
        }
        for entry in entries {
            // In a Maildir only subfolders (Maildir++'s `.Sent`) are walked;
            // elsewhere hidden files (`.DS_Store`, `.gitattributes`) are
            // not mail and not worth a line in the summary.
            let hidden = name_of(&entry).starts_with('.') && !entry.is_dir();
            let skip = hidden || done.contains(&entry) || (maildir && !entry.is_dir());
            if !skip && !self.path(&entry, false) {
                return false;
            }
        }
        true
    }

    /// `cur` or `new` of a Maildir: every file is a message; in `cur` the
    /// `S` flag of its name means read.
    fn maildir_folder(&mut self, dir: &Path, cur: bool) -> bool {
        let Ok(entries) = sorted_entries(dir) else {
            return true; // a Maildir may lack one of the two
        };
        for path in entries {
            let name = name_of(&path);
            if name.starts_with('.') || !path.is_file() {
                continue;
            }
            let read = cur && archive::maildir_seen(&name);
            let received = self.received(None);
            if !self.message_file(&path, |import| {
                import.read = read;
                import.received = received;
            }) {
                return false;
            }
        }
        true
    }

    /// A dump directory: each entry of its index with what the index keeps
    /// (received time, read flag, tags, inbox, envelope). Returns the files
    /// it listed, or `None` to stop.
    fn dump(&mut self, dir: &Path) -> Option<Vec<PathBuf>> {
        let index_path = dir.join(DUMP_INDEX);
        let entries: Vec<DumpEntry> = match fs::read(&index_path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| e.to_string()))
        {
            Ok(entries) => entries,
            Err(reason) => {
                let origin = index_path.display().to_string();
                return self.skip(origin, 0, reason).then(Vec::new);
            }
        };
        let mut listed = Vec::with_capacity(entries.len());
        for entry in entries {
            let path = dir.join(&entry.file);
            listed.push(path.clone());
            let received =
                timefmt::parse_datetime_millis(&entry.received).map_or(Received::Now, Received::At);
            let envelope = (entry.envelope != Default::default()).then_some(entry.envelope);
            let inbox = InboxName::parse(&entry.inbox).ok();
            let keep = |import: &mut Import| {
                import.received = received;
                import.read = entry.read;
                import.tags = Some(entry.tags);
                import.inbox = inbox;
                import.envelope = envelope;
            };
            if !self.message_file(&path, keep) {
                return None;
            }
        }
        Some(listed)
    }

    fn file(&mut self, path: &Path, size: u64, explicit: bool) -> bool {
        let origin = path.display().to_string();
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if extension == "eml" {
            let received = self.received(None);
            return self.message_file(path, |import| import.received = received);
        }
        let mut head = [0u8; 5];
        let starts_from = File::open(path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok()
            && &head == b"From ";
        if starts_from || extension == "mbox" || extension == "mbx" {
            return self.mbox(path);
        }
        if explicit || extension.is_empty() {
            let received = self.received(None);
            return self.message_file(path, |import| import.received = received);
        }
        self.skip(origin, size, "not an .eml file, an mbox or a Maildir")
    }

    /// One file, one message, as it is.
    fn message_file(&mut self, path: &Path, adjust: impl FnOnce(&mut Import)) -> bool {
        let origin = path.display().to_string();
        let raw = match fs::read(path) {
            Ok(raw) => raw,
            Err(err) => return self.skip(origin, 0, err.to_string()),
        };
        let bytes = raw.len() as u64;
        if let Err(why) = archive::check_message(&raw) {
            return self.skip(origin, bytes, format!("not a message: {why}"));
        }
        let mut import = Import::file(raw);
        adjust(&mut import);
        (self.emit)(Item::Message {
            origin,
            bytes,
            import: Box::new(import),
        })
    }

    fn mbox(&mut self, path: &Path) -> bool {
        let name = path.display().to_string();
        let file = match File::open(path) {
            Ok(file) => file,
            Err(err) => return self.skip(name, 0, err.to_string()),
        };
        let mut input = BufReader::with_capacity(256 * 1024, file);
        let mut splitter = MboxSplitter::new(self.options.mbox_format);
        let mut line = Vec::new();
        // Input bytes read since the last message was handed on.
        let mut pending = 0u64;
        loop {
            line.clear();
            let ended = match input.read_until(b'\n', &mut line) {
                Ok(0) => splitter.finish(),
                Ok(n) => {
                    pending += n as u64;
                    match splitter.push_line(&line) {
                        Ok(ended) => ended,
                        Err(err) => return self.skip(name, pending, err.to_string()),
                    }
                }
                Err(err) => return self.skip(name, pending, err.to_string()),
            };
            let at_end = line.is_empty();
            if let Some(message) = ended {
                let origin = format!("{name}:{}", message.line);
                let bytes = std::mem::take(&mut pending);
                let go_on = match archive::check_message(&message.raw) {
                    Err(why) => self.skip(origin, bytes, format!("not a message: {why}")),
                    Ok(()) => {
                        let mut import = Import::file(message.raw);
                        import.received = self.received(message.date_ms);
                        import.sender = Some(message.sender);
                        (self.emit)(Item::Message {
                            origin,
                            bytes,
                            import: Box::new(import),
                        })
                    }
                };
                if !go_on {
                    return false;
                }
            }
            if at_end {
                return true;
            }
        }
    }
}
