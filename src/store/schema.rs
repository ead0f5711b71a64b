//! Schema migrations, tracked with `PRAGMA user_version`.

use rusqlite::Connection;

/// Each entry moves the schema from version `i` to `i + 1`. Append only.
const MIGRATIONS: &[&str] = &[
    // 1: messages, their raw bytes, the part index and the full-text index.
    r#"
    CREATE TABLE messages (
        rowid          INTEGER PRIMARY KEY,
        id             TEXT NOT NULL UNIQUE,
        received_at    INTEGER NOT NULL,            -- Unix milliseconds
        message_id     TEXT NOT NULL DEFAULT '',
        subject        TEXT NOT NULL DEFAULT '',
        from_addr      TEXT,                        -- JSON Address
        to_addrs       TEXT NOT NULL DEFAULT '[]',  -- JSON [Address]
        cc_addrs       TEXT NOT NULL DEFAULT '[]',
        bcc_addrs      TEXT NOT NULL DEFAULT '[]',
        reply_to_addrs TEXT NOT NULL DEFAULT '[]',
        date           INTEGER,                     -- Date: header, Unix seconds
        size           INTEGER NOT NULL,
        attachments    INTEGER NOT NULL DEFAULT 0,
        inline         INTEGER NOT NULL DEFAULT 0,
        snippet        TEXT NOT NULL DEFAULT '',
        read           INTEGER NOT NULL DEFAULT 0,
        envelope       TEXT NOT NULL,               -- JSON Envelope
        problems       TEXT NOT NULL DEFAULT '[]'   -- JSON [String]
    );
    CREATE INDEX messages_unread ON messages(rowid) WHERE read = 0;

    -- The message exactly as received, zstd-compressed; rowid = messages.rowid.
    CREATE TABLE message_raw (
        rowid INTEGER PRIMARY KEY,
        data  BLOB NOT NULL
    );

    CREATE TABLE message_parts (
        message           INTEGER NOT NULL,        -- messages.rowid
        part_id           TEXT NOT NULL,
        parent_id         TEXT,
        role              TEXT NOT NULL,
        content_type      TEXT NOT NULL,
        charset           TEXT,
        transfer_encoding TEXT NOT NULL,
        disposition       TEXT,
        filename          TEXT,
        content_id        TEXT,
        size              INTEGER NOT NULL,
        header_start      INTEGER NOT NULL,
        body_start        INTEGER NOT NULL,
        body_end          INTEGER NOT NULL,
        PRIMARY KEY (message, part_id)
    ) WITHOUT ROWID;

    -- Contentless: the text lives in the raw message; rowid = messages.rowid.
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        headers, body, html, attachments,
        content = '', contentless_delete = 1,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    -- Merge index segments less eagerly: small commits under load made
    -- merging a large share of ingest time.
    INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 16);
    "#,
    // 2: tags.
    r#"
    CREATE TABLE tags (
        id   INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE
    );
    CREATE TABLE message_tags (
        message INTEGER NOT NULL,   -- messages.rowid
        tag     INTEGER NOT NULL,   -- tags.id
        PRIMARY KEY (message, tag)
    ) WITHOUT ROWID;
    CREATE INDEX message_tags_by_tag ON message_tags(tag, message);
    "#,
    // 3: a trigram index over the subject and the addresses, so subject:,
    // from:, to: and the other address filters find substrings without
    // scanning every row. Addresses are indexed as "Name <address>, ..."
    // text; bcc_addrs also holds the envelope recipients in neither To nor
    // Cc (the real blind copies). Message-IDs are left out: long, unique
    // and rarely searched, they would double the cost of the index.
    r#"
    CREATE VIRTUAL TABLE messages_fields USING fts5(
        subject, from_addr, to_addrs, cc_addrs, bcc_addrs, reply_to_addrs,
        content = '', contentless_delete = 1,
        tokenize = 'trigram case_sensitive 0'
    );
    INSERT INTO messages_fields (rowid, subject, from_addr, to_addrs, cc_addrs,
                                 bcc_addrs, reply_to_addrs)
    SELECT rowid, subject,
        CASE WHEN from_addr IS NULL THEN '' ELSE
            (from_addr ->> 'Name') || ' <' || (from_addr ->> 'Address') || '>' END,
        (SELECT coalesce(group_concat((j.value ->> 'Name') || ' <' || (j.value ->> 'Address') || '>', ', '), '') FROM json_each(to_addrs) j),
        (SELECT coalesce(group_concat((j.value ->> 'Name') || ' <' || (j.value ->> 'Address') || '>', ', '), '') FROM json_each(cc_addrs) j),
        (SELECT coalesce(group_concat((j.value ->> 'Name') || ' <' || (j.value ->> 'Address') || '>', ', '), '') FROM json_each(bcc_addrs) j),
        (SELECT coalesce(group_concat((j.value ->> 'Name') || ' <' || (j.value ->> 'Address') || '>', ', '), '') FROM json_each(reply_to_addrs) j)
    FROM messages;
    "#,
    // 4: inboxes. Every message is in one, chosen at ingest; existing
    // messages land in the default inbox. The first index serves
    // inbox-filtered lists newest first (the rowid it ends with is the
    // list's order) and per-inbox totals; the second per-inbox unread
    // counts, as `messages_unread` does for the whole store.
    r#"
    ALTER TABLE messages ADD COLUMN inbox TEXT NOT NULL DEFAULT 'default';
    CREATE INDEX messages_by_inbox ON messages(inbox);
    CREATE INDEX messages_unread_by_inbox ON messages(inbox) WHERE read = 0;
    "#,
    // 5: the relay queue: messages released to an upstream SMTP server, one
    // row per release, with every attempt and the upstream's reply. Rows go
    // with their message (deleted explicitly by the writer).
    r#"
    CREATE TABLE relay_jobs (
        id              INTEGER PRIMARY KEY,
        message         INTEGER NOT NULL,           -- messages.rowid
        mail_from       TEXT NOT NULL,
        recipients      TEXT NOT NULL,              -- JSON [String]
        state           TEXT NOT NULL
            CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
        created_at      INTEGER NOT NULL,           -- Unix milliseconds
        next_attempt_at INTEGER NOT NULL,           -- Unix milliseconds
        attempts        TEXT NOT NULL DEFAULT '[]'  -- JSON [RelayAttempt]
    );
    CREATE INDEX relay_jobs_by_message ON relay_jobs(message);
    CREATE INDEX relay_jobs_due ON relay_jobs(next_attempt_at) WHERE state = 'queued';
    "#,
    // 6: the list order and the read flag, a few bytes per message. A deep
    // page (`start=90000`) walks this instead of the table's wide rows, and
    // counting the unread among a search's matches reads `read` from it.
    r#"
    CREATE INDEX messages_rowid_read ON messages(rowid, read);
    "#,
    // 7: the full-text index's terms, so a word's prefix search can read
    // the few whole terms it stands for; and the read messages, so the
    // unread among a search's matches can be counted from whichever of
    // read and unread are fewer.
    r#"
    CREATE VIRTUAL TABLE messages_fts_terms USING fts5vocab(messages_fts, 'row');
    CREATE INDEX messages_read ON messages(rowid) WHERE read = 1;
    "#,
];

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "the database has schema version {found}, newer than this Letterbox knows ({known}); upgrade Letterbox"
    )]
    TooNew { found: i64, known: i64 },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Brings the schema up to date, one transaction per migration.
