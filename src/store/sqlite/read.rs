//! Reads, each on a pooled read-only connection of its own (WAL lets them
//! run while the writer commits).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params_from_iter};

use super::query::{Condition, MAX_PREFIX_TERMS};
use crate::domain::Summary;
use crate::domain::message::{Part, PartRole};
use crate::domain::search::Query;
use crate::domain::timefmt;
use crate::store::window::PageWindow;
use crate::store::{Counts, Cursor, InboxCounts, Page, StoreError, StoredMessage};

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
        // One read transaction per call: a page and its counts come from
        // the same snapshot even while the writer commits in between.
        let result = conn
            .unchecked_transaction()
            .map_err(StoreError::from)
            .and_then(|snapshot| f(&snapshot));
        let mut idle = self.idle.lock().expect("reader pool lock");
        if idle.len() < POOL_SIZE {
            idle.push(conn);
        }
        result
    }
}

/// Columns of `messages m` that [`summary_from_row`] reads, by position.
const SUMMARY_COLUMNS: &str = "m.id, m.message_id, m.read, m.from_addr, m.to_addrs, m.cc_addrs, \
     m.bcc_addrs, m.reply_to_addrs, m.subject, m.received_at, m.envelope, m.size, m.attachments, \
     m.snippet, m.rowid, m.inbox";

fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn summary_from_row(row: &Row<'_>) -> Result<Summary, StoreError> {
    let from: Option<String> = row.get(3)?;
    let envelope: String = row.get(10)?;
    let envelope: crate::domain::Envelope = parse_json(&envelope)?;
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
        inbox: row.get(15)?,
    })
}

pub fn search(
    conn: &Connection,
    query: &Query,
    start: u64,
    limit: u64,
) -> Result<Page, StoreError> {
    // A query of words and header filters alone is answered by the
    // full-text index; anything else by a condition on `messages`.
    let mut terms = prefix_terms(conn);
    let plan = match Condition::text_only(query, &mut terms) {
        Some(expression) => Plan::Text(expression),
        None => Plan::Rows(Condition::for_query_with(query, &mut terms)),
    };
    // The "mailbox" of the page's totals is the inbox the query is confined
    // to, if it is.
    let counts = match query.inbox() {
        Some(inbox) => counts_in(conn, inbox)?,
        None => {
            let c = counts(conn)?;
            (c.total, c.unread)
        }
    };
    let only_inbox = query.terms.len() == 1 && query.inbox().is_some();
    let (matched, matched_unread) = match &plan {
        _ if query.is_empty() || only_inbox => counts,
        Plan::Text(expression) => text_match_counts(conn, expression, counts)?,
        Plan::Rows(condition) => {
            let sql = format!(
                "SELECT count(*), coalesce(sum(m.read = 0), 0) FROM messages m {} WHERE {}",
                narrow_index(condition),
                condition.sql
            );
            conn.prepare_cached(&sql)?
                .query_row(params_from_iter(&condition.params), |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
        }
    };
    // The page's rowids first, from the narrowest source that answers the
    // query, so rows skipped by `start` are never read; then its 50 rows.
    // A page past the middle is read from the oldest end (SQLite steps
    // over every skipped entry); the counts above are exact and from the
    // same read transaction.
    let PageWindow { order, skip, take } = PageWindow::nearer_end(matched, start, limit);
    let (page_rowids, page_params) = match &plan {
        Plan::Text(expression) => (
            format!(
                "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? \
                 ORDER BY rowid {order} LIMIT {take} OFFSET {skip}"
            ),
            vec![Value::Text(expression.clone())],
        ),
        Plan::Rows(condition) => (
            format!(
                "SELECT m.rowid FROM messages m {} WHERE {} \
                 ORDER BY m.rowid {order} LIMIT {take} OFFSET {skip}",
                narrow_index(condition),
                condition.sql
            ),
            condition.params.clone(),
        ),
    };
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM messages m WHERE m.rowid IN ({page_rowids}) ORDER BY m.rowid DESC"
    );
    let mut messages = Vec::new();
    let mut rowids = Vec::new();
    if take > 0 {
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(&page_params))?;
        while let Some(row) = rows.next()? {
            messages.push(summary_from_row(row)?);
            rowids.push(row.get::<_, i64>(14)?);
        }
    }
    fill_tags(conn, &mut messages, &rowids)?;
    Ok(Page {
        messages,
        total: counts.0,
        unread: counts.1,
        matched,
        matched_unread,
        tags: tags(conn)?,
    })
}

