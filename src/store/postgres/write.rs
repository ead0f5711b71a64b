//! What each write does inside its transaction: inserting a message and
//! applying changes to stored ones, each returning the event that
//! announces it once committed.

use std::sync::Arc;

use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Statement, Transaction};

use super::query::Condition;
use super::{relay, text, webhook};
use crate::domain::message::Address;
use crate::events::Event;
use crate::store::{Change, NewMessage, Selection};

type Result<T> = std::result::Result<T, tokio_postgres::Error>;

/// PostgreSQL text cannot hold a NUL; a header or file name with one is
/// stored with U+FFFD in its place.
fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        text.replace('\0', "\u{fffd}").into()
    } else {
        text.into()
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializing plain data cannot fail")
}

/// `Name <address>, ...`, as substring search reads address lists.
fn mailboxes(list: &[Address]) -> String {
    clean(
        &list
            .iter()
            .map(|a| format!("{} <{}>", a.name, a.address))
            .collect::<Vec<_>>()
            .join(", "),
    )
    .into_owned()
}

/// Stores a message with its raw bytes and its words (one statement: the
/// raw bytes and the words go in with the row, not in round trips of
/// their own); `$24` is the words' vector, `$28` the raw bytes.
pub const INSERT: &str = "WITH stored AS (
        INSERT INTO messages (id, received_at, size, envelope, inbox, message_id, subject,
            from_addr, to_addrs, cc_addrs, bcc_addrs, reply_to_addrs, date, attachments,
            inline, snippet, problems, parts, from_text, to_text, cc_text, bcc_text,
            reply_to_text, headers, html, node)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
            $17, $18, $19, $20, $21, $22, $23, $25::text::tsvector, $26::text::tsvector, $27)
        RETURNING rowid, read),
    words AS (
        INSERT INTO message_words (rowid, read, words)
        SELECT rowid, read, $24::text::tsvector FROM stored)
    INSERT INTO message_raw (message, data) SELECT rowid, $28 FROM stored
    RETURNING message";

/// A message ready to store: the values [`INSERT`] binds, worked out
/// (search vectors and all) by the task that received the message, so
/// that the one writer of a batch only sends them.
pub struct Row {
    values: Vec<Box<dyn ToSql + Send + Sync>>,
    tags: Vec<String>,
}

impl Row {
    /// The row of `m`, stored by `node`; `raw_zstd` is its raw bytes,
    /// taken out of it.
    pub fn new(m: &NewMessage, raw_zstd: Vec<u8>, node: &str) -> Row {
        let p = &m.parsed;
        let s = &p.search;
        let mut words = text::Vector::default();
        words.add_text(&p.people_text());
        words.gap();
        words.add_text(&s.body);
        words.gap();
        words.add_text(&s.attachments);
        let mut html = text::Vector::default();
        html.add_text(&s.html);
        let headers = text::headers_vector(&s.headers);
        let text = |t: &str| -> Box<dyn ToSql + Send + Sync> { Box::new(clean(t).into_owned()) };
        let values: Vec<Box<dyn ToSql + Send + Sync>> = vec![
            Box::new(m.id.clone()),
            Box::new(m.received_at_ms),
            Box::new(m.size as i64),
            Box::new(json(&m.envelope)),
            Box::new(m.inbox.as_str().to_string()),
            text(&p.message_id),
            text(&p.subject),
            Box::new(p.from.as_ref().map(json)),
            Box::new(json(&p.to)),
            Box::new(json(&p.cc)),
            Box::new(json(&p.bcc)),
            Box::new(json(&p.reply_to)),
            Box::new(p.date),
            Box::new(p.attachments as i32),
            Box::new(p.inline as i32),
            text(&p.snippet),
            Box::new(json(&p.problems)),
            Box::new(json(&p.parts)),
            Box::new(mailboxes(p.from.as_slice())),
            Box::new(mailboxes(&p.to)),
            Box::new(mailboxes(&p.cc)),
            Box::new(mailboxes(&p.bcc)),
            Box::new(mailboxes(&p.reply_to)),
            Box::new(words.literal()),
            Box::new(headers.literal()),
            Box::new(html.literal()),
            Box::new(node.to_string()),
            Box::new(raw_zstd),
        ];
        Row {
            values,
            tags: p.tags.clone(),
        }
    }

    /// Whether storing it takes more than [`INSERT`].
    pub fn has_tags(&self) -> bool {
        !self.tags.is_empty()
    }
}

