//! Reads. A page and its counts are read in one repeatable-read
//! transaction, so they agree even while other nodes commit.

use tokio_postgres::{GenericClient, Row};

use super::query::Condition;
use crate::domain::Summary;
use crate::domain::search::Query;
use crate::domain::timefmt;
use crate::store::window::PageWindow;
use crate::store::{Counts, Cursor, InboxCounts, Page, StoreError, StoredMessage};

type Result<T> = std::result::Result<T, StoreError>;

/// Columns of `messages m` that [`summary_from_row`] reads, by position.
pub const SUMMARY_COLUMNS: &str = "m.id, m.message_id, m.read, m.from_addr, m.to_addrs, \
     m.cc_addrs, m.bcc_addrs, m.reply_to_addrs, m.subject, m.received_at, m.envelope, m.size, \
     m.attachments, m.snippet, m.rowid, m.inbox";

fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn summary_from_row(row: &Row) -> Result<Summary> {
    let from: Option<&str> = row.try_get(3)?;
    let envelope: crate::domain::Envelope = parse_json(row.try_get(10)?)?;
    let size: i64 = row.try_get(11)?;
    let attachments: i32 = row.try_get(12)?;
    Ok(Summary {
        id: row.try_get(0)?,
        message_id: row.try_get(1)?,
        read: row.try_get(2)?,
        from: from.map(parse_json).transpose()?.unwrap_or_default(),
        to: parse_json(row.try_get(4)?)?,
        cc: parse_json(row.try_get(5)?)?,
        bcc: parse_json(row.try_get(6)?)?,
        reply_to: parse_json(row.try_get(7)?)?,
        subject: row.try_get(8)?,
        created: timefmt::rfc3339_millis(row.try_get(9)?),
        username: envelope.auth_user.unwrap_or_default(),
        tags: Vec::new(),
        size: size as u64,
        attachments: attachments as u32,
        snippet: row.try_get(13)?,
        inbox: row.try_get(15)?,
    })
}

/// Summaries of these rows (as selected by `sql`), with their tags.
async fn summaries(
    client: &impl GenericClient,
    sql: &str,
    condition: &Condition,
) -> Result<Vec<Summary>> {
    Ok(summaries_and_rowids(client, sql, condition).await?.0)
}

async fn summaries_and_rowids(
    client: &impl GenericClient,
    sql: &str,
    condition: &Condition,
) -> Result<(Vec<Summary>, Vec<i64>)> {
    let rows = client.query(sql, &condition.values()).await?;
    let mut messages = Vec::with_capacity(rows.len());
    let mut rowids = Vec::with_capacity(rows.len());
    for row in &rows {
        messages.push(summary_from_row(row)?);
        rowids.push(row.try_get::<_, i64>(14)?);
    }
    fill_tags(client, &mut messages, &rowids).await?;
    Ok((messages, rowids))
}

