//! Several Letterbox nodes on one PostgreSQL database, as a team runs
//! them: one node killed with SIGKILL in the middle of a blast loses
//! nothing it acknowledged while the others keep accepting; deletes and
//! read flags made on one node are events on another's WebSocket, and a
//! node whose listener lost its connection tells its UI to `resync`; and
//! `/api/v1/info` and `/metrics` say which numbers are the store's and
//! which the node's.
//!
//! They need `LETTERBOX_TEST_POSTGRES` (see `tests/postgres.rs`).

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::next_event;
use common::nodes::{database, events_of, node};
use common::postgres::Databases;
use common::{Letterbox, TIMEOUT, metric_sample};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_postgres::NoTls;

/// The blast: the 10,000. On the 2-core development machine,
/// busy with other builds (load 15), three debug-build nodes took 56 s
/// for it, about 180 messages a second: the test's wall time is this.
const BLAST: usize = 10_000;
/// Nodes on the database; the last one is killed.
const NODES: usize = 3;
/// Concurrent SMTP sessions per node.
const SESSIONS_PER_NODE: usize = 4;

/// An SMTP client that reports a failure instead of panicking: a node
/// killed mid-conversation is what this test is about.
struct Session {
    stream: BufReader<TcpStream>,
}

impl Session {
    /// Connects, reads the greeting and says EHLO.
    async fn open(addr: SocketAddr) -> Result<Session, String> {
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| "connecting timed out".to_string())?
            .map_err(|e| format!("connecting: {e}"))?;
        let mut session = Session {
            stream: BufReader::new(stream),
        };
        session.expect(220).await?;
        session.write(b"EHLO blast.example\r\n").await?;
        session.expect(250).await?;
        Ok(session)
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let stream = self.stream.get_mut();
        stream
            .write_all(bytes)
            .await
            .map_err(|e| format!("writing: {e}"))
    }

    /// Reads one (possibly multi-line) reply; its code and last line.
    async fn reply(&mut self) -> Result<(u16, String), String> {
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(TIMEOUT, self.stream.read_line(&mut line))
                .await
                .map_err(|_| "no reply in time".to_string())?
                .map_err(|e| format!("reading: {e}"))?;
            if n == 0 {
                return Err("connection closed".into());
            }
            let code = line.get(..3).and_then(|c| c.parse().ok());
            match (code, line.as_bytes().get(3)) {
                (Some(_), Some(b'-')) => continue,
                (Some(code), _) => return Ok((code, line.trim_end().to_string())),
                (None, _) => return Err(format!("not a reply: {line:?}")),
            }
        }
    }

    async fn expect(&mut self, code: u16) -> Result<String, String> {
        match self.reply().await? {
            (got, line) if got == code => Ok(line),
            (_, line) => Err(format!("expected {code}, got {line:?}")),
        }
    }

    /// Sends one message (the envelope pipelined); the ID of its `250`.
    async fn send(&mut self, subject: &str) -> Result<String, String> {
        self.write(b"MAIL FROM:<blast@example.com>\r\nRCPT TO:<r@example.com>\r\nDATA\r\n")
            .await?;
        self.expect(250).await?;
        self.expect(250).await?;
        self.expect(354).await?;
        let content = format!(
            "From: blast@example.com\r\nTo: r@example.com\r\nSubject: {subject}\r\n\r\nSent in a blast.\r\n.\r\n"
        );
        self.write(content.as_bytes()).await?;
        let line = self.expect(250).await?;
        match line.rsplit(' ').next() {
            Some(id) if id.len() == 26 => Ok(id.to_string()),
            _ => Err(format!("no ID in {line:?}")),
        }
    }
}

/// A `250` a client read: the message's ID and subject, the node that
/// said it and whether the kill had happened by then.
struct Ack {
    id: String,
    subject: String,
    node: usize,
    after_kill: bool,
}

/// A send that failed: on which node, and whether after the kill.
struct Failure {
    node: usize,
    after_kill: bool,
    error: String,
}

#[derive(Default)]
struct Outcome {
    acks: Vec<Ack>,
    failures: Vec<Failure>,
}