/// How a search finds its matches.
enum Plan {
    /// One FTS5 expression: the full-text index lists them in rowid order.
    Text(String),
    /// A condition on `messages m`.
    Rows(Condition),
}

/// `INDEXED BY` the narrow rowid-and-read index when the condition reads
/// nothing else: rows are then tested without reading the wide table rows.
fn narrow_index(condition: &Condition) -> &'static str {
    if condition.reads_row {
        ""
    } else {
        "INDEXED BY messages_rowid_read"
    }
}

/// A memoised lookup of the index's terms that start with a prefix, for
/// [`Condition::for_query_with`]. A failed lookup leaves the prefix query.
fn prefix_terms(conn: &Connection) -> impl FnMut(&str) -> Option<Vec<String>> + '_ {
    let mut known: HashMap<String, Option<Vec<String>>> = HashMap::new();
    move |prefix: &str| {
        known
            .entry(prefix.to_string())
            .or_insert_with(|| terms_starting(conn, prefix).ok().flatten())
            .clone()
    }
}

/// The terms that start with `prefix` (lower-case ASCII alphanumerics);
/// `None` when there are more than [`MAX_PREFIX_TERMS`].
fn terms_starting(conn: &Connection, prefix: &str) -> Result<Option<Vec<String>>, StoreError> {
    // Every term with the prefix sorts before the prefix with its last
    // byte raised by one (still ASCII: the prefix is alphanumeric).
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    let end = String::from_utf8(end).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let terms = conn
        .prepare_cached(
            "SELECT term FROM messages_fts_terms WHERE term >= ?1 AND term < ?2 LIMIT ?3",
        )?
        .query_map(
            rusqlite::params![prefix, end, MAX_PREFIX_TERMS as i64 + 1],
            |r| r.get(0),
        )?
        .collect::<Result<Vec<String>, _>>()?;
    Ok((terms.len() <= MAX_PREFIX_TERMS).then_some(terms))
}

/// Up to this many read (or unread) messages, the unread among a search's
/// matches are counted by testing each of them against the expression
/// (about 25 µs each) rather than looking up every match's read flag.
const PROBE_LIMIT: u64 = 200;

/// All matches and the unread ones of a full-text expression, given the
/// store's `(total, unread)`. The index counts the matches alone. The
/// unread among them come free when every message or none is unread (a CI
/// run reads no mail, so all of it is); else from testing whichever of the
/// read and the unread messages are fewer, when few; else from merging the
/// matches with the fewer of them.
fn text_match_counts(
    conn: &Connection,
    expression: &str,
    (total, unread): (u64, u64),
) -> Result<(u64, u64), StoreError> {
    let count = |sql: &str| -> Result<u64, StoreError> {
        Ok(conn
            .prepare_cached(sql)?
            .query_row([expression], |r| r.get(0))?)
    };
    let matched = count("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?1")?;
    let read = total - unread;
    // Testing one message against a prefix query builds the prefix's whole
    // match list each time: only whole terms are tested per message.
    let testable = !expression.contains("\"*");
    let matched_unread = if unread == 0 {
        0
    } else if read == 0 {
        matched
    } else if testable && read <= PROBE_LIMIT {
        let read_matches = count(
            "SELECT count(*) FROM messages m INDEXED BY messages_read WHERE m.read = 1 \
             AND EXISTS (SELECT 1 FROM messages_fts f WHERE f.rowid = m.rowid AND messages_fts MATCH ?1)",
        )?;
        matched.saturating_sub(read_matches)
    } else if testable && unread <= PROBE_LIMIT {
        count(
            "SELECT count(*) FROM messages m INDEXED BY messages_unread WHERE m.read = 0 \
             AND EXISTS (SELECT 1 FROM messages_fts f WHERE f.rowid = m.rowid AND messages_fts MATCH ?1)",
        )?
    } else if read < unread {
        matched - matches_among(conn, expression, true)?
    } else {
        matches_among(conn, expression, false)?
    };
    Ok((matched, matched_unread))
}

