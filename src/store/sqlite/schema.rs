//! Schema migrations, tracked with `PRAGMA user_version`.

use rusqlite::Connection;

/// One step of the schema.
enum Migration {
    Sql(&'static str),
    /// SQL that empties or recreates the tables derived from the raw
    /// messages, then every stored message parsed and indexed again.
    Reparse(&'static str),
}

use Migration::{Reparse, Sql};

/// Each entry moves the schema from version `i` to `i + 1`. Append only.
const MIGRATIONS: &[Migration] = &[
    // 1: messages, their raw bytes, the part index and the full-text index.
    Sql(r#"
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
    "#),
    // 2: tags.
    Sql(r#"
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
    "#),
    // 3: a trigram index over the subject and the addresses, so subject:,
    // from:, to: and the other address filters find substrings without
    // scanning every row. Addresses are indexed as "Name <address>, ..."
    // text; bcc_addrs also holds the envelope recipients in neither To nor
    // Cc (the real blind copies). Message-IDs are left out: long, unique
    // and rarely searched, they would double the cost of the index.
    Sql(r#"
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
    "#),
    // 4: inboxes. Every message is in one, chosen at ingest; existing
    // messages land in the default inbox. The first index serves
    // inbox-filtered lists newest first (the rowid it ends with is the
    // list's order) and per-inbox totals; the second per-inbox unread
    // counts, as `messages_unread` does for the whole store.
    Sql(r#"
    ALTER TABLE messages ADD COLUMN inbox TEXT NOT NULL DEFAULT 'default';
    CREATE INDEX messages_by_inbox ON messages(inbox);
    CREATE INDEX messages_unread_by_inbox ON messages(inbox) WHERE read = 0;
    "#),
    // 5: the relay queue: messages released to an upstream SMTP server, one
    // row per release, with every attempt and the upstream's reply. Rows go
    // with their message (deleted explicitly by the writer).
    Sql(r#"
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
    "#),
    // 6: the list order and the read flag, a few bytes per message. A deep
    // page (`start=90000`) walks this instead of the table's wide rows, and
    // counting the unread among a search's matches reads `read` from it.
    Sql(r#"
    CREATE INDEX messages_rowid_read ON messages(rowid, read);
    "#),
    // 7: the full-text index's terms, so a word's prefix search can read
    // the few whole terms it stands for; and the read messages, so the
    // unread among a search's matches can be counted from whichever of
    // read and unread are fewer.
    Sql(r#"
    CREATE VIRTUAL TABLE messages_fts_terms USING fts5vocab(messages_fts, 'row');
    CREATE INDEX messages_read ON messages(rowid) WHERE read = 1;
    "#),
    // 8: a plain search word looks only where a person means (the people,
    // the subject, the text, the attachment names: Mailpit's choice), so
    // those get a column of their own and the headers and the HTML source
    // keep theirs for `header:` and `html:`. The Bcc list takes in the
    // envelope recipients no header names. Both come from parsing every
    // message again, which also brings older messages this version's more
    // lenient header reading.
    Reparse(
        r#"
    DROP TABLE messages_fts_terms;
    DROP TABLE messages_fts;
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        people, body, attachments, headers, html,
        content = '', contentless_delete = 1,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', 16);
    CREATE VIRTUAL TABLE messages_fts_terms USING fts5vocab(messages_fts, 'row');
    DROP TABLE messages_fields;
    CREATE VIRTUAL TABLE messages_fields USING fts5(
        subject, from_addr, to_addrs, cc_addrs, bcc_addrs, reply_to_addrs,
        content = '', contentless_delete = 1,
        tokenize = 'trigram case_sensitive 0'
    );
    DELETE FROM message_parts;
    "#,
    ),
    // 9: the webhook queue: one delivery per new message while webhooks are
    // on, queued with the message and removed once delivered or given up.
    // Not tied to its message: deleting the message leaves it queued.
    Sql(r#"
    CREATE TABLE webhook_deliveries (
        id              INTEGER PRIMARY KEY,
        message_id      TEXT NOT NULL,              -- messages.id
        payload         TEXT NOT NULL,              -- the JSON body as sent
        created_at      INTEGER NOT NULL,           -- Unix milliseconds
        next_attempt_at INTEGER NOT NULL,           -- Unix milliseconds
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at);
    "#),
    // 10: the text indexes are written after a message's commit, many
    // messages at a time; every message up to this rowid is in them (the
    // writer indexes the rest from memory, or after a crash from the raw
    // bytes when the store opens).
    Sql(r#"
    CREATE TABLE text_index_mark (last_rowid INTEGER NOT NULL);
    INSERT INTO text_index_mark SELECT coalesce(max(rowid), 0) FROM messages;
    "#),
    // 11: each inbox's total and unread messages, kept by triggers in the
    // transaction of every write. Counting them from the indexes read every
    // entry: at a million messages that was most of each page's time (a
    // page answers the totals), of each `stats` event and of start-up. An
    // inbox's row goes when its last message does, as it left the GROUP BY.
    Sql(r#"
    CREATE TABLE message_counts (
        inbox  TEXT PRIMARY KEY,
        total  INTEGER NOT NULL,
        unread INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO message_counts
        SELECT inbox, count(*), coalesce(sum(read = 0), 0) FROM messages GROUP BY inbox;
    CREATE TRIGGER message_counts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO message_counts VALUES (NEW.inbox, 1, NEW.read = 0)
            ON CONFLICT (inbox) DO UPDATE SET total = total + 1, unread = unread + (NEW.read = 0);
    END;
    CREATE TRIGGER message_counts_delete AFTER DELETE ON messages BEGIN
        UPDATE message_counts SET total = total - 1, unread = unread - (OLD.read = 0)
            WHERE inbox = OLD.inbox;
        DELETE FROM message_counts WHERE inbox = OLD.inbox AND total <= 0;
    END;
    CREATE TRIGGER message_counts_update AFTER UPDATE OF read, inbox ON messages
    WHEN OLD.read IS NOT NEW.read OR OLD.inbox IS NOT NEW.inbox BEGIN
        UPDATE message_counts SET total = total - 1, unread = unread - (OLD.read = 0)
            WHERE inbox = OLD.inbox;
        DELETE FROM message_counts WHERE inbox = OLD.inbox AND total <= 0;
        INSERT INTO message_counts VALUES (NEW.inbox, 1, NEW.read = 0)
            ON CONFLICT (inbox) DO UPDATE SET total = total + 1, unread = unread + (NEW.read = 0);
    END;
    "#),
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

impl From<MigrationError> for crate::store::StoreError {
    fn from(err: MigrationError) -> Self {
        match err {
            MigrationError::TooNew { .. } => {
                crate::store::StoreError::Incompatible(err.to_string())
            }
            MigrationError::Sqlite(err) => err.into(),
        }
    }
}

/// Brings the schema up to date, one transaction per migration.
pub fn migrate(conn: &mut Connection) -> Result<(), MigrationError> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > known {
        return Err(MigrationError::TooNew { found, known });
    }
    for (version, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        match migration {
            Sql(sql) => tx.execute_batch(sql)?,
            Reparse(sql) => {
                tx.execute_batch(sql)?;
                super::index::reparse_all(&tx)?;
            }
        }
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
        for (version, migration) in MIGRATIONS.iter().enumerate().take(3) {
            let Sql(sql) = migration else {
                unreachable!("the first migrations are SQL")
            };
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
        assert_eq!(inbox, crate::domain::inbox::DEFAULT_INBOX);
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
    }

    /// An inbox, its total and its unread messages.
    type InboxRow = (String, i64, i64);

    /// What the triggers keep in `message_counts`, against counting.
    fn kept_and_counted(conn: &Connection) -> (Vec<InboxRow>, Vec<InboxRow>) {
        let rows = |sql: &str| -> Vec<InboxRow> {
            conn.prepare(sql)
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        (
            rows("SELECT inbox, total, unread FROM message_counts ORDER BY inbox"),
            rows(
                "SELECT inbox, count(*), sum(read = 0) FROM messages GROUP BY inbox ORDER BY inbox",
            ),
        )
    }

    #[test]
    fn inbox_counts_are_counted_at_upgrade_and_kept_by_every_write() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (version, migration) in MIGRATIONS.iter().enumerate().take(10) {
            match migration {
                Sql(sql) | Reparse(sql) => conn.execute_batch(sql).unwrap(),
            }
            conn.pragma_update(None, "user_version", version as i64 + 1)
                .unwrap();
        }
        let insert = |conn: &Connection, rowid: i64, read: bool, inbox: &str| {
            conn.execute(
                "INSERT INTO messages (rowid, id, received_at, size, envelope, read, inbox)
                 VALUES (?1, ?1, 1, 1, '{}', ?2, ?3)",
                rusqlite::params![rowid, read, inbox],
            )
            .unwrap();
        };
        // Before the upgrade: counted once by the migration.
        for rowid in 1..=5 {
            insert(&conn, rowid, rowid % 2 == 0, "default");
        }
        insert(&conn, 6, false, "ci");
        migrate(&mut conn).unwrap();
        let (kept, counted) = kept_and_counted(&conn);
        assert_eq!(kept, [("ci".into(), 1, 1), ("default".into(), 5, 3)]);
        assert_eq!(kept, counted);

        // After it: each kind of write, checked against counting.
        insert(&conn, 7, true, "ci");
        insert(&conn, 8, false, "new");
        conn.execute("UPDATE messages SET read = 1 WHERE read = 0", [])
            .unwrap();
        conn.execute("UPDATE messages SET read = 0 WHERE rowid IN (1, 7)", [])
            .unwrap();
        // Setting a flag to what it is changes nothing.
        conn.execute("UPDATE messages SET read = 0 WHERE rowid = 1", [])
            .unwrap();
        conn.execute("UPDATE messages SET inbox = 'ci' WHERE rowid = 2", [])
            .unwrap();
        let (kept, counted) = kept_and_counted(&conn);
        assert_eq!(
            kept,
            [
                ("ci".into(), 3, 1),
                ("default".into(), 4, 1),
                ("new".into(), 1, 0)
            ]
        );
        assert_eq!(kept, counted);

        // An inbox's row goes with its last message.
        conn.execute("DELETE FROM messages WHERE inbox = 'new' OR rowid = 1", [])
            .unwrap();
        let (kept, counted) = kept_and_counted(&conn);
        assert_eq!(kept, [("ci".into(), 3, 1), ("default".into(), 3, 0)]);
        assert_eq!(kept, counted);
        conn.execute("DELETE FROM messages", []).unwrap();
        assert_eq!(kept_and_counted(&conn).0, []);
    }

    #[test]
    fn search_columns_and_blind_copies_are_rebuilt_from_stored_mail() {
        let mut conn = Connection::open_in_memory().unwrap();
        // A database as the release before this search left it, holding a
        // message with a blind copy and a byte-order mark.
        for (version, migration) in MIGRATIONS.iter().enumerate().take(7) {
            let Sql(sql) = migration else {
                unreachable!("the first seven migrations are SQL")
            };
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", version as i64 + 1)
                .unwrap();
        }
        let raw = b"\xEF\xBB\xBFTo: ann@example.com\r\nSubject: No Delete\r\n\
X-Mailer: Mailer 1.0\r\n\r\nhello world\r\n";
        let envelope = crate::domain::Envelope {
            rcpt_to: vec!["ann@example.com".into(), "hidden@example.com".into()],
            ..Default::default()
        };
        conn.execute(
            "INSERT INTO messages (rowid, id, received_at, size, envelope, read, inbox)
             VALUES (1, 'A', 1, 1, ?1, 1, 'kept')",
            [serde_json::to_string(&envelope).unwrap()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO message_raw (rowid, data) VALUES (1, ?1)",
            [zstd::encode_all(&raw[..], 1).unwrap()],
        )
        .unwrap();
        // The old index had every header in its `headers` column.
        conn.execute(
            "INSERT INTO messages_fts (rowid, headers, body, html, attachments)
             VALUES (1, 'X-Mailer Mailer', 'hello world', '', '')",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();

        let (subject, bcc, read, inbox): (String, String, bool, String) = conn
            .query_row(
                "SELECT subject, bcc_addrs, read, inbox FROM messages WHERE rowid = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(subject, "No Delete");
        assert_eq!(bcc, r#"[{"Name":"","Address":"hidden@example.com"}]"#);
        assert!(read);
        assert_eq!(inbox, "kept");
        let matches = |table: &str, expression: &str| -> i64 {
            conn.query_row(
                &format!("SELECT count(*) FROM {table} WHERE {table} MATCH ?1"),
                [expression],
                |r| r.get(0),
            )
            .unwrap()
        };
        let words = super::super::query::WORD_COLUMNS;
        assert_eq!(matches("messages_fts", &format!("{words} : delete")), 1);
        assert_eq!(matches("messages_fts", &format!("{words} : hidden")), 1);
        assert_eq!(matches("messages_fts", &format!("{words} : hello")), 1);
        assert_eq!(matches("messages_fts", &format!("{words} : mailer")), 0);
        assert_eq!(matches("messages_fts", "headers : mailer"), 1);
        assert_eq!(matches("messages_fields", "{bcc_addrs} : hidden"), 1);
        let parts: i64 = conn
            .query_row("SELECT count(*) FROM message_parts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(parts, 1);
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
