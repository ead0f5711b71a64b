//! `letterbox wait`: the command-line wait for shell-based CI.

mod common;

use std::process::{Command, Output};

use common::Letterbox;
use serde_json::Value;

/// Runs `letterbox wait` against the fixture with extra arguments.
async fn wait(lb: &Letterbox, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_letterbox"));
    command.arg("wait").arg("--http").arg(lb.url("")).args(args);
    tokio::task::spawn_blocking(move || command.output().expect("running letterbox wait"))
        .await
        .unwrap()
}

#[tokio::test]
async fn prints_a_message_that_arrives_while_waiting() {
    let lb = Letterbox::start();
    // Without --after the wait covers mail from the moment it starts; the
    // send below may win that race, so name the moment explicitly.
    let since =
        letterbox::domain::timefmt::rfc3339_millis(letterbox::domain::timefmt::now_millis() - 1);
    let args = [
        "--query",
        "subject:\"your code\"",
        "--after",
        &since,
        "--timeout",
        "20s",
    ];
    let waiting = wait(&lb, &args);
    let sending = async {
        // Only a matching message ends the wait, whenever it comes.
        lb.send_simple("unrelated").await;
        lb.send_simple("Your code is here").await
    };
    let (output, id) = tokio::join!(waiting, sending);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["ID"], id);
    assert_eq!(json["Subject"], "Your code is here");
}

#[tokio::test]
async fn finds_an_already_stored_message_after_a_cursor() {
    let lb = Letterbox::start();
    let first = lb.send_simple("first").await;
    let second = lb.send_simple("second").await;
    let output = wait(&lb, &["--after", &first, "--full", "--timeout", "5s"]).await;
    assert!(output.status.success());
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["ID"], second);
    assert!(
        json.get("Text").is_some(),
        "--full prints the whole message"
    );
}

#[tokio::test]
async fn exits_1_on_timeout_and_2_on_errors() {
    let lb = Letterbox::start();
    let output = wait(
        &lb,
        &["--query", "nothing-matches-this", "--timeout", "300ms"],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("timed out"));

    let output = wait(&lb, &["--query", "is:bogus", "--timeout", "1s"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown is:bogus"));

    let output = Command::new(env!("CARGO_BIN_EXE_letterbox"))
        .args(["wait", "--http", "http://127.0.0.1:1", "--timeout", "1s"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("connecting to 127.0.0.1:1"));
}