/// Stores a message with its raw bytes and tags, inside a transaction;
/// `statement` is [`INSERT`] prepared on its connection. Returns the
/// message's rowid.
pub async fn insert(tx: &impl GenericClient, statement: &Statement, row: &Row) -> Result<i64> {
    let values: Vec<&(dyn ToSql + Sync)> = row
        .values
        .iter()
        .map(|v| v.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let rowid: i64 = tx.query_one(statement, &values).await?.get(0);
    tag_message(tx, rowid, &row.tags).await?;
    Ok(rowid)
}

/// Applies a change; returns how many messages it touched and the event
/// to publish once committed.
pub async fn apply(tx: &Transaction<'_>, change: &Change) -> Result<(u64, Option<Event>)> {
    let ids = |rows: &[(i64, String)]| -> Arc<[String]> {
        rows.iter().map(|(_, id)| id.clone()).collect()
    };
    Ok(match change {
        Change::Delete(selection) => {
            let rows = select(tx, selection, true).await?;
            let rowids: Vec<i64> = rows.iter().map(|r| r.0).collect();
            // Everything else goes with the row (ON DELETE CASCADE).
            tx.execute("DELETE FROM messages WHERE rowid = ANY($1)", &[&rowids])
                .await?;
            let n = rows.len() as u64;
            let event = match selection {
                Selection::All => Event::Cleared,
                _ => Event::Deleted(ids(&rows)),
            };
            (n, (n > 0).then_some(event))
        }
        Change::SetRead(selection, read) => {
            let rows = select(tx, selection, true).await?;
            let rowids: Vec<i64> = rows.iter().map(|r| r.0).collect();
            let changed: Vec<i64> = tx
                .query(
                    "UPDATE messages SET read = $1 WHERE rowid = ANY($2) AND read <> $1
                     RETURNING rowid",
                    &[read, &rowids],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let n = changed.len() as u64;
            // Messages named by ID are each announced, changed or not, as
            // Mailpit does (its clients wait for the `update`).
            let told: Vec<(i64, String)> = match selection {
                Selection::Ids(_) => rows,
                _ => rows
                    .into_iter()
                    .filter(|(rowid, _)| changed.contains(rowid))
                    .collect(),
            };
            let event = Event::ReadChanged {
                ids: ids(&told),
                read: *read,
            };
            (n, (!told.is_empty()).then_some(event))
        }
        Change::SetTags { ids: wanted, tags } => {
            let rows = select(tx, &Selection::Ids(wanted.clone()), true).await?;
            for (rowid, _) in &rows {
                tx.execute("DELETE FROM message_tags WHERE message = $1", &[rowid])
                    .await?;
                tag_message(tx, *rowid, tags).await?;
            }
            let n = rows.len() as u64;
            let event = if n > 0 {
                Some(tags_changed(tx, &rows).await?)
            } else {
                None
            };
            (n, event)
        }
        Change::RenameTag { from, to } => {
            let rows = tagged(tx, from).await?;
            if rows.is_empty() {
                return Ok((0, None));
            }
            let old: i64 = tx
                .query_one("SELECT id FROM tags WHERE lower(name) = lower($1)", &[from])
                .await?
                .get(0);
            let target = tag_id(tx, to).await?;
            if target != old {
                // Renaming onto an existing tag merges the two.
                tx.execute(
                    "INSERT INTO message_tags (message, tag)
                     SELECT message, $1 FROM message_tags WHERE tag = $2
                     ON CONFLICT DO NOTHING",
                    &[&target, &old],
                )
                .await?;
                tx.execute("DELETE FROM message_tags WHERE tag = $1", &[&old])
                    .await?;
            } else {
                // Only the letter case changes.
                tx.execute("UPDATE tags SET name = $1 WHERE id = $2", &[to, &old])
                    .await?;
            }
            (rows.len() as u64, Some(tags_changed(tx, &rows).await?))
        }
        Change::DeleteTag(name) => {
            let rows = tagged(tx, name).await?;
            tx.execute(
                "DELETE FROM message_tags
                 WHERE tag IN (SELECT id FROM tags WHERE lower(name) = lower($1))",
                &[name],
            )
            .await?;
            let n = rows.len() as u64;
            let event = if n > 0 {
                Some(tags_changed(tx, &rows).await?)
            } else {
                None
            };
            (n, event)
        }
        Change::QueueRelay {
            id,
            mail_from,
            recipients,
            now_ms,
        } => {
            let n = relay::queue(tx, id, mail_from, recipients, *now_ms).await?;
            (n, (n > 0).then(|| Event::RelayChanged(id.clone())))
        }
        Change::StartRelay(job) => {
            let n = relay::start(tx, *job).await?;
            (n, relay_event(tx, n, *job).await?)
        }
        Change::FinishRelay { job, outcomes } => {
            let n = relay::finish(tx, *job, outcomes).await?;
            (n, relay_event(tx, n, *job).await?)
        }
        Change::ClaimWebhook {
            id,
            now_ms,
            until_ms,
        } => (webhook::claim(tx, *id, *now_ms, *until_ms).await?, None),
        Change::FinishWebhook { id, next } => (webhook::finish(tx, *id, next).await?, None),
    })
}

async fn relay_event(tx: &Transaction<'_>, n: u64, job: i64) -> Result<Option<Event>> {
    if n == 0 {
        return Ok(None);
    }
    Ok(relay::message_of(tx, job).await?.map(Event::RelayChanged))
}

/// The (rowid, id) of every message in the selection, oldest first;
/// locked for the change when `lock` (two nodes changing the same
/// messages take turns).
async fn select(
    tx: &Transaction<'_>,
    selection: &Selection,
    lock: bool,
) -> Result<Vec<(i64, String)>> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let rows = match selection {
        Selection::All => {
            tx.query(
                &format!("SELECT m.rowid, m.id FROM messages m ORDER BY m.rowid{lock}"),
                &[],
            )
            .await?
        }
        Selection::Ids(ids) => {
            tx.query(
                &format!(
                    "SELECT m.rowid, m.id FROM messages m WHERE m.id = ANY($1)
                     ORDER BY array_position($1, m.id){lock}"
                ),
                &[ids],
            )
            .await?
        }
        Selection::Query(query) => {
            let condition = Condition::for_query(query);
            let sql = format!(
                "SELECT m.rowid, m.id FROM messages m WHERE {} ORDER BY m.rowid{lock}",
                condition.sql
            );
            tx.query(&sql, &condition.values()).await?
        }
    };
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

async fn tagged(tx: &Transaction<'_>, name: &str) -> Result<Vec<(i64, String)>> {
    let rows = tx
        .query(
            "SELECT m.rowid, m.id FROM messages m JOIN message_tags mt ON mt.message = m.rowid
             JOIN tags t ON t.id = mt.tag WHERE lower(t.name) = lower($1) ORDER BY m.rowid",
            &[&name],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The event for a tag change: each message with the tags it has now.
async fn tags_changed(tx: &Transaction<'_>, rows: &[(i64, String)]) -> Result<Event> {
    let rowids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let found = tx
        .query(
            "SELECT mt.message, t.name FROM message_tags mt JOIN tags t ON t.id = mt.tag
             WHERE mt.message = ANY($1) ORDER BY lower(t.name) COLLATE \"C\"",
            &[&rowids],
        )
        .await?;
    let changed: Vec<(String, Vec<String>)> = rows
        .iter()
        .map(|(rowid, id)| {
            let tags = found
                .iter()
                .filter(|r| r.get::<_, i64>(0) == *rowid)
                .map(|r| r.get(1))
                .collect();
            (id.clone(), tags)
        })
        .collect();
    Ok(Event::TagsChanged(changed.into()))
}

/// The id of a tag, created if new. Tags are never deleted (a tag no
/// message carries is simply not listed), so that a tag cannot vanish
/// under another node's transaction that is about to use it; an unused
/// tag takes the letter case it is given anew.
async fn tag_id(tx: &impl GenericClient, name: &str) -> Result<i64> {
    let name = clean(name);
    let name: &str = &name;
    let updated = tx
        .query_opt(
            "INSERT INTO tags (name) VALUES ($1)
             ON CONFLICT ((lower(name))) DO UPDATE SET name = EXCLUDED.name
             WHERE NOT EXISTS (SELECT 1 FROM message_tags mt WHERE mt.tag = tags.id)
             RETURNING id",
            &[&name],
        )
        .await?;
    match updated {
        Some(row) => Ok(row.get(0)),
        None => Ok(tx
            .query_one(
                "SELECT id FROM tags WHERE lower(name) = lower($1)",
                &[&name],
            )
            .await?
            .get(0)),
    }
}

async fn tag_message(tx: &impl GenericClient, rowid: i64, tags: &[String]) -> Result<()> {
    for tag in tags {
        let tag = tag_id(tx, tag).await?;
        tx.execute(
            "INSERT INTO message_tags (message, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&rowid, &tag],
        )
        .await?;
    }
    Ok(())
}

/// Messages pruned per transaction, so pruning never holds locks for long.
pub const PRUNE_BATCH: i64 = 1000;

/// Deletes one batch of the oldest messages over the limits, if this node
/// holds the prune lock (one node prunes at a time; the others skip).
/// Returns the IDs deleted.
pub async fn prune(
    tx: &Transaction<'_>,
    retention: crate::domain::retention::Retention,
    now_ms: i64,
) -> Result<Vec<String>> {
    let locked: bool = tx
        .query_one(
            "SELECT pg_try_advisory_xact_lock($1)",
            &[&super::schema::PRUNE_LOCK],
        )
        .await?
        .get(0);
    if !locked {
        return Ok(Vec::new());
    }
    // The total the write triggers keep: counting the table would read it.
    let count: i64 = tx
        .query_one(
            "SELECT coalesce(sum(total), 0)::bigint FROM message_counts",
            &[],
        )
        .await?
        .get(0);
    if !retention.may_prune(count as u64) {
        return Ok(Vec::new());
    }
    let oldest = tx
        .query(
            "SELECT rowid, id, received_at FROM messages ORDER BY rowid LIMIT $1",
            &[&PRUNE_BATCH],
        )
        .await?;
    let doomed = retention.prune_count(
        count as u64,
        now_ms,
        oldest.iter().map(|r| r.get::<_, i64>(2)),
    );
    let rows: Vec<(i64, String)> = oldest
        .iter()
        .take(doomed)
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let rowids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    tx.execute("DELETE FROM messages WHERE rowid = ANY($1)", &[&rowids])
        .await?;
    Ok(rows.into_iter().map(|(_, id)| id).collect())
}
