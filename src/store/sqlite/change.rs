//! What the writer does inside its transaction for each operation:
//! inserting a message and applying changes to stored ones, each with the
//! event to publish once the transaction commits.

use std::sync::Arc;

use rusqlite::{OptionalExtension, ToSql, Transaction, params};

use super::index;
use super::query::Condition;
use super::{relay, webhook};
use crate::events::Event;
use crate::store::{Change, NewMessage, Selection};

/// Applies a change; returns how many messages it touched and the event
/// to publish once committed.
pub fn apply_change(
    tx: &Transaction<'_>,
    change: &Change,
    count: &mut u64,
) -> Result<(u64, Option<Event>), rusqlite::Error> {
    let ids = |rows: &[(i64, String)]| -> Arc<[String]> {
        rows.iter().map(|(_, id)| id.clone()).collect()
    };
    Ok(match change {
        Change::Delete(selection) => {
            let rows = select(tx, selection)?;
            if matches!(selection, Selection::All) {
                tx.execute_batch(
                    "DELETE FROM messages_fts; DELETE FROM messages_fields; DELETE FROM message_parts; DELETE FROM message_raw;
                     DELETE FROM message_tags; DELETE FROM tags; DELETE FROM relay_jobs;
                     DELETE FROM messages;",
                )?;
            } else {
                for (rowid, _) in &rows {
                    delete_row(tx, *rowid)?;
                }
                delete_unused_tags(tx)?;
            }
            let n = rows.len() as u64;
            *count = count.saturating_sub(n);
            let event = match selection {
                Selection::All => Event::Cleared,
                _ => Event::Deleted(ids(&rows)),
            };
            (n, (n > 0).then_some(event))
        }
        Change::SetRead(selection, read) => {
            let rows = select(tx, selection)?;
            let mut changed = Vec::new();
            let mut stmt =
                tx.prepare_cached("UPDATE messages SET read = ?1 WHERE rowid = ?2 AND read != ?1")?;
            for row in &rows {
                if stmt.execute(params![read, row.0])? > 0 {
                    changed.push(row.clone());
                }
            }
            let n = changed.len() as u64;
            // Messages named by ID are each announced, changed or not, as
            // Mailpit does (its clients wait for the `update`).
            let told = match selection {
                Selection::Ids(_) => &rows,
                _ => &changed,
            };
            let event = Event::ReadChanged {
                ids: ids(told),
                read: *read,
            };
            (n, (!told.is_empty()).then_some(event))
        }
        Change::SetTags { ids: wanted, tags } => {
            let rows = select(tx, &Selection::Ids(wanted.clone()))?;
            for (rowid, _) in &rows {
                tx.prepare_cached("DELETE FROM message_tags WHERE message = ?1")?
                    .execute([rowid])?;
                tag_message(tx, *rowid, tags)?;
            }
            delete_unused_tags(tx)?;
            let n = rows.len() as u64;
            (n, (n > 0).then_some(tags_changed(tx, &rows)?))
        }
        Change::RenameTag { from, to } => {
            let rows = tagged(tx, from)?;
            if rows.is_empty() {
                return Ok((0, None));
            }
            let target = tag_id(tx, to)?;
            let old: i64 =
                tx.query_row("SELECT id FROM tags WHERE name = ?1", [from], |r| r.get(0))?;
            if target != old {
                // Renaming onto an existing tag merges the two.
                tx.execute(
                    "UPDATE OR IGNORE message_tags SET tag = ?1 WHERE tag = ?2",
                    params![target, old],
                )?;
                tx.execute("DELETE FROM message_tags WHERE tag = ?1", [old])?;
                tx.execute("DELETE FROM tags WHERE id = ?1", [old])?;
            } else {
                // Only the letter case changes.
                tx.execute("UPDATE tags SET name = ?1 WHERE id = ?2", params![to, old])?;
            }
            (rows.len() as u64, Some(tags_changed(tx, &rows)?))
        }
        Change::QueueRelay {
            id,
            mail_from,
            recipients,
            now_ms,
        } => {
            let n = relay::queue(tx, id, mail_from, recipients, *now_ms)?;
            (n, (n > 0).then(|| Event::RelayChanged(id.clone())))
        }
        Change::StartRelay(job) => {
            let n = relay::start(tx, *job)?;
            (n, relay_event(tx, n, *job)?)
        }
        Change::FinishRelay { job, outcomes } => {
            let n = relay::finish(tx, *job, outcomes)?;
            (n, relay_event(tx, n, *job)?)
        }
        Change::ClaimWebhook {
            id,
            now_ms,
            until_ms,
        } => (webhook::claim(tx, *id, *now_ms, *until_ms)?, None),
        Change::FinishWebhook { id, next } => (webhook::finish(tx, *id, next)?, None),
        Change::DeleteTag(name) => {
            let rows = tagged(tx, name)?;
            tx.execute(
                "DELETE FROM message_tags WHERE tag IN (SELECT id FROM tags WHERE name = ?1)",
                [name],
            )?;
            tx.execute("DELETE FROM tags WHERE name = ?1", [name])?;
            let n = rows.len() as u64;
            (n, (n > 0).then_some(tags_changed(tx, &rows)?))
        }
    })
}