/// Client `index`: sends numbered messages on one session to a node until
/// the blast is used up; when its node fails it moves on to a survivor,
/// as a client behind a load balancer would.
async fn client(
    index: usize,
    addrs: Arc<[SocketAddr]>,
    next: Arc<AtomicUsize>,
    acked: Arc<AtomicUsize>,
    killed: Arc<AtomicBool>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut at = index % NODES;
    let mut session = None;
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= BLAST {
            return outcome;
        }
        let subject = format!("blast {n}");
        let sent = async {
            if session.is_none() {
                session = Some(Session::open(addrs[at]).await?);
            }
            session.as_mut().expect("opened").send(&subject).await
        };
        match sent.await {
            Ok(id) => {
                acked.fetch_add(1, Ordering::Relaxed);
                outcome.acks.push(Ack {
                    id,
                    subject,
                    node: at,
                    after_kill: killed.load(Ordering::Acquire),
                });
            }
            Err(error) => {
                // Only the killed node may fail: move on to a survivor.
                outcome.failures.push(Failure {
                    node: at,
                    after_kill: killed.load(Ordering::Acquire),
                    error,
                });
                session = None;
                if at == NODES - 1 {
                    at = index % (NODES - 1);
                }
            }
        }
    }
}

/// Every message the node lists: ID to subject.
async fn stored(lb: &Letterbox) -> (u64, HashMap<String, String>) {
    let mut subjects = HashMap::new();
    let mut total = 0;
    loop {
        let page = lb
            .get_ok(&format!(
                "/api/v1/messages?start={}&limit=1000",
                subjects.len()
            ))
            .await;
        total = page["total"].as_u64().expect("a total").max(total);
        let messages = page["messages"].as_array().expect("messages");
        if messages.is_empty() {
            return (total, subjects);
        }
        for message in messages {
            let id = message["ID"].as_str().expect("an ID").to_string();
            let subject = message["Subject"].as_str().expect("a subject");
            assert!(
                subjects.insert(id.clone(), subject.to_string()).is_none(),
                "{id} listed twice"
            );
        }
    }
}

#[tokio::test]
async fn a_node_killed_mid_blast_loses_nothing_it_acknowledged() {
    let databases = Databases::default();
    let Some(url) = database("kill -9 one node in a blast", &databases).await else {
        return;
    };
    let mut nodes: Vec<Letterbox> = (0..NODES).map(|_| node(&url)).collect();
    let addrs: Arc<[SocketAddr]> = nodes.iter().map(|lb| lb.smtp_addr).collect();
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let clients: Vec<_> = (0..NODES * SESSIONS_PER_NODE)
        .map(|i| {
            tokio::spawn(client(
                i,
                addrs.clone(),
                next.clone(),
                acked.clone(),
                killed.clone(),
            ))
        })
        .collect();

    while acked.load(Ordering::Relaxed) < BLAST / 2 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "half the blast was not acknowledged in two minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    killed.store(true, Ordering::Release);
    nodes.pop().expect("the last node").kill();
    let killed_at = acked.load(Ordering::Relaxed);

    let mut outcome = Outcome::default();
    for client in clients {
        let done = tokio::time::timeout(Duration::from_secs(120), client)
            .await
            .expect("the clients finish")
            .expect("a client");
        outcome.acks.extend(done.acks);
        outcome.failures.extend(done.failures);
    }
    let elapsed = started.elapsed();

    for failure in &outcome.failures {
        assert!(
            failure.node == NODES - 1 && failure.after_kill,
            "node {} failed a send (after the kill: {}): {}",
            failure.node,
            failure.after_kill,
            failure.error
        );
    }
    let after_kill = outcome.acks.iter().filter(|a| a.after_kill).count();
    for survivor in 0..NODES - 1 {
        assert!(
            outcome
                .acks
                .iter()
                .any(|a| a.after_kill && a.node == survivor),
            "node {survivor} kept accepting after the kill"
        );
    }

    // Every acknowledged message is stored, under its subject, once.
    let (total, subjects) = stored(&nodes[0]).await;
    for ack in &outcome.acks {
        assert_eq!(
            subjects.get(&ack.id),
            Some(&ack.subject),
            "{} was acknowledged by node {} and is stored",
            ack.id,
            ack.node
        );
    }
    let mut seen = std::collections::HashSet::new();
    for subject in subjects.values() {
        assert!(seen.insert(subject), "{subject} is stored twice");
    }
    assert_eq!(total as usize, subjects.len());
    let other = nodes[1].get_ok("/api/v1/messages?limit=1").await;
    assert_eq!(other["total"], total, "the other survivor counts the same");
    println!(
        "blast of {BLAST} to {NODES} nodes ({} sessions): {} acknowledged \
         ({killed_at} before the kill, {after_kill} after), {} failed sends, \
         {} stored, in {:.1} s",
        NODES * SESSIONS_PER_NODE,
        outcome.acks.len(),
        outcome.failures.len(),
        subjects.len(),
        elapsed.as_secs_f64()
    );
}

