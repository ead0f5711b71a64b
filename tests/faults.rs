//! Faults: nothing acknowledged is lost. `kill -9` in the middle of a blast,
//! a full or read-only disk, and clients that misbehave in ways
//! `smtp_protocol.rs` does not already cover. Slow and idle clients are in
//! `slow_clients.rs`.
//!
//! `LETTERBOX_LONG_TESTS=1` makes the crash test send 10,000 messages per
//! round at five kill points instead of 1,000 at three.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Letterbox, Smtp, TIMEOUT, TempDir, data_payload, queued_id};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn long_tests() -> bool {
    std::env::var("LETTERBOX_LONG_TESTS").is_ok_and(|v| v == "1")
}

// ---------------------------------------------------------------------------
// Crash: kill -9 during a blast
// ---------------------------------------------------------------------------

/// A message unique to `(round, n)`, 200 B to ~16 KB, with lines that need
/// dot-stuffing and a few 8-bit bytes.
fn blast_message(round: usize, n: usize) -> Vec<u8> {
    let mut out = format!(
        "From: blaster@example.com\r\nTo: sink@example.com\r\nSubject: crash {round}-{n}\r\n\
         Message-ID: <{round}.{n}@blast>\r\n\r\n"
    )
    .into_bytes();
    let lines = 3 + (n * 7919 + round * 104_729) % 250;
    for line in 0..lines {
        match line % 9 {
            0 => out.extend_from_slice(b".starts with a dot\r\n"),
            4 => out.extend_from_slice(b"..two dots \xc3\xa9t\xc3\xa9\r\n"),
            _ => {
                out.extend_from_slice(format!("{round}-{n} line {line} of {lines}\r\n").as_bytes())
            }
        }
    }
    out
}

/// One SMTP reply's code and text (multi-line replies joined), or `None`
/// when the connection is gone.
async fn read_reply(reader: &mut BufReader<TcpStream>) -> Option<(u16, String)> {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        match tokio::time::timeout(TIMEOUT, reader.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return None,
        }
        let code = line.get(..3)?.parse().ok()?;
        text.push_str(line.get(4..).unwrap_or("").trim_end());
        if line.as_bytes().get(3) != Some(&b'-') {
            return Some((code, text));
        }
    }
}

/// Acknowledged messages: the queued-as ID and the bytes sent.
type Acked = Vec<(String, Vec<u8>)>;

/// Sends messages `next..` of `round` on one connection until `plan` is
/// used up or the server goes away; records each acknowledged ID.
async fn blast_client(
    addr: SocketAddr,
    round: usize,
    next: Arc<AtomicUsize>,
    plan: usize,
    acked: Arc<Mutex<Acked>>,
) {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return;
    };
    let mut smtp = BufReader::new(stream);
    if read_reply(&mut smtp).await.is_none() {
        return;
    }
    if smtp.get_mut().write_all(b"EHLO blaster\r\n").await.is_err()
        || read_reply(&mut smtp).await.is_none()
    {
        return;
    }
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= plan {
            return;
        }
        let data = blast_message(round, n);
        // MAIL, RCPT and DATA pipelined; the content once DATA says 354.
        let envelope = b"MAIL FROM:<blaster@example.com>\r\nRCPT TO:<sink@example.com>\r\nDATA\r\n";
        if smtp.get_mut().write_all(envelope).await.is_err() {
            return;
        }
        for expected in [250, 250, 354] {
            match read_reply(&mut smtp).await {
                Some((code, _)) if code == expected => {}
                _ => return,
            }
        }
        if smtp
            .get_mut()
            .write_all(&data_payload(&data))
            .await
            .is_err()
        {
            return;
        }
        match read_reply(&mut smtp).await {
            Some((250, text)) => {
                let id = text
                    .strip_prefix("2.0.0 Ok: queued as ")
                    .expect("a queued-as reply")
                    .to_string();
                acked.lock().expect("ack log").push((id, data));
            }
            _ => return,
        }
    }
}