pub async fn search(
    client: &impl GenericClient,
    query: &Query,
    start: u64,
    limit: u64,
) -> Result<Page> {
    // A query of words alone is counted and paged in `message_words`.
    let (table, narrowed) = match Condition::over_words(query) {
        Some(words) => ("message_words", words),
        None => ("messages", Condition::for_query(query)),
    };
    let (start, limit) = (start.min(i64::MAX as u64), limit.min(i64::MAX as u64));
    // The "mailbox" of the page's totals is the inbox the query is
    // confined to, if it is.
    let inbox = query.inbox().map(str::to_string);
    let (total, unread) = kept_counts(client, inbox.as_deref()).await?;
    let only_inbox = query.terms.len() == 1 && inbox.is_some();
    let counted = !(query.is_empty() || only_inbox);
    let (matched, matched_unread) = if counted {
        match_counts(client, table, &narrowed, (total, unread)).await?
    } else {
        (total, unread)
    };
    // The page's rowids first, so that rows skipped by `start` are read
    // from an index alone where they can be, then its rows. A page past
    // the middle of the matches is taken from the oldest end (this
    // snapshot's count says where), so that fewer are skipped. Matches
    // are found either walking the rowid index and testing each row
    // (when they are many, the page's are near the end walked from) or
    // all at once from the indexes their condition has, then sorted
    // (when they are few): whichever reads fewer rows.
    let messages = if matched <= start {
        Vec::new()
    } else {
        let PageWindow {
            order: direction,
            skip,
            take,
        } = if counted {
            PageWindow::nearer_end(matched, start, limit)
        } else {
            PageWindow::newest_first(start, limit)
        };
        let walked = (skip + take).saturating_mul(total.max(1)) / matched.max(1);
        // A row tested while walking `message_words` costs about four read
        // from its words' index (the vector is matched row by row).
        let walk_cost = if table == "message_words" { 4 } else { 1 };
        let walk = walked.saturating_mul(walk_cost) <= matched || !counted;
        let order = if walk {
            "m.rowid"
        } else {
            // Not an order the rowid index has: the matches are found by
            // their condition's indexes.
            "m.rowid + 0"
        };
        // The planner guesses a prefix (`word:*`) rare, and would read
        // every match from the words' index and sort them; the count above
        // says they are many. Steered for the page's query only.
        let steer = walk && table == "message_words";
        if steer {
            client
                .batch_execute("SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off")
                .await?;
        }
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM messages m WHERE m.rowid IN \
             (SELECT m.rowid FROM {table} m WHERE {} ORDER BY {order} {direction} \
              LIMIT {take} OFFSET {skip}) \
             ORDER BY m.rowid DESC",
            narrowed.sql
        );
        let page = summaries(client, &sql, &narrowed).await?;
        if steer {
            client
                .batch_execute("RESET enable_bitmapscan; RESET enable_seqscan")
                .await?;
        }
        page
    };
    Ok(Page {
        messages,
        total,
        unread,
        matched,
        matched_unread,
        tags: tags(client).await?,
    })
}

/// Total and unread messages, in one inbox or in all, as the write
/// triggers keep them.
async fn kept_counts(client: &impl GenericClient, inbox: Option<&str>) -> Result<(u64, u64)> {
    let row = client
        .query_one(
            "SELECT coalesce(sum(total), 0)::bigint, coalesce(sum(unread), 0)::bigint
             FROM message_counts WHERE $1::text IS NULL OR inbox = $1",
            &[&inbox],
        )
        .await?;
    Ok((
        row.try_get::<_, i64>(0)? as u64,
        row.try_get::<_, i64>(1)? as u64,
    ))
}

/// Read or unread messages few enough to count a query's matches among
/// them through their partial index, rather than testing every match's
/// `read` flag.
const FEW_TO_PROBE: u64 = 1000;

/// How many messages match `condition` over `table` (`m`: `messages` or
/// `message_words`), and how many of those are unread: when the
/// mailbox holds only read or only unread messages, the second follows
/// from the first; when either kind is few, it is counted among those
/// (through `messages_read` or `messages_unread`); else, and always in
/// `message_words`, both are counted in one pass over the matches.
async fn match_counts(
    client: &impl GenericClient,
    table: &str,
    condition: &Condition,
    (total, unread): (u64, u64),
) -> Result<(u64, u64)> {
    let count = |counted: &'static str, extra: &'static str| async move {
        let sql = format!(
            "SELECT count(*), {counted} FROM {table} m WHERE ({}){extra}",
            condition.sql
        );
        let row = client.query_one(&sql, &condition.values()).await?;
        let (n, m): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        Ok::<(u64, u64), StoreError>((n as u64, m as u64))
    };
    // Saturating: the kept counts come from triggers, not from this query.
    let read = total.saturating_sub(unread);
    // `message_words` rows carry their read flag: one pass counts both.
    if read.min(unread) > FEW_TO_PROBE || table == "message_words" {
        return count("count(*) FILTER (WHERE NOT m.read)", "").await;
    }
    let (matched, _) = count("0::bigint", "").await?;
    let matched_unread = if matched == 0 || unread == 0 {
        0
    } else if read == 0 {
        matched
    } else if read <= unread {
        matched.saturating_sub(count("0::bigint", " AND m.read").await?.0)
    } else {
        count("0::bigint", " AND NOT m.read").await?.0
    };
    Ok((matched, matched_unread))
}

