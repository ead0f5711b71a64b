//! Big mail: one message with a 50 MB attachment over SMTP. Prints the time
//! to the `250`, the server's peak RSS growth against the message size, and
//! the time to download the attachment and the raw message back.
//!
//!   cargo bench --bench big_mail -- [MEGABYTES]     default 50
//!
//! The attachment is pseudo-random (incompressible) bytes, base64-encoded
//! as mail clients send it, so the message is about 1.37x the attachment.
//! Goal (issue "Proof"): peak RSS growth <= 3x the message size.

mod support;

use std::time::Instant;

use base64::Engine;
use support::{Server, Smtp, http_get};

#[tokio::main]
async fn main() {
    let megabytes: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or(50, |a| a.parse().expect("MEGABYTES is a number"));
    let attachment = pseudo_random(megabytes * 1_000_000);
    let message = message_with(&attachment);
    let server = Server::start(&["--max-message-size", "1GiB"]).await;
    let before = server.memory_kib("VmHWM");

    let mut smtp = Smtp::connect(server.smtp).await;
    let started = Instant::now();
    let reply = smtp
        .send("bench@example.test", "big@example.test", &message)
        .await;
    let to_250 = started.elapsed();
    let peak = server.memory_kib("VmHWM");
    let growth_mb = (peak.saturating_sub(before)) as f64 / 1024.0;
    let message_mb = message.len() as f64 / (1024.0 * 1024.0);
    let id = reply
        .rsplit(' ')
        .next()
        .expect("the 250 names the message")
        .to_string();

    let (status, json) = http_get(server.http, &format!("/api/v1/message/{id}"))
        .await
        .expect("fetching the message");
    assert_eq!(
        status,
        200,
        "message {id}: {}",
        String::from_utf8_lossy(&json)
    );
    let json: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
    let part = json["Attachments"][0]["PartID"]
        .as_str()
        .expect("the attachment is listed")
        .to_string();

    let started = Instant::now();
    let (status, body) = http_get(server.http, &format!("/api/v1/message/{id}/part/{part}"))
        .await
        .expect("downloading the part");
    let part_time = started.elapsed();
    assert_eq!(status, 200);
    assert!(
        body == attachment,
        "the attachment comes back byte-identical"
    );

    let started = Instant::now();
    let (status, raw) = http_get(server.http, &format!("/api/v1/message/{id}/raw"))
        .await
        .expect("downloading the raw message");
    let raw_time = started.elapsed();
    assert_eq!(status, 200);
    // The CRLF before the final dot belongs to the message.
    assert!(
        raw.len() == message.len() + 2 && raw.starts_with(&message),
        "the raw message comes back whole"
    );
    let peak_after = server.memory_kib("VmHWM");

    println!(
        "big mail: {megabytes} MB attachment, {message_mb:.1} MiB message (RSS before: {:.1} MiB)",
        before as f64 / 1024.0
    );
    println!(
        "  SMTP to 250: {:.2} s ({:.0} MiB/s)   peak RSS growth while receiving: {growth_mb:.1} MiB = {:.2}x the message (goal <= 3x)",
        to_250.as_secs_f64(),
        message_mb / to_250.as_secs_f64(),
        growth_mb / message_mb,
    );
    println!(
        "  download: attachment {:.2} s, raw {:.2} s   peak RSS growth overall: {:.1} MiB = {:.2}x",
        part_time.as_secs_f64(),
        raw_time.as_secs_f64(),
        (peak_after - before) as f64 / 1024.0,
        (peak_after - before) as f64 / 1024.0 / message_mb,
    );
}

/// Incompressible bytes from a xorshift generator (no dependency needed).
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// A multipart message with a short text part and `attachment` in base64
/// lines of 76 characters.
fn message_with(attachment: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(attachment);
    let mut message = Vec::with_capacity(encoded.len() * 78 / 76 + 1024);
    message.extend_from_slice(
        b"From: bench@example.test\r\nTo: big@example.test\r\nSubject: big mail\r\n\
          MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
          --b\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n\
          --b\r\nContent-Type: application/octet-stream\r\n\
          Content-Disposition: attachment; filename=\"big.bin\"\r\n\
          Content-Transfer-Encoding: base64\r\n\r\n",
    );
    for line in encoded.as_bytes().chunks(76) {
        message.extend_from_slice(line);
        message.extend_from_slice(b"\r\n");
    }
    message.extend_from_slice(b"--b--");
    message
}
