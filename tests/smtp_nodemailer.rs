//! The README's setting for Node, `nodemailer.createTransport({host,
//! port})` with nothing else, delivers: no STARTTLS is offered without a
//! certificate, so nodemailer does not upgrade and then refuse a
//! self-signed one. Runs the real package from `tests/npm`.

mod common;

use std::process::Command;

use serde_json::Value;

use common::{Letterbox, npm};

/// Sends one message through nodemailer; its JSON answer, or `None` when
/// skipped (no Node or package, outside CI).
async fn send_with_nodemailer(lb: &Letterbox, subject: &str) -> Option<Value> {
    if !npm::installed("nodemailer") {
        return None;
    }
    let mut command = Command::new("node");
    command
        .current_dir(npm::npm_dir())
        .arg("nodemailer-send.mjs")
        .arg(lb.smtp_addr.ip().to_string())
        .arg(lb.smtp_addr.port().to_string())
        .arg(subject);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the node runner thread")
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "not a JSON answer ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    Some(answer)
}

#[tokio::test]
async fn nodemailer_with_host_and_port_delivers() {
    let lb = Letterbox::start();
    let Some(answer) = send_with_nodemailer(&lb, "from nodemailer").await else {
        return;
    };
    assert_eq!(answer["ok"], true, "{answer}");
    let message = lb.the_one_message().await;
    assert_eq!(message["Subject"], "from nodemailer");
    assert_eq!(message["Envelope"]["TLS"], false, "{message}");
}

#[tokio::test]
async fn nodemailer_upgrades_when_a_certificate_is_asked_for() {
    // With --smtp-tls self-signed, STARTTLS is offered and nodemailer takes
    // it; without trusting the certificate it refuses, as it should.
    let lb = Letterbox::with_args(&["--smtp-tls", "self-signed"]);
    let Some(answer) = send_with_nodemailer(&lb, "refused").await else {
        return;
    };
    assert_eq!(answer["ok"], false, "{answer}");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(error.contains("certificate"), "{answer}");
}