/// How many of the read (or unread) messages match `expression`: both
/// lists are read in rowid order, from the FTS5 index and from the partial
/// index of read (or unread) messages, and merged, one step per entry,
/// where a lookup per match would descend a b-tree each time.
fn matches_among(conn: &Connection, expression: &str, read: bool) -> Result<u64, StoreError> {
    let mut matches = conn.prepare_cached(
        "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 ORDER BY rowid",
    )?;
    let mut among = conn.prepare_cached(if read {
        "SELECT rowid FROM messages INDEXED BY messages_read WHERE read = 1 ORDER BY rowid"
    } else {
        "SELECT rowid FROM messages INDEXED BY messages_unread WHERE read = 0 ORDER BY rowid"
    })?;
    let mut matches = matches.query([expression])?;
    let mut among = among.query([])?;
    let next = |rows: &mut rusqlite::Rows<'_>| -> Result<Option<i64>, StoreError> {
        Ok(match rows.next()? {
            Some(row) => Some(row.get(0)?),
            None => None,
        })
    };
    let (mut a, mut b) = (next(&mut matches)?, next(&mut among)?);
    let mut both = 0;
    while let (Some(x), Some(y)) = (a, b) {
        match x.cmp(&y) {
            std::cmp::Ordering::Less => a = next(&mut matches)?,
            std::cmp::Ordering::Greater => b = next(&mut among)?,
            std::cmp::Ordering::Equal => {
                both += 1;
                a = next(&mut matches)?;
                b = next(&mut among)?;
            }
        }
    }
    Ok(both)
}

/// Sets `tags` on each summary, in one query for the whole page.
fn fill_tags(
    conn: &Connection,
    messages: &mut [Summary],
    rowids: &[i64],
) -> Result<(), StoreError> {
    if rowids.is_empty() {
        return Ok(());
    }
    let list = rowids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let sql = format!(
        "SELECT mt.message, t.name FROM message_tags mt JOIN tags t ON t.id = mt.tag
         WHERE mt.message IN ({list}) ORDER BY t.name"
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let rowid: i64 = row.get(0)?;
        if let Some(i) = rowids.iter().position(|&r| r == rowid) {
            messages[i].tags.push(row.get(1)?);
        }
    }
    Ok(())
}

/// Each tag in use with the number of messages carrying it.
pub fn tag_counts(conn: &Connection) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.name, count(*) FROM tags t JOIN message_tags mt ON mt.tag = t.id
         GROUP BY t.id ORDER BY t.name COLLATE NOCASE",
    )?;
    let counts = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(counts)
}

pub fn tags(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name FROM tags WHERE id IN (SELECT tag FROM message_tags) ORDER BY name COLLATE NOCASE",
    )?;
    let names = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(names)
}

fn first_id(
    conn: &Connection,
    condition: Condition,
    order: &str,
) -> Result<Option<String>, StoreError> {
    let sql = format!(
        "SELECT m.id FROM messages m WHERE {} ORDER BY m.rowid {order} LIMIT 1",
        condition.sql
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(&condition.params), |r| r.get(0))
        .optional()?)
}

pub fn latest_id(conn: &Connection, query: &Query) -> Result<Option<String>, StoreError> {
    let condition = Condition::for_query_with(query, &mut prefix_terms(conn));
    first_id(conn, condition, "DESC")
}

pub fn first_after(
    conn: &Connection,
    query: &Query,
    cursor: &Cursor,
) -> Result<Option<String>, StoreError> {
    let condition = Condition::for_query_with(query, &mut prefix_terms(conn));
    let condition = match cursor {
        // Later IDs sort after earlier ones (ULIDs); the rowid keeps the
        // commit order among them.
        Cursor::AfterId(id) => condition.and("m.id > ?", [Value::Text(id.clone())]),
        Cursor::AfterTime(ms) => condition.and("m.received_at >= ?", [Value::Integer(*ms)]),
    };
    first_id(conn, condition, "ASC")
}

