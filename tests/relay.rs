//! Releasing mail through a relay: a second Letterbox (or a scripted SMTP
//! server in the test) is the upstream, on its own loopback port.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use common::{Launch, Letterbox, TempDir, eventually, simple_message};

/// A message with what a relay must not touch: a line starting with a dot,
/// 8-bit text, a long header and trailing spaces.
fn tricky_message(subject: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.com>\r\n\
         To: Recipient <rcpt@example.com>\r\n\
         Subject: {subject}\r\n\
         X-Long: {}\r\n\
         Message-ID: <{}@tests.example.com>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Grüße aus der Testsuite.  \r\n\
         .a line that starts with a dot\r\n\
         ..and one with two\r\n",
        "x".repeat(300),
        subject.replace(' ', ".")
    )
    .into_bytes()
}

async fn release(lb: &Letterbox, id: &str, to: &[&str]) {
    let body = json!({ "To": to }).to_string();
    let (status, text) = lb
        .request(
            "POST",
            &format!("/api/v1/message/{id}/release"),
            Some(&body),
        )
        .await;
    assert_eq!((status, text.as_str()), (200, ""), "release {id} to {to:?}");
}

async fn relay_status(lb: &Letterbox, id: &str) -> Value {
    lb.get_ok(&format!("/api/v1/message/{id}/relay")).await
}

/// Waits until the first release of `id` is in `state`; returns it.
async fn release_in_state(lb: &Letterbox, id: &str, state: &str) -> Value {
    eventually(&format!("release of {id} is {state}"), async || {
        let status = relay_status(lb, id).await;
        let first = status["Releases"][0].clone();
        (first["State"] == state).then_some(first)
    })
    .await
}

fn outcomes(release: &Value) -> Vec<String> {
    release["Attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Outcome"].as_str().unwrap().to_string())
        .collect()
}

/// `raw` as relayed: the trace header the relay adds for message `id`, on
/// top of the stored bytes, which are returned.
fn without_trace_header(raw: &[u8], id: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(raw);
    let first = format!("Received: by letterbox (Letterbox relay) id {id};\r\n\t");
    assert!(text.starts_with(&first), "no trace header: {text}");
    let end = raw[first.len()..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("the trace header ends")
        + first.len()
        + 2;
    raw[end..].to_vec()
}

/// A loopback port with nothing listening on it.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn release_delivers_the_stored_message_unchanged() {
    let upstream = Letterbox::start();
    let relay = upstream.smtp_addr.to_string();
    let lb = Letterbox::with_args(&["--relay-host", &relay]);
    let data = tricky_message("release me");
    let id = lb
        .send_raw("app@example.com", &["rcpt@example.com"], &data)
        .await;

    release(
        &lb,
        &id,
        &["me@example.org", "Someone Else <else@example.org>"],
    )
    .await;
    let done = release_in_state(&lb, &id, "sent").await;
    assert_eq!(outcomes(&done), ["sent"]);
    assert_eq!(done["From"], "app@example.com");
    assert_eq!(done["To"], json!(["me@example.org", "else@example.org"]));
    let reply = done["Attempts"][0]["Reply"].as_str().unwrap();

    let arrived = upstream.wait_for_total(1).await;
    let upstream_id = common::ids_of(&arrived)[0].clone();
    assert!(reply.contains(&upstream_id), "{reply}");
    assert!(reply.starts_with("250 "), "{reply}");
    assert_eq!(
        without_trace_header(&upstream.raw(&upstream_id).await, &id),
        data,
        "bytes changed on the way"
    );
    let envelope = &upstream.message(&upstream_id).await["Envelope"];
    assert_eq!(envelope["MailFrom"], "app@example.com");
    assert_eq!(
        envelope["RcptTo"],
        json!(["me@example.org", "else@example.org"])
    );

    let status = relay_status(&lb, &id).await;
    assert_eq!(status["Enabled"], true);
    assert_eq!(status["SMTPServer"], relay);
    let webui = lb.get_ok("/api/v1/webui").await;
    assert_eq!(webui["MessageRelay"]["Enabled"], true);
    let metrics = lb.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("letterbox_relay_attempts_total{result=\"sent\"} 1\n"),
        "{metrics}"
    );
}