#[tokio::test]
async fn deletes_and_read_flags_reach_the_other_node_which_resyncs_after_losing_its_listener() {
    let databases = Databases::default();
    let Some(url) = database("changes reach the other node", &databases).await else {
        return;
    };
    let (a, b) = (node(&url), node(&url));
    let mut b_events = events_of(&b).await;
    let kept = a.send_simple("kept").await;
    let gone = a.send_simple("gone").await;
    for id in [&kept, &gone] {
        let new = next_event(&mut b_events, "new").await;
        assert_eq!(&new["Data"]["ID"], id);
    }

    a.request_ok(
        "PUT",
        "/api/v1/messages",
        &json!({"IDs": [kept], "Read": true}),
    )
    .await;
    let update = next_event(&mut b_events, "update").await;
    assert_eq!(update["Data"], json!({"ID": kept, "Read": true}));
    let (status, _) = a
        .delete_messages(Some(&json!({"IDs": [gone]}).to_string()))
        .await;
    assert_eq!(status, 200);
    let deleted = next_event(&mut b_events, "delete").await;
    assert_eq!(deleted["Data"], json!({"ID": gone}));
    assert_eq!(b.ids().await, std::slice::from_ref(&kept));

    // The listening connections drop (a restart, a failover, a proxy): what
    // was said meanwhile is not heard, so B's UI is told to fetch afresh.
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .expect("connecting to the test database");
    tokio::spawn(connection);
    let dropped = client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN %' \
             AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .expect("ending the listeners");
    assert_eq!(dropped, 2, "one listener per node");
    next_event(&mut b_events, "resync").await;

    // And B hears A's changes again.
    a.request_ok(
        "PUT",
        "/api/v1/messages",
        &json!({"IDs": [kept], "Read": false}),
    )
    .await;
    let update = next_event(&mut b_events, "update").await;
    assert_eq!(update["Data"], json!({"ID": kept, "Read": false}));
}

/// The scope a family's help starts with.
#[track_caller]
fn scope<'t>(text: &'t str, name: &str) -> &'t str {
    let help = format!("# HELP {name} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&help))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no help for {name} in:\n{text}"))
}

async fn metrics(lb: &Letterbox) -> String {
    let response = lb.get("/metrics").await;
    assert_eq!(response.status(), 200);
    response.text().await.expect("the metrics")
}

