//! The store on disk: what got a 250 survives a crash, pruning keeps the
//! newest messages, and a throw-away store is removed on a clean shutdown.

mod common;

use common::{Letterbox, TempDir, simple_message};

#[tokio::test]
async fn committed_messages_survive_sigkill() {
    let dir = TempDir::new("persist");
    let db = &dir.file("x.db");

    let mut lb = Letterbox::with_args(&["--db", db]);
    let mut sent = Vec::new();
    for n in 0..3 {
        let data = simple_message(&format!("survivor {n}"), &format!("body {n}"));
        let id = lb
            .send_raw("a@example.com", &["b@example.com"], &data)
            .await;
        sent.push((id, data));
    }
    let before = lb.list().await;
    // 250 means committed: no graceful shutdown needed.
    lb.kill();
    drop(lb);

    let lb = Letterbox::with_args(&["--db", db]);
    let after = lb.list().await;
    assert_eq!(after["total"], 3);
    assert_eq!(after["messages"], before["messages"]);
    for (id, data) in &sent {
        assert_eq!(&lb.raw(id).await, data);
        let message = lb.message(id).await;
        assert_eq!(message["Envelope"]["MailFrom"], "a@example.com");
    }
    let info = lb.get_ok("/api/v1/info").await;
    assert_eq!(info["Messages"], 3);
    assert!(
        info["Database"]
            .as_str()
            .is_some_and(|p| p.ends_with("x.db")),
        "{info}"
    );

    // New messages go on top of the old ones.
    let id = lb.send_simple("after restart").await;
    assert_eq!(lb.ids().await[0], id);
    assert_eq!(lb.list().await["total"], 4);
}

#[tokio::test]
async fn max_messages_keeps_the_newest() {
    let lb = Letterbox::with_args(&["--max-messages", "5"]);
    let ids = lb.send_numbered(8).await;
    // Pruning follows the commit, so wait for it.
    let list = lb.wait_for_total(5).await;
    let newest: Vec<String> = ids[3..].iter().rev().cloned().collect();
    assert_eq!(common::ids_of(&list), newest);
    for id in &ids[..3] {
        let (status, _) = lb.get_json(&format!("/api/v1/message/{id}")).await;
        assert_eq!(status, 404, "pruned message {id} is still there");
    }
    for id in &ids[3..] {
        lb.message(id).await;
    }
}

#[tokio::test]
async fn a_lower_max_messages_is_applied_on_restart() {
    let dir = TempDir::new("prune-restart");
    let db = &dir.file("x.db");
    let mut lb = Letterbox::with_args(&["--db", db]);
    let ids = lb.send_numbered(6).await;
    lb.kill();
    drop(lb);

    let lb = Letterbox::with_args(&["--db", db, "--max-messages", "2"]);
    let list = lb.wait_for_total(2).await;
    let newest: Vec<String> = ids[4..].iter().rev().cloned().collect();
    assert_eq!(common::ids_of(&list), newest);
}

#[tokio::test]
async fn a_memory_store_is_removed_on_sigterm() {
    let mut lb = Letterbox::with_args(&["--db", ":memory:"]);
    let store = lb
        .next_stdout_line()
        .and_then(|line| {
            line.trim()
                .strip_prefix("Store")
                .map(|p| p.trim().to_string())
        })
        .expect("a Store line after the Web line");
    let store = std::path::PathBuf::from(store);
    assert!(store.exists(), "{} does not exist", store.display());
    lb.send_simple("ephemeral").await;
    assert_eq!(lb.list().await["total"], 1);

    // An open SMTP connection must not hold the shutdown up.
    let _idle = lb.smtp().await;
    let status = lb.terminate();
    assert!(status.success(), "exit status {status:?}");
    let dir = store.parent().expect("the store is in a directory");
    assert!(!dir.exists(), "{} was left behind", dir.display());
}

/// Makes the messages with these IDs look received `hours` ago, by writing
/// to the database directly (the server may be running: SQLite allows a
/// second writer, which waits for the first).
fn backdate(db: &str, ids: &[String], hours: i64) {
    let conn = rusqlite::Connection::open(db).expect("opening the test database");
    conn.busy_timeout(common::TIMEOUT).unwrap();
    for id in ids {
        let changed = conn
            .execute(
                "UPDATE messages SET received_at = received_at - ?1 WHERE id = ?2",
                rusqlite::params![hours * 3_600_000, id],
            )
            .unwrap();
        assert_eq!(changed, 1, "no message {id}");
    }
}

#[tokio::test]
async fn max_age_prunes_old_messages_at_start() {
    let dir = TempDir::new("max-age-restart");
    let db = &dir.file("x.db");
    let mut lb = Letterbox::with_args(&["--db", db]);
    let ids = lb.send_numbered(3).await;
    lb.kill();
    drop(lb);
    backdate(db, &ids[..2], 2);

    let lb = Letterbox::with_args(&["--db", db, "--max-age", "1h"]);
    let list = lb.wait_for_total(1).await;
    assert_eq!(common::ids_of(&list), [ids[2].clone()]);
}

#[tokio::test]
async fn max_age_prunes_while_running() {
    let dir = TempDir::new("max-age-running");
    let db = &dir.file("x.db");
    let lb = Letterbox::with_args(&["--db", db, "--max-age", "1h"]);
    let ids = lb.send_numbered(2).await;
    backdate(db, &ids[..1], 2);
    // Every commit is followed by a pruning pass.
    let newest = lb.send_simple("newest").await;
    let list = lb.wait_for_total(2).await;
    assert_eq!(common::ids_of(&list), [newest, ids[1].clone()]);
}

#[tokio::test]
async fn max_age_prunes_without_new_mail() {
    let lb = Letterbox::with_args(&["--max-age", "1s"]);
    // The 250 means it was committed; nothing else is written afterwards,
    // so only the writer's own timer can remove it.
    lb.send_simple("short-lived").await;
    lb.wait_for_total(0).await;
}