/// Blind copies stay blind beyond Letterbox: the `Bcc` header (which
/// `/api/v1/send` writes, as Mailpit does) is left out of what is relayed,
/// as an MTA leaves it out; the rest goes as it was stored.
#[tokio::test]
async fn the_bcc_header_is_not_relayed() {
    let upstream = Letterbox::start();
    let lb = Letterbox::with_args(&["--relay-host", &upstream.smtp_addr.to_string()]);
    let data = b"From: app@example.com\r\nTo: rcpt@example.com\r\nBcc: hidden@example.com,\r\n  also-hidden@example.com\r\nSubject: blind\r\n\r\nBcc: in the body stays\r\n";
    let id = lb
        .send_raw(
            "app@example.com",
            &["rcpt@example.com", "hidden@example.com"],
            data,
        )
        .await;
    release(&lb, &id, &["hidden@example.com"]).await;
    release_in_state(&lb, &id, "sent").await;

    let arrived = upstream.wait_for_total(1).await;
    let upstream_id = common::ids_of(&arrived)[0].clone();
    assert_eq!(
        without_trace_header(&upstream.raw(&upstream_id).await, &id),
        b"From: app@example.com\r\nTo: rcpt@example.com\r\nSubject: blind\r\n\r\nBcc: in the body stays\r\n"
    );
    // Kept as received here: only the copy that leaves loses the header.
    assert_eq!(lb.raw(&id).await, data);
}

#[tokio::test]
async fn starttls_login_and_sender_from_a_config_file() {
    let upstream =
        Letterbox::with_args(&["--smtp-auth", "relay:s3cret=x", "--smtp-tls", "self-signed"]);
    let dir = TempDir::new("relay-config");
    let config = dir.file("relay.conf");
    std::fs::write(
        &config,
        format!(
            "# the test relay\nhost = {}\ntls = starttls\ntls-insecure = yes\n\
             user = relay\npassword = s3cret=x\nfrom = bounces@example.com\n",
            upstream.smtp_addr
        ),
    )
    .unwrap();
    let lb = Letterbox::with_args(&["--relay-config", &config]);
    let id = lb.send_simple("over tls").await;
    release(&lb, &id, &["me@example.org"]).await;
    release_in_state(&lb, &id, "sent").await;

    let upstream_id = common::ids_of(&upstream.wait_for_total(1).await)[0].clone();
    let envelope = &upstream.message(&upstream_id).await["Envelope"];
    assert_eq!(envelope["TLS"], true, "{envelope}");
    assert_eq!(envelope["AuthUser"], "relay", "{envelope}");
    assert_eq!(envelope["MailFrom"], "bounces@example.com", "{envelope}");
}

#[tokio::test]
async fn implicit_tls() {
    let upstream = Letterbox::with_args(&["--smtps", "127.0.0.1:0", "--smtp-tls", "self-signed"]);
    let smtps = upstream.smtps_addr.expect("an SMTPS listener").to_string();
    let lb = Letterbox::with_args(&[
        "--relay-host",
        &smtps,
        "--relay-tls",
        "tls",
        "--relay-tls-insecure",
    ]);
    let id = lb.send_simple("implicit tls").await;
    release(&lb, &id, &["me@example.org"]).await;
    release_in_state(&lb, &id, "sent").await;
    let upstream_id = common::ids_of(&upstream.wait_for_total(1).await)[0].clone();
    assert_eq!(
        upstream.message(&upstream_id).await["Envelope"]["TLS"],
        true
    );
}

#[tokio::test]
async fn a_certificate_that_cannot_be_verified_is_not_trusted() {
    let upstream = Letterbox::with_args(&["--smtp-tls", "self-signed"]);
    let lb = Letterbox::with_args(&[
        "--relay-host",
        &upstream.smtp_addr.to_string(),
        "--relay-tls",
        "starttls",
        "--relay-lifetime",
        "0s",
    ]);
    let id = lb.send_simple("untrusted").await;
    release(&lb, &id, &["me@example.org"]).await;
    let failed = release_in_state(&lb, &id, "failed").await;
    let reply = failed["Attempts"][0]["Reply"].as_str().unwrap();
    assert!(reply.contains("TLS"), "{reply}");
    assert_eq!(upstream.list().await["total"], 0);
}