#[tokio::test]
async fn counters_say_whether_they_are_the_stores_or_the_nodes() {
    // A node alone on SQLite says so too.
    let alone = Letterbox::start();
    let info = alone.get_ok("/api/v1/info?additions=1").await;
    assert_eq!(info["Node"]["StoreShared"], false, "{info}");
    let alone_id = info["Node"]["ID"].as_str().expect("a node ID").to_string();
    assert_eq!(alone_id.len(), 26, "{info}");
    let text = metrics(&alone).await;
    let labels = format!("letterbox_node_info{{node=\"{alone_id}\",store=\"sqlite\"}}");
    assert_eq!(metric_sample(&text, &labels), 1.0);
    let plain = alone.get_ok("/api/v1/info").await;
    assert!(plain.get("Node").is_none(), "Mailpit's shape: {plain}");

    let databases = Databases::default();
    let Some(url) = database("shared and per-node counters", &databases).await else {
        return;
    };
    let (a, b) = (node(&url), node(&url));
    a.send_simple("one").await;
    a.send_simple("two").await;
    b.send_simple("three").await;

    let a_info = a.get_ok("/api/v1/info?additions=1").await;
    let b_info = b.get_ok("/api/v1/info?additions=1").await;
    for (info, accepted) in [(&a_info, 2), (&b_info, 1)] {
        assert_eq!(info["Messages"], 3, "the store's: {info}");
        assert_eq!(info["RuntimeStats"]["SMTPAccepted"], accepted, "{info}");
        assert_eq!(info["Node"]["StoreShared"], true);
        let listed = |key: &str| -> Vec<String> {
            serde_json::from_value(info["Node"][key].clone()).expect("a list of fields")
        };
        assert!(listed("Shared").contains(&"Messages".to_string()), "{info}");
        assert!(listed("PerNode").contains(&"RuntimeStats".to_string()));
    }
    let a_id = a_info["Node"]["ID"].as_str().expect("A's ID");
    let b_id = b_info["Node"]["ID"].as_str().expect("B's ID");
    assert_ne!(a_id, b_id, "each node has a name of its own");

    for (lb, id, accepted) in [(&a, a_id, 2.0), (&b, b_id, 1.0)] {
        let text = metrics(lb).await;
        assert_eq!(metric_sample(&text, "letterbox_messages"), 3.0);
        assert_eq!(scope(&text, "letterbox_messages"), "[shared]");
        assert_eq!(
            metric_sample(&text, "letterbox_smtp_accepted_total"),
            accepted
        );
        assert_eq!(scope(&text, "letterbox_smtp_accepted_total"), "[node]");
        let labels = format!("letterbox_node_info{{node=\"{id}\",store=\"postgres\"}}");
        assert_eq!(metric_sample(&text, &labels), 1.0);
    }
}

/// Waits for `lb`'s chaos trigger for `stage` (`Sender`, `Recipient`) to
/// fail every time with `code`, or, with `None`, to be off.
async fn chaos_becomes(lb: &Letterbox, stage: &str, code: Option<u64>) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let (status, rules) = lb.request_json("GET", "/api/v1/chaos", None).await;
        assert_eq!(status, 200);
        let trigger = &rules[stage];
        let now = match trigger["Probability"].as_u64() {
            Some(100) => trigger["ErrorCode"].as_u64(),
            _ => None,
        };
        if now == code {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{stage} never became {code:?}: {rules}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn chaos_rules_are_stored_so_a_node_started_later_has_them() {
    let databases = Databases::default();
    let Some(url) = database("shared chaos rules", &databases).await else {
        return;
    };
    // A node started with rules shares them with nodes started after it.
    let a = Letterbox::with_args(&["--db", &url, "--chaos", "rcpt=451@100%"]);
    let b = node(&url);
    chaos_becomes(&b, "Recipient", Some(451)).await;
    let mut smtp = b.session().await;
    smtp.expect("MAIL FROM:<a@example.com>", 250, "").await;
    smtp.expect("RCPT TO:<b@example.com>", 451, "").await;

    // A change on B replaces them everywhere, and is what a later node gets.
    let rules = json!({"Sender": {"ErrorCode": 550, "Probability": 100}});
    let (status, _) = b
        .request_json("PUT", "/api/v1/chaos", Some(&rules.to_string()))
        .await;
    assert_eq!(status, 200);
    chaos_becomes(&a, "Recipient", None).await;
    chaos_becomes(&a, "Sender", Some(550)).await;
    let c = node(&url);
    chaos_becomes(&c, "Sender", Some(550)).await;
    chaos_becomes(&c, "Recipient", None).await;

    // All off, stored too.
    let (status, _) = c.request_json("PUT", "/api/v1/chaos", Some("{}")).await;
    assert_eq!(status, 200);
    chaos_becomes(&a, "Sender", None).await;
    let d = node(&url);
    chaos_becomes(&d, "Sender", None).await;
    let mut smtp = d.session().await;
    smtp.expect("MAIL FROM:<a@example.com>", 250, "").await;
}