/// Every acknowledged message is listed and byte-identical; returns the
/// listed total.
async fn verify_acked(lb: &Letterbox, acked: &[(String, Vec<u8>)]) -> u64 {
    let mut lost = Vec::new();
    for (id, data) in acked {
        let path = format!("/api/v1/message/{id}/raw");
        let response = lb.get(&path).await;
        if response.status() != 200 {
            lost.push(format!("{id}: {}", response.status()));
            continue;
        }
        let body = response.bytes().await.expect("reading raw bytes");
        if body.as_ref() != data.as_slice() {
            lost.push(format!("{id}: bytes differ"));
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages lost or changed: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(20)]
    );
    let total = lb.get_ok("/api/v1/messages?limit=1").await["total"]
        .as_u64()
        .expect("a total");
    assert!(
        total >= acked.len() as u64,
        "{total} listed < {} acked",
        acked.len()
    );
    total
}

/// Every one of the `total` stored blast messages is in the full-text
/// index too: each has the word "line" in its body (its text may have
/// been waiting in memory to be indexed when the process was killed).
async fn verify_searchable(lb: &Letterbox, total: u64) {
    let matched = lb.get_ok("/api/v1/search?query=line&limit=1").await["messages_count"]
        .as_u64()
        .expect("a match count");
    assert_eq!(
        matched, total,
        "stored messages missing from the search index"
    );
}

fn integrity_check(db: &str) {
    let conn = rusqlite::Connection::open(db).expect("opening the database");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok", "{db}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_messages_survive_kill_9_mid_blast() {
    let (plan, kill_points): (usize, &[f64]) = if long_tests() {
        (10_000, &[0.1, 0.3, 0.5, 0.7, 0.9])
    } else {
        (1_000, &[0.2, 0.5, 0.9])
    };
    const CLIENTS: usize = 8;
    let dir = TempDir::new("crash");
    let db = dir.file("crash.db");
    // No pruning: the long run stores more than the default 10,000.
    let mut all_acked: Vec<(String, Vec<u8>)> = Vec::new();
    for (round, &fraction) in kill_points.iter().enumerate() {
        let mut lb = Letterbox::with_args(&["--db", &db, "--max-messages", "0"]);
        let total = verify_acked(&lb, &all_acked).await;
        verify_searchable(&lb, total).await;

        let next = Arc::new(AtomicUsize::new(0));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                tokio::spawn(blast_client(
                    lb.smtp_addr,
                    round,
                    next.clone(),
                    plan,
                    acked.clone(),
                ))
            })
            .collect();
        let kill_at = (plan as f64 * fraction) as usize;
        while acked.lock().expect("ack log").len() < kill_at {
            assert!(started.elapsed() < 30 * TIMEOUT, "the blast stalled");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        lb.kill();
        for client in clients {
            client.await.expect("a blast client");
        }
        let acked = std::mem::take(&mut *acked.lock().expect("ack log"));
        eprintln!(
            "round {round}: killed after {} acknowledged ({} started) in {:.2?}",
            acked.len(),
            next.load(Ordering::Relaxed).min(plan),
            started.elapsed()
        );
        all_acked.extend(acked);
        drop(lb);
    }
    let lb = Letterbox::with_args(&["--db", &db, "--max-messages", "0"]);
    let total = verify_acked(&lb, &all_acked).await;
    verify_searchable(&lb, total).await;
    eprintln!("{} acknowledged, {total} stored, 0 lost", all_acked.len());
    drop(lb);
    integrity_check(&db);
}

// ---------------------------------------------------------------------------
// Disk full and read-only database
// ---------------------------------------------------------------------------

/// A tmpfs mounted for the test, unmounted on drop.
struct SmallDisk {
    dir: TempDir,
}

impl SmallDisk {
    /// `None` when this machine does not let us mount (not root, or in a
    /// container without the capability).
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = TempDir::new("disk");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system with one file until it is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).expect("creating the filler");
    let block = vec![0x55u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
}