/// `--relay-tls-ca` trusts a relay whose certificate no public authority
/// signed: here the upstream's own self-signed one.
#[tokio::test]
async fn a_relay_certificate_from_a_given_authority_is_trusted() {
    let dir = TempDir::new("relay-ca");
    let (cert, key) = common::write_self_signed(&dir);
    let upstream = Letterbox::with_args(&["--smtp-tls-cert", &cert, "--smtp-tls-key", &key]);
    let relay = format!("localhost:{}", upstream.smtp_addr.port());
    let lb = Letterbox::with_args(&[
        "--relay-host",
        &relay,
        "--relay-tls",
        "starttls",
        "--relay-tls-ca",
        &cert,
    ]);
    let id = lb.send_simple("trusted").await;
    release(&lb, &id, &["me@example.org"]).await;
    release_in_state(&lb, &id, "sent").await;
    let arrived = upstream.the_one_message().await;
    assert_eq!(arrived["Envelope"]["TLS"], true, "{arrived}");
}

/// An SMTP server that refuses RCPT with `451` the first `refusals` times,
/// then accepts; it keeps every message's DATA as received.
async fn scripted_upstream(refusals: usize) -> (SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(0));
    let store = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let (store, refused) = (store.clone(), refused.clone());
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read);
                write.write_all(b"220 scripted ESMTP\r\n").await.unwrap();
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-scripted\r\n250 8BITMIME\r\n",
                        "RCPT" => {
                            let mut n = refused.lock().unwrap();
                            if *n < refusals {
                                *n += 1;
                                b"451 4.3.0 Try again later\r\n"
                            } else {
                                b"250 2.1.5 Ok\r\n"
                            }
                        }
                        "DATA" => {
                            write.write_all(b"354 Go ahead\r\n").await.unwrap();
                            let mut data = Vec::new();
                            loop {
                                let mut chunk = Vec::new();
                                lines.read_until(b'\n', &mut chunk).await.unwrap();
                                if chunk == b".\r\n" || chunk.is_empty() {
                                    break;
                                }
                                data.extend_from_slice(&chunk);
                            }
                            store.lock().unwrap().push(data);
                            b"250 2.0.0 Ok: accepted by the script\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 Bye\r\n").await;
                            return;
                        }
                        _ => b"250 Ok\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (addr, received)
}

#[tokio::test]
async fn temporary_failures_are_retried_until_accepted() {
    let (addr, received) = scripted_upstream(2).await;
    let lb = Letterbox::with_args(&[
        "--relay-host",
        &addr.to_string(),
        "--relay-retry-initial",
        "100ms",
    ]);
    let data = tricky_message("third time lucky");
    let id = lb
        .send_raw("app@example.com", &["rcpt@example.com"], &data)
        .await;
    let mut events = lb.get("/api/v1/events").await;
    release(&lb, &id, &["me@example.org"]).await;

    let done = release_in_state(&lb, &id, "sent").await;
    assert_eq!(outcomes(&done), ["temporary", "temporary", "sent"]);
    // Each change of state was an event: queued, then three times started
    // and finished.
    let event = format!("event: relay\ndata: {{\"ID\":\"{id}\"}}");
    let mut stream = String::new();
    while stream.matches(&event).count() < 7 {
        let chunk = tokio::time::timeout(common::TIMEOUT, events.chunk())
            .await
            .expect("relay events in time")
            .unwrap()
            .expect("the stream stays open");
        stream.push_str(&String::from_utf8_lossy(&chunk));
    }
    let first = done["Attempts"][0]["Reply"].as_str().unwrap();
    assert!(
        first.contains("RCPT TO:<me@example.org>") && first.contains("451 4.3.0 Try again later"),
        "{first}"
    );
    assert!(
        done["Attempts"][2]["Reply"]
            .as_str()
            .unwrap()
            .contains("accepted by the script")
    );
    assert!(done["NextAttempt"].is_null(), "{done}");
    // On the wire the dots are stuffed; unstuffed it is the stored message.
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let unstuffed: Vec<u8> = got[0]
        .split_inclusive(|&b| b == b'\n')
        .flat_map(|line| line.strip_prefix(b".").unwrap_or(line).to_vec())
        .collect();
    assert_eq!(without_trace_header(&unstuffed, &id), data);
    let metrics = lb.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("letterbox_relay_attempts_total{result=\"retried\"} 2\n"));
}

