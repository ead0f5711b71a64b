//! Every message of the shared MIME corpus goes in over SMTP and comes back
//! out of the API byte for byte.

mod common;

use std::path::PathBuf;

use common::{Letterbox, expected_stored};
use serde_json::Value;

/// `$LETTERBOX_CORPUS`, or `shared/corpus` next to the crate.
fn corpus_dir() -> PathBuf {
    std::env::var_os("LETTERBOX_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

fn corpus_files() -> Vec<PathBuf> {
    let dir = corpus_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "corpus directory {} is unreadable ({e}); set LETTERBOX_CORPUS",
            dir.display()
        )
    });
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("reading the corpus directory").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no *.eml files in the corpus directory {}",
        dir.display()
    );
    files
}

/// GET that must answer 200 with a JSON body.
async fn json_ok(lb: &Letterbox, path: &str) -> Result<Value, String> {
    let response = lb.get(path).await;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| format!("{path}: {e}"))?;
    if status != 200 {
        let body = String::from_utf8_lossy(&body);
        return Err(format!("{path}: status {status}: {body}"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{path}: not JSON: {e}"))
}

/// Everything the API must say about a stored corpus message.
async fn check(lb: &Letterbox, listed: &[Value], id: &str, data: &[u8]) -> Result<(), String> {
    let expected = expected_stored(data);
    let summary = listed
        .iter()
        .find(|m| m["ID"] == id)
        .ok_or("not in the message list")?;
    if summary["Size"] != expected.len() {
        return Err(format!(
            "listed Size {} but {} bytes were sent",
            summary["Size"],
            expected.len()
        ));
    }
    let raw = lb.raw(id).await;
    if raw != expected {
        let at = raw
            .iter()
            .zip(&expected)
            .take_while(|(a, b)| a == b)
            .count();
        return Err(format!(
            "raw differs from the sent bytes at offset {at} ({} bytes stored, {} sent)",
            raw.len(),
            expected.len()
        ));
    }
    let message = json_ok(lb, &format!("/api/v1/message/{id}")).await?;
    if message["ID"] != id || message["Size"] != expected.len() {
        return Err(format!(
            "message JSON has ID {} and Size {}",
            message["ID"], message["Size"]
        ));
    }
    let headers = json_ok(lb, &format!("/api/v1/message/{id}/headers")).await?;
    if !headers.is_object() {
        return Err(format!("headers are not an object: {headers}"));
    }
    Ok(())
}

#[tokio::test]
async fn every_corpus_message_round_trips() {
    let files = corpus_files();
    let lb = Letterbox::start();
    let mut failures = Vec::new();
    let mut sent = Vec::new();

    let mut smtp = lb.smtp().await;
    smtp.ehlo().await;
    for file in &files {
        let name = file.file_name().expect("a file name").to_string_lossy();
        let data = std::fs::read(file).expect("reading a corpus file");
        let mail = "MAIL FROM:<corpus@example.com> BODY=8BITMIME";
        match smtp
            .try_send_message(mail, &["rcpt@example.com"], &data)
            .await
        {
            Ok(id) => sent.push((name.into_owned(), id, data)),
            Err(err) => {
                failures.push(format!("{name}: SMTP: {err}"));
                // Carry on with a fresh connection.
                smtp = lb.smtp().await;
                smtp.ehlo().await;
            }
        }
    }
    smtp.quit().await;

    let list = lb.list().await;
    assert_eq!(list["total"], sent.len(), "{list}");
    let listed = list["messages"].as_array().expect("a messages array");
    for (name, id, data) in &sent {
        if let Err(err) = check(&lb, listed, id, data).await {
            failures.push(format!("{name} ({id}): {err}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus files failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