/// Sets `tags` on each summary, in one query for the whole page.
async fn fill_tags(
    client: &impl GenericClient,
    messages: &mut [Summary],
    rowids: &[i64],
) -> Result<()> {
    if rowids.is_empty() {
        return Ok(());
    }
    let rows = client
        .query(
            "SELECT mt.message, t.name FROM message_tags mt JOIN tags t ON t.id = mt.tag
             WHERE mt.message = ANY($1) ORDER BY lower(t.name) COLLATE \"C\"",
            &[&rowids],
        )
        .await?;
    for row in rows {
        let rowid: i64 = row.try_get(0)?;
        if let Some(i) = rowids.iter().position(|&r| r == rowid) {
            messages[i].tags.push(row.try_get(1)?);
        }
    }
    Ok(())
}

/// The summary and rowid of each of these messages that exists.
pub async fn summaries_by_id(
    client: &impl GenericClient,
    ids: &[String],
) -> Result<(Vec<Summary>, Vec<i64>)> {
    let condition =
        Condition::for_query(&Query::default()).and("m.id = ANY($?)", Box::new(ids.to_vec()));
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM messages m WHERE {} ORDER BY m.rowid",
        condition.sql
    );
    summaries_and_rowids(client, &sql, &condition).await
}

/// Summaries and rowids of messages other nodes stored after `rowid`,
/// oldest first.
pub async fn stored_elsewhere_after(
    client: &impl GenericClient,
    rowid: i64,
    node: &str,
) -> Result<(Vec<Summary>, Vec<i64>)> {
    let condition = Condition::for_query(&Query::default())
        .and("m.rowid > $?", Box::new(rowid))
        .and("m.node <> $?", Box::new(node.to_string()));
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM messages m WHERE {} ORDER BY m.rowid LIMIT 10000",
        condition.sql
    );
    summaries_and_rowids(client, &sql, &condition).await
}

pub async fn max_rowid(client: &impl GenericClient) -> Result<i64> {
    Ok(client
        .query_one("SELECT coalesce(max(rowid), 0) FROM messages", &[])
        .await?
        .try_get(0)?)
}

pub async fn tag_counts(client: &impl GenericClient) -> Result<Vec<(String, u64)>> {
    let rows = client
        .query(
            "SELECT t.name, count(*) FROM tags t JOIN message_tags mt ON mt.tag = t.id
             GROUP BY t.id, t.name ORDER BY lower(t.name) COLLATE \"C\"",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as u64)))
        .collect()
}

/// Every tag some message carries, sorted regardless of case.
pub async fn tags(client: &impl GenericClient) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT name FROM tags t WHERE EXISTS (SELECT 1 FROM message_tags mt WHERE mt.tag = t.id)
             ORDER BY lower(name) COLLATE \"C\"",
            &[],
        )
        .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

async fn first_id(
    client: &impl GenericClient,
    condition: Condition,
    order: &str,
) -> Result<Option<String>> {
    let sql = format!(
        "SELECT m.id FROM messages m WHERE {} ORDER BY m.rowid {order} LIMIT 1",
        condition.sql
    );
    Ok(match client.query_opt(&sql, &condition.values()).await? {
        Some(row) => Some(row.try_get(0)?),
        None => None,
    })
}

pub async fn latest_id(client: &impl GenericClient, query: &Query) -> Result<Option<String>> {
    first_id(client, Condition::for_query(query), "DESC").await
}

pub async fn first_after(
    client: &impl GenericClient,
    query: &Query,
    cursor: &Cursor,
) -> Result<Option<String>> {
    let condition = Condition::for_query(query);
    let condition = match cursor {
        // Later IDs sort after earlier ones (ULIDs).
        Cursor::AfterId(id) => condition.and("m.id > $?", Box::new(id.clone())),
        Cursor::AfterTime(ms) => condition.and("m.received_at >= $?", Box::new(*ms)),
    };
    first_id(client, condition, "ASC").await
}

