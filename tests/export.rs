//! Mail out of Letterbox and back: `letterbox dump` (a directory of .eml
//! files with a JSON index, or an mbox), the API's mbox download of a
//! search, and `letterbox migrate` from one store into another. Round
//! trips through the real binary must keep the raw bytes, tags, read
//! flags, received times and inboxes.

mod common;

use common::postgres::{Databases, server_url};
use common::{Finished, Letterbox, TempDir, letterbox_command, requires, run_with_input};
use serde_json::{Value, json};

fn run(args: &[&str]) -> Finished {
    run_with_input(&mut letterbox_command(args), b"")
}

fn run_ok(args: &[&str]) -> Finished {
    let done = run(args);
    assert!(
        done.status.success(),
        "letterbox {args:?} failed:\n{}\n{}",
        done.stdout,
        done.stderr
    );
    done
}

/// Runs `letterbox args`, which must succeed and say each of `said`.
#[track_caller]
fn run_saying(args: &[&str], said: &[&str]) -> Finished {
    let done = run_ok(args);
    for words in said {
        assert!(done.stdout.contains(words), "{}", done.stdout);
    }
    done
}

/// Starts Letterbox on `db` and checks it holds `before`, as it was kept.
async fn assert_holds(db: &str, before: &[Kept]) {
    let lb = Letterbox::with_args(&["--db", db]);
    assert_eq!(state(&lb).await, before);
}

/// What a round trip must keep of a message.
#[derive(Debug, PartialEq)]
struct Kept {
    subject: String,
    raw: Vec<u8>,
    tags: Value,
    read: Value,
    created: Value,
    inbox: Value,
}

/// Every message's state, oldest first.
async fn state(lb: &Letterbox) -> Vec<Kept> {
    let list = lb.get_ok("/api/v1/messages?limit=1000&additions=1").await;
    let mut out = Vec::new();
    for m in list["messages"].as_array().unwrap().iter().rev() {
        out.push(Kept {
            subject: m["Subject"].as_str().unwrap().to_string(),
            raw: lb.raw(m["ID"].as_str().unwrap()).await,
            tags: m["Tags"].clone(),
            read: m["Read"].clone(),
            created: m["Created"].clone(),
            inbox: m["Inbox"].clone(),
        });
    }
    out
}

