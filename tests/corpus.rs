//! Every message of the shared MIME corpus goes in over SMTP and comes back
//! out of the API byte for byte.

mod common;

use common::{Letterbox, corpus_files, expected_stored, send_corpus};
use serde_json::Value;

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
    let Some(files) = corpus_files("every_corpus_message_round_trips") else {
        return;
    };
    let lb = Letterbox::start();
    let (sent, mut failures) = send_corpus(&lb, &files).await;

    let list = lb.list().await;
    assert_eq!(list["total"], sent.len(), "{list}");
    let listed = list["messages"].as_array().expect("a messages array");
    for m in &sent {
        if let Err(err) = check(&lb, listed, &m.id, &m.data).await {
            failures.push(format!("{} ({}): {err}", m.name, m.id));
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

/// Corpus mail that a strict header reader gets wrong: a first line of
/// only spaces, an encoded word in a charset nobody knows.
#[tokio::test]
async fn lenient_headers_in_the_corpus() {
    let Some(files) = corpus_files("lenient_headers_in_the_corpus") else {
        return;
    };
    let lb = Letterbox::start();
    let (sent, failures) = send_corpus(&lb, &files).await;
    assert!(failures.is_empty(), "{failures:?}");
    for (name, subject) in [
        ("flanker__enclosed.eml", "Wow"),
        ("mikel-mail__error_emails__bad_encoded_subject.eml", "TEST"),
    ] {
        let Some(m) = sent.iter().find(|m| m.name == name) else {
            panic!("{name} is not in the corpus");
        };
        let message = json_ok(&lb, &format!("/api/v1/message/{}", m.id))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(message["Subject"], subject, "{name}");
    }
}
