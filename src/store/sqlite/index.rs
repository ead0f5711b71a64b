//! What is derived from a message's raw bytes and kept for search and
//! views: the part index, the trigram index of subject and addresses, and
//! the full-text index. Written at ingest, and rebuilt from the raw bytes
//! when a schema change alters what goes where ([`reparse_all`]).

use rusqlite::{Connection, OptionalExtension, ToSql, Transaction, params};
use tracing::{info, warn};

use crate::domain::message::{self, Address, ParsedMessage};

/// Marker words around header names in the full-text index, so that a
/// `header:` search can ask for a header by its exact name ([`super::query`]).
pub const HEADER_MARK: &str = "letterboxhdr";
pub const VALUE_MARK: &str = "letterboxval";

/// The `headers` column of the full-text index: each header on a line of
/// its own, its name between the marker words.
fn header_text(headers: &[(String, String)]) -> String {
    let mut text = String::new();
    for (name, value) in headers {
        text.push_str(HEADER_MARK);
        text.push(' ');
        text.push_str(name);
        text.push(' ');
        text.push_str(VALUE_MARK);
        text.push(' ');
        text.push_str(value);
        text.push('\n');
    }
    text
}

pub fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializing plain data cannot fail")
}

/// `Name <address>, ...`, as the trigram index holds address lists.
fn mailboxes(list: &[Address]) -> String {
    list.iter()
        .map(|a| format!("{} <{}>", a.name, a.address))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Indexes message `rowid` (whose `messages` row exists) in full: its
/// parts and, at once, its text ([`index_parts`] and [`TextEntry`]).
pub fn index(tx: &Transaction<'_>, rowid: i64, p: &ParsedMessage) -> Result<(), rusqlite::Error> {
    index_parts(tx, rowid, p)?;
    TextEntry::of(rowid, p).insert(tx)
}

/// The part index of message `rowid`: written with the message, since its
/// view reads it.
pub fn index_parts(
    tx: &Transaction<'_>,
    rowid: i64,
    p: &ParsedMessage,
) -> Result<(), rusqlite::Error> {
    let mut part_stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO message_parts (message, part_id, parent_id, role, content_type, charset,
            transfer_encoding, disposition, filename, content_id, size, header_start, body_start, body_end)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for part in &p.parts {
        part_stmt.execute(params![
            rowid,
            part.part_id,
            part.parent_id,
            json(&part.role).trim_matches('"'),
            part.content_type,
            part.charset,
            part.transfer_encoding,
            part.disposition,
            part.filename,
            part.content_id,
            part.size,
            part.header_start,
            part.body_start,
            part.body_end,
        ])?;
    }
    Ok(())
}

/// What the two text indexes (the full-text index and the trigram index of
/// subject and addresses) take in for one message. The writer keeps these
/// after the message's commit and indexes many at once (see
/// `writer::Pending`): FTS5 writes an index segment per transaction, and
/// fewer, larger segments cost far less to write and merge.
pub struct TextEntry {
    pub rowid: i64,
    people: String,
    body: String,
    attachments: String,
    headers: String,
    html: String,
    subject: String,
    from: String,
    to: String,
    cc: String,
    bcc: String,
    reply_to: String,
}

impl TextEntry {
    pub fn of(rowid: i64, p: &ParsedMessage) -> TextEntry {
        TextEntry {
            rowid,
            people: p.people_text(),
            body: p.search.body.clone(),
            attachments: p.search.attachments.clone(),
            headers: header_text(&p.search.headers),
            html: p.search.html.clone(),
            subject: p.subject.clone(),
            from: mailboxes(p.from.as_slice()),
            to: mailboxes(&p.to),
            cc: mailboxes(&p.cc),
            bcc: mailboxes(&p.bcc),
            reply_to: mailboxes(&p.reply_to),
        }
    }

    /// Bytes of text held, to bound what waits in memory.
    pub fn bytes(&self) -> usize {
        [
            &self.people,
            &self.body,
            &self.attachments,
            &self.headers,
            &self.html,
            &self.subject,
            &self.from,
            &self.to,
            &self.cc,
            &self.bcc,
            &self.reply_to,
        ]
        .iter()
        .map(|s| s.len())
        .sum()
    }

    pub fn insert(&self, tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
        tx.prepare_cached(
            "INSERT INTO messages_fields (rowid, subject, from_addr, to_addrs, cc_addrs,
                bcc_addrs, reply_to_addrs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            self.rowid,
            self.subject,
            self.from,
            self.to,
            self.cc,
            self.bcc,
            self.reply_to,
        ])?;
        tx.prepare_cached(
            "INSERT INTO messages_fts (rowid, people, body, attachments, headers, html)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            self.rowid,
            self.people,
            self.body,
            self.attachments,
            self.headers,
            self.html
        ])?;
        Ok(())
    }
}

/// Every message up to this rowid is in the text indexes; the ones after
/// it are indexed by the writer from memory, or, after a crash, from their
/// raw bytes when the store opens ([`index_unindexed`]).
pub fn indexed_through(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.query_row("SELECT last_rowid FROM text_index_mark", [], |r| r.get(0))
}

