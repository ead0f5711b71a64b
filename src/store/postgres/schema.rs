//! Schema migrations, versioned in `letterbox_schema`. Every migration runs
//! under a transaction-scoped advisory lock, so nodes starting at once
//! take turns: the first migrates, the others find the work done.

use tokio_postgres::Client;

use crate::store::StoreError;

/// The advisory lock keys Letterbox takes (any two distinct numbers).
pub const MIGRATION_LOCK: i64 = 0x4c65_7474_6572_0001;
pub const PRUNE_LOCK: i64 = 0x4c65_7474_6572_0002;

/// Each entry moves the schema from version `i` to `i + 1`. Append only.
const MIGRATIONS: &[&str] = &[
    // 1: messages with their raw bytes and what search reads: `words` (the
    // people, the subject, the text, attachment names: what a plain word
    // looks in), `headers` (each header's words qualified by its name) and
    // `html` (the HTML source) as full-text vectors; the subject and the
    // address lists as "Name <address>, ..." text for substring search
    // through trigram indexes.
    r#"
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE TABLE messages (
        rowid          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id             TEXT NOT NULL UNIQUE,
        received_at    BIGINT NOT NULL,             -- Unix milliseconds
        message_id     TEXT NOT NULL DEFAULT '',
        subject        TEXT NOT NULL DEFAULT '',
        from_addr      TEXT,                        -- JSON Address
        to_addrs       TEXT NOT NULL DEFAULT '[]',  -- JSON [Address]
        cc_addrs       TEXT NOT NULL DEFAULT '[]',
        bcc_addrs      TEXT NOT NULL DEFAULT '[]',
        reply_to_addrs TEXT NOT NULL DEFAULT '[]',
        date           BIGINT,                      -- Date: header, Unix seconds
        size           BIGINT NOT NULL,
        attachments    INTEGER NOT NULL DEFAULT 0,
        inline         INTEGER NOT NULL DEFAULT 0,
        snippet        TEXT NOT NULL DEFAULT '',
        read           BOOLEAN NOT NULL DEFAULT false,
        envelope       TEXT NOT NULL,               -- JSON Envelope
        problems       TEXT NOT NULL DEFAULT '[]',  -- JSON [String]
        inbox          TEXT NOT NULL DEFAULT 'default',
        node           TEXT NOT NULL DEFAULT '',    -- the node that stored it
        parts          TEXT NOT NULL DEFAULT '[]',  -- JSON [Part]
        from_text      TEXT NOT NULL DEFAULT '',
        to_text        TEXT NOT NULL DEFAULT '',
        cc_text        TEXT NOT NULL DEFAULT '',
        bcc_text       TEXT NOT NULL DEFAULT '',
        reply_to_text  TEXT NOT NULL DEFAULT '',
        words          TSVECTOR NOT NULL,
        headers        TSVECTOR NOT NULL,
        html           TSVECTOR NOT NULL
    );
    CREATE INDEX messages_unread ON messages (rowid) WHERE NOT read;
    CREATE INDEX messages_by_inbox ON messages (inbox, rowid);
    CREATE INDEX messages_received ON messages (received_at);
    CREATE INDEX messages_words ON messages USING gin (words);
    CREATE INDEX messages_headers ON messages USING gin (headers);
    CREATE INDEX messages_html ON messages USING gin (html);
    CREATE INDEX messages_subject_trgm ON messages USING gin (subject gin_trgm_ops);
    CREATE INDEX messages_from_trgm ON messages USING gin (from_text gin_trgm_ops);
    CREATE INDEX messages_to_trgm ON messages USING gin (to_text gin_trgm_ops);
    CREATE INDEX messages_cc_trgm ON messages USING gin (cc_text gin_trgm_ops);
    CREATE INDEX messages_bcc_trgm ON messages USING gin (bcc_text gin_trgm_ops);
    CREATE INDEX messages_reply_to_trgm ON messages USING gin (reply_to_text gin_trgm_ops);

    -- The message exactly as received, zstd-compressed.
    CREATE TABLE message_raw (
        message BIGINT PRIMARY KEY REFERENCES messages (rowid) ON DELETE CASCADE,
        data    BYTEA NOT NULL
    );
    ALTER TABLE message_raw ALTER COLUMN data SET STORAGE EXTERNAL;

    CREATE TABLE tags (
        id   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name TEXT NOT NULL
    );
    CREATE UNIQUE INDEX tags_name ON tags (lower(name));
    CREATE TABLE message_tags (
        message BIGINT NOT NULL REFERENCES messages (rowid) ON DELETE CASCADE,
        tag     BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        PRIMARY KEY (message, tag)
    );
    CREATE INDEX message_tags_by_tag ON message_tags (tag, message);

    -- Releases to the relay, one row per release, with every attempt.
    CREATE TABLE relay_jobs (
        id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        message         BIGINT NOT NULL REFERENCES messages (rowid) ON DELETE CASCADE,
        mail_from       TEXT NOT NULL,
        recipients      TEXT NOT NULL,              -- JSON [String]
        state           TEXT NOT NULL
            CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
        created_at      BIGINT NOT NULL,            -- Unix milliseconds
        next_attempt_at BIGINT NOT NULL,            -- Unix milliseconds
        claimed_at      BIGINT,                     -- Unix milliseconds, when sending began
        attempts        JSONB NOT NULL DEFAULT '[]' -- [RelayAttempt]
    );
    CREATE INDEX relay_jobs_by_message ON relay_jobs (message);
    CREATE INDEX relay_jobs_due ON relay_jobs (next_attempt_at) WHERE state = 'queued';
    "#,
    // 2: the webhook queue: one delivery per new message while webhooks are
    // on, queued with the message and removed once delivered or given up.
    // Not tied to its message: deleting the message leaves it queued.
    r#"
    CREATE TABLE webhook_deliveries (
        id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        message_id      TEXT NOT NULL,              -- messages.id
        payload         TEXT NOT NULL,              -- the JSON body as sent
        created_at      BIGINT NOT NULL,            -- Unix milliseconds
        next_attempt_at BIGINT NOT NULL,            -- Unix milliseconds
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at);
    "#,
    // 3: the totals a page shows, kept in `message_counts` by a trigger in
    // each write's transaction, so no page counts the table (its rows are
    // wide: they carry the search vectors). Each inbox has up to 16 rows,
    // one per slot: a write adds to its connection's slot, so concurrent
    // inserts into one inbox seldom wait for each other's row lock; the
    // totals are the sums. Writes wait while the table is counted.
    // `messages_read` finds the read messages among a word's matches
    // when they are few, as `messages_unread` finds the unread ones.
    r#"
    LOCK TABLE messages IN SHARE ROW EXCLUSIVE MODE;
    CREATE TABLE message_counts (
        inbox  TEXT NOT NULL,
        slot   INTEGER NOT NULL,
        total  BIGINT NOT NULL,
        unread BIGINT NOT NULL,
        PRIMARY KEY (inbox, slot)
    );
    INSERT INTO message_counts (inbox, slot, total, unread)
    SELECT inbox, 0, count(*), count(*) FILTER (WHERE NOT read) FROM messages GROUP BY inbox;
    -- Adds each changed row's difference, summed per inbox, to this
    -- connection's slot; inboxes in name order, so that two writes lock
    -- their rows in the same order.
    CREATE FUNCTION letterbox_add_counts(deltas JSONB) RETURNS void LANGUAGE sql AS $$
        INSERT INTO message_counts AS c (inbox, slot, total, unread)
        SELECT d.inbox, pg_backend_pid() % 16, sum(d.total), sum(d.unread)
        FROM jsonb_to_recordset(deltas) AS d (inbox TEXT, total BIGINT, unread BIGINT)
        GROUP BY d.inbox HAVING sum(d.total) <> 0 OR sum(d.unread) <> 0
        ORDER BY d.inbox
        ON CONFLICT (inbox, slot) DO UPDATE
        SET total = c.total + EXCLUDED.total, unread = c.unread + EXCLUDED.unread
    $$;
    CREATE FUNCTION letterbox_count_messages() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- Each branch names only the transition tables its trigger has.
        IF TG_OP = 'INSERT' THEN
            PERFORM letterbox_add_counts(coalesce((
                SELECT jsonb_agg(jsonb_build_object('inbox', inbox, 'total', n, 'unread', u))
                FROM (SELECT inbox, count(*) AS n, count(*) FILTER (WHERE NOT read) AS u
                      FROM new_rows GROUP BY inbox) s), '[]'));
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM letterbox_add_counts(coalesce((
                SELECT jsonb_agg(jsonb_build_object('inbox', inbox, 'total', -n, 'unread', -u))
                FROM (SELECT inbox, count(*) AS n, count(*) FILTER (WHERE NOT read) AS u
                      FROM old_rows GROUP BY inbox) s), '[]'));
        ELSE
            PERFORM letterbox_add_counts(coalesce((
                SELECT jsonb_agg(jsonb_build_object('inbox', inbox, 'total', n, 'unread', u))
                FROM (SELECT inbox, 1 AS n, (NOT read)::int AS u FROM new_rows
                      UNION ALL
                      SELECT inbox, -1, -(NOT read)::int FROM old_rows) s), '[]'));
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER messages_count_inserted AFTER INSERT ON messages
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION letterbox_count_messages();
    CREATE TRIGGER messages_count_deleted AFTER DELETE ON messages
        REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION letterbox_count_messages();
    CREATE TRIGGER messages_count_updated AFTER UPDATE ON messages
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION letterbox_count_messages();
    CREATE INDEX messages_read ON messages (rowid) WHERE read;
    "#,
    // 4: state every node shares that is not mail: the chaos rules in
    // force (`chaos`: their text, NULL when all are off), so that a node
    // started later, or one that missed the change, puts them in force.
    r#"
    CREATE TABLE shared_settings (
        name  TEXT PRIMARY KEY,
        value TEXT
    );
    "#,
    // 5: the plain words in a table of their own, `message_words`, with
    // a copy of each message's read flag (kept by a trigger in each
    // update's transaction): a word found in nearly every message is
    // counted and paged there, reading rows of about 300 bytes instead of
    // the messages' 2 KB. PostgreSQL moves a value out of line only from
    // rows over 2 KB (`toast_tuple_target` cannot lower that), so a
    // narrower heap for the count needs a table of its own. Copies every
    // message's vector; the space the dropped column held in rows
    // stored before is reused only once they go (or `VACUUM FULL`).
    r#"
    LOCK TABLE messages IN ACCESS EXCLUSIVE MODE;
    CREATE TABLE message_words (
        rowid BIGINT PRIMARY KEY REFERENCES messages (rowid) ON DELETE CASCADE,
        read  BOOLEAN NOT NULL,
        words TSVECTOR NOT NULL
    );
    INSERT INTO message_words (rowid, read, words)
    SELECT rowid, read, words FROM messages ORDER BY rowid;
    CREATE INDEX message_words_words ON message_words USING gin (words);
    ALTER TABLE messages DROP COLUMN words;
    CREATE FUNCTION letterbox_copy_read() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE message_words w SET read = n.read
        FROM new_rows n WHERE w.rowid = n.rowid AND w.read <> n.read;
        RETURN NULL;
    END $$;
    CREATE TRIGGER messages_read_copied AFTER UPDATE ON messages
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION letterbox_copy_read();
    "#,
];

/// Brings the schema up to date; one transaction per migration, each under
/// the migration lock.
pub async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i32;
    loop {
        let tx = client.transaction().await?;
        // Under the lock, so that two nodes never both create the table.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "SET LOCAL client_min_messages = warning;
             CREATE TABLE IF NOT EXISTS letterbox_schema (version INTEGER NOT NULL);
             INSERT INTO letterbox_schema (version)
             SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM letterbox_schema)",
        )
        .await?;
        let found: i32 = tx
            .query_one("SELECT version FROM letterbox_schema", &[])
            .await?
            .get(0);
        if found > known {
            return Err(StoreError::Incompatible(format!(
                "the database has schema version {found}, newer than this Letterbox knows \
                 ({known}); upgrade Letterbox"
            )));
        }
        if found == known {
            return Ok(tx.commit().await?);
        }
        tx.batch_execute(MIGRATIONS[found as usize]).await?;
        tx.execute("UPDATE letterbox_schema SET version = $1", &[&(found + 1)])
            .await?;
        tx.commit().await?;
    }
}