/// An incompressible message of about `size` bytes.
fn bulky_message(tag: &str, size: usize) -> Vec<u8> {
    let mut seed = 0x2545_f491_4f6c_dd1du64 ^ tag.len() as u64;
    let mut out = format!("Subject: {tag}\r\n\r\n").into_bytes();
    for i in 0..size {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.push(if i % 76 == 75 {
            b'\n'
        } else {
            b'A' + (seed % 26) as u8
        });
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Sends until the server refuses; every refusal must be `451 4.3.0`.
/// Returns the acknowledged messages and how many were refused.
async fn send_until_refused(
    lb: &Letterbox,
    tag: &str,
    acked: &mut Vec<(String, Vec<u8>)>,
) -> usize {
    let mut refused = 0;
    let mut smtp = lb.session().await;
    for n in 0..200 {
        let data = bulky_message(&format!("{tag} {n}"), 64 * 1024);
        smtp.envelope("a@example.com", &["b@example.com"]).await;
        smtp.expect("DATA", 354, "").await;
        smtp.send(&data_payload(&data)).await;
        let reply = smtp.reply().await;
        if reply.code == 250 {
            acked.push((queued_id(&reply), data));
        } else {
            reply.assert(451, "4.3.0");
            refused += 1;
            if refused == 3 {
                break;
            }
        }
    }
    smtp.quit().await;
    refused
}

#[tokio::test]
async fn a_full_disk_gets_451_and_recovers() {
    let Some(disk) = SmallDisk::mount("3M") else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); the writer's unit test \
             store::writer::tests::a_full_or_read_only_database_fails_the_batch_and_recovers covers SQLITE_FULL"
        );
        return;
    };
    let db = disk.path().join("full.db");
    let db = db.to_str().expect("a UTF-8 path");
    let mut lb = Letterbox::with_args(&["--db", db]);
    let mut acked = Vec::new();
    for n in 0..3 {
        let data = bulky_message(&format!("before {n}"), 1000);
        let id = lb
            .send_raw("a@example.com", &["b@example.com"], &data)
            .await;
        acked.push((id, data));
    }

    // Disk full.
    let filler = disk.path().join("filler");
    fill(&filler);
    let refused = send_until_refused(&lb, "full", &mut acked).await;
    assert_eq!(refused, 3, "the full disk was never noticed");
    verify_acked(&lb, &acked).await;
    // Space returns.
    std::fs::remove_file(&filler).expect("removing the filler");
    let data = bulky_message("after space returned", 1000);
    let id = lb
        .send_raw("a@example.com", &["b@example.com"], &data)
        .await;
    acked.push((id, data));

    // A read-only file system cannot be had here: remounting fails while
    // the database is open. The writer's unit test
    // (a_full_or_read_only_database_...) covers SQLITE_READONLY.
    let data = bulky_message("writable again", 1000);
    let id = lb
        .send_raw("a@example.com", &["b@example.com"], &data)
        .await;
    acked.push((id, data));

    // Nothing half-stored, nothing corrupt, and it all survives a restart.
    let total = verify_acked(&lb, &acked).await;
    assert_eq!(total, acked.len() as u64, "a refused message was stored");
    lb.kill();
    drop(lb);
    integrity_check(db);
    let lb = Letterbox::with_args(&["--db", db]);
    verify_acked(&lb, &acked).await;
    drop(lb);
}

// ---------------------------------------------------------------------------
// Client misbehaviour not covered in smtp_protocol.rs
// ---------------------------------------------------------------------------