#[tokio::test]
async fn a_permanent_refusal_is_recorded_without_retrying() {
    let upstream = Letterbox::start();
    let lb = Letterbox::with_args(&[
        "--relay-host",
        &upstream.smtp_addr.to_string(),
        "--relay-retry-initial",
        "50ms",
    ]);
    let id = lb.send_simple("refused").await;
    // Letterbox's failure injection: this recipient gets 550.
    release(&lb, &id, &["fail-550@example.org"]).await;
    let failed = release_in_state(&lb, &id, "failed").await;
    assert_eq!(outcomes(&failed), ["permanent"]);
    let reply = failed["Attempts"][0]["Reply"].as_str().unwrap();
    assert!(
        reply.contains("RCPT TO:<fail-550@example.org>: 550"),
        "{reply}"
    );
    assert_eq!(upstream.list().await["total"], 0);
}

/// Recipients refused by the relay do not hold back the others: the
/// release splits into one per outcome, each with the attempt's reply.
#[tokio::test]
async fn each_recipient_is_delivered_retried_or_failed_on_its_own() {
    let upstream = Letterbox::start();
    let lb = Letterbox::with_args(&[
        "--relay-host",
        &upstream.smtp_addr.to_string(),
        "--relay-retry-initial",
        "1h",
    ]);
    let id = lb.send_simple("split").await;
    // Letterbox's failure injection on the upstream: 550 and 451 at RCPT.
    release(
        &lb,
        &id,
        &[
            "me@example.org",
            "fail-550@example.org",
            "fail-451@example.org",
            "you@example.org",
        ],
    )
    .await;
    let releases = eventually("the release splits in three", async || {
        let releases = relay_status(&lb, &id).await["Releases"].clone();
        (releases.as_array().unwrap().len() == 3).then_some(releases)
    })
    .await;
    let summary: Vec<(String, Value, Vec<String>)> = releases
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["State"].as_str().unwrap().to_string(),
                r["To"].clone(),
                outcomes(r),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "sent".into(),
                json!(["me@example.org", "you@example.org"]),
                vec!["sent".into()]
            ),
            (
                "queued".into(),
                json!(["fail-451@example.org"]),
                vec!["temporary".into()]
            ),
            (
                "failed".into(),
                json!(["fail-550@example.org"]),
                vec!["permanent".into()]
            ),
        ]
    );
    let reply = |n: usize| {
        releases[n]["Attempts"][0]["Reply"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(reply(0).starts_with("250 "), "{}", reply(0));
    assert!(
        reply(1).contains("RCPT TO:<fail-451@example.org>: 451"),
        "{}",
        reply(1)
    );
    assert!(
        reply(2).contains("RCPT TO:<fail-550@example.org>: 550"),
        "{}",
        reply(2)
    );
    // Every release keeps when it was asked for.
    assert!(
        releases
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["Created"] == releases[0]["Created"])
    );

    let arrived = upstream.the_one_message().await;
    assert_eq!(arrived["Subject"], "split");
    assert_eq!(
        arrived["Envelope"]["RcptTo"],
        json!(["me@example.org", "you@example.org"])
    );
}

#[tokio::test]
async fn temporary_failures_give_up_after_the_lifetime() {
    let upstream = Letterbox::start();
    let lb = Letterbox::with_args(&[
        "--relay-host",
        &upstream.smtp_addr.to_string(),
        "--relay-retry-initial",
        "50ms",
        "--relay-lifetime",
        "2s",
    ]);
    let id = lb.send_simple("never").await;
    release(&lb, &id, &["fail-451@example.org"]).await;
    let failed = release_in_state(&lb, &id, "failed").await;
    let outcomes = outcomes(&failed);
    assert!(outcomes.len() >= 2, "{failed}");
    assert!(outcomes.iter().all(|o| o == "temporary"), "{failed}");
    assert!(failed["NextAttempt"].is_null());
}

