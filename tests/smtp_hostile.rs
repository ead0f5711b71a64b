//! Hostile senders on the SMTP port (issue 12): a web page posting SMTP
//! through the browser, protocol garbage, addresses crafted to slip past
//! the relay allowlist, smuggled ends of data, and clients that hold
//! memory or connection slots. Each test drives the real binary, with a
//! second Letterbox as the relay's upstream where relaying is involved.

mod common;

use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use common::{Letterbox, Smtp, eventually, simple_message};

async fn metrics(lb: &Letterbox) -> String {
    lb.get("/metrics").await.text().await.unwrap()
}

async fn assert_rejected(lb: &Letterbox, reason: &str, count: u64) {
    let line = format!("letterbox_smtp_rejected_total{{reason=\"{reason}\"}} {count}\n");
    let text = metrics(lb).await;
    assert!(text.contains(&line), "no {line:?} in\n{text}");
}

/// A Letterbox that relays every message to a second one.
fn relaying(extra: &[&str]) -> (Letterbox, Letterbox) {
    let upstream = Letterbox::start();
    let relay = upstream.smtp_addr.to_string();
    let mut args = vec!["--relay-host", relay.as_str(), "--relay-all"];
    args.extend_from_slice(extra);
    (Letterbox::with_args(&args), upstream)
}

/// Sends a marker message and waits for it to be the only message in
/// `lb` (and relayed to `upstream` as the only one there): whatever was
/// sent before it and is not there was not stored.
async fn only_the_marker_arrives(lb: &Letterbox, upstream: Option<&Letterbox>) {
    lb.send_raw(
        "marker@example.com",
        &["marker@example.com"],
        &simple_message("marker", "after the attack"),
    )
    .await;
    assert_eq!(lb.the_one_message().await["Subject"], "marker");
    if let Some(upstream) = upstream {
        assert_eq!(upstream.the_one_message().await["Subject"], "marker");
    }
}

