//! Inboxes: where messages land (AUTH user, `--inbox` rules, the default
//! inbox) and `?inbox=` on list, search, read, delete, wait, `latest` and
//! the event streams, with real SMTP clients and real HTTP.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Launch, Letterbox, TempDir, eventually};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;

const RULES: &[&str] = &[
    "--inbox",
    "billing=to:@billing.example.com",
    "--inbox",
    "ops=subject:alert -from:noreply@",
    "--inbox",
    "quiet=to:@nowhere.test",
];

/// Sends a message with lettre, logged in as `user` when given; its ID.
async fn send_as(addr: SocketAddr, user: Option<&str>, to: &str, subject: &str) -> String {
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
            .port(addr.port())
            .timeout(Some(common::TIMEOUT))
            .tls(Tls::None);
    if let Some(user) = user {
        builder = builder
            .credentials(Credentials::new(user.into(), "any password".into()))
            .authentication(vec![Mechanism::Plain]);
    }
    let message = Message::builder()
        .from("App <app@example.com>".parse::<Mailbox>().unwrap())
        .to(to.parse::<Mailbox>().unwrap())
        .subject(subject)
        .body(format!("Body of {subject}"))
        .unwrap();
    let response = builder.build().send(message).await.expect("lettre sends");
    let line = response.first_line().expect("a reply line").to_string();
    line.rsplit(' ').next().unwrap().to_string()
}

fn subjects(list: &Value) -> Vec<String> {
    list["messages"]
        .as_array()
        .expect("a message list")
        .iter()
        .map(|m| m["Subject"].as_str().unwrap().to_string())
        .collect()
}

/// The running Letterbox with one message in each kind of inbox.
struct Routed {
    lb: Letterbox,
}

impl Routed {
    async fn start() -> Routed {
        let lb = Letterbox::with_args(RULES);
        let smtp = lb.smtp_addr;
        // Rules: recipient domain, then subject.
        send_as(smtp, None, "ann@billing.example.com", "Invoice 1").await;
        send_as(smtp, None, "bob@example.com", "ALERT: disk full").await;
        // A login names the inbox before any rule.
        send_as(smtp, Some("crm"), "ann@billing.example.com", "Welcome").await;
        // An address is sanitised into a name.
        send_as(smtp, Some("app@example.com"), "x@example.com", "Hi").await;
        // Nothing matches: the default inbox.
        send_as(smtp, None, "bob@example.com", "Plain").await;
        send_as(smtp, None, "bob@billing.example.com", "Invoice 2").await;
        Routed { lb }
    }
}

