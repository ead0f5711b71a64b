//! `GET /api/v1/message/{ID}/link-check`: statuses from a local HTTP server
//! (reachable only with `--link-check-allow-internal`), Mailpit's shape,
//! the time, concurrency and pacing limits, and the refusal of internal
//! addresses without the flag. (That a redirect to an internal address is
//! refused too is tested in `src/checks/fetch.rs`, where a loopback
//! server can stand in for a public one.)

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Letterbox;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the test server saw.
#[derive(Default)]
struct Log {
    /// (method, path, when it arrived)
    requests: Vec<(String, String, Instant)>,
    in_flight: usize,
    max_in_flight: usize,
}

/// An HTTP server answering by path: `/ok` 200, `/missing` 404,
/// `/redirect` 302 to `/ok`, `/no-head` 405 to HEAD and 200 to GET,
/// `/hold` 200 after a second, `/slow` never.
struct Server {
    addrs: Vec<SocketAddr>,
    log: Arc<Mutex<Log>>,
}

impl Server {
    /// Listens on 127.0.0.1 and on 127.0.0.2 to 127.0.0.`hosts` (other
    /// host names for the same server).
    async fn start(hosts: u8) -> Server {
        let log = Arc::new(Mutex::new(Log::default()));
        let mut addrs = Vec::new();
        for n in 1..=hosts {
            let listener = TcpListener::bind((format!("127.0.0.{n}"), 0))
                .await
                .unwrap();
            addrs.push(listener.local_addr().unwrap());
            let log = log.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(answer(stream, log.clone()));
                }
            });
        }
        Server { addrs, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addrs[0])
    }

    fn requests(&self) -> Vec<(String, String)> {
        let log = self.log.lock().unwrap();
        log.requests
            .iter()
            .map(|(m, p, _)| (m.clone(), p.clone()))
            .collect()
    }
}

async fn answer(mut stream: TcpStream, log: Arc<Mutex<Log>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let mut words = head.split_whitespace();
    let (method, path) = (
        words.next().unwrap().to_string(),
        words.next().unwrap().to_string(),
    );
    {
        let mut log = log.lock().unwrap();
        log.requests
            .push((method.clone(), path.clone(), Instant::now()));
        log.in_flight += 1;
        log.max_in_flight = log.max_in_flight.max(log.in_flight);
    }
    let status = match (path.as_str(), method.as_str()) {
        ("/ok" | "/text-ok", _) => "200 OK\r\n",
        ("/missing", _) => "404 Not Found\r\n",
        ("/redirect", _) => "302 Found\r\nLocation: /ok\r\n",
        ("/no-head", "HEAD") => "405 Method Not Allowed\r\n",
        ("/no-head", _) => "200 OK\r\n",
        ("/hold", _) => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            "200 OK\r\n"
        }
        ("/slow", _) => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "200 OK\r\n"
        }
        _ => "500 Internal Server Error\r\n",
    };
    log.lock().unwrap().in_flight -= 1;
    let response = format!("HTTP/1.1 {status}Content-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(response.as_bytes()).await;
}

/// Sends a message with these links in its HTML (and `text_link` in its
/// text part); returns its ID.
async fn send_links(lb: &Letterbox, links: &[String], text_link: &str) -> String {
    let html: String = links
        .iter()
        .map(|l| format!("<p><a href=\"{l}\">x</a></p>\n"))
        .collect();
    lb.send_api(&json!({
        "From": {"Email": "app@example.test"},
        "To": [{"Email": "user@example.test"}],
        "Subject": "links",
        "HTML": html,
        "Text": format!("Also see {text_link}."),
    }))
    .await
}