pub fn set_indexed_through(tx: &Transaction<'_>, rowid: i64) -> Result<(), rusqlite::Error> {
    tx.prepare_cached("UPDATE text_index_mark SET last_rowid = max(last_rowid, ?1)")?
        .execute([rowid])?;
    Ok(())
}

/// Indexes the text of the messages after the mark, which a crash left
/// out, parsing them again from their raw bytes; returns how many.
pub fn index_unindexed(tx: &Transaction<'_>) -> Result<usize, rusqlite::Error> {
    let mark = indexed_through(tx)?;
    let rows: Vec<(i64, Vec<u8>, String)> = tx
        .prepare(
            "SELECT m.rowid, r.data, m.envelope FROM messages m JOIN message_raw r ON r.rowid = m.rowid
             WHERE m.rowid > ?1 ORDER BY m.rowid",
        )?
        .query_map([mark], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut last = mark;
    for (rowid, compressed, envelope) in &rows {
        last = *rowid;
        let Some(p) = parse_stored(*rowid, compressed, envelope) else {
            continue;
        };
        TextEntry::of(*rowid, &p).insert(tx)?;
    }
    set_indexed_through(tx, last)?;
    Ok(rows.len())
}

/// A stored message parsed again from its raw bytes and envelope, or
/// `None` (logged) when the bytes cannot be decompressed.
fn parse_stored(rowid: i64, compressed: &[u8], envelope: &str) -> Option<ParsedMessage> {
    let raw = match zstd::stream::decode_all(compressed) {
        Ok(raw) => raw,
        Err(err) => {
            warn!(rowid, %err, "a stored message could not be decompressed to index it");
            return None;
        }
    };
    let mut p = message::parse(&raw);
    p.add_envelope_bcc(&envelope_recipients(envelope));
    Some(p)
}

/// The `messages` columns that parsing fills, in the order both the insert
/// and the reindex bind them: `message_id, subject, from_addr, to_addrs,
/// cc_addrs, bcc_addrs, reply_to_addrs, date, attachments, inline, snippet,
/// problems`.
pub struct ParsedColumns<'a> {
    parsed: &'a ParsedMessage,
    from: Option<String>,
    to: String,
    cc: String,
    bcc: String,
    reply_to: String,
    problems: String,
}

impl<'a> ParsedColumns<'a> {
    pub fn of(parsed: &'a ParsedMessage) -> Self {
        ParsedColumns {
            parsed,
            from: parsed.from.as_ref().map(json),
            to: json(&parsed.to),
            cc: json(&parsed.cc),
            bcc: json(&parsed.bcc),
            reply_to: json(&parsed.reply_to),
            problems: json(&parsed.problems),
        }
    }

    pub fn values(&self) -> [&dyn ToSql; 12] {
        let p = self.parsed;
        [
            &p.message_id,
            &p.subject,
            &self.from,
            &self.to,
            &self.cc,
            &self.bcc,
            &self.reply_to,
            &p.date,
            &p.attachments,
            &p.inline,
            &p.snippet,
            &self.problems,
        ]
    }
}

/// Parses every stored message again from its raw bytes and envelope and
/// rewrites what is derived from them (summary columns, parts, both
/// indexes). Tags, the read flag and the inbox are the user's and stay.
/// Runs inside a migration, after it has emptied (or recreated) the
/// derived tables.
pub fn reparse_all(tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
    let rowids: Vec<i64> = tx
        .prepare("SELECT rowid FROM messages ORDER BY rowid")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if !rowids.is_empty() {
        info!(
            messages = rowids.len(),
            "indexing the stored messages again for this version's search (once)"
        );
    }
    let mut read = tx.prepare(
        "SELECT r.data, m.envelope FROM messages m JOIN message_raw r ON r.rowid = m.rowid
         WHERE m.rowid = ?1",
    )?;
    let mut update = tx.prepare(
        "UPDATE messages SET message_id = ?2, subject = ?3, from_addr = ?4, to_addrs = ?5,
            cc_addrs = ?6, bcc_addrs = ?7, reply_to_addrs = ?8, date = ?9, attachments = ?10,
            inline = ?11, snippet = ?12, problems = ?13
         WHERE rowid = ?1",
    )?;
    for rowid in rowids {
        let row: Option<(Vec<u8>, String)> = read
            .query_row([rowid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        // A row that cannot be read keeps its summary and stays listed; it
        // is only missing from the indexes (nothing is deleted here).
        let Some((compressed, envelope)) = row else {
            warn!(rowid, "a stored message has no raw bytes to index");
            continue;
        };
        let Some(p) = parse_stored(rowid, &compressed, &envelope) else {
            continue;
        };
        let columns = ParsedColumns::of(&p);
        update.execute(rusqlite::params_from_iter(
            std::iter::once(&rowid as &dyn ToSql).chain(columns.values()),
        ))?;
        index(tx, rowid, &p)?;
    }
    Ok(())
}

/// The recipients of a stored envelope (read alone, so that envelopes
/// stored by other versions, with other fields, are read too).
fn envelope_recipients(envelope: &str) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Recipients {
        #[serde(default)]
        rcpt_to: Vec<String>,
    }
    serde_json::from_str::<Recipients>(envelope)
        .map(|e| e.rcpt_to)
        .unwrap_or_default()
}
