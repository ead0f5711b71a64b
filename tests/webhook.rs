//! Webhooks against a local HTTP receiver that fails, is slow, redirects
//! and comes back: every message reaches it once it recovers (at least
//! once, by `Letterbox-Delivery`), in Mailpit's summary shape, signed;
//! queued deliveries survive a restart; the rate limit is kept.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use common::{Launch, Letterbox, TempDir, eventually};
use serde_json::Value;

const SECRET: &str = "whsec_letterbox_test";

/// What the receiver does with the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `500` with a short explanation.
    Fail,
    /// Answers `200`, but only after Letterbox's timeout has passed.
    Slow,
    /// `302` to another path of the receiver.
    Redirect,
    Accept,
}

/// One request as the receiver saw it, and what it did with it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    mode: Mode,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn delivery(&self) -> String {
        self.header("letterbox-delivery").to_string()
    }
}

#[derive(Clone)]
struct Receiver {
    url: String,
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    async fn start(mode: Mode) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let receiver = Receiver {
            url: format!("http://{addr}/hook?token=t0ken"),
            mode: Arc::new(Mutex::new(mode)),
            seen: Arc::default(),
        };
        let app = Router::new().fallback(receive).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests answered in `mode`.
    fn seen_in(&self, mode: Mode) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.mode == mode).collect()
    }

    /// How many accepted requests each delivery ID had.
    fn accepted_per_delivery(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for seen in self.seen_in(Mode::Accept) {
            *counts.entry(seen.delivery()).or_default() += 1;
        }
        counts
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mode = *receiver.mode.lock().unwrap();
    receiver.seen.lock().unwrap().push(Seen {
        at: Instant::now(),
        mode,
        path: uri.to_string(),
        headers,
        body,
    });
    match mode {
        Mode::Fail => (StatusCode::INTERNAL_SERVER_ERROR, "receiver is down").into_response(),
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            StatusCode::OK.into_response()
        }
        Mode::Redirect => (
            StatusCode::FOUND,
            [(header::LOCATION, "/elsewhere")],
            "moved",
        )
            .into_response(),
        Mode::Accept => StatusCode::NO_CONTENT.into_response(),
    }
}

fn webhook_args<'a>(receiver: &'a Receiver, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--webhook-url",
        receiver.url.as_str(),
        "--webhook-secret",
        SECRET,
        "--webhook-timeout",
        "1s",
        "--webhook-rate",
        "0",
    ];
    args.extend_from_slice(extra);
    args
}

async fn info_webhook(lb: &Letterbox) -> Value {
    lb.get_ok("/api/v1/info?additions=1").await["Webhook"].clone()
}

async fn metric(lb: &Letterbox, sample: &str) -> u64 {
    let text = lb.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{sample} not in /metrics:\n{text}"))
}

/// The signature as the README tells a receiver to check it, computed
/// independently of Letterbox's code.
fn signature_verifies(seen: &Seen) -> bool {
    let header = seen.header("letterbox-signature");
    let Some((t, v1)) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let sent_at: i64 = t.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let signed = [format!("{t}.").as_bytes(), &seen.body[..]].concat();
    let expected: String = ring::hmac::sign(&key, &signed)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (now - sent_at).abs() <= 300 && expected == v1
}

