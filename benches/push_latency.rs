//! Live push latency: the time from an SMTP client reading `250` after DATA
//! to a WebSocket client (the web UI's channel, `/api/events`) receiving
//! that message's `new` event.
//!
//!   cargo bench --bench push_latency -- [MESSAGES]     default 1,000
//!
//! One SMTP connection sends the messages back to back, so each push
//! competes with the next message's ingest. An event that arrives before
//! the client has read its `250` (the server publishes right after the
//! commit) counts as zero. Goal (issue "Proof"): p99 <= 10 ms.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use support::{Server, Smtp, ms, percentile};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() {
    let messages: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or(1000, |a| a.parse().expect("MESSAGES is a number"));
    let server = Server::start(&["--max-messages", "0"]).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(server.ws_url("/api/events"))
        .await
        .expect("connecting the WebSocket");

    // The reader stamps each `new` event with its arrival time, keyed by
    // subject, on its own task so stamping never waits for the sender.
    let reader = tokio::spawn(async move {
        let mut arrived = HashMap::with_capacity(messages);
        while arrived.len() < messages {
            let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
                .await
                .expect("events stopped arriving")
                .expect("the socket is open")
                .expect("a frame");
            let now = Instant::now();
            let Message::Text(text) = frame else { continue };
            let event: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            if event["Type"] == "new" {
                let subject = event["Data"]["Subject"].as_str().unwrap_or_default();
                arrived.insert(subject.to_string(), now);
            }
        }
        arrived
    });

    let mut smtp = Smtp::connect(server.smtp).await;
    let mut acked = Vec::with_capacity(messages);
    let started = Instant::now();
    for i in 0..messages {
        let subject = format!("push {i}");
        let data = format!(
            "From: bench@example.test\r\nTo: ui@example.test\r\nSubject: {subject}\r\n\r\n\
             A message to time the live push with.\r\n"
        );
        smtp.send("bench@example.test", "ui@example.test", data.as_bytes())
            .await;
        acked.push((subject, Instant::now()));
    }
    let sending = started.elapsed();
    let arrived = reader.await.expect("the reader finished");

    let mut latencies: Vec<Duration> = acked
        .iter()
        .map(|(subject, ack)| {
            let at = arrived.get(subject).expect("every message was pushed");
            at.saturating_duration_since(*ack)
        })
        .collect();
    latencies.sort();
    let early = latencies.iter().filter(|d| d.is_zero()).count();
    println!("live push latency, {messages} messages over one SMTP connection");
    println!(
        "  p50 {}  p90 {}  p99 {}  max {}   (goal: p99 <= 10 ms)",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(*latencies.last().expect("samples")),
    );
    println!(
        "  {early} events arrived before the client read its 250; sending took {:.2} s ({:.0} msg/s)",
        sending.as_secs_f64(),
        messages as f64 / sending.as_secs_f64()
    );
}