pub fn migrate(conn: &mut Connection) -> Result<(), MigrationError> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > known {
        return Err(MigrationError::TooNew { found, known });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_fresh_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
    }

    #[test]
    fn existing_messages_move_into_the_default_inbox() {
        let mut conn = Connection::open_in_memory().unwrap();
        // A database as the release before inboxes left it.
        for (version, sql) in MIGRATIONS.iter().enumerate().take(3) {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", version as i64 + 1)
                .unwrap();
        }
        conn.execute(
            "INSERT INTO messages (id, received_at, size, envelope) VALUES ('A', 1, 1, '{}')",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let inbox: String = conn
            .query_row("SELECT inbox FROM messages WHERE id = 'A'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(inbox, crate::inbox::DEFAULT_INBOX);
        // Inbox-filtered lists walk the index in list order: no sorting.
        let plans: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT id FROM messages m WHERE m.inbox = 'x' ORDER BY m.rowid DESC",
            )
            .unwrap()
            .query_map([], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plans.iter().any(|p| p.contains("messages_by_inbox")),
            "{plans:?}"
        );
        assert!(
            !plans.iter().any(|p| p.contains("TEMP B-TREE")),
            "{plans:?}"
        );
        // Per-inbox counts read the indexes only.
        for (sql, index) in [
            (super::super::read::INBOX_TOTALS, "messages_by_inbox"),
            (super::super::read::INBOX_UNREAD, "messages_unread_by_inbox"),
        ] {
            let plan: String = conn
                .query_row(&format!("EXPLAIN QUERY PLAN {sql}"), [], |r| r.get(3))
                .unwrap();
            assert!(plan.contains(&format!("COVERING INDEX {index}")), "{plan}");
        }
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(MigrationError::TooNew { found: 99, .. })
        ));
    }
}