fn status_of<'a>(check: &'a Value, url: &str) -> (u64, &'a str) {
    let link = check["Links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["URL"] == url)
        .unwrap_or_else(|| panic!("{url} not in {check}"));
    (
        link["StatusCode"].as_u64().unwrap(),
        link["Status"].as_str().unwrap(),
    )
}

fn keys(value: &Value) -> HashSet<&str> {
    value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[tokio::test]
async fn statuses_of_a_local_server_in_mailpits_shape() {
    let server = Server::start(1).await;
    let lb = Letterbox::with_args(&["--link-check-allow-internal"]);
    let links: Vec<String> = ["/ok", "/missing", "/redirect", "/no-head"]
        .iter()
        .map(|p| server.url(p))
        .collect();
    let id = send_links(&lb, &links, &server.url("/text-ok")).await;

    let check = lb.get_ok(&format!("/api/v1/message/{id}/link-check")).await;
    assert_eq!(keys(&check), HashSet::from(["Errors", "Links"]));
    for link in check["Links"].as_array().unwrap() {
        assert_eq!(keys(link), HashSet::from(["URL", "StatusCode", "Status"]));
    }
    assert_eq!(check["Links"].as_array().unwrap().len(), 5);
    assert_eq!(status_of(&check, &links[0]), (200, "OK"));
    assert_eq!(status_of(&check, &links[1]), (404, "Not Found"));
    assert_eq!(status_of(&check, &links[2]), (302, "Found"));
    assert_eq!(status_of(&check, &links[3]), (200, "OK"));
    assert_eq!(status_of(&check, &server.url("/text-ok")), (200, "OK"));
    assert_eq!(check["Errors"], 1);
    let mut seen = server.requests();
    seen.sort();
    let expected = [
        ("GET", "/no-head"),
        ("HEAD", "/missing"),
        ("HEAD", "/no-head"),
        ("HEAD", "/ok"),
        ("HEAD", "/redirect"),
        ("HEAD", "/text-ok"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(seen, expected);

    // Results are cached: asking again (as `latest`) sends nothing.
    let again = lb.get_ok("/api/v1/message/latest/link-check").await;
    assert_eq!(again, check);
    assert_eq!(server.requests().len(), expected.len());

    let followed = lb
        .get_ok(&format!("/api/v1/message/{id}/link-check?follow=true"))
        .await;
    assert_eq!(status_of(&followed, &links[2]), (200, "OK"));
    assert_eq!(status_of(&followed, &links[1]), (404, "Not Found"));
}

#[tokio::test]
async fn a_server_that_does_not_answer_is_reported_as_timed_out() {
    let server = Server::start(1).await;
    let lb = Letterbox::with_args(&["--link-check-allow-internal"]);
    let id = send_links(&lb, &[server.url("/slow")], "nothing").await;
    let check = lb.get_ok(&format!("/api/v1/message/{id}/link-check")).await;
    let (code, status) = status_of(&check, &server.url("/slow"));
    assert_eq!(code, 0);
    assert!(
        status.starts_with("timed out: waiting for the answer"),
        "{status}"
    );
    assert_eq!(check["Errors"], 1);
}

#[tokio::test]
async fn at_most_five_requests_run_at_once() {
    let server = Server::start(8).await;
    let lb = Letterbox::with_args(&["--link-check-allow-internal"]);
    let links: Vec<String> = server
        .addrs
        .iter()
        .map(|a| format!("http://{a}/hold"))
        .collect();
    let id = send_links(&lb, &links, "nothing").await;
    let check = lb.get_ok(&format!("/api/v1/message/{id}/link-check")).await;
    assert_eq!(check["Errors"], 0, "{check}");
    assert_eq!(server.requests().len(), 8);
    // Each request is held a second, so they overlap, but never more
    // than five.
    let most = server.log.lock().unwrap().max_in_flight;
    assert!((2..=5).contains(&most), "{most} requests at once");
}

#[tokio::test]
async fn requests_to_one_host_are_paced() {
    let server = Server::start(1).await;
    let lb = Letterbox::with_args(&["--link-check-allow-internal"]);
    let links: Vec<String> = (0..3).map(|n| server.url(&format!("/ok?{n}"))).collect();
    let id = send_links(&lb, &links, "nothing").await;
    let asked = Instant::now();
    lb.get_ok(&format!("/api/v1/message/{id}/link-check")).await;
    let log = server.log.lock().unwrap();
    let last = log.requests.iter().map(|(_, _, at)| *at).max().unwrap();
    assert_eq!(log.requests.len(), 3);
    // The checker waits 200 ms between the starts of requests to one host,
    // so the third cannot arrive sooner than 400 ms after the check began
    // (a lower bound it guarantees by waiting, not a race).
    assert!(
        last - asked >= Duration::from_millis(400),
        "{:?}",
        last - asked
    );
}

#[tokio::test]
async fn internal_addresses_are_refused_without_the_flag() {
    let server = Server::start(1).await;
    let port = server.addrs[0].port();
    let lb = Letterbox::start();
    let links = [
        format!("http://127.0.0.1:{port}/ok"),
        format!("http://localhost:{port}/ok"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("http://[::1]:{port}/ok"),
        "https://10.0.0.1/".to_string(),
        "http://[::ffff:192.168.0.1]/".to_string(),
    ];
    let id = send_links(&lb, &links, "nothing").await;
    let check = lb
        .get_ok(&format!("/api/v1/message/{id}/link-check?follow=true"))
        .await;
    for (url, kind) in links.iter().zip([
        "(loopback)",
        "(loopback)",
        "(cloud metadata)",
        "(loopback)",
        "(private)",
        "(private)",
    ]) {
        let (code, status) = status_of(&check, url);
        assert_eq!(code, 0, "{url}");
        assert!(status.starts_with("refused: "), "{url}: {status}");
        assert!(status.contains(kind), "{url}: {status}");
        assert!(status.contains("--link-check-allow-internal"), "{status}");
    }
    assert!(
        status_of(&check, &links[1])
            .1
            .starts_with("refused: localhost is 127.0.0.1, an internal address")
    );
    assert!(
        status_of(&check, &links[2])
            .1
            .starts_with("refused: 169.254.169.254 is an internal address")
    );
    assert_eq!(check["Errors"], links.len());
    assert!(server.requests().is_empty(), "nothing reached the server");
}

#[tokio::test]
async fn a_message_with_thousands_of_links_gets_a_partial_result_with_a_note() {
    let lb = Letterbox::start();
    let links: Vec<String> = (0..1000).map(|n| format!("http://127.0.0.1/{n}")).collect();
    let id = send_links(&lb, &links, "nothing").await;
    let response = lb.get(&format!("/api/v1/message/{id}/link-check")).await;
    assert_eq!(response.status(), 200);
    let note = response.headers()["x-letterbox-note"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        note.contains("only the first 200 of 1000 links were checked"),
        "{note}"
    );
    let check: Value = response.json().await.unwrap();
    let links = check["Links"].as_array().unwrap();
    assert_eq!(links.len(), 1000);
    assert!(
        links[..200]
            .iter()
            .all(|l| l["Status"].as_str().unwrap().starts_with("refused:"))
    );
    assert!(links[200..].iter().all(|l| l["Status"]
        == "not checked: more than 200 links in the message"
        && l["StatusCode"] == 0));
}

#[tokio::test]
async fn unknown_messages_and_messages_without_links() {
    let lb = Letterbox::start();
    let (status, body) = lb.get_json("/api/v1/message/nosuch/link-check").await;
    assert_eq!(status, 404, "{body}");
    assert!(body["Error"].as_str().unwrap().contains("not found"));
    lb.send_simple("no links here").await;
    let check = lb.get_ok("/api/v1/message/latest/link-check").await;
    assert_eq!(check, json!({"Errors": 0, "Links": []}));
}