#[tokio::test]
async fn an_unresponsive_relay_never_blocks_ingest_or_the_ui() {
    // Accepts connections and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = silent.accept().await {
            keep.lock().unwrap().push(socket);
        }
    });
    let lb = Letterbox::with_args(&["--relay-host", &addr.to_string()]);
    let first = lb.send_simple("stuck").await;
    release(&lb, &first, &["me@example.org"]).await;
    release_in_state(&lb, &first, "sending").await;

    // While the relay hangs: mail comes in, the API and the UI answer, and
    // more releases are queued.
    let ids = lb.send_numbered(5).await;
    assert_eq!(lb.list().await["total"], 6);
    let page = lb.get(&format!("/message/{}", ids[0])).await;
    assert_eq!(page.status(), 200);
    release(&lb, &ids[0], &["me@example.org"]).await;
    let queued = release_in_state(&lb, &ids[0], "queued").await;
    assert!(queued["NextAttempt"].is_string(), "{queued}");
}

#[tokio::test]
async fn a_refused_connection_is_retried_and_ingest_goes_on() {
    let lb = Letterbox::with_args(&[
        "--relay-host",
        &closed_port().to_string(),
        "--relay-retry-initial",
        "50ms",
    ]);
    let id = lb.send_simple("nobody home").await;
    release(&lb, &id, &["me@example.org"]).await;
    let release = eventually("two failed attempts", async || {
        let r = relay_status(&lb, &id).await["Releases"][0].clone();
        (r["Attempts"].as_array().unwrap().len() >= 2).then_some(r)
    })
    .await;
    let reply = release["Attempts"][0]["Reply"].as_str().unwrap();
    assert!(reply.contains("connecting to"), "{reply}");
    assert_eq!(release["Attempts"][0]["Outcome"], "temporary");
    lb.send_numbered(3).await;
    assert_eq!(lb.list().await["total"], 4);
}

#[tokio::test]
async fn the_queue_survives_a_restart() {
    let dir = TempDir::new("relay-restart");
    let db = dir.file("letterbox.db");
    // First the relay hangs: the release is cut off in the middle of its
    // attempt by a kill.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = silent.accept().await {
            keep.lock().unwrap().push(socket);
        }
    });
    let mut lb = Letterbox::with_args(&["--db", &db, "--relay-host", &silent_addr.to_string()]);
    let data = tricky_message("survives");
    let id = lb
        .send_raw("app@example.com", &["rcpt@example.com"], &data)
        .await;
    release(&lb, &id, &["me@example.org"]).await;
    release_in_state(&lb, &id, "sending").await;
    lb.kill();
    drop(lb);

    // Started again with a working relay, it delivers what was pending.
    let upstream = Letterbox::start();
    let lb = Launch::default()
        .args(&["--db", &db])
        .env("LETTERBOX_RELAY_HOST", &upstream.smtp_addr.to_string())
        .start();
    let done = release_in_state(&lb, &id, "sent").await;
    assert_eq!(outcomes(&done), ["sent"]);
    let upstream_id = common::ids_of(&upstream.wait_for_total(1).await)[0].clone();
    assert_eq!(
        without_trace_header(&upstream.raw(&upstream_id).await, &id),
        data
    );
}

#[tokio::test]
async fn matching_messages_are_relayed_automatically() {
    let upstream = Letterbox::start();
    let lb = Letterbox::with_args(&[
        "--relay-host",
        &upstream.smtp_addr.to_string(),
        "--relay-matching",
        "subject:urgent",
        "--relay-allowed-recipients",
        r"@allowed\.test$",
    ]);
    lb.send_raw(
        "app@example.com",
        &["a@allowed.test"],
        &simple_message("routine", "stays here"),
    )
    .await;
    let data = simple_message("urgent: disk full", "goes out");
    let id = lb
        .send_raw(
            "app@example.com",
            &["ops@ALLOWED.test", "boss@other.test"],
            &data,
        )
        .await;

    let done = release_in_state(&lb, &id, "sent").await;
    assert_eq!(done["To"], json!(["ops@ALLOWED.test"]));
    let arrived = upstream.wait_for_total(1).await;
    let upstream_id = common::ids_of(&arrived)[0].clone();
    assert_eq!(
        without_trace_header(&upstream.raw(&upstream_id).await, &id),
        data
    );
    let envelope = &upstream.message(&upstream_id).await["Envelope"];
    assert_eq!(envelope["RcptTo"], json!(["ops@ALLOWED.test"]));
    // The routine message was never released.
    let routine = lb.search_ids("subject:routine").await;
    let status = relay_status(&lb, &routine[0]).await;
    assert_eq!(status["Releases"], json!([]));
}

