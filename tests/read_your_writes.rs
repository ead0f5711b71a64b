//! Read your writes. The text indexes (full text, and subject and
//! addresses) are written after a message's commit, many messages at a
//! time; a message that got its `250` must still be found at once by a
//! word search, a field search, the list, `latest` and `wait`, also while
//! other clients blast mail, and again after Letterbox is killed before it
//! indexed them.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{Letterbox, TempDir, simple_message};
use letterbox::client::http::encode;
use serde_json::Value;

/// A message with words found nowhere else: `word` in its body, `subject`
/// as its subject, sent from `from`.
fn distinct_message(word: &str, subject: &str, from: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <sink@example.com>\r\nSubject: {subject}\r\n\r\n\
         The body says {word} once.\r\n"
    )
    .into_bytes()
}

/// Sends messages on `sessions` connections until `stop` is set; counts
/// them in `sent`.
fn blast(lb: &Letterbox, sessions: usize, stop: &Arc<AtomicBool>, sent: &Arc<AtomicUsize>) {
    for session in 0..sessions {
        let addr = lb.smtp_addr;
        let (stop, sent) = (stop.clone(), sent.clone());
        tokio::spawn(async move {
            let mut smtp = common::Smtp::connect(addr).await;
            smtp.ehlo().await;
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let data = simple_message(
                    &format!("blast {session}-{n}"),
                    "filler words for the index",
                );
                smtp.send_message("blaster@example.com", &["sink@example.com"], &data)
                    .await;
                sent.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        });
    }
}

/// The IDs of a search's first page.
async fn search_ids(lb: &Letterbox, query: &str) -> Vec<String> {
    let page = lb
        .get_ok(&format!("/api/v1/search?query={}&limit=50", encode(query)))
        .await;
    ids(&page)
}

fn ids(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {page}"))
        .iter()
        .map(|m| m["ID"].as_str().expect("an ID").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_acknowledged_message_is_found_at_once_during_a_blast() {
    let lb = Letterbox::start();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    blast(&lb, 4, &stop, &sent);
    let mut smtp = lb.session().await;
    for n in 0..40 {
        let word = format!("needleword{n}x");
        let subject = format!("Marker subject {n}");
        let from = format!("writer{n}@ryw.example");
        let data = distinct_message(&word, &subject, &from);
        let id = smtp.send_message(&from, &["sink@example.com"], &data).await;
        // Straight after the 250, with the blast still going.
        match n % 4 {
            0 => assert_eq!(search_ids(&lb, &word).await, [id.as_str()], "word {word}"),
            1 => assert_eq!(
                search_ids(&lb, &format!("subject:\"{subject}\"")).await,
                [id.as_str()],
                "subject {subject}"
            ),
            2 => assert_eq!(
                search_ids(&lb, &format!("from:{from}")).await,
                [id.as_str()],
                "from {from}"
            ),
            _ => {
                let latest = lb
                    .get_ok(&format!("/api/v1/message/latest?query={}", encode(&word)))
                    .await;
                assert_eq!(latest["ID"], id.as_str(), "latest {word}");
            }
        }
        // The message view and the unfiltered list need no text index.
        assert_eq!(lb.message(&id).await["ID"], id.as_str());
        // A wait for the word, from before the message, answers with it.
        let waited = lb
            .get_ok(&format!(
                "/api/v1/wait?query={}&after=2000-01-01T00:00:00Z&timeout=30s",
                encode(&word)
            ))
            .await;
        assert_eq!(waited["ID"], id.as_str(), "wait {word}");
    }
    stop.store(true, Ordering::Relaxed);
    assert!(sent.load(Ordering::Relaxed) > 0, "the blast sent nothing");
    // Everything blasted is searchable too, by a word every one of them has.
    let total = lb.list().await["total"].as_u64().expect("a total");
    let matched = lb.get_ok("/api/v1/search?query=filler&limit=1").await["messages_count"]
        .as_u64()
        .expect("a count");
    let blasted_and_stored = total - 40;
    assert!(
        matched >= blasted_and_stored,
        "{matched} of {blasted_and_stored} blasted messages found"
    );
}

#[tokio::test]
async fn messages_not_yet_indexed_when_killed_are_found_after_restart() {
    let dir = TempDir::new("ryw-kill");
    let db = dir.file("x.db");
    let mut lb = Letterbox::with_args(&["--db", &db]);
    let mut sent = Vec::new();
    for n in 0..20 {
        let word = format!("survivorword{n}x");
        let data = distinct_message(&word, &format!("Kept {n}"), "k@example.com");
        sent.push((
            word,
            lb.send_raw("k@example.com", &["b@example.com"], &data)
                .await,
        ));
    }
    // No search has asked for them: the text of the last ones is most
    // likely still waiting in memory when the process dies.
    lb.kill();
    drop(lb);

    let lb = Letterbox::with_args(&["--db", &db]);
    for (word, id) in &sent {
        assert_eq!(&search_ids(&lb, word).await, &[id.as_str()], "{word}");
    }
    let found = search_ids(&lb, "subject:Kept").await;
    assert_eq!(found.len(), 20, "{found:?}");
}