#[tokio::test]
async fn messages_land_in_the_inbox_of_their_login_or_first_matching_rule() {
    let Routed { lb } = Routed::start().await;
    let list = lb.list().await;
    let inbox_of: Vec<(String, String)> = list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["Subject"].as_str().unwrap().to_string(),
                m["Inbox"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("Invoice 2", "billing"),
        ("Plain", "default"),
        ("Hi", "app_example.com"),
        ("Welcome", "crm"),
        ("ALERT: disk full", "ops"),
        ("Invoice 1", "billing"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(s, i)| (s.to_string(), i.to_string()))
        .collect();
    assert_eq!(inbox_of, expected);

    // The full message says it too, beside the login that chose it.
    let id = list["messages"][3]["ID"].as_str().unwrap();
    let message = lb.message(id).await;
    assert_eq!(message["Inbox"], "crm");
    assert_eq!(message["Username"], "crm");

    // Counts: the default inbox first, then by name; a rule's inbox exists
    // while empty.
    let id = list["messages"][0]["ID"].as_str().unwrap();
    let response = lb
        .client()
        .put(lb.url("/api/v1/messages"))
        .json(&json!({"IDs": [id], "Read": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        lb.get_ok("/api/v1/inboxes").await,
        json!([
            {"Name": "default", "Total": 1, "Unread": 1},
            {"Name": "app_example.com", "Total": 1, "Unread": 1},
            {"Name": "billing", "Total": 2, "Unread": 1},
            {"Name": "crm", "Total": 1, "Unread": 1},
            {"Name": "ops", "Total": 1, "Unread": 1},
            {"Name": "quiet", "Total": 0, "Unread": 0},
        ])
    );
}

#[tokio::test]
async fn list_search_and_latest_are_confined_to_the_inbox_asked_for() {
    let Routed { lb } = Routed::start().await;

    let billing = lb.get_ok("/api/v1/messages?inbox=billing").await;
    assert_eq!(subjects(&billing), ["Invoice 2", "Invoice 1"]);
    // The page's totals are the inbox's.
    assert_eq!(billing["total"], 2);
    assert_eq!(billing["messages_count"], 2);
    assert_eq!(billing["unread"], 2);

    // Paging within the inbox.
    let page = lb
        .get_ok("/api/v1/messages?inbox=billing&start=1&limit=1")
        .await;
    assert_eq!(subjects(&page), ["Invoice 1"]);

    let empty = lb.get_ok("/api/v1/messages?inbox=quiet").await;
    assert_eq!(empty["total"], 0);
    assert_eq!(subjects(&empty), Vec::<String>::new());

    let found = lb
        .get_ok("/api/v1/search?query=subject:invoice&inbox=billing")
        .await;
    assert_eq!(subjects(&found), ["Invoice 2", "Invoice 1"]);
    assert_eq!(found["total"], 2);
    let none = lb.get_ok("/api/v1/search?query=invoice&inbox=crm").await;
    assert_eq!(none["messages_count"], 0);
    // Words reach the body too, and the inbox is a search filter as well.
    let crm = lb.get_ok("/api/v1/search?query=inbox:crm").await;
    assert_eq!(subjects(&crm), ["Welcome"]);

    let latest = lb.get_ok("/api/v1/message/latest?inbox=ops").await;
    assert_eq!(latest["Subject"], "ALERT: disk full");
    let latest = lb
        .get_ok("/api/v1/message/latest?inbox=billing&query=subject:%22Invoice%201%22")
        .await;
    assert_eq!(latest["Subject"], "Invoice 1");
    let (status, _) = lb.get_json("/api/v1/message/latest?inbox=quiet").await;
    assert_eq!(status, 404);

    // Without the parameter, everything as before.
    let all = lb.get_ok("/api/v1/messages").await;
    assert_eq!(all["total"], 6);
    assert_eq!(all["messages_count"], 6);
    let invoices = lb.get_ok("/api/v1/search?query=subject:invoice").await;
    assert_eq!(invoices["total"], 6);
    assert_eq!(invoices["messages_count"], 2);
}

#[tokio::test]
async fn read_and_delete_touch_only_the_inbox_asked_for() {
    let Routed { lb } = Routed::start().await;
    let client = lb.client();

    // Mark every billing message read.
    let response = client
        .put(lb.url("/api/v1/messages?inbox=billing"))
        .json(&json!({"Read": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        lb.get_ok("/api/v1/messages?inbox=billing").await["unread"],
        0
    );
    assert_eq!(lb.list().await["unread"], 4);

    // Delete the search matches in one inbox only.
    let response = client
        .delete(lb.url("/api/v1/search?query=subject:%22invoice%202%22&inbox=billing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let billing = lb.get_ok("/api/v1/messages?inbox=billing").await;
    assert_eq!(subjects(&billing), ["Invoice 1"]);

    // "Delete everything" with an inbox empties that inbox alone.
    let response = client
        .delete(lb.url("/api/v1/messages?inbox=billing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        lb.get_ok("/api/v1/messages?inbox=billing").await["total"],
        0
    );
    assert_eq!(lb.list().await["total"], 4);
    // A rule's inbox still exists once empty.
    let (status, _) = lb.get_json("/api/v1/messages?inbox=billing").await;
    assert_eq!(status, 200);

    // Without the parameter, everything goes, as before.
    let (status, _) = lb.delete_messages(None).await;
    assert_eq!(status, 200);
    assert_eq!(lb.list().await["total"], 0);
    // An inbox that only existed through its messages is gone with them.
    let (status, _) = lb.get_json("/api/v1/messages?inbox=crm").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn wait_answers_with_the_first_message_of_its_inbox() {
    let lb = Letterbox::with_args(RULES);
    let smtp = lb.smtp_addr;
    let cursor = send_as(smtp, None, "bob@example.com", "before").await;
    let waiting = {
        let (client, url) = (
            lb.client().clone(),
            lb.url(&format!(
                "/api/v1/wait?inbox=billing&after={cursor}&timeout=20s"
            )),
        );
        tokio::spawn(async move { client.get(url).send().await.unwrap() })
    };
    // A message for another inbox does not end the wait...
    send_as(smtp, None, "bob@example.com", "not billing").await;
    // ...one for this inbox does.
    send_as(smtp, None, "ann@billing.example.com", "the invoice").await;
    let response = waiting.await.unwrap();
    assert_eq!(response.status(), 200);
    let found: Value = response.json().await.unwrap();
    assert_eq!(found["Subject"], "the invoice");
    assert_eq!(found["Inbox"], "billing");

    // Already stored: answered at once, from the store.
    let found = lb
        .get_ok(&format!("/api/v1/wait?inbox=default&after={cursor}"))
        .await;
    assert_eq!(found["Subject"], "not billing");
}

#[tokio::test]
async fn an_unknown_inbox_is_a_404_and_a_bad_name_a_400() {
    let lb = Letterbox::with_args(RULES);
    lb.send_simple("one").await;
    let client = lb.client();
    for (method, path) in [
        ("GET", "/api/v1/messages?inbox=nosuch"),
        ("PUT", "/api/v1/messages?inbox=nosuch"),
        ("DELETE", "/api/v1/messages?inbox=nosuch"),
        ("GET", "/api/v1/search?query=one&inbox=nosuch"),
        ("DELETE", "/api/v1/search?query=one&inbox=nosuch"),
        ("GET", "/api/v1/wait?inbox=nosuch&timeout=1s"),
        ("GET", "/api/v1/message/latest?inbox=nosuch"),
        ("GET", "/api/v1/events?inbox=nosuch"),
        ("GET", "/api/v1/messages?inbox=Default"),
    ] {
        let request = client.request(method.parse().unwrap(), lb.url(path));
        let request = if method == "PUT" {
            request.json(&json!({"Read": true}))
        } else {
            request
        };
        let (status, body) = common::json_of(path, request.send().await.unwrap()).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        let error = body["Error"].as_str().unwrap_or_default();
        assert!(
            error.contains("inbox") && error.contains("not found"),
            "{body}"
        );
    }
    let (status, body) = lb.get_json("/api/v1/messages?inbox=a%20b").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["Error"].as_str().unwrap().contains("not valid"),
        "{body}"
    );
    // Nothing was read or deleted by the refused requests.
    let list = lb.list().await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["unread"], 1);
}

/// An open Server-Sent Events stream over a raw socket.
struct EventStream(BufReader<TcpStream>);

impl EventStream {
    async fn open(lb: &Letterbox, path: &str) -> EventStream {
        let addr = lb.http_addr;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        EventStream(reader)
    }

    /// The next `(event, data)` pair.
    async fn next(&mut self) -> (String, Value) {
        let read = async {
            let (mut kind, mut data) = (None, None);
            loop {
                let mut line = String::new();
                assert!(
                    self.0.read_line(&mut line).await.unwrap() > 0,
                    "stream closed"
                );
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
async fn events_carry_the_inbox_and_can_be_confined_to_one() {
    let lb = Letterbox::with_args(RULES);
    let mut all = EventStream::open(&lb, "/api/v1/events").await;
    let mut billing = EventStream::open(&lb, "/api/v1/events?inbox=billing").await;
    let smtp = lb.smtp_addr;
    let other = send_as(smtp, None, "bob@example.com", "other").await;
    let invoice = send_as(smtp, None, "ann@billing.example.com", "invoice").await;

    let (kind, data) = all.next().await;
    assert_eq!((kind.as_str(), &data["ID"]), ("new", &json!(other)));
    assert_eq!(data["Inbox"], "default");
    let (kind, data) = all.next().await;
    assert_eq!((kind.as_str(), &data["ID"]), ("new", &json!(invoice)));
    assert_eq!(data["Inbox"], "billing");

    // The confined stream never heard of the other inbox's message.
    let (kind, data) = billing.next().await;
    assert_eq!((kind.as_str(), &data["ID"]), ("new", &json!(invoice)));
    assert_eq!(data["Inbox"], "billing");
    // Changes by ID still reach it.
    lb.delete_messages(Some(&json!({"IDs": [invoice]}).to_string()))
        .await;
    let (kind, data) = billing.next().await;
    assert_eq!((kind.as_str(), data), ("delete", json!({"ID": invoice})));
}

#[tokio::test]
async fn the_websocket_can_be_confined_to_one_inbox_and_counts_every_inbox() {
    let lb = Letterbox::with_args(RULES);
    let url = lb.url("/api/events").replacen("http://", "ws://", 1);
    let refused = tokio_tungstenite::connect_async(format!("{url}?inbox=nosuch")).await;
    match refused {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 404),
        other => panic!("expected a 404, got {other:?}"),
    }
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("{url}?inbox=billing&additions=1"))
            .await
            .expect("connects");
    send_as(lb.smtp_addr, None, "bob@example.com", "other").await;
    let invoice = send_as(lb.smtp_addr, None, "ann@billing.example.com", "invoice").await;
    let new = common::next_event(&mut socket, "new").await;
    assert_eq!(new["Data"]["ID"], invoice);
    assert_eq!(new["Data"]["Inbox"], "billing");
    // `stats` carries every inbox's counts, for the switcher.
    let stats = eventually("stats count both messages", async || {
        let stats = common::next_event(&mut socket, "stats").await;
        (stats["Data"]["Total"] == 2).then_some(stats)
    })
    .await;
    assert_eq!(
        stats["Data"]["Inboxes"],
        json!([
            {"Name": "default", "Total": 1, "Unread": 1},
            {"Name": "billing", "Total": 1, "Unread": 1},
            {"Name": "ops", "Total": 0, "Unread": 0},
            {"Name": "quiet", "Total": 0, "Unread": 0},
        ])
    );
}

#[tokio::test]
async fn rules_come_from_the_environment_separated_by_semicolons() {
    let lb = Launch::default()
        .env(
            "LETTERBOX_INBOX",
            "billing=to:@billing.example.com;ops=subject:alert",
        )
        .start();
    send_as(lb.smtp_addr, None, "a@billing.example.com", "x").await;
    send_as(lb.smtp_addr, None, "b@example.com", "Alert!").await;
    let names: Vec<Value> = lb
        .get_ok("/api/v1/inboxes")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|i| json!([i["Name"], i["Total"]]))
        .collect();
    assert_eq!(
        names,
        [
            json!(["default", 0]),
            json!(["billing", 1]),
            json!(["ops", 1])
        ]
    );
}

#[test]
fn rules_that_cannot_be_checked_are_refused_at_startup() {
    for (rule, says) in [
        ("billing", "expected NAME=QUERY"),
        ("x=invoice", "a plain word or phrase cannot decide an inbox"),
        ("no good=to:x", "is not valid"),
        ("x=header:X-App", "header: cannot decide an inbox"),
    ] {
        let done = Launch::default().args(&["--inbox", rule]).run_to_exit();
        assert!(!done.status.success(), "{rule}: {}", done.stderr);
        assert!(done.stderr.contains(says), "{rule}: {}", done.stderr);
        assert!(!done.stderr.contains("panicked"), "{}", done.stderr);
    }
}

#[tokio::test]
async fn inboxes_survive_a_restart() {
    let dir = TempDir::new("inboxes");
    let db = dir.file("x.db");
    let mut args: Vec<&str> = vec!["--db", &db];
    args.extend_from_slice(RULES);
    let mut lb = Letterbox::with_args(&args);
    send_as(lb.smtp_addr, None, "ann@billing.example.com", "kept").await;
    lb.kill();
    drop(lb);
    // Without the rules now: the message keeps its inbox, which exists
    // because it holds a message.
    let lb = Letterbox::with_args(&["--db", &db]);
    let billing = lb.get_ok("/api/v1/messages?inbox=billing").await;
    assert_eq!(subjects(&billing), ["kept"]);
    assert_eq!(
        lb.get_ok("/api/v1/inboxes").await,
        json!([
            {"Name": "default", "Total": 0, "Unread": 0},
            {"Name": "billing", "Total": 1, "Unread": 1},
        ])
    );
}