/// A store with mail in two inboxes, some read, some tagged, one with a
/// body line that an mbox must quote; returns its state.
async fn fill(db: &str) -> Vec<Kept> {
    let lb = Letterbox::with_args(&["--db", db, "--inbox", "billing=subject:invoice"]);
    let bodies: [(&str, &[&str], &str); 5] = [
        ("plain", &["ann@example.com"], "Hello.\r\n"),
        ("plus", &["bob+signup@example.com"], "Welcome.\r\n"),
        ("invoice 42", &["pay@example.com"], "Due.\r\n"),
        (
            "quoting",
            &["cy@example.com"],
            "Line one\r\n\r\nFrom the top\r\n>From quoted\r\n.dot\r\n",
        ),
        ("last", &["dee@example.com", "eve@example.com"], "Bye.\r\n"),
    ];
    let mut ids = Vec::new();
    for (subject, to, body) in bodies {
        let data = format!(
            "From: sender@example.com\r\nTo: {}\r\nSubject: {subject}\r\n\r\n{body}",
            to.join(", ")
        );
        ids.push(lb.send_raw("sender@example.com", to, data.as_bytes()).await);
    }
    let marked = lb
        .client()
        .put(lb.url("/api/v1/messages"))
        .json(&json!({"IDs": [ids[0], ids[2]], "Read": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(marked.status(), 200);
    let tagged = lb
        .client()
        .put(lb.url("/api/v1/tags"))
        .json(&json!({"IDs": [ids[3]], "Tags": ["kept", "two words"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(tagged.status(), 200);
    let filled = state(&lb).await;
    assert_eq!(filled.len(), 5);
    assert_eq!(filled[2].inbox, "billing");
    assert_eq!(filled[0].read, true);
    filled
}

#[tokio::test]
async fn dump_then_ingest_into_an_empty_store_gives_the_same_mail() {
    let dir = TempDir::new("export-dump");
    let db = dir.file("source.db");
    let before = fill(&db).await;

    let out = dir.file("dump");
    run_saying(&["dump", "--db", &db, &out], &["dumped 5 messages"]);
    let index: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.path().join("dump/index.json")).unwrap())
            .unwrap();
    assert_eq!(index.len(), 5);
    for (entry, kept) in index.iter().zip(&before) {
        let file = dir
            .path()
            .join("dump")
            .join(entry["file"].as_str().unwrap());
        assert_eq!(std::fs::read(file).unwrap(), kept.raw, "{entry}");
        assert_eq!(entry["subject"], kept.subject.as_str());
        assert_eq!(entry["read"], kept.read);
        assert_eq!(entry["tags"], kept.tags);
        assert_eq!(entry["received"], kept.created);
        assert_eq!(entry["from"], "sender@example.com");
        assert!(entry["id"].is_string() && entry["to"].is_array());
    }

    let restored = dir.file("restored.db");
    run_saying(
        &["ingest", "--db", &restored, &out],
        &["imported 5 messages"],
    );
    assert_holds(&restored, &before).await;

    // Only the matches of a query.
    let some = dir.file("some");
    run_ok(&["dump", "--db", &db, "--query", "subject:invoice", &some]);
    let index: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.path().join("some/index.json")).unwrap())
            .unwrap();
    assert_eq!(index.len(), 1);
    assert_eq!(index[0]["inbox"], "billing");
}

#[tokio::test]
async fn an_mbox_dump_reads_back_byte_for_byte() {
    let dir = TempDir::new("export-mbox");
    let db = dir.file("source.db");
    let before = fill(&db).await;
    let mbox = dir.file("all.mbox");
    run_ok(&["dump", "--db", &db, "--mbox", &mbox]);
    let text = String::from_utf8(std::fs::read(&mbox).unwrap()).unwrap();
    assert!(text.starts_with("From sender@example.com "), "{text}");
    assert!(
        text.contains("\r\n>From the top\r\n>>From quoted\r\n"),
        "{text}"
    );

    let back = dir.file("back.db");
    run_ok(&["ingest", "--db", &back, &mbox]);
    let lb = Letterbox::with_args(&["--db", &back]);
    let after = state(&lb).await;
    let raws = |s: &[Kept]| s.iter().map(|k| k.raw.clone()).collect::<Vec<_>>();
    assert_eq!(raws(&after), raws(&before));
}

#[tokio::test]
async fn a_search_downloads_as_an_mbox() {
    let dir = TempDir::new("export-api");
    let db = dir.file("source.db");
    let before = fill(&db).await;
    let lb = Letterbox::with_args(&["--db", &db]);

    let response = lb.get("/api/v1/search/mbox?query=subject:invoice").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/mbox");
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let body = response.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&body);
    assert_eq!(text.matches("\nFrom ").count() + 1, 1, "{text}");
    assert!(text.contains("Subject: invoice 42"));

    // Everything, without a query; it reads back as it was.
    let body = lb.get("/api/v1/search/mbox").await.bytes().await.unwrap();
    let file = dir.path().join("download.mbox");
    std::fs::write(&file, &body).unwrap();
    let back = dir.file("back.db");
    run_ok(&["ingest", "--db", &back, file.to_str().unwrap()]);
    let restored = Letterbox::with_args(&["--db", &back]);
    let after = state(&restored).await;
    let raws = |s: &[Kept]| s.iter().map(|k| k.raw.clone()).collect::<Vec<_>>();
    assert_eq!(raws(&after), raws(&before));

    // The list page offers its search as a download.
    let page = lb.get("/?q=subject%3Ainvoice").await.text().await.unwrap();
    let at = page
        .find(r#"id="download-mbox" href=""#)
        .expect("a download link");
    let rest = &page[at + r#"id="download-mbox" href=""#.len()..];
    let href = rest[..rest.find('"').unwrap()].replace("&amp;", "&");
    assert!(rest.contains("Download matches as mbox"), "{page}");
    let linked = lb.get(&href).await.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&linked);
    assert!(
        text.contains("Subject: invoice 42") && !text.contains("Subject: plain"),
        "{href}: {text}"
    );

    let (status, error) = lb.get_json("/api/v1/search/mbox?query=-").await;
    assert_eq!(status, 400, "{error}");
    let (status, _) = lb.get_json("/api/v1/search/mbox?inbox=nosuch").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn migrate_copies_every_message_with_its_state_and_counts() {
    let dir = TempDir::new("export-migrate");
    let db = dir.file("source.db");
    let before = fill(&db).await;
    let target = dir.file("target.db");
    run_saying(
        &["migrate", "--from", &db, "--to", &target],
        &["copied 5 messages", "count check passed"],
    );
    assert_holds(&target, &before).await;

    // Into a store that has mail already: the count check allows for it.
    run_saying(
        &["migrate", "--from", &db, "--to", &target],
        &["from 5 to 10"],
    );

    let done = run(&["migrate", "--from", &db, "--to", &db]);
    assert!(!done.status.success());
    assert!(done.stderr.contains("same store"), "{}", done.stderr);
}

#[tokio::test]
async fn migrate_moves_a_sqlite_store_into_postgresql() {
    if server_url().is_none() {
        return requires::skip(
            "migrate_moves_a_sqlite_store_into_postgresql",
            "LETTERBOX_TEST_POSTGRES is not set",
            "set it to a postgres:// URL of a role that may create databases (.ci/run starts one)",
        );
    }
    let databases = Databases::default();
    let target = databases.create().await;
    let dir = TempDir::new("export-migrate-postgres");
    let db = dir.file("source.db");
    let before = fill(&db).await;
    run_saying(
        &["migrate", "--from", &db, "--to", &target],
        &["count check passed"],
    );
    assert_holds(&target, &before).await;
}
