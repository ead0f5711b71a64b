//! Mail moved in bulk: messages imported from files, a dump or another
//! store (through the same preparation as SMTP ingest, with what is known
//! about them kept), and the walk an export takes through the store.

use crate::domain::Envelope;
use crate::domain::archive;
use crate::domain::inbox::InboxName;
use crate::domain::message;
use crate::domain::search::Query;
use crate::domain::timefmt;
use crate::store::{NewMessage, Selection, StoreError};

use super::{App, IngestError, ingest};

/// When an imported message counts as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Now, as mail arriving over SMTP.
    Now,
    /// At this Unix millisecond (kept from a dump or another store).
    At(i64),
    /// At its `Date:` header; else at `fallback` (an mbox separator's
    /// date); else now.
    Dated { fallback: Option<i64> },
}

/// A message brought in from elsewhere, with what is known about it.
#[derive(Debug, Clone)]
pub struct Import {
    pub raw: Vec<u8>,
    /// The SMTP envelope it came with; `None` for a file, where the
    /// envelope is read from its headers.
    pub envelope: Option<Envelope>,
    /// An mbox separator's sender, the envelope sender when it is an
    /// address and `envelope` is `None`.
    pub sender: Option<String>,
    pub received: Received,
    pub read: bool,
    /// The tags it had; `None`: from its headers and recipients, as over
    /// SMTP.
    pub tags: Option<Vec<String>>,
    /// The inbox it was in; `None`: chosen by the inbox rules, as over SMTP.
    pub inbox: Option<InboxName>,
}

impl Import {
    /// A message from a file: envelope, tags and inbox as if it had just
    /// arrived over SMTP.
    pub fn file(raw: Vec<u8>) -> Import {
        Import {
            raw,
            envelope: None,
            sender: None,
            received: Received::Now,
            read: false,
            tags: None,
            inbox: None,
        }
    }
}

/// An import parsed and compressed, ready for [`App::store_import`].
#[derive(Debug)]
pub struct PreparedImport {
    message: NewMessage,
    read: bool,
}

impl PreparedImport {
    pub fn size(&self) -> u64 {
        self.message.size
    }
}

impl App {
    /// Parses and compresses an import: CPU work, for a blocking thread.
    pub fn prepare_import(&self, import: Import) -> PreparedImport {
        let now = timefmt::now_millis();
        let received_at_ms = match import.received {
            Received::At(ms) => ms,
            Received::Now | Received::Dated { .. } => now,
        };
        let from_headers = import.envelope.is_none();
        let envelope = import.envelope.unwrap_or_default();
        // The ID is given when the message is stored, in storing order.
        let mut message = ingest::prepare(
            String::new(),
            received_at_ms,
            envelope,
            import.raw,
            &self.inner.inboxes,
        );
        if let Received::Dated { fallback } = import.received {
            let dated = message.parsed.date.map(|secs| secs.saturating_mul(1000));
            message.received_at_ms = dated.or(fallback).unwrap_or(now);
        }
        if from_headers {
            message.envelope =
                archive::envelope_from_headers(&message.parsed, import.sender.as_deref());
            message.inbox =
                self.inner
                    .inboxes
                    .choose(&message.envelope, &message.parsed, message.size);
        }
        if let Some(tags) = import.tags {
            let mut kept = Vec::new();
            message::add_tags(&mut kept, tags.iter().filter_map(|t| message::clean_tag(t)));
            message.parsed.tags = kept;
        }
        if let Some(inbox) = import.inbox {
            message.inbox = inbox;
        }
        PreparedImport {
            message,
            read: import.read,
        }
    }

    /// Stores a prepared import and returns its ID once committed (and
    /// marked read, if it was). Imports stored one after another keep
    /// that order in the store; their IDs are given in it too.
    pub async fn store_import(&self, prepared: PreparedImport) -> Result<String, IngestError> {
        let PreparedImport { mut message, read } = prepared;
        let id = self.next_id();
        message.id = id.clone();
        self.store().insert(message).await?;
        if read {
            self.store()
                .set_read(Selection::Ids(vec![id.clone()]), true)
                .await?;
        }
        Ok(id)
    }

    /// IDs of up to `limit` matches of `query` after the ID `after`, oldest
    /// first: an export's walk through the store, a page at a time.
    pub async fn ids_after(
        &self,
        query: Query,
        after: Option<String>,
        limit: u64,
    ) -> Result<Vec<String>, StoreError> {
        self.store().ids_after(query, after, limit).await
    }
}