#[tokio::test]
async fn bdat_with_wrong_lengths() {
    let lb = Letterbox::start();
    // More bytes than declared: the rest is read as commands.
    let mut smtp = lb.session().await;
    smtp.envelope("a@example.com", &["b@example.com"]).await;
    smtp.send(b"BDAT 5 LAST\r\nHello, too long\r\n").await;
    let stored = queued_id(&smtp.reply().await);
    smtp.reply().await.assert(500, "5.5");
    smtp.expect("NOOP", 250, "2.0.0").await;
    assert_eq!(lb.raw(&stored).await, b"Hello");
    // Lengths that are not numbers.
    for bad in ["BDAT", "BDAT -1", "BDAT 12abc", "BDAT 5 FIRST"] {
        smtp.envelope("a@example.com", &["b@example.com"]).await;
        let reply = smtp.cmd(bad).await;
        assert!(reply.code == 501 || reply.code == 500, "{bad}: {reply:?}");
        smtp.expect("RSET", 250, "2.0.0").await;
    }
    // A chunk bigger than the message limit is read, thrown away and refused.
    smtp.envelope("a@example.com", &["b@example.com"]).await;
    drop(smtp);
    let lb2 = Letterbox::with_args(&["--max-message-size", "1000"]);
    let mut smtp = lb2.session().await;
    smtp.envelope("a@example.com", &["b@example.com"]).await;
    smtp.send(b"BDAT 2000 LAST\r\n").await;
    smtp.send(&vec![b'x'; 2000]).await;
    smtp.reply().await.assert(552, "5.3.4");
    smtp.expect("NOOP", 250, "2.0.0").await;
    drop(smtp);
    // Fewer bytes than declared, then the client leaves: nothing stored.
    let mut smtp = lb.session().await;
    smtp.envelope("a@example.com", &["b@example.com"]).await;
    smtp.send(b"BDAT 100 LAST\r\nSubject: cut short\r\n").await;
    drop(smtp);
    let id = lb.send_simple("after the short chunk").await;
    assert_eq!(lb.ids().await, [id, stored]);
    assert!(lb2.ids().await.is_empty());
}

/// The peak resident memory of the server process, in KiB.
fn peak_rss_kib(lb: &Letterbox) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", lb.pid())).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::test]
async fn a_100_mb_line_without_crlf_is_refused_with_bounded_memory() {
    let lb = Letterbox::with_args(&["--max-message-size", "10MB"]);
    let before = peak_rss_kib(&lb);
    let chunk = vec![b'x'; 1024 * 1024];
    // As a command.
    let mut smtp = lb.session().await;
    smtp.send(b"MAIL FROM:<").await;
    for _ in 0..100 {
        smtp.send(&chunk).await;
    }
    smtp.send(b">\r\n").await;
    smtp.reply().await.assert(500, "5.5.2");
    smtp.expect("NOOP", 250, "2.0.0").await;
    // As message content.
    smtp.start_data("a@example.com", &["b@example.com"]).await;
    smtp.send(b"Subject: one long line\r\n\r\n").await;
    for _ in 0..100 {
        smtp.send(&chunk).await;
    }
    smtp.send(b"\r\n.\r\n").await;
    smtp.reply().await.assert(552, "5.3.4");
    smtp.expect("NOOP", 250, "2.0.0").await;
    smtp.quit().await;
    assert!(lb.ids().await.is_empty());
    if let (Some(before), Some(after)) = (before, peak_rss_kib(&lb)) {
        eprintln!("server peak RSS: {before} KiB before, {after} KiB after 200 MB of one line");
        // The message limit (10 MB) bounds what is kept, not the 100 MB sent.
        assert!(
            after < before + 60 * 1024,
            "peak RSS grew from {before} to {after} KiB"
        );
    }
}

#[tokio::test]
async fn nul_bytes_get_clear_replies_and_are_kept_in_content() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    let reply = smtp.cmd("\0\0\0").await;
    assert!(reply.code >= 500, "{reply:?}");
    let reply = smtp.cmd("MAIL FROM:<a\0b@example.com>").await;
    assert!(reply.code == 250 || reply.code >= 500, "{reply:?}");
    smtp.expect("RSET", 250, "2.0.0").await;
    let data = b"Subject: nul\r\n\r\nbefore\0after\r\n\0\r\n";
    let id = smtp
        .send_message("a@example.com", &["b@example.com"], data)
        .await;
    smtp.quit().await;
    assert_eq!(lb.raw(&id).await, data);
    let message = lb.message(&id).await;
    assert_eq!(message["Subject"], "nul");
    let (status, _) = lb.get_json(&format!("/api/v1/message/{id}/headers")).await;
    assert_eq!(status, 200);
    let view = lb.get(&format!("/view/{id}.txt")).await;
    assert_eq!(view.status(), 200);
}

