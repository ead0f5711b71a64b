//! `GET /api/v1/events`: the Server-Sent Events stream.

mod common;

use std::time::Duration;

use common::Letterbox;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// An open event stream, read as SSE lines over a raw socket.
struct EventStream(BufReader<TcpStream>);

impl EventStream {
    async fn open(lb: &Letterbox) -> EventStream {
        let addr = lb
            .url("")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let request = format!(
            "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        EventStream(reader)
    }

    /// The next `(event, data)` pair, skipping keep-alive comments.
    async fn next(&mut self) -> (String, Value) {
        let read = async {
            let (mut kind, mut data) = (None, None);
            loop {
                let mut line = String::new();
                assert!(
                    self.0.read_line(&mut line).await.unwrap() > 0,
                    "stream closed"
                );
                // Lines that are neither (chunk sizes, keep-alives) are skipped.
                let line = line.trim_end();
                if let Some(k) = line.strip_prefix("event: ") {
                    kind = Some(k.to_string());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str::<Value>(d).unwrap());
                }
                if let (Some(k), Some(d)) = (&kind, &data) {
                    return (k.clone(), d.clone());
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .expect("an event in time")
    }
}

#[tokio::test]
async fn new_update_delete_and_truncate_events() {
    let lb = Letterbox::start();
    let mut events = EventStream::open(&lb).await;
    // The handler subscribes before it answers, so once the response head
    // has arrived this mail is seen.
    let id = lb.send_simple("streamed").await;
    let (kind, data) = events.next().await;
    assert_eq!(kind, "new");
    assert_eq!(data["ID"], id);
    assert_eq!(data["Subject"], "streamed");

    lb.request_ok(
        "PUT",
        "/api/v1/messages",
        &json!({"IDs": [id], "Read": true}),
    )
    .await;
    assert_eq!(
        events.next().await,
        ("update".to_string(), json!({"ID": id, "Read": true}))
    );
    lb.request_ok(
        "PUT",
        "/api/v1/tags",
        &json!({"IDs": [id], "Tags": ["b", "a"]}),
    )
    .await;
    assert_eq!(
        events.next().await,
        ("update".to_string(), json!({"ID": id, "Tags": ["a", "b"]}))
    );

    lb.delete_messages(Some(&format!(r#"{{"IDs": ["{id}"]}}"#)))
        .await;
    assert_eq!(
        events.next().await,
        ("delete".to_string(), serde_json::json!({"ID": id}))
    );

    lb.send_simple("again").await;
    assert_eq!(events.next().await.0, "new");
    lb.delete_messages(None).await;
    assert_eq!(events.next().await, ("truncate".to_string(), Value::Null));
}
