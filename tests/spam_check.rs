//! `GET /api/v1/message/{ID}/sa-check` against a real SpamAssassin `spamd`
//! (started by `.ci/run`, named by `LETTERBOX_TEST_SPAMD`): Mailpit's shape,
//! the rules that fired for what the message lacks, and the route's absence
//! when `--spamassassin` is not given. A fake `spamd` stands in for the
//! failures a real one cannot be made to show on demand.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Letterbox, npm, requires};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A message missing Date and Message-ID: SpamAssassin scores both.
const BARE: &[u8] = b"From: app@example.test\r\nTo: user@example.test\r\nSubject: Your invoice\r\n\r\nHello, your invoice is attached.\r\n";

fn spamd() -> Option<String> {
    match std::env::var("LETTERBOX_TEST_SPAMD") {
        Ok(addr) if !addr.is_empty() => Some(addr),
        _ => {
            requires::skip(
                "spam_check",
                "no spamd (LETTERBOX_TEST_SPAMD is not set)",
                "install Debian's spamassassin, spamd and spamc, start `spamd --listen=127.0.0.1:7830 -u nobody --local` and set LETTERBOX_TEST_SPAMD=127.0.0.1:7830 (.ci/run does)",
            );
            None
        }
    }
}

/// spamd takes a few seconds to start its children: a check made before
/// then would report a connection error, so wait until it answers.
async fn wait_for_spamd(addr: &str) {
    for _ in 0..120 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("spamd at {addr} did not start listening within a minute (see target/spamd.log)");
}

/// Stores [`BARE`] and returns its ID.
async fn send_bare(lb: &Letterbox) -> String {
    lb.send_raw("app@example.test", &["user@example.test"], BARE)
        .await
}

fn rule_names(check: &Value) -> HashSet<String> {
    check["Rules"]
        .as_array()
        .expect("Rules is an array")
        .iter()
        .map(|r| r["Name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_real_spamd_scores_the_message_in_mailpit_s_shape() {
    let Some(addr) = spamd() else { return };
    wait_for_spamd(&addr).await;
    let lb = Letterbox::with_args(&["--spamassassin", &addr]);
    let id = send_bare(&lb).await;

    let (status, check) = lb.get_json(&format!("/api/v1/message/{id}/sa-check")).await;
    assert_eq!(status, 200, "{check}");
    let keys: HashSet<&str> = check
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        HashSet::from(["Error", "IsSpam", "Score", "Rules"]),
        "{check}"
    );
    assert_eq!(check["Error"], "", "{check}");
    assert_eq!(check["IsSpam"], false, "{check}");
    assert!(check["Score"].is_number(), "{check}");
    let names = rule_names(&check);
    assert!(names.contains("MISSING_DATE"), "{check}");
    assert!(names.contains("MISSING_MID"), "{check}");
    for rule in check["Rules"].as_array().unwrap() {
        let rule_keys: HashSet<&str> = rule
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            rule_keys,
            HashSet::from(["Name", "Score", "Description"]),
            "{rule}"
        );
        assert!(!rule["Description"].as_str().unwrap().is_empty(), "{rule}");
    }
    let score: f64 = check["Rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Score"].as_f64().unwrap())
        .sum();
    let total = check["Score"].as_f64().unwrap();
    assert!(
        (score - total).abs() < 0.11,
        "rules add up to {score}, score is {total}"
    );

    // `latest` resolves as on every message route, and the UI is told.
    let (status, latest) = lb.get_json("/api/v1/message/latest/sa-check").await;
    assert_eq!(status, 200);
    assert_eq!(rule_names(&latest), names);
    let webui = lb.get_ok("/api/v1/webui").await;
    assert_eq!(webui["SpamAssassin"], true, "{webui}");
}

/// The real `mailpit-api` npm client reads the score as its own e2e suite
/// expects Mailpit's (see `spamAssassinCheck` in tests/npm/mailpit-client.mjs).
#[tokio::test]
async fn the_mailpit_api_client_reads_the_score() {
    let Some(addr) = spamd() else { return };
    wait_for_spamd(&addr).await;
    let lb = Letterbox::with_args(&["--spamassassin", &addr]);
    npm::assert_checks_pass_on(
        &lb,
        "mailpit-api",
        "mailpit-client.mjs",
        &["spamAssassinCheck"],
    )
    .await;
}

#[tokio::test]
async fn without_the_flag_there_is_no_route() {
    let lb = Letterbox::start();
    let id = send_bare(&lb).await;
    let (status, _) = lb.get_json(&format!("/api/v1/message/{id}/sa-check")).await;
    assert_eq!(status, 404);
    let webui = lb.get_ok("/api/v1/webui").await;
    assert_eq!(webui["SpamAssassin"], false, "{webui}");
}

#[tokio::test]
async fn an_unknown_message_is_a_404_and_a_dead_spamd_an_error_in_the_body() {
    // Mailpit answers 200 with the reason in `Error` when spamd fails.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let lb = Letterbox::with_args(&["--spamassassin", &addr]);
    let (status, _) = lb.get_json("/api/v1/message/nope/sa-check").await;
    assert_eq!(status, 404);
    let id = send_bare(&lb).await;
    let (status, check) = lb.get_json(&format!("/api/v1/message/{id}/sa-check")).await;
    assert_eq!(status, 200, "{check}");
    assert!(check["Error"].as_str().unwrap().contains(&addr), "{check}");
    assert_eq!(check["Rules"], Value::Array(vec![]), "{check}");
}

#[tokio::test]
async fn a_spamd_that_answers_garbage_gives_an_error_not_a_score() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = Vec::new();
            let _ = socket.read_to_end(&mut request).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\n\r\nnot spamd\r\n")
                .await;
        }
    });
    let lb = Letterbox::with_args(&["--spamassassin", &addr]);
    let id = send_bare(&lb).await;
    let (status, check) = lb.get_json(&format!("/api/v1/message/{id}/sa-check")).await;
    assert_eq!(status, 200, "{check}");
    assert!(
        check["Error"].as_str().unwrap().contains("SPAMD"),
        "{check}"
    );
    assert_eq!(check["Score"], 0.0);
}
