//! The WebSocket at /api/events: Mailpit's event envelope for every change,
//! and only same-origin browsers may connect.

mod common;

use common::{Letterbox, TIMEOUT, next_event};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn events_url(lb: &Letterbox) -> String {
    lb.url("/api/events").replacen("http://", "ws://", 1)
}

/// Connects, sending `origin` as the `Origin` header if given.
async fn connect(lb: &Letterbox, origin: Option<&str>) -> Result<Socket, tungstenite::Error> {
    connect_with(lb, "", origin).await
}

/// Connects to `/api/events` with the query string `query` (`""` or
/// `?...`), sending `origin` as the `Origin` header if given.
async fn connect_with(
    lb: &Letterbox,
    query: &str,
    origin: Option<&str>,
) -> Result<Socket, tungstenite::Error> {
    let url = format!("{}{query}", events_url(lb));
    let mut request = url.into_client_request().expect("a valid URL");
    if let Some(origin) = origin {
        request.headers_mut().insert(
            "Origin",
            HeaderValue::from_str(origin).expect("a header value"),
        );
    }
    tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(request))
        .await
        .expect("connecting timed out")
        .map(|(socket, _)| socket)
}

#[tokio::test]
async fn changes_are_pushed_as_mailpit_events() {
    let lb = Letterbox::start();
    let origin = lb.http.clone();
    let mut socket = connect(&lb, Some(&origin))
        .await
        .expect("same origin is accepted");

    let id = lb.send_simple("pushed").await;
    let new = next_event(&mut socket, "new").await;
    assert_eq!(new["Data"]["ID"], id);
    assert_eq!(new["Data"]["Subject"], "pushed");
    assert_eq!(new["Data"]["Read"], false);
    assert_eq!(
        new["Data"]["From"],
        json!({"Name": "Sender", "Address": "sender@example.com"})
    );
    // Mailpit's summary, key for key: its clients compare whole objects.
    assert_eq!(
        keys(&new["Data"]),
        [
            "Attachments",
            "Bcc",
            "Cc",
            "Created",
            "From",
            "ID",
            "MessageID",
            "Read",
            "ReplyTo",
            "Size",
            "Snippet",
            "Subject",
            "Tags",
            "To",
            "Username"
        ]
    );
    let stats = next_event(&mut socket, "stats").await;
    assert_eq!(
        stats["Data"],
        json!({"Total": 1, "Unread": 1, "Version": env!("CARGO_PKG_VERSION")})
    );

    // Mailpit tells of each message named, even one already as asked.
    let response = reqwest::Client::new()
        .put(lb.url("/api/v1/messages"))
        .json(&json!({"IDs": [id], "Read": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let update = next_event(&mut socket, "update").await;
    assert_eq!(update["Data"], json!({"ID": id, "Read": false}));
    assert_eq!(next_event(&mut socket, "stats").await["Data"]["Unread"], 1);

    let response = reqwest::Client::new()
        .put(lb.url("/api/v1/messages"))
        .json(&json!({"IDs": [id], "Read": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let update = next_event(&mut socket, "update").await;
    assert_eq!(update["Data"], json!({"ID": id, "Read": true}));

    lb.delete_messages(Some(&format!(r#"{{"IDs": ["{id}"]}}"#)))
        .await;
    let delete = next_event(&mut socket, "delete").await;
    assert_eq!(delete["Data"], json!({"ID": id}));

    lb.send_simple("again").await;
    lb.delete_messages(None).await;
    let truncate = next_event(&mut socket, "truncate").await;
    assert_eq!(truncate["Data"], Value::Null);
}

fn keys(object: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = object
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// The web UI asks for Letterbox's additions: each new message's inbox and
/// the inboxes' counts in `stats`.
#[tokio::test]
async fn additions_are_sent_on_request() {
    let lb = Letterbox::start();
    let mut socket = connect_with(&lb, "?additions=1", None)
        .await
        .expect("connected");
    let id = lb.send_simple("with additions").await;
    let new = next_event(&mut socket, "new").await;
    assert_eq!(
        (&new["Data"]["ID"], &new["Data"]["Inbox"]),
        (&json!(id), &json!("default"))
    );
    let stats = next_event(&mut socket, "stats").await;
    assert_eq!(
        stats["Data"]["Inboxes"],
        json!([{"Name": "default", "Total": 1, "Unread": 1}]),
        "{stats}"
    );
}

#[tokio::test]
async fn a_client_without_an_origin_is_not_a_browser_and_may_connect() {
    let lb = Letterbox::start();
    let mut socket = connect(&lb, None).await.expect("no Origin is accepted");
    let id = lb.send_simple("no origin").await;
    assert_eq!(next_event(&mut socket, "new").await["Data"]["ID"], id);
}

#[tokio::test]
async fn cross_origin_upgrades_are_refused() {
    let lb = Letterbox::start();
    let port = lb.http.rsplit(':').next().unwrap().to_string();
    for origin in [
        "http://evil.example".to_string(),
        format!("http://127.0.0.1.evil.example:{port}"),
        format!("http://localhost:{port}"),
        "null".to_string(),
    ] {
        match connect(&lb, Some(&origin)).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403, "{origin}")
            }
            Err(other) => panic!("{origin}: unexpected error {other}"),
            Ok(_) => panic!("{origin}: a cross-origin upgrade was accepted"),
        }
    }
}

#[tokio::test]
async fn api_cors_lets_a_listed_origin_connect() {
    let lb = Letterbox::with_args(&["--api-cors", "https://app.example"]);
    let mut socket = connect(&lb, Some("https://app.example"))
        .await
        .expect("a listed origin is accepted");
    let id = lb.send_simple("for the app").await;
    assert_eq!(next_event(&mut socket, "new").await["Data"]["ID"], id);
    let other = connect(&lb, Some("https://other.example")).await;
    assert!(other.is_err(), "an unlisted origin was accepted");
}

/// `letterbox_websocket_clients` from /metrics.
async fn websocket_clients(lb: &Letterbox) -> String {
    let text = lb
        .client()
        .get(lb.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("letterbox_websocket_clients "))
        .expect("the metric is there")
        .to_string()
}

#[tokio::test]
async fn connected_clients_are_counted_in_metrics() {
    let lb = Letterbox::start();
    let mut first = connect(&lb, None).await.unwrap();
    let _second = connect(&lb, None).await.unwrap();
    common::eventually("two clients counted", async || {
        (websocket_clients(&lb).await == "2").then_some(())
    })
    .await;
    first.close(None).await.unwrap();
    common::eventually("one client counted", async || {
        (websocket_clients(&lb).await == "1").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_shutdown_closes_the_socket_instead_of_waiting_for_it() {
    let mut lb = Letterbox::start();
    let mut socket = connect(&lb, None).await.unwrap();
    lb.send_sigterm();
    // Frames may still come (a last `stats`), then the end.
    let ended = tokio::time::timeout(TIMEOUT, async {
        while let Some(Ok(frame)) = socket.next().await {
            if frame.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the socket stayed open");
    assert!(lb.wait_exit().success());
    assert!(!lb.stderr().contains("still busy"), "{}", lb.stderr());
}

/// A connection first learns the chaos rules in force, then every change.
#[tokio::test]
async fn chaos_rules_in_force_and_every_change() {
    let lb = Letterbox::with_args(&["--chaos", "rcpt=451@50%"]);
    let origin = lb.http.clone();
    let mut socket = connect_with(&lb, "?additions=1", Some(&origin))
        .await
        .expect("connected");
    assert_eq!(
        next_event(&mut socket, "chaos").await["Data"],
        json!({"Active": true, "Rules": "rcpt=451@50%"})
    );
    let lift = lb.client().put(lb.url("/api/v1/chaos")).body("{}").send();
    assert_eq!(lift.await.unwrap().status(), 200);
    assert_eq!(
        next_event(&mut socket, "chaos").await["Data"],
        json!({"Active": false, "Rules": null})
    );
    // MailHog's Jim changes the same rules.
    let jim = lb.client().post(lb.url("/api/v2/jim")).send();
    assert_eq!(jim.await.unwrap().status(), 200);
    assert_eq!(
        next_event(&mut socket, "chaos").await["Data"]["Active"],
        true
    );
}