#[tokio::test]
async fn a_failing_then_slow_receiver_gets_every_message_once_it_is_back() {
    let receiver = Receiver::start(Mode::Fail).await;
    let lb = Letterbox::with_args(&webhook_args(&receiver, &["--label", "ci-run"]));
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(lb.send_simple(&format!("hook {i}")).await);
    }

    // Down: every delivery is tried, fails and waits for its retry.
    eventually("each delivery tried once", async || {
        let tried: std::collections::HashSet<String> =
            receiver.seen().iter().map(Seen::delivery).collect();
        (tried.len() == 3).then_some(())
    })
    .await;
    let failure = eventually("the failure is reported", async || {
        let webhook = info_webhook(&lb).await;
        (webhook["Retried"].as_u64() >= Some(3)).then_some(webhook)
    })
    .await;
    assert_eq!(failure["Queued"], 3, "{failure}");
    assert_eq!(failure["Delivered"], 0, "{failure}");
    assert_eq!(
        failure["Receiver"],
        format!("http://{}", receiver.url[7..].split('/').next().unwrap()),
        "the receiver without its path and token"
    );
    let last = &failure["LastFailure"];
    assert_eq!(last["Error"], "HTTP 500: receiver is down", "{failure}");
    assert!(ids.contains(&last["ID"].as_str().unwrap().to_string()));
    assert_eq!(metric(&lb, "letterbox_webhook_queued").await, 3);

    // Slow: the attempt times out and counts as failed, although the
    // receiver took the request.
    receiver.set(Mode::Slow);
    let slow = eventually("a slow attempt", async || {
        receiver.seen_in(Mode::Slow).first().cloned()
    })
    .await;
    eventually("the timeout is reported", async || {
        let error = info_webhook(&lb).await["LastFailure"]["Error"].clone();
        error.as_str()?.contains("in time").then_some(())
    })
    .await;

    // Back: each message arrives, and is accepted exactly once.
    receiver.set(Mode::Accept);
    eventually("every delivery accepted", async || {
        (receiver.accepted_per_delivery().len() == 3).then_some(())
    })
    .await;
    eventually("the queue is empty", async || {
        (metric(&lb, "letterbox_webhook_queued").await == 0).then_some(())
    })
    .await;
    let accepted = receiver.accepted_per_delivery();
    let mut delivered: Vec<&String> = accepted.keys().collect();
    delivered.sort();
    assert_eq!(delivered, ids.iter().collect::<Vec<_>>());
    assert!(accepted.values().all(|&n| n == 1), "{accepted:?}");
    let again = receiver
        .seen_in(Mode::Accept)
        .into_iter()
        .find(|s| s.delivery() == slow.delivery())
        .expect("the delivery the slow receiver took comes again, under the same ID");
    assert_eq!(again.body, slow.body, "the same body");
    assert_eq!(
        metric(
            &lb,
            "letterbox_webhook_attempts_total{result=\"delivered\"}"
        )
        .await,
        3
    );
    let retried = metric(&lb, "letterbox_webhook_attempts_total{result=\"retried\"}").await;
    assert!(retried >= 4, "three failures and a timeout, got {retried}");
    assert_eq!(
        metric(&lb, "letterbox_webhook_attempts_total{result=\"dropped\"}").await,
        0
    );

    // Mailpit's summary, as the API lists it; Mailpit's headers and ours.
    let listed = lb.get_ok("/api/v1/messages").await["messages"]
        .as_array()
        .unwrap()
        .clone();
    for seen in receiver.seen() {
        assert_eq!(seen.path, "/hook?token=t0ken");
        assert_eq!(seen.header("content-type"), "application/json");
        assert!(seen.header("user-agent").starts_with("Letterbox/"));
        assert_eq!(seen.header("mailpit-label"), "ci-run");
        assert_eq!(seen.header("letterbox-label"), "ci-run");
        assert!(signature_verifies(&seen), "{:?}", seen.headers);
        let payload: Value = serde_json::from_slice(&seen.body).unwrap();
        let summary = listed
            .iter()
            .find(|m| m["ID"] == payload["ID"])
            .expect("the announced message is listed");
        assert_eq!(&payload, summary);
        assert_eq!(payload["ID"], seen.delivery());
    }
}