#[tokio::test]
async fn bad_releases_are_refused_with_a_reason() {
    let dir = TempDir::new("relay-refusals");
    let db = dir.file("letterbox.db");
    let lb = Letterbox::with_args(&[
        "--db",
        &db,
        "--relay-host",
        &closed_port().to_string(),
        "--relay-allowed-recipients",
        r"@example\.org$",
        "--relay-retry-initial",
        "1h",
    ]);
    let id = lb.send_simple("careful").await;
    let path = format!("/api/v1/message/{id}/release");
    let err = lb
        .request_err("POST", &path, Some(r#"{"To": ["me@evil.test"]}"#), 400)
        .await;
    assert!(
        err.contains("me@evil.test") && err.contains("allowed"),
        "{err}"
    );
    let err = lb
        .request_err("POST", &path, Some(r#"{"To": []}"#), 400)
        .await;
    assert!(err.contains("no recipients"), "{err}");
    let err = lb
        .request_err("POST", &path, Some(r#"{"To": ["not an address"]}"#), 400)
        .await;
    assert!(err.contains("not an email address"), "{err}");
    let err = lb
        .request_err(
            "POST",
            &path,
            Some(r#"{"To": ["a@example.org>\r\nRCPT TO:<b@evil.test"]}"#),
            400,
        )
        .await;
    assert!(err.contains("not an email address"), "{err}");
    let err = lb.request_err("POST", &path, Some("[1]"), 400).await;
    assert!(err.contains("JSON"), "{err}");
    lb.request_err(
        "POST",
        "/api/v1/message/nope/release",
        Some(r#"{"To": ["me@example.org"]}"#),
        404,
    )
    .await;
    assert_eq!(relay_status(&lb, &id).await["Releases"], json!([]));

    // Deleting a message takes its pending releases with it.
    release(&lb, &id, &["me@example.org"]).await;
    eventually("a failed attempt and an hour to wait", async || {
        let release = relay_status(&lb, &id).await["Releases"][0].clone();
        (release["State"] == "queued" && release["Attempts"].as_array()?.len() == 1).then_some(())
    })
    .await;
    lb.request_ok("DELETE", "/api/v1/messages", &json!({ "IDs": [id] }))
        .await;
    lb.request_err("GET", &format!("/api/v1/message/{id}/relay"), None, 404)
        .await;
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM relay_jobs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0, "a release outlived its message");
}

#[tokio::test]
async fn without_a_relay_release_says_how_to_configure_one() {
    let lb = Letterbox::start();
    let id = lb.send_simple("stays").await;
    let err = lb
        .request_err(
            "POST",
            &format!("/api/v1/message/{id}/release"),
            Some(r#"{"To": ["me@example.org"]}"#),
            400,
        )
        .await;
    assert!(err.contains("--relay-host"), "{err}");
    let status = relay_status(&lb, &id).await;
    assert_eq!(status["Enabled"], false);
    assert_eq!(status["Releases"], json!([]));
}

#[tokio::test]
async fn a_message_sent_without_rcpt_is_relayed_only_to_allowed_header_recipients() {
    // MailHog's leniency (recipients from the headers) must not become a
    // way around the allowlist.
    let upstream = Letterbox::start();
    let lb = Letterbox::with_args(&[
        "--relay-host",
        &upstream.smtp_addr.to_string(),
        "--relay-all",
        "--relay-allowed-recipients",
        r"@allowed\.test$",
    ]);
    let mut smtp = lb.session().await;
    smtp.expect("MAIL FROM:<nobody@builder>", 250, "2.1.0")
        .await;
    smtp.expect("DATA", 354, "").await;
    smtp.send(
        b"To: ok@allowed.test, outsider@other.test\r\n\
          Bcc: \"x@allowed.test> ORCPT=rfc822;y\"@other.test\r\nSubject: no rcpt\r\n\r\nx\r\n.\r\n",
    )
    .await;
    let id = common::queued_id(&smtp.reply().await);
    smtp.quit().await;

    let done = release_in_state(&lb, &id, "sent").await;
    assert_eq!(done["To"], json!(["ok@allowed.test"]));
    let arrived = upstream.the_one_message().await;
    assert_eq!(arrived["Envelope"]["RcptTo"], json!(["ok@allowed.test"]));
}