/// IDs of up to `limit` matches of `query` after the ID `after`, in ID
/// order: the unique index on `id` makes each page a range scan, however
/// far into the store it is.
pub fn ids_after(
    conn: &Connection,
    query: &Query,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<String>, StoreError> {
    let mut condition = Condition::for_query_with(query, &mut prefix_terms(conn));
    if let Some(after) = after {
        condition = condition.and("m.id > ?", [Value::Text(after.to_string())]);
    }
    let sql = format!(
        "SELECT m.id FROM messages m WHERE {} ORDER BY m.id LIMIT {limit}",
        condition.sql
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let ids = stmt
        .query_map(params_from_iter(&condition.params), |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Whether message `id` matches `query` (asked for each new message by
/// waiting requests and the auto-relay).
pub fn matches(conn: &Connection, query: &Query, id: &str) -> Result<bool, StoreError> {
    Ok(first_matching(conn, query, &[id.to_string()])?.is_some())
}

/// The first of the messages `ids` (in rowid order) that matches `query`,
/// each looked up in the indexes on its own, not by listing every match
/// (for a waiting request that heard of several new messages at once).
pub fn first_matching(
    conn: &Connection,
    query: &Query,
    ids: &[String],
) -> Result<Option<String>, StoreError> {
    if ids.is_empty() {
        return Ok(None);
    }
    let among = format!("m.id IN ({})", vec!["?"; ids.len()].join(", "));
    let given = || ids.iter().map(|id| Value::Text(id.clone()));
    // One message needs no range: its rowid is looked up in the index.
    let range = if ids.len() > 1 {
        let (first, last, found): (Option<i64>, Option<i64>, usize) = conn
            .prepare_cached(&format!(
                "SELECT min(rowid), max(rowid), count(*) FROM messages m WHERE {among}"
            ))?
            .query_row(params_from_iter(given()), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        first
            .zip(last)
            .filter(|&(first, last)| close_together(first, last, found))
    } else {
        None
    };
    let condition = match range {
        Some((first, last)) => Condition::for_row_range(query, first, last),
        None => Condition::for_one_row(query),
    };
    first_id(conn, condition.and(&among, given()), "ASC")
}

/// Whether `found` messages with rowids from `first` to `last` are better
/// tested together, by the index's matches in that range, than one by one:
/// when most of the range is theirs, as for messages that have just
/// arrived. Messages far apart would have the range walk through the
/// matches of many others.
fn close_together(first: i64, last: i64, found: usize) -> bool {
    found > 1 && last.saturating_sub(first) <= 4 * found as i64 + 64
}

/// The store's total and unread messages, from the per-inbox counts that
/// triggers keep (migration 11): a few rows, however large the store.
pub fn counts(conn: &Connection) -> Result<Counts, StoreError> {
    let (total, unread) = conn
        .prepare_cached(
            "SELECT coalesce(sum(total), 0), coalesce(sum(unread), 0) FROM message_counts",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(Counts { total, unread })
}

/// The size of the database file (without its write-ahead log).
pub fn database_bytes(conn: &Connection) -> Result<u64, StoreError> {
    let pages: u64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let page_size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(pages * page_size)
}

/// Total and unread messages in one inbox.
fn counts_in(conn: &Connection, inbox: &str) -> Result<(u64, u64), StoreError> {
    Ok(conn
        .prepare_cached("SELECT total, unread FROM message_counts WHERE inbox = ?1")?
        .query_row([inbox], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, 0)))
}

/// Each inbox's counts, sorted by name: `stats` events ask for them after
/// every change.
pub fn inbox_counts(conn: &Connection) -> Result<Vec<InboxCounts>, StoreError> {
    let counts = conn
        .prepare_cached("SELECT inbox, total, unread FROM message_counts ORDER BY inbox")?
        .query_map([], |r| {
            Ok(InboxCounts {
                name: r.get(0)?,
                total: r.get(1)?,
                unread: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(counts)
}

pub fn inbox_in_use(conn: &Connection, inbox: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM messages WHERE inbox = ?1)")?
        .query_row([inbox], |r| r.get(0))?)
}

pub fn message(conn: &Connection, id: &str) -> Result<Option<StoredMessage>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SUMMARY_COLUMNS}, m.date, m.inline, m.problems FROM messages m WHERE m.id = ?1"
    ))?;
    let mut rows = stmt.query([id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let mut summary = summary_from_row(row)?;
    let rowid: i64 = row.get(14)?;
    fill_tags(conn, std::slice::from_mut(&mut summary), &[rowid])?;
    let envelope: String = row.get(10)?;
    let received_at_ms: i64 = row.get(9)?;
    let message = StoredMessage {
        received_at_ms,
        date: row.get(16)?,
        inline: row.get(17)?,
        problems: parse_json(&row.get::<_, String>(18)?)?,
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

#[cfg(test)]
mod tests {
    use super::close_together;

    #[test]
    fn a_burst_is_tested_together_and_scattered_messages_one_by_one() {
        // 1,000 messages that have just arrived, a few others among them.
        assert!(close_together(1_000_001, 1_001_050, 1_000));
        // Two of them, apart by what other clients sent meanwhile.
        assert!(close_together(500, 560, 2));
        // One message is looked up on its own.
        assert!(!close_together(7, 7, 1));
        // Two messages a million apart: the range holds a million others.
        assert!(!close_together(1, 1_000_000, 2));
    }
}
