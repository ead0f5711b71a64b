//! What is derived from a message's raw bytes and kept for search and
//! views: the part index, the trigram index of subject and addresses, and
//! the full-text index. Written at ingest, and rebuilt from the raw bytes
//! when a schema change alters what goes where ([`reparse_all`]).

use rusqlite::{OptionalExtension, ToSql, Transaction, params};
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

/// Indexes message `rowid` (whose `messages` row exists): its parts, its
/// subject and addresses, its text.
pub fn index(tx: &Transaction<'_>, rowid: i64, p: &ParsedMessage) -> Result<(), rusqlite::Error> {
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
    tx.prepare_cached(
        "INSERT INTO messages_fields (rowid, subject, from_addr, to_addrs, cc_addrs,
            bcc_addrs, reply_to_addrs) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        rowid,
        p.subject,
        mailboxes(p.from.as_slice()),
        mailboxes(&p.to),
        mailboxes(&p.cc),
        mailboxes(&p.bcc),
        mailboxes(&p.reply_to),
    ])?;
    let s = &p.search;
    tx.prepare_cached(
        "INSERT INTO messages_fts (rowid, people, body, attachments, headers, html)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        rowid,
        p.people_text(),
        s.body,
        s.attachments,
        header_text(&s.headers),
        s.html
    ])?;
    Ok(())
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
        let raw = match zstd::stream::decode_all(&compressed[..]) {
            Ok(raw) => raw,
            Err(err) => {
                warn!(rowid, %err, "a stored message could not be decompressed to index it");
                continue;
            }
        };
        let mut p = message::parse(&raw);
        p.add_envelope_bcc(&envelope_recipients(&envelope));
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
