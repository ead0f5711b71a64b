//! Reads, each on a pooled read-only connection of its own (WAL lets them
//! run while the writer commits).

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row};

use super::{Counts, NewMessage, Page, StoreError, StoredMessage, Summary};
use crate::message::{Part, PartRole};
use crate::timefmt;

/// Idle read connections kept for reuse.
const POOL_SIZE: usize = 8;

pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub fn new(path: PathBuf) -> Self {
        Readers {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(conn)
    }

    /// Closes the idle connections, so that the writer's is the last one
    /// open when it closes: only then does SQLite checkpoint and remove the
    /// write-ahead log. A read after this opens a new connection.
    pub fn close_idle(&self) {
        self.idle.lock().expect("reader pool lock").clear();
    }

    /// Runs `f` on an idle connection (or a new one) and returns it to the pool.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().expect("reader pool lock").pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = in_one_snapshot(&conn, f);
        let mut idle = self.idle.lock().expect("reader pool lock");
        if idle.len() < POOL_SIZE {
            idle.push(conn);
        }
        result
    }
}

/// Runs `f` in one read transaction, so that everything it reads comes from
/// the same snapshot: a page and its total agree even while the writer
/// commits (or prunes) between the two queries.
fn in_one_snapshot<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.execute_batch("BEGIN")?;
    let result = f(conn);
    // A read-only transaction has nothing to roll back: ending it is all.
    let ended = conn.execute_batch("COMMIT");
    let value = result?;
    ended?;
    Ok(value)
}

const SUMMARY_COLUMNS: &str = "id, message_id, read, from_addr, to_addrs, cc_addrs, bcc_addrs, \
     reply_to_addrs, subject, received_at, envelope, size, attachments, snippet";

fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn summary_from_row(row: &Row<'_>) -> Result<Summary, StoreError> {
    let from: Option<String> = row.get(3)?;
    let envelope: String = row.get(10)?;
    let envelope: crate::smtp::Envelope = parse_json(&envelope)?;
    Ok(Summary {
        id: row.get(0)?,
        message_id: row.get(1)?,
        read: row.get(2)?,
        from: from
            .as_deref()
            .map(parse_json)
            .transpose()?
            .unwrap_or_default(),
        to: parse_json(&row.get::<_, String>(4)?)?,
        cc: parse_json(&row.get::<_, String>(5)?)?,
        bcc: parse_json(&row.get::<_, String>(6)?)?,
        reply_to: parse_json(&row.get::<_, String>(7)?)?,
        subject: row.get(8)?,
        created: timefmt::rfc3339_millis(row.get(9)?),
        username: envelope.auth_user.unwrap_or_default(),
        tags: Vec::new(),
        size: row.get(11)?,
        attachments: row.get(12)?,
        snippet: row.get(13)?,
    })
}

impl NewMessage {
    /// The list entry this message will have once stored.
    pub fn summary(&self) -> Summary {
        let p = &self.parsed;
        Summary {
            id: self.id.clone(),
            message_id: p.message_id.clone(),
            read: false,
            from: p.from.clone().unwrap_or_default(),
            to: p.to.clone(),
            cc: p.cc.clone(),
            bcc: p.bcc.clone(),
            reply_to: p.reply_to.clone(),
            subject: p.subject.clone(),
            created: timefmt::rfc3339_millis(self.received_at_ms),
            username: self.envelope.auth_user.clone().unwrap_or_default(),
            tags: Vec::new(),
            size: self.size,
            attachments: p.attachments,
            snippet: p.snippet.clone(),
        }
    }
}

pub fn list(conn: &Connection, start: u64, limit: u64) -> Result<Page, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM messages ORDER BY rowid DESC LIMIT ?1 OFFSET ?2"
    ))?;
    let mut rows = stmt.query([limit, start])?;
    let mut messages = Vec::new();
    while let Some(row) = rows.next()? {
        messages.push(summary_from_row(row)?);
    }
    let counts = counts(conn)?;
    Ok(Page {
        messages,
        total: counts.total,
        unread: counts.unread,
    })
}

pub fn counts(conn: &Connection) -> Result<Counts, StoreError> {
    let total: u64 = conn.query_row("SELECT count(*) FROM messages", [], |r| r.get(0))?;
    let unread: u64 = conn.query_row("SELECT count(*) FROM messages WHERE read = 0", [], |r| {
        r.get(0)
    })?;
    let pages: u64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let page_size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(Counts {
        total,
        unread,
        database_bytes: pages * page_size,
    })
}

pub fn latest_id(conn: &Connection) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT id FROM messages ORDER BY rowid DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn message(conn: &Connection, id: &str) -> Result<Option<StoredMessage>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS}, rowid, date, inline, problems FROM messages WHERE id = ?1"
    ))?;
    let mut rows = stmt.query([id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let summary = summary_from_row(row)?;
    let rowid: i64 = row.get(14)?;
    let envelope: String = row.get(10)?;
    let received_at_ms: i64 = row.get(9)?;
    let message = StoredMessage {
        received_at_ms,
        date: row.get(15)?,
        inline: row.get(16)?,
        problems: parse_json(&row.get::<_, String>(17)?)?,
        envelope: parse_json(&envelope)?,
        parts: parts(conn, rowid)?,
        summary,
    };
    Ok(Some(message))
}

fn parts(conn: &Connection, rowid: i64) -> Result<Vec<Part>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT part_id, parent_id, role, content_type, charset, transfer_encoding, disposition,
                filename, content_id, size, header_start, body_start, body_end
         FROM message_parts WHERE message = ?1",
    )?;
    let mut rows = stmt.query([rowid])?;
    let mut parts = Vec::new();
    while let Some(row) = rows.next()? {
        let role: String = row.get(2)?;
        parts.push(Part {
            part_id: row.get(0)?,
            parent_id: row.get(1)?,
            role: parse_json::<PartRole>(&format!("\"{role}\""))?,
            content_type: row.get(3)?,
            charset: row.get(4)?,
            transfer_encoding: row.get(5)?,
            disposition: row.get(6)?,
            filename: row.get(7)?,
            content_id: row.get(8)?,
            size: row.get(9)?,
            header_start: row.get(10)?,
            body_start: row.get(11)?,
            body_end: row.get(12)?,
        });
    }
    // Document order: "2" before "10", "1.2" before "2".
    parts.sort_by_key(|p| part_order(&p.part_id));
    Ok(parts)
}

fn part_order(id: &str) -> Vec<u32> {
    id.split('.')
        .map(|n| n.parse().unwrap_or(u32::MAX))
        .collect()
}

pub fn raw(conn: &Connection, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let data: Option<Vec<u8>> = conn
        .prepare_cached(
            "SELECT r.data FROM message_raw r JOIN messages m ON m.rowid = r.rowid WHERE m.id = ?1",
        )?
        .query_row([id], |r| r.get(0))
        .optional()?;
    data.map(|compressed| {
        zstd::stream::decode_all(&compressed[..]).map_err(|e| StoreError::Corrupt(e.to_string()))
    })
    .transpose()
}
