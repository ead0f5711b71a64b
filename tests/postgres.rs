//! Several Letterbox nodes on one PostgreSQL database, driven as users
//! drive them: mail sent to one node is seen live on the other, through
//! its API, its WebSocket and `wait`; changes made on either reach both;
//! and while the database is away no message is acknowledged that is not
//! stored, and ingest resumes by itself once it is back (and the UI is
//! told to `resync`). More nodes, and killing one: `postgres_nodes.rs`.
//!
//! They need `LETTERBOX_TEST_POSTGRES` (a `postgres://` URL of a role that
//! may create databases); the outage test also `LETTERBOX_TEST_PG_STOP` and
//! `LETTERBOX_TEST_PG_START`, shell commands that stop and start that
//! server. `.ci/run` sets all three.

mod common;

use std::time::{Duration, Instant};

use common::next_event;
use common::nodes::{database, events_of, node};
use common::postgres::{Databases, with_database};
use common::{Letterbox, Smtp, eventually, requires, simple_message};
use serde_json::{Value, json};
use tokio::sync::RwLock;

/// The outage test stops the server every other test here uses: it runs
/// alone (write), the others together (read).
static SERVER: RwLock<()> = RwLock::const_new(());

#[test]
fn the_database_name_is_replaced() {
    assert_eq!(
        with_database("postgres://u:p@h:5/postgres?sslmode=disable", "x"),
        "postgres://u:p@h:5/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
}

#[tokio::test]
async fn mail_sent_to_one_node_is_seen_live_on_the_other() {
    let _shared = SERVER.read().await;
    let databases = Databases::default();
    let Some(url) = database("two nodes share mail", &databases).await else {
        return;
    };
    let (a, b) = (node(&url), node(&url));
    let mut b_events = events_of(&b).await;
    let mut a_events = events_of(&a).await;

    // A `wait` on B is answered by mail that A accepts.
    let waiting = {
        let (client, url) = (b.client().clone(), b.url("/api/v1/wait?timeout=20s"));
        tokio::spawn(async move { client.get(url).send().await.expect("wait on B") })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = a.send_simple("hello from A").await;
    let new = next_event(&mut b_events, "new").await;
    assert_eq!(new["Data"]["ID"], id, "B's WebSocket hears of A's mail");
    assert_eq!(new["Data"]["Subject"], "hello from A");
    let answered = waiting.await.expect("the waiting request");
    assert_eq!(answered.status(), 200);
    let answered: Value = answered.json().await.expect("JSON");
    assert_eq!(answered["ID"], id, "B's wait answers A's mail");
    assert_eq!(b.ids().await, std::slice::from_ref(&id), "B lists A's mail");
    assert_eq!(b.message(&id).await["Subject"], "hello from A");

    // Read flags and tags set on A reach B.
    a.request_ok(
        "PUT",
        "/api/v1/messages",
        &json!({"IDs": [id], "Read": true}),
    )
    .await;
    let update = next_event(&mut b_events, "update").await;
    assert_eq!(update["Data"], json!({"ID": id, "Read": true}));
    a.request_ok(
        "PUT",
        "/api/v1/tags",
        &json!({"IDs": [id], "Tags": ["shared"]}),
    )
    .await;
    let update = next_event(&mut b_events, "update").await;
    assert_eq!(update["Data"], json!({"ID": id, "Tags": ["shared"]}));
    assert_eq!(b.message(&id).await["Tags"], json!(["shared"]));

    // A delete on B reaches A.
    let (status, _) = b
        .delete_messages(Some(&json!({"IDs": [id]}).to_string()))
        .await;
    assert_eq!(status, 200);
    let deleted = next_event(&mut a_events, "delete").await;
    assert_eq!(deleted["Data"]["ID"], id, "A hears of B's delete");
    assert!(a.ids().await.is_empty());

    // Chaos rules set on A are in force on B.
    let rules = json!({"Recipient": {"ErrorCode": 451, "Probability": 100}});
    let (status, _) = a
        .request_json("PUT", "/api/v1/chaos", Some(&rules.to_string()))
        .await;
    assert_eq!(status, 200);
    let chaos = next_event(&mut b_events, "chaos").await;
    assert_eq!(chaos["Data"]["Active"], true);
    let mut smtp = b.session().await;
    smtp.expect("MAIL FROM:<a@example.com>", 250, "").await;
    smtp.expect("RCPT TO:<b@example.com>", 451, "").await;
}

/// Sends one message on a connection of its own; its ID if acknowledged.
async fn try_send(lb: &Letterbox, n: usize) -> Option<String> {
    let mut smtp = tokio::time::timeout(Duration::from_secs(10), async {
        let mut smtp = Smtp::connect(lb.smtp_addr).await;
        smtp.ehlo().await;
        smtp
    })
    .await
    .ok()?;
    let data = simple_message(
        &format!("outage {n}"),
        "Sent while the database comes and goes.",
    );
    let sent = tokio::time::timeout(
        Duration::from_secs(15),
        smtp.try_send_message("MAIL FROM:<s@example.com>", &["r@example.com"], &data),
    )
    .await;
    match sent {
        Ok(Ok(id)) => Some(id),
        Ok(Err(reply)) => {
            assert!(
                reply.contains("451") || reply.contains("closed"),
                "an outage is answered 451, got {reply}"
            );
            None
        }
        Err(_) => None,
    }
}

fn shell(command: &str) {
    let status = std::process::Command::new("sh")
        .args(["-c", command])
        .status()
        .expect("running a shell");
    assert!(status.success(), "{command}: {status}");
}

#[tokio::test]
async fn an_outage_acknowledges_nothing_unstored_and_ingest_resumes() {
    let test = "PostgreSQL outage";
    let (Ok(stop), Ok(start)) = (
        std::env::var("LETTERBOX_TEST_PG_STOP"),
        std::env::var("LETTERBOX_TEST_PG_START"),
    ) else {
        requires::skip(
            test,
            "LETTERBOX_TEST_PG_STOP and LETTERBOX_TEST_PG_START are not set",
            "set them to shell commands that stop and start the test server (.ci/run does)",
        );
        return;
    };
    let _alone = SERVER.write().await;
    let databases = Databases::default();
    let Some(url) = database(test, &databases).await else {
        return;
    };
    let lb = node(&url);
    let mut events = events_of(&lb).await;
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    let mut n = 0;
    for _ in 0..20 {
        acknowledged.extend(try_send(&lb, n).await);
        n += 1;
    }
    assert_eq!(acknowledged.len(), 20, "all is well before the outage");

    // Sends go on while the server stops and stays away a few seconds.
    shell(&stop);
    let down = Instant::now();
    let mut readyz_down = false;
    while down.elapsed() < Duration::from_secs(4) {
        match try_send(&lb, n).await {
            Some(id) => acknowledged.push(id),
            None => refused += 1,
        }
        n += 1;
        readyz_down |= lb.get("/readyz").await.status() == 503;
    }
    assert!(refused > 0, "mail was refused while the database was away");
    assert!(readyz_down, "/readyz said 503 while the database was away");
    shell(&start);

    // Ingest resumes by itself.
    let back = eventually("ingest resumes", async || {
        let id = try_send(&lb, n).await;
        n += 1;
        id
    })
    .await;
    acknowledged.push(back);
    for _ in 0..10 {
        acknowledged.extend(try_send(&lb, n).await);
        n += 1;
    }
    eventually("/readyz says ready again", async || {
        (lb.get("/readyz").await.status() == 200).then_some(())
    })
    .await;
    // Other nodes' changes made while the listener was away are lost to
    // it: once it listens again, the UI is told to fetch afresh.
    next_event(&mut events, "resync").await;

    // Every acknowledged message is stored.
    for id in &acknowledged {
        let response = lb.get(&format!("/api/v1/message/{id}")).await;
        assert_eq!(
            response.status(),
            200,
            "{id} was acknowledged and is stored"
        );
    }
    let total = lb.get_ok("/api/v1/messages?limit=1").await["total"].clone();
    assert!(
        total.as_u64().expect("a total") >= acknowledged.len() as u64,
        "{total} stored, {} acknowledged",
        acknowledged.len()
    );
}

#[tokio::test]
async fn a_release_is_sent_once_while_both_nodes_run_the_relay() {
    let _shared = SERVER.read().await;
    let databases = Databases::default();
    let Some(url) = database("a release is sent once", &databases).await else {
        return;
    };
    let upstream = Letterbox::start();
    let relay = upstream.smtp_addr.to_string();
    let a = Letterbox::with_args(&["--db", &url, "--relay-host", &relay]);
    let b = Letterbox::with_args(&["--db", &url, "--relay-host", &relay]);
    let mut ids = Vec::new();
    for n in 0..20 {
        let id = a.send_simple(&format!("release {n}")).await;
        // Released on either node; both nodes' workers see every release.
        let node = if n % 2 == 0 { &a } else { &b };
        let body = json!({ "To": ["far@example.com"] }).to_string();
        let (status, _) = node
            .request(
                "POST",
                &format!("/api/v1/message/{id}/release"),
                Some(&body),
            )
            .await;
        assert_eq!(status, 200, "release {id}");
        ids.push(id);
    }
    for id in &ids {
        eventually(&format!("{id} is sent"), async || {
            let status = b.get_ok(&format!("/api/v1/message/{id}/relay")).await;
            (status["Releases"][0]["State"] == "sent").then_some(())
        })
        .await;
    }
    upstream.wait_for_total(20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        upstream.ids().await.len(),
        20,
        "each release reached the upstream once"
    );
}

/// How many messages `query` matches on `lb`, and how many of those are
/// unread.
async fn matched(lb: &Letterbox, query: &str) -> (u64, u64) {
    let page = lb.get_ok(&format!("/api/v1/search?query={query}")).await;
    let count = |key: &str| {
        page[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key}: {page}"))
    };
    (count("messages_count"), count("messages_unread"))
}

#[tokio::test]
async fn a_store_from_before_the_words_table_keeps_its_words_searchable() {
    let _shared = SERVER.read().await;
    let databases = Databases::default();
    let Some(url) = database("schema 5 on an older store", &databases).await else {
        return;
    };
    let lb = node(&url);
    let one = lb.send_simple("alpha one").await;
    let two = lb.send_simple("alpha two").await;
    lb.send_simple("beta three").await;
    lb.request_ok(
        "PUT",
        "/api/v1/messages",
        &json!({"IDs": [two], "Read": true}),
    )
    .await;
    drop(lb);

    // Back to schema 4's shape, the words in `messages`, as an older
    // Letterbox left them.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connecting to the test database");
    tokio::spawn(connection);
    client
        .batch_execute(
            "ALTER TABLE messages ADD COLUMN words TSVECTOR;
             UPDATE messages m SET words = w.words FROM message_words w WHERE w.rowid = m.rowid;
             ALTER TABLE messages ALTER COLUMN words SET NOT NULL;
             CREATE INDEX messages_words ON messages USING gin (words);
             DROP TRIGGER messages_read_copied ON messages;
             DROP FUNCTION letterbox_copy_read();
             DROP TABLE message_words;
             UPDATE letterbox_schema SET version = 4;",
        )
        .await
        .expect("rewinding the schema");

    let lb = node(&url);
    assert_eq!(matched(&lb, "alpha").await, (2, 1));
    assert_eq!(matched(&lb, "alpha%20-one").await, (1, 0));
    assert_eq!(matched(&lb, "alpha%20is:unread").await, (1, 1));
    lb.request_ok(
        "PUT",
        "/api/v1/messages",
        &json!({"IDs": [one], "Read": true}),
    )
    .await;
    assert_eq!(
        matched(&lb, "alpha").await,
        (2, 0),
        "read flags reach the words"
    );
    lb.send_simple("alpha four").await;
    assert_eq!(matched(&lb, "alpha").await, (3, 1));
    let version: i32 = client
        .query_one("SELECT version FROM letterbox_schema", &[])
        .await
        .expect("the schema version")
        .get(0);
    assert_eq!(version, 5);
}