#[tokio::test]
async fn commands_pipelined_past_a_failed_one_are_answered_in_order() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    // RCPT fails, so DATA fails, and the content is read as commands. (A
    // header line would end the connection: see tests/smtp_hostile.rs.)
    smtp.send(
        b"MAIL FROM:<a@example.com>\r\nRCPT TO:<fail-550@example.com>\r\nDATA\r\n\
          never sent\r\n\r\nbody\r\n.\r\nNOOP\r\n",
    )
    .await;
    smtp.reply().await.assert(250, "2.1.0");
    smtp.reply().await.assert(550, "5.");
    let data = smtp.reply().await;
    assert!(data.code == 503 || data.code == 554, "DATA: {data:?}");
    for line in ["never sent", "", "body", "."] {
        let reply = smtp.reply().await;
        assert!(reply.code >= 500, "{line:?} as a command: {reply:?}");
    }
    smtp.reply().await.assert(250, "2.0.0");
    // The transaction is still open (only its recipient failed).
    smtp.expect("RSET", 250, "2.0.0").await;
    // A bad MAIL: everything after it in the group is refused too.
    smtp.send(b"MAIL FROM:<not an address\r\nRCPT TO:<b@example.com>\r\nDATA\r\nQUIT\r\n")
        .await;
    smtp.reply().await.assert(501, "5.");
    smtp.reply().await.assert(503, "5.5.1");
    smtp.reply().await.assert(503, "5.5.1");
    smtp.reply().await.assert(221, "2.0.0");
    smtp.expect_closed().await;
    assert!(lb.ids().await.is_empty());
}

#[tokio::test]
async fn starttls_twice_is_refused_inside_tls() {
    let lb = Letterbox::with_args(&["--smtp-tls", "self-signed"]);
    let mut tls = lb.session().await.starttls().await;
    tls.ehlo().await;
    let reply = tls.cmd("STARTTLS").await;
    assert!(reply.code == 503 || reply.code == 454, "{reply:?}");
    assert!(reply.lines[0].starts_with("5.") || reply.lines[0].starts_with("4."));
    let id = tls.send_note("still fine").await;
    tls.quit().await;
    assert_eq!(lb.message(&id).await["Envelope"]["TLS"], true);
}

#[tokio::test]
async fn auth_with_bad_base64_gets_501() {
    let lb = Letterbox::with_args(&["--smtp-auth", "user:pass"]);
    let mut smtp = lb.session().await;
    smtp.expect("AUTH PLAIN !!!not-base64!!!", 501, "5.5.2")
        .await;
    smtp.expect("AUTH LOGIN", 334, "").await;
    smtp.expect("%%%", 501, "5.5.2").await;
    smtp.expect("AUTH PLAIN", 334, "").await;
    smtp.expect("AAAA====", 501, "5.5.2").await;
    // Valid base64 that is not a PLAIN response.
    smtp.expect("AUTH PLAIN bm8tbnVscw==", 501, "5.5.2").await;
    smtp.expect("MAIL FROM:<a@example.com>", 530, "5.7.0").await;
    smtp.quit().await;
}

/// What a driver that sends garbage learns: a reply per line, and the
/// connection stays usable while good commands come between (five
/// unrecognized commands in a row end it: tests/smtp_hostile.rs).
#[tokio::test]
async fn binary_garbage_gets_a_reply_per_line() {
    let lb = Letterbox::start();
    let mut smtp: Smtp = lb.session().await;
    let mut seed = 7u64;
    let mut lines = 0;
    let mut garbage = Vec::new();
    for _ in 0..50 {
        for _ in 0..(seed % 60) {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let b = (seed >> 33) as u8;
            if b != b'\n' {
                garbage.push(b);
            }
        }
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        garbage.extend_from_slice(b"\r\nNOOP\r\n");
        lines += 1;
    }
    smtp.send(&garbage).await;
    for _ in 0..lines {
        let reply = smtp.reply().await;
        assert!(reply.code >= 500, "{reply:?}");
        smtp.reply().await.assert(250, "2.0.0");
    }
    smtp.expect("NOOP", 250, "2.0.0").await;
    smtp.quit().await;
}