#[tokio::test]
async fn a_web_page_posting_smtp_to_the_port_stores_and_relays_nothing() {
    let (lb, upstream) = relaying(&[]);
    // What Chromium sends for the fetch() of issue 12.1.
    let body = "EHLO x\r\nMAIL FROM:<spoof@bank.example>\r\nRCPT TO:<victim@external.example>\r\n\
                DATA\r\nSubject: hi\r\n\r\nx\r\n.\r\nQUIT\r\n";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\nContent-Length: {}\r\n\
         Origin: http://attacker.example\r\nContent-Type: text/plain;charset=UTF-8\r\n\
         Accept: */*\r\n\r\n{body}",
        lb.smtp_addr,
        body.len()
    );
    let mut smtp = Smtp::connect_raw(lb.smtp_addr).await;
    smtp.reply().await.assert(220, "");
    smtp.send(request.as_bytes()).await;
    smtp.reply().await.assert(554, "5.7.0");
    smtp.expect_closed().await;

    only_the_marker_arrives(&lb, Some(&upstream)).await;
    assert_rejected(&lb, "http_request", 1).await;
}

#[tokio::test]
async fn a_header_line_or_unknown_commands_in_a_row_end_the_connection() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    smtp.send(b"Host: 127.0.0.1:1025\r\n").await;
    smtp.reply().await.assert(554, "5.7.0");
    smtp.expect_closed().await;

    let mut smtp = lb.session().await;
    for _ in 0..4 {
        smtp.expect("XYZZY", 500, "5.5.1").await;
    }
    smtp.send(b"XYZZY\r\nMAIL FROM:<a@example.com>\r\n").await;
    smtp.reply().await.assert(421, "4.5.0");
    smtp.expect_closed().await;
    assert_rejected(&lb, "unknown_commands", 1).await;

    // Message content read as commands after a refused DATA: its first
    // header line ends the connection, so no line of it can act as a
    // command (a MAIL FROM further down, say).
    let mut smtp = lb.session().await;
    smtp.send(
        b"MAIL FROM:<a@example.com>\r\nRCPT TO:<fail-550@example.com>\r\nDATA\r\n\
          Subject: x\r\n\r\nMAIL FROM:<b@example.com>\r\n",
    )
    .await;
    smtp.expect_replies(&[(250, "2.1.0"), (550, "5."), (554, "5.5.1"), (554, "5.7.0")])
        .await;
    smtp.expect_closed().await;

    // A mistake between good commands is forgiven.
    let mut smtp = lb.session().await;
    for _ in 0..10 {
        smtp.expect("XYZZY", 500, "5.5.1").await;
        smtp.expect("NOOP", 250, "2.0.0").await;
    }
    smtp.send_note("still fine").await;
    smtp.quit().await;
}

#[tokio::test]
async fn the_relay_allowlist_checks_exactly_what_goes_on_the_wire() {
    let (lb, upstream) = relaying(&["--relay-allowed-recipients", r"@example\.com$"]);
    let crafted = r#""attacker@evil.com> ORCPT=rfc822;x"@example.com"#;
    let mut smtp = lb.session().await;
    smtp.expect("MAIL FROM:<app@example.com>", 250, "2.1.0")
        .await;
    smtp.expect(&format!("RCPT TO:<{crafted}>"), 250, "2.1.5")
        .await;
    // An address that cannot be written out safely is refused at RCPT.
    smtp.expect("RCPT TO:<\"a\x01b\"@example.com>", 553, "5.1.3")
        .await;
    smtp.expect("DATA", 354, "").await;
    smtp.send(b"Subject: crafted\r\n\r\nx\r\n.\r\n").await;
    let id = common::queued_id(&smtp.reply().await);
    smtp.quit().await;

    // Stored with its quotes: the address is at example.com.
    let stored = lb.message(&id).await;
    assert_eq!(stored["Envelope"]["RcptTo"], json!([crafted]), "{stored}");
    // Relayed to that same address: the upstream never sees a command
    // addressed to attacker@evil.com.
    let arrived = upstream.the_one_message().await;
    assert_eq!(arrived["Envelope"]["RcptTo"], json!([crafted]), "{arrived}");
    let transcript = arrived["Envelope"]["Transcript"].to_string();
    assert!(
        !transcript.contains("RCPT TO:<attacker@evil.com>"),
        "{transcript}"
    );
}

#[tokio::test]
async fn a_message_past_the_hop_limit_is_not_relayed() {
    let (lb, upstream) = relaying(&[]);
    let hops: String = (0..30)
        .map(|n| format!("Received: from hop{n}.example by hop{}.example; Tue, 1 Dec 2026 10:00:00 +0000\r\n", n + 1))
        .collect();
    let data = format!("{hops}Subject: looping\r\n\r\nround and round\r\n");
    let id = lb
        .send_raw("app@example.com", &["someone@example.com"], data.as_bytes())
        .await;
    let release = eventually("the looping message's release fails", async || {
        let status = lb.get_ok(&format!("/api/v1/message/{id}/relay")).await;
        let first = status["Releases"][0].clone();
        (first["State"] == "failed").then_some(first)
    })
    .await;
    let reply = release["Attempts"][0]["Reply"].as_str().unwrap();
    assert!(reply.contains("5.4.6") && reply.contains("30"), "{reply}");
    // A message with fewer hops goes out, with one more on top.
    let fine = format!("{}Subject: fine\r\n\r\nx\r\n", &hops[hops.len() / 2..]);
    lb.send_raw("app@example.com", &["someone@example.com"], fine.as_bytes())
        .await;
    let arrived = upstream.the_one_message().await;
    assert_eq!(arrived["Subject"], "fine");
    let raw = upstream.raw(arrived["ID"].as_str().unwrap()).await;
    assert!(raw.starts_with(b"Received: by letterbox (Letterbox relay) id "));
}

/// The smuggling payload of issue 12.5: a second message, with its own
/// envelope, after a lone dot written with the line ends `dot`.
fn smuggling(dot: &str) -> Vec<u8> {
    format!(
        "Subject: outer\r\n\r\nbefore{dot}MAIL FROM:<ceo@bank.example>\r\nRCPT TO:<victim@example.com>\r\n\
         DATA\r\nSubject: smuggled\r\n\r\nsend money\r\n.\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn smuggled_ends_of_data_are_content_and_the_relay_sends_one_message() {
    let (lb, upstream) = relaying(&[]);
    let variants = ["\n.\r\n", "\r\n.\n", "\n.\n"];
    for dot in variants {
        let mut smtp = lb.session().await;
        smtp.start_data("app@example.com", &["rcpt@example.com"])
            .await;
        smtp.send(&smuggling(dot)).await;
        // One reply, for the whole of it: the lone dot did not end the data.
        let id = common::queued_id(&smtp.reply().await);
        smtp.quit().await;
        let raw = lb.raw(&id).await;
        let stored = smuggling(dot);
        assert_eq!(
            String::from_utf8_lossy(&raw),
            String::from_utf8_lossy(&stored[..stored.len() - 3]),
            "{dot:?}"
        );
    }
    let listed = lb.wait_for_total(variants.len() as u64).await;
    let subjects: Vec<&str> = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["outer"; 3]);
    // The upstream sees as many messages, each one whole, with its lone
    // dot and every line end made CRLF.
    let arrived = upstream.wait_for_total(variants.len() as u64).await;
    for message in arrived["messages"].as_array().unwrap() {
        assert_eq!(message["Subject"], "outer");
        let raw = upstream.raw(message["ID"].as_str().unwrap()).await;
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.contains("before\r\n.\r\nMAIL FROM:<ceo@bank.example>\r\n"),
            "{text:?}"
        );
        assert!(!text.replace("\r\n", "").contains(['\r', '\n']), "{text:?}");
        let envelope = &upstream.message(message["ID"].as_str().unwrap()).await["Envelope"];
        assert_eq!(envelope["RcptTo"], json!(["rcpt@example.com"]));
    }
}

#[tokio::test]
async fn bare_lf_clients_are_served_and_bare_cr_is_normalised_when_relayed() {
    let (lb, upstream) = relaying(&[]);
    let mut smtp = lb.smtp().await;
    smtp.send(b"EHLO sloppy\nMAIL FROM:<app@example.com>\nRCPT TO:<a@example.com>\nDATA\n")
        .await;
    for code in [250, 250, 250, 354] {
        assert_eq!(smtp.reply().await.code, code);
    }
    smtp.send(b"Subject: sloppy\n\nline one\rstill one\n.\n")
        .await;
    let id = common::queued_id(&smtp.reply().await);
    smtp.quit().await;
    assert_eq!(
        lb.raw(&id).await,
        b"Subject: sloppy\n\nline one\rstill one\n"
    );
    let arrived = upstream.the_one_message().await;
    let raw = upstream.raw(arrived["ID"].as_str().unwrap()).await;
    assert!(
        raw.ends_with(b"Subject: sloppy\r\n\r\nline one\r\nstill one\r\n"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
}

#[tokio::test]
async fn in_flight_data_past_the_budget_gets_452_and_nothing_accepted_is_lost() {
    let lb = Letterbox::with_args(&["--smtp-data-budget", "1MiB", "--max-message-size", "1MiB"]);
    // One client holds the whole budget with unfinished DATA.
    let mut holder = lb.session().await;
    holder
        .start_data("holder@example.com", &["rcpt@example.com"])
        .await;
    let line = format!("{}\r\n", "x".repeat(1022));
    holder.send(line.repeat(1024).as_bytes()).await;
    // New transactions are refused for now.
    let refused = eventually("MAIL is refused past the data budget", async || {
        let mut smtp = lb.session().await;
        let reply = smtp.cmd("MAIL FROM:<late@example.com>").await;
        (reply.code == 452).then_some(reply)
    })
    .await;
    refused.assert(452, "4.3.1");
    assert_rejected(&lb, "data_budget", 1).await;
    let text = metrics(&lb).await;
    assert!(
        text.contains("letterbox_smtp_data_in_flight_bytes 1048576\n"),
        "{text}"
    );
    // The holder's message is accepted whole, and the budget is free again.
    holder.send(b".\r\n").await;
    let id = common::queued_id(&holder.reply().await);
    holder.quit().await;
    assert_eq!(lb.raw(&id).await.len(), 1024 * 1024);
    assert!(
        metrics(&lb)
            .await
            .contains("letterbox_smtp_data_in_flight_bytes 0\n")
    );
    let mut smtp = lb.session().await;
    smtp.send_note("after").await;
    smtp.quit().await;
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let lb = Letterbox::with_args(&["--smtp-max-connections-per-ip", "2"]);
    let first = lb.smtp().await;
    let _second = lb.smtp().await;
    let mut third = Smtp::connect_raw(lb.smtp_addr).await;
    third.reply().await.assert(421, "4.7.0");
    third.expect_closed().await;
    assert_rejected(&lb, "too_many_connections_from_address", 1).await;
    drop(first);
    eventually("a slot is free again", async || {
        let mut next = Smtp::connect_raw(lb.smtp_addr).await;
        (next.reply().await.code == 220).then_some(())
    })
    .await;
}

/// Sends `prefix`, then one byte at a time with a pause between them,
/// until the server answers; returns the answer. The server's idle timeout
/// never fires (every byte is progress): only the minimum rate can.
async fn trickle(lb: &Letterbox, prefix: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(lb.smtp_addr).await.unwrap();
    stream.write_all(prefix).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..600 {
        stream.write_all(b"x").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.try_read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&seen).to_string();
        if let Some(last) = text.lines().last().filter(|l| l.starts_with("421")) {
            return (421, last.to_string());
        }
    }
    panic!(
        "a trickling client was never closed: {:?}",
        String::from_utf8_lossy(&seen)
    );
}

#[tokio::test]
async fn trickled_data_and_bdat_are_closed_below_the_minimum_rate() {
    let lb = Letterbox::with_args(&["--smtp-idle-timeout", "1s", "--smtp-min-data-rate", "1000"]);
    let data = b"EHLO t\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n";
    let (_, reply) = trickle(&lb, data).await;
    assert!(
        reply.starts_with("421 4.4.2 ") && reply.contains("1000 bytes a second"),
        "{reply}"
    );
    let bdat =
        b"EHLO t\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT 100000 LAST\r\n";
    let (_, reply) = trickle(&lb, bdat).await;
    assert!(reply.starts_with("421 4.4.2 "), "{reply}");
    assert_rejected(&lb, "data_too_slow", 2).await;
    assert!(lb.ids().await.is_empty());
}

#[tokio::test]
async fn each_pipelined_message_is_timed_on_its_own() {
    // Messages pipelined back to back, each begun in the same write as the
    // end of the one before: the minimum rate is per message, so a long
    // session of quick messages is never cut off.
    let lb = Letterbox::with_args(&["--smtp-idle-timeout", "1s", "--smtp-min-data-rate", "1000"]);
    let mut smtp = lb.session().await;
    let next = b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nSubject: m\r\n";
    smtp.send(next).await;
    smtp.expect_replies(&[(250, "2.1.0"), (250, "2.1.5"), (354, "")])
        .await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        smtp.send(&[b"\r\nbody\r\n.\r\n".as_slice(), next].concat())
            .await;
        common::queued_id(&smtp.reply().await);
        smtp.expect_replies(&[(250, "2.1.0"), (250, "2.1.5"), (354, "")])
            .await;
    }
    smtp.send(b"\r\nlast\r\n.\r\n").await;
    common::queued_id(&smtp.reply().await);
    smtp.quit().await;
    assert_eq!(lb.ids().await.len(), 9);
}

#[tokio::test]
async fn a_link_slowed_by_a_chaos_rule_is_not_too_slow() {
    // Letterbox itself reads at 500 bytes a second here: 3 KB take about
    // six seconds, well past a one-second grace at 1000 bytes a second.
    let lb = Letterbox::with_args(&[
        "--chaos",
        "link=500@100%",
        "--smtp-idle-timeout",
        "1s",
        "--smtp-min-data-rate",
        "1000",
    ]);
    let data = simple_message("slowed", &"x".repeat(3000));
    let id = lb
        .send_raw("a@example.com", &["b@example.com"], &data)
        .await;
    assert_eq!(lb.raw(&id).await, data);
}