/// Up to `limit` IDs of `query`'s matches after `after`, in ID order
/// (the order they arrived): a walk through every match that neither
/// skips nor repeats one while mail arrives or goes.
pub async fn ids_after(
    client: &impl GenericClient,
    query: &Query,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<String>> {
    let mut condition = Condition::for_query(query);
    if let Some(after) = after {
        condition = condition.and("m.id > $?", Box::new(after.to_string()));
    }
    let sql = format!(
        "SELECT m.id FROM messages m WHERE {} ORDER BY m.id LIMIT {limit}",
        condition.sql
    );
    let rows = client.query(&sql, &condition.values()).await?;
    rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
}

pub async fn matches(client: &impl GenericClient, query: &Query, id: &str) -> Result<bool> {
    Ok(first_matching(client, query, vec![id.to_string()])
        .await?
        .is_some())
}

/// The first of the messages `ids` (in rowid order) that matches `query`,
/// each tested on its own row.
pub async fn first_matching(
    client: &impl GenericClient,
    query: &Query,
    ids: Vec<String>,
) -> Result<Option<String>> {
    if ids.is_empty() {
        return Ok(None);
    }
    // Words alone are tested on the messages' `message_words` rows: a
    // plan a third as dear to make as joining it, and a waiting request
    // tests every new message.
    if let Some(words) = Condition::over_words(query) {
        let condition = words.and(
            "m.rowid IN (SELECT rowid FROM messages WHERE id = ANY($?))",
            Box::new(ids),
        );
        let sql = format!(
            "SELECT (SELECT id FROM messages WHERE rowid = m.rowid) FROM message_words m \
             WHERE {} ORDER BY m.rowid LIMIT 1",
            condition.sql
        );
        return Ok(match client.query_opt(&sql, &condition.values()).await? {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        });
    }
    let condition = Condition::for_query(query).and("m.id = ANY($?)", Box::new(ids));
    first_id(client, condition, "ASC").await
}

pub async fn counts(client: &impl GenericClient) -> Result<Counts> {
    let (total, unread) = kept_counts(client, None).await?;
    Ok(Counts { total, unread })
}

pub async fn database_bytes(client: &impl GenericClient) -> Result<u64> {
    let bytes: i64 = client
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await?
        .try_get(0)?;
    Ok(bytes as u64)
}

pub async fn inbox_counts(client: &impl GenericClient) -> Result<Vec<InboxCounts>> {
    let rows = client
        .query(
            "SELECT inbox, sum(total)::bigint, sum(unread)::bigint FROM message_counts
             GROUP BY inbox HAVING sum(total) > 0 ORDER BY inbox COLLATE \"C\"",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(InboxCounts {
                name: r.try_get(0)?,
                total: r.try_get::<_, i64>(1)? as u64,
                unread: r.try_get::<_, i64>(2)? as u64,
            })
        })
        .collect()
}

pub async fn inbox_in_use(client: &impl GenericClient, inbox: &str) -> Result<bool> {
    Ok(client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE inbox = $1)",
            &[&inbox],
        )
        .await?
        .try_get(0)?)
}

pub async fn message(client: &impl GenericClient, id: &str) -> Result<Option<StoredMessage>> {
    let condition =
        Condition::for_query(&Query::default()).and("m.id = $?", Box::new(id.to_string()));
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, m.date, m.inline, m.problems, m.parts FROM messages m WHERE {}",
        condition.sql
    );
    let Some(row) = client.query_opt(&sql, &condition.values()).await? else {
        return Ok(None);
    };
    let mut summary = summary_from_row(&row)?;
    let rowid: i64 = row.try_get(14)?;
    fill_tags(client, std::slice::from_mut(&mut summary), &[rowid]).await?;
    let inline: i32 = row.try_get(17)?;
    Ok(Some(StoredMessage {
        received_at_ms: row.try_get(9)?,
        date: row.try_get(16)?,
        inline: inline as u32,
        problems: parse_json(row.try_get(18)?)?,
        envelope: parse_json(row.try_get(10)?)?,
        parts: parse_json(row.try_get(19)?)?,
        summary,
    }))
}

pub async fn raw(client: &impl GenericClient, id: &str) -> Result<Option<Vec<u8>>> {
    let row = client
        .query_opt(
            "SELECT r.data FROM message_raw r JOIN messages m ON m.rowid = r.message WHERE m.id = $1",
            &[&id],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let compressed: &[u8] = row.try_get(0)?;
    zstd::stream::decode_all(compressed)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}