/// The event for a change to release `job`, if it changed anything.
fn relay_event(tx: &Transaction<'_>, n: u64, job: i64) -> Result<Option<Event>, rusqlite::Error> {
    if n == 0 {
        return Ok(None);
    }
    Ok(relay::message_of(tx, job)?.map(Event::RelayChanged))
}

/// The (rowid, id) of every message in the selection, oldest first.
fn select(
    tx: &Transaction<'_>,
    selection: &Selection,
) -> Result<Vec<(i64, String)>, rusqlite::Error> {
    let row = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
    match selection {
        Selection::All => tx
            .prepare("SELECT rowid, id FROM messages ORDER BY rowid")?
            .query_map([], row)?
            .collect(),
        Selection::Ids(ids) => {
            let mut stmt = tx.prepare_cached("SELECT rowid, id FROM messages WHERE id = ?1")?;
            let mut rows = Vec::new();
            for id in ids {
                if let Some(found) = stmt.query_row([id], row).optional()? {
                    rows.push(found);
                }
            }
            Ok(rows)
        }
        Selection::Query(query) => {
            let condition = Condition::for_query(query);
            let sql = format!(
                "SELECT m.rowid, m.id FROM messages m WHERE {} ORDER BY m.rowid",
                condition.sql
            );
            tx.prepare(&sql)?
                .query_map(rusqlite::params_from_iter(condition.params), row)?
                .collect()
        }
    }
}

fn tagged(tx: &Transaction<'_>, name: &str) -> Result<Vec<(i64, String)>, rusqlite::Error> {
    tx.prepare_cached(
        "SELECT m.rowid, m.id FROM messages m JOIN message_tags mt ON mt.message = m.rowid
         JOIN tags t ON t.id = mt.tag WHERE t.name = ?1 ORDER BY m.rowid",
    )?
    .query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

/// The event for a tag change: each message with the tags it has now.
fn tags_changed(tx: &Transaction<'_>, rows: &[(i64, String)]) -> Result<Event, rusqlite::Error> {
    let mut stmt = tx.prepare_cached(
        "SELECT t.name FROM message_tags mt JOIN tags t ON t.id = mt.tag
         WHERE mt.message = ?1 ORDER BY t.name",
    )?;
    let mut changed = Vec::with_capacity(rows.len());
    for (rowid, id) in rows {
        let tags = stmt
            .query_map([rowid], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        changed.push((id.clone(), tags));
    }
    Ok(Event::TagsChanged(changed.into()))
}

/// The id of a tag, created if new.
fn tag_id(tx: &Transaction<'_>, name: &str) -> Result<i64, rusqlite::Error> {
    tx.prepare_cached("INSERT INTO tags (name) VALUES (?1) ON CONFLICT (name) DO NOTHING")?
        .execute([name])?;
    tx.prepare_cached("SELECT id FROM tags WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
}

fn tag_message(tx: &Transaction<'_>, rowid: i64, tags: &[String]) -> Result<(), rusqlite::Error> {
    for tag in tags {
        let tag = tag_id(tx, tag)?;
        tx.prepare_cached("INSERT OR IGNORE INTO message_tags (message, tag) VALUES (?1, ?2)")?
            .execute([rowid, tag])?;
    }
    Ok(())
}

pub fn delete_unused_tags(tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
    tx.execute_batch("DELETE FROM tags WHERE id NOT IN (SELECT tag FROM message_tags)")
}

/// Inserts a message with its part index; returns its rowid. Its text is
/// indexed by the caller ([`index::TextEntry`]).
pub fn insert(tx: &Transaction<'_>, m: &NewMessage) -> Result<i64, rusqlite::Error> {
    let p = &m.parsed;
    let envelope = index::json(&m.envelope);
    let columns = index::ParsedColumns::of(p);
    let own: [&dyn ToSql; 5] = [
        &m.id,
        &m.received_at_ms,
        &m.size,
        &envelope,
        &m.inbox.as_str(),
    ];
    tx.prepare_cached(
        "INSERT INTO messages (id, received_at, size, envelope, inbox, message_id, subject,
            from_addr, to_addrs, cc_addrs, bcc_addrs, reply_to_addrs, date, attachments, inline,
            snippet, problems)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?
    .execute(rusqlite::params_from_iter(
        own.into_iter().chain(columns.values()),
    ))?;
    let rowid = tx.last_insert_rowid();
    tx.prepare_cached("INSERT INTO message_raw (rowid, data) VALUES (?1, ?2)")?
        .execute(params![rowid, m.raw_zstd])?;
    tag_message(tx, rowid, &p.tags)?;
    webhook::queue(tx, m)?;
    index::index_parts(tx, rowid, p)?;
    Ok(rowid)
}

pub fn delete_row(tx: &Transaction<'_>, rowid: i64) -> Result<(), rusqlite::Error> {
    for sql in [
        "DELETE FROM messages_fts WHERE rowid = ?1",
        "DELETE FROM messages_fields WHERE rowid = ?1",
        "DELETE FROM message_parts WHERE message = ?1",
        "DELETE FROM message_tags WHERE message = ?1",
        "DELETE FROM message_raw WHERE rowid = ?1",
        "DELETE FROM relay_jobs WHERE message = ?1",
        "DELETE FROM messages WHERE rowid = ?1",
    ] {
        tx.prepare_cached(sql)?.execute([rowid])?;
    }
    Ok(())
}