#[tokio::test]
async fn a_tampered_body_does_not_verify() {
    let receiver = Receiver::start(Mode::Accept).await;
    let lb = Letterbox::with_args(&webhook_args(&receiver, &[]));
    lb.send_simple("signed").await;
    let mut seen = eventually("a delivery", async || receiver.seen().first().cloned()).await;
    assert!(signature_verifies(&seen));
    assert_eq!(seen.header("mailpit-label"), "", "no label was given");
    seen.body = Bytes::from(String::from_utf8_lossy(&seen.body).replace("signed", "signeD"));
    assert!(!signature_verifies(&seen));
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let receiver = Receiver::start(Mode::Redirect).await;
    let lb = Letterbox::with_args(&webhook_args(&receiver, &[]));
    lb.send_simple("moved").await;
    let error = eventually("the redirect is reported", async || {
        let error = info_webhook(&lb).await["LastFailure"]["Error"].clone();
        error.as_str().map(str::to_string)
    })
    .await;
    assert_eq!(error, "HTTP 302: redirect to /elsewhere not followed");
    assert!(receiver.seen().iter().all(|s| s.path.starts_with("/hook")));
}

#[tokio::test]
async fn queued_deliveries_are_sent_after_a_restart() {
    let receiver = Receiver::start(Mode::Fail).await;
    let dir = TempDir::new("webhook-restart");
    let db = dir.file("letterbox.db");
    let launch = || {
        Launch::default()
            .args(&["--db", &db])
            .args(&webhook_args(&receiver, &[]))
    };
    let mut lb = launch().start();
    let ids = vec![
        lb.send_simple("before 1").await,
        lb.send_simple("before 2").await,
    ];
    eventually("both tried", async || {
        (receiver.seen().len() >= 2).then_some(())
    })
    .await;
    assert!(lb.terminate().success());

    receiver.set(Mode::Accept);
    let lb = launch().start();
    eventually("both delivered after the restart", async || {
        (receiver.accepted_per_delivery().len() == 2).then_some(())
    })
    .await;
    let accepted = receiver.accepted_per_delivery();
    for id in &ids {
        assert_eq!(accepted.get(id), Some(&1), "{accepted:?}");
    }
    eventually("the queue is empty", async || {
        (metric(&lb, "letterbox_webhook_queued").await == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_attempt_cut_off_by_a_crash_is_made_again() {
    let receiver = Receiver::start(Mode::Slow).await;
    let dir = TempDir::new("webhook-crash");
    let db = dir.file("letterbox.db");
    let launch = |timeout: &'static str| {
        Launch::default().args(&["--db", &db]).args(&[
            "--webhook-url",
            &receiver.url,
            "--webhook-timeout",
            timeout,
        ])
    };
    // The receiver answers after 3 s: the kill comes while the attempt waits.
    let mut lb = launch("3s").start();
    let id = lb.send_simple("in flight").await;
    eventually("the attempt started", async || {
        (!receiver.seen().is_empty()).then_some(())
    })
    .await;
    lb.kill();

    // Its claim runs out (the old timeout and a margin, 8 s) and it is
    // tried again.
    receiver.set(Mode::Accept);
    let _lb = launch("1s").start();
    eventually("delivered after the restart", async || {
        receiver.accepted_per_delivery().get(&id).copied()
    })
    .await;
    assert_eq!(receiver.accepted_per_delivery()[&id], 1);
    assert_eq!(receiver.seen()[0].delivery(), id, "the same delivery ID");
}

#[tokio::test]
async fn the_rate_limit_is_kept() {
    let receiver = Receiver::start(Mode::Accept).await;
    let lb = Letterbox::with_args(&["--webhook-url", &receiver.url, "--webhook-rate", "4"]);
    let ids = lb.send_numbered(12).await;
    eventually("all delivered", async || {
        (receiver.accepted_per_delivery().len() == ids.len()).then_some(())
    })
    .await;
    let times: Vec<Instant> = receiver.seen().iter().map(|s| s.at).collect();
    assert_eq!(times.len(), 12, "each once: the receiver accepted all");
    // Four a second, one every 250 ms: any five requests span at least a
    // second (less a little for the network's jitter).
    for window in times.windows(5) {
        let span = window[4] - window[0];
        assert!(span >= Duration::from_millis(900), "5 requests in {span:?}");
    }
}
