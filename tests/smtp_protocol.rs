//! The SMTP dialogue over raw TCP: exact bytes out, exact replies in.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Letterbox, Smtp, data_payload, queued_id, simple_message};
use hmac::{Hmac, Mac};
use serde_json::json;

/// `AUTH PLAIN` with an initial response for `user` and `pass`.
fn auth_plain(user: &str, pass: &str) -> String {
    format!("AUTH PLAIN {}", B64.encode(format!("\0{user}\0{pass}")))
}

#[tokio::test]
async fn greeting_is_220_without_an_enhanced_code() {
    let lb = Letterbox::start();
    let mut smtp = Smtp::connect_raw(lb.smtp_addr).await;
    let greeting = smtp.reply().await;
    assert_eq!(greeting.code, 220);
    assert_eq!(greeting.lines.len(), 1);
    assert!(
        greeting.lines[0].starts_with("letterbox ESMTP"),
        "{greeting:?}"
    );
    smtp.quit().await;
}

#[tokio::test]
async fn ehlo_advertises_the_extensions() {
    let lb = Letterbox::start();
    let mut smtp = lb.smtp().await;
    let ehlo = smtp.ehlo().await;
    assert!(ehlo.lines[0].starts_with("letterbox"), "{ehlo:?}");
    let extensions = &ehlo.lines[1..];
    let wanted = [
        "PIPELINING",
        "SIZE 52428800",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "CHUNKING",
    ];
    let missing: Vec<&str> = wanted
        .into_iter()
        .filter(|w| !extensions.iter().any(|e| e == w))
        .collect();
    assert!(missing.is_empty(), "{missing:?} missing from {ehlo:?}");
    let auth = extensions
        .iter()
        .find(|e| e.starts_with("AUTH "))
        .unwrap_or_else(|| panic!("no AUTH in {ehlo:?}"));
    let mut mechanisms: Vec<&str> = auth.split_whitespace().skip(1).collect();
    mechanisms.sort_unstable();
    assert_eq!(mechanisms, ["CRAM-MD5", "LOGIN", "PLAIN"]);

    // HELO: one line, no extensions, no enhanced status code.
    let helo = smtp.cmd("HELO client.example.com").await;
    assert_eq!(helo.code, 250);
    assert_eq!(helo.lines.len(), 1, "{helo:?}");
    smtp.quit().await;
}

#[tokio::test]
async fn a_whole_pipelined_session_is_answered_in_order() {
    let lb = Letterbox::start();
    let mut smtp = lb.smtp().await;
    let first = simple_message("pipelined one", "first body");
    let second = simple_message("pipelined two", "second body");
    let mut script = b"EHLO client.example.com\r\n\
        MAIL FROM:<a@example.com>\r\n\
        RCPT TO:<b@example.com>\r\n\
        RCPT TO:<c@example.com>\r\n\
        DATA\r\n"
        .to_vec();
    script.extend_from_slice(&data_payload(&first));
    script.extend_from_slice(
        b"NOOP\r\nMAIL FROM:<d@example.com>\r\nRCPT TO:<e@example.com>\r\nDATA\r\n",
    );
    script.extend_from_slice(&data_payload(&second));
    script.extend_from_slice(b"QUIT\r\n");
    smtp.send(&script).await;

    let ehlo = smtp.reply().await;
    assert!(ehlo.code == 250 && ehlo.lines.len() > 1, "{ehlo:?}");
    smtp.expect_replies(&[(250, "2.1.0"), (250, "2.1.5"), (250, "2.1.5"), (354, "")])
        .await;
    let id1 = queued_id(&smtp.reply().await);
    smtp.expect_replies(&[(250, "2.0.0"), (250, "2.1.0"), (250, "2.1.5"), (354, "")])
        .await;
    let id2 = queued_id(&smtp.reply().await);
    smtp.reply().await.assert(221, "2.0.0");
    smtp.expect_closed().await;

    assert_ne!(id1, id2);
    assert_eq!(lb.ids().await, [id2.clone(), id1.clone()]);
    assert_eq!(lb.raw(&id1).await, first);
    assert_eq!(lb.raw(&id2).await, second);
    let envelope = &lb.message(&id1).await["Envelope"];
    assert_eq!(envelope["MailFrom"], "a@example.com");
    assert_eq!(
        envelope["RcptTo"],
        json!(["b@example.com", "c@example.com"])
    );
    assert_eq!(envelope["Helo"], "client.example.com");
    assert_eq!(envelope["TLS"], false);
}

#[tokio::test]
async fn bdat_chunks_are_stored_exactly() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    smtp.envelope("a@example.com", &["b@example.com"]).await;

    // BDAT content is counted, never dot-unstuffed or searched for a terminator.
    let chunks: [&[u8]; 3] = [
        b"Subject: chunked\r\n\r\n",
        b"..two dots\r\n.\r\nBDAT 5\r\n",
        b"bare\nlf and \x00 NUL and \xff\r\n",
    ];
    let mut expected = Vec::new();
    for chunk in chunks {
        expected.extend_from_slice(chunk);
        smtp.send(&[format!("BDAT {}\r\n", chunk.len()).as_bytes(), chunk].concat())
            .await;
        let received = format!("2.0.0 Ok: {} octets received", expected.len());
        smtp.reply().await.assert(250, &received);
    }
    let id = queued_id(&smtp.cmd("BDAT 0 LAST").await);
    assert_eq!(lb.raw(&id).await, expected);

    // A single chunk with LAST, pipelined with the envelope.
    let body = b"Subject: one chunk\r\n\r\n.\r\n";
    let envelope = "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n";
    let bdat = format!("{envelope}BDAT {} LAST\r\n", body.len());
    smtp.send(&[bdat.as_bytes(), body].concat()).await;
    smtp.expect_replies(&[(250, "2.1.0"), (250, "2.1.5")]).await;
    let id = queued_id(&smtp.reply().await);
    assert_eq!(lb.raw(&id).await, body);
    smtp.quit().await;
}

#[tokio::test]
async fn bdat_out_of_sequence_is_refused_and_its_chunk_skipped() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    // No transaction: the 4 octets ("NOOP") are read as data and dropped.
    smtp.send(b"BDAT 4 LAST\r\nNOOP").await;
    smtp.reply().await.assert(503, "5.5.1");
    smtp.expect("NOOP", 250, "2.0.0").await;

    // DATA after BDAT in the same transaction is refused.
    smtp.envelope("a@example.com", &["b@example.com"]).await;
    smtp.send(b"BDAT 3\r\nabc").await;
    smtp.reply().await.assert(250, "2.0.0");
    smtp.expect("DATA", 503, "5.5.1").await;
    let id = queued_id(&smtp.cmd("BDAT 0 LAST").await);
    assert_eq!(lb.raw(&id).await, b"abc");
    smtp.quit().await;
}

#[tokio::test]
async fn dot_stuffing_round_trips() {
    let lb = Letterbox::start();
    let data = b"Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\n...three\r\na.b\r\n. space\r\n.";
    let id = lb.send_raw("a@example.com", &["b@example.com"], data).await;
    // The message did not end in a line break, so the client added CRLF.
    assert_eq!(lb.raw(&id).await, [&data[..], b"\r\n"].concat());
}

#[tokio::test]
async fn bare_lf_lines_and_terminator_are_accepted() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    smtp.send(b"MAIL FROM:<a@example.com>\nRCPT TO:<b@example.com>\nDATA\n")
        .await;
    smtp.expect_replies(&[(250, "2.1.0"), (250, "2.1.5"), (354, "")])
        .await;
    smtp.send(b"Subject: lf\n\n..stuffed\nbody\n.\n").await;
    let id = queued_id(&smtp.reply().await);
    assert_eq!(lb.raw(&id).await, b"Subject: lf\n\n.stuffed\nbody\n");
    smtp.quit().await;
}

#[tokio::test]
async fn smtputf8_addresses_and_8bit_bodies_are_kept_exactly() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    let data = "From: José <jösé@exämple.com>\r\nTo: 用户@例子.广告\r\nSubject: Grüße ✉\r\n\
                Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
                Ünïcödé bödy — 日本語\r\n";
    let id = smtp
        .try_send_message(
            "MAIL FROM:<jösé@exämple.com> SMTPUTF8 BODY=8BITMIME",
            &["用户@例子.广告"],
            data.as_bytes(),
        )
        .await
        .expect("an SMTPUTF8 message is accepted");
    smtp.quit().await;

    assert_eq!(lb.raw(&id).await, data.as_bytes());
    let message = lb.message(&id).await;
    assert_eq!(message["Subject"], "Grüße ✉");
    assert_eq!(message["Text"], "Ünïcödé bödy — 日本語\r\n");
    let envelope = &message["Envelope"];
    assert_eq!(envelope["MailFrom"], "jösé@exämple.com");
    assert_eq!(envelope["RcptTo"], json!(["用户@例子.广告"]));
    assert_eq!(envelope["SMTPUTF8"], true);
}

/// A message of exactly `size` bytes.
fn message_of_size(size: usize) -> Vec<u8> {
    let mut data = b"Subject: sized\r\n\r\n".to_vec();
    data.resize(size - 2, b'x');
    data.extend_from_slice(b"\r\n");
    data
}

#[tokio::test]
async fn oversized_messages_get_552_and_the_session_goes_on() {
    let lb = Letterbox::with_args(&["--max-message-size", "10K"]);
    let mut smtp = lb.smtp().await;
    let ehlo = smtp.ehlo().await;
    assert!(ehlo.lines.iter().any(|l| l == "SIZE 10240"), "{ehlo:?}");

    // Refused up front from the declared SIZE.
    let declared = "MAIL FROM:<a@example.com> SIZE=10241";
    smtp.expect(declared, 552, "5.3.4").await;
    smtp.expect("RCPT TO:<b@example.com>", 503, "5.5.1").await;

    // Refused after DATA: the content is read to the end, then 552.
    smtp.start_data("a@example.com", &["b@example.com"]).await;
    smtp.send(&data_payload(&message_of_size(10241))).await;
    smtp.reply().await.assert(552, "5.3.4");

    // Refused after BDAT LAST.
    smtp.envelope("a@example.com", &["b@example.com"]).await;
    smtp.send(&[b"BDAT 10241 LAST\r\n".to_vec(), message_of_size(10241)].concat())
        .await;
    smtp.reply().await.assert(552, "5.3.4");

    // Exactly at the limit is fine, on the same connection.
    let fits = message_of_size(10240);
    let id = smtp
        .try_send_message("MAIL FROM:<a@example.com> SIZE=10240", &["b@x"], &fits)
        .await
        .expect("a message of exactly the limit is accepted");
    smtp.quit().await;

    assert_eq!(lb.ids().await, std::slice::from_ref(&id));
    assert_eq!(lb.raw(&id).await, fits);
}

#[tokio::test]
async fn commands_out_of_order_get_503() {
    let lb = Letterbox::start();
    let mut smtp = lb.smtp().await;
    smtp.expect("MAIL FROM:<a@example.com>", 503, "5.5.1").await;
    smtp.ehlo().await;
    smtp.expect("RCPT TO:<b@example.com>", 503, "5.5.1").await;
    smtp.expect("DATA", 503, "5.5.1").await;
    smtp.expect("MAIL FROM:<a@example.com>", 250, "2.1.0").await;
    smtp.expect("MAIL FROM:<a@example.com>", 503, "5.5.1").await;
    smtp.expect("RCPT TO:<>", 501, "5.1.3").await;
    // A RCPT was given and none accepted (without any RCPT, DATA would be
    // taken as MailHog takes it).
    smtp.expect("DATA", 554, "5.5.1").await;
    smtp.expect("RSET", 250, "2.0.0").await;
    smtp.expect("RCPT TO:<b@example.com>", 503, "5.5.1").await;
    // The session is still good.
    let id = smtp.send_note("ok").await;
    smtp.quit().await;
    assert_eq!(lb.ids().await, [id]);
}

#[tokio::test]
async fn an_over_long_line_gets_500_and_the_session_goes_on() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    let long = format!("MAIL FROM:<{}@example.com>", "a".repeat(5000));
    smtp.expect(&long, 500, "5.5.2").await;
    smtp.expect("NOOP", 250, "2.0.0").await;
    // Also when the long line arrives in pieces.
    smtp.send(format!("NOOP {}", "x".repeat(3000)).as_bytes())
        .await;
    smtp.send("y".repeat(3000).as_bytes()).await;
    smtp.send(b"\r\nNOOP\r\n").await;
    smtp.expect_replies(&[(500, "5.5.2"), (250, "2.0.0")]).await;
    let id = smtp.send_note("ok").await;
    smtp.quit().await;
    assert_eq!(lb.ids().await, [id]);
}

#[tokio::test]
async fn too_many_recipients_get_452() {
    let lb = Letterbox::with_args(&["--smtp-max-recipients", "3"]);
    let mut smtp = lb.session().await;
    let three = ["r1@example.com", "r2@example.com", "r3@example.com"];
    smtp.envelope("a@example.com", &three).await;
    smtp.expect("RCPT TO:<r4@example.com>", 452, "4.5.3").await;
    smtp.expect("DATA", 354, "").await;
    smtp.send(&data_payload(b"Subject: three\r\n\r\nx\r\n"))
        .await;
    let id = queued_id(&smtp.reply().await);
    smtp.quit().await;
    assert_eq!(lb.message(&id).await["Envelope"]["RcptTo"], json!(three));
}

#[tokio::test]
async fn other_commands() {
    let lb = Letterbox::start();
    let mut smtp = lb.smtp().await;
    smtp.expect("FROBNICATE now", 500, "5.5.1").await;
    smtp.expect("", 500, "5.5.2").await;
    smtp.ehlo().await;
    smtp.expect("VRFY someone", 252, "2.5.0").await;
    smtp.expect("EXPN list", 502, "5.5.1").await;
    smtp.expect("HELP", 214, "2.0.0").await;
    smtp.expect("NOOP", 250, "2.0.0").await;
    smtp.expect("RSET", 250, "2.0.0").await;
    smtp.expect("AUTH GSSAPI", 504, "5.5.4").await;
    smtp.quit().await;
}

#[tokio::test]
async fn a_client_leaving_mid_data_stores_nothing() {
    let lb = Letterbox::start();
    {
        let mut smtp = lb.session().await;
        smtp.start_data("a@example.com", &["b@example.com"]).await;
        smtp.send(b"Subject: never finished\r\n\r\nhalf a mess")
            .await;
    } // dropped: the connection closes mid-DATA

    let id = lb.send_simple("after the dropout").await;
    let list = lb.list().await;
    assert_eq!(common::ids_of(&list), [id]);
    assert_eq!(list["messages"][0]["Subject"], "after the dropout");
    let info = lb.get_ok("/api/v1/info").await;
    assert_eq!(info["RuntimeStats"]["SMTPAccepted"], 1);
}

#[tokio::test]
async fn an_idle_connection_gets_421_and_is_closed() {
    let lb = Letterbox::with_args(&["--smtp-idle-timeout", "1s"]);
    let mut smtp = lb.session().await;
    smtp.reply().await.assert(421, "4.4.2");
    smtp.expect_closed().await;

    // Also in the middle of DATA.
    let mut smtp = lb.session().await;
    smtp.start_data("a@example.com", &["b@example.com"]).await;
    smtp.send(b"Subject: stalled\r\n").await;
    smtp.reply().await.assert(421, "4.4.2");
    smtp.expect_closed().await;
    assert_eq!(lb.list().await["total"], 0);
}

#[tokio::test]
async fn several_messages_on_one_connection() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    let mut sent = Vec::new();
    for n in 0..5 {
        let data = simple_message(&format!("message {n}"), &format!("body {n}"));
        let rcpt = format!("r{n}@example.com");
        let id = smtp.send_message("a@example.com", &[&rcpt], &data).await;
        if n == 2 {
            smtp.expect("RSET", 250, "2.0.0").await;
        }
        sent.push((id, data, rcpt));
    }
    smtp.quit().await;

    let mut ids: Vec<String> = sent.iter().map(|(id, ..)| id.clone()).collect();
    ids.reverse();
    assert_eq!(lb.ids().await, ids, "newest first");
    for (id, data, rcpt) in &sent {
        assert_eq!(&lb.raw(id).await, data);
        let message = lb.message(id).await;
        assert_eq!(message["Envelope"]["RcptTo"], json!([rcpt]));
        // The transcript leaves the message content out.
        let transcript = message["Envelope"]["Transcript"].to_string();
        let content_left_out =
            transcript.contains("octets of message content") && !transcript.contains("body ");
        assert!(content_left_out, "{transcript}");
    }
}

#[tokio::test]
async fn each_transcript_covers_only_its_own_transaction() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    let note = b"Subject: note\r\n\r\nx\r\n";
    let first = smtp
        .send_message("first@example.com", &["b@example.com"], note)
        .await;
    let second = smtp
        .send_message("second@example.com", &["b@example.com"], note)
        .await;
    smtp.quit().await;

    let transcript = lb.message(&second).await["Envelope"]["Transcript"].to_string();
    // The connection prelude (greeting and EHLO) is shared by design.
    for wanted in [
        "C: EHLO client.example.com",
        "C: MAIL FROM:<second@example.com>",
    ] {
        assert!(transcript.contains(wanted), "{wanted} not in {transcript}");
    }
    assert!(
        !transcript.contains("first@example.com") && !transcript.contains(&first),
        "the second message's transcript shows the first transaction: {transcript}"
    );
}

#[tokio::test]
async fn auth_is_required_when_credentials_are_configured() {
    let lb = Letterbox::with_args(&["--smtp-auth", "alice:s3cret,bob:hunter2"]);
    let mut smtp = lb.session().await;
    smtp.expect("MAIL FROM:<a@example.com>", 530, "5.7.0").await;
    smtp.expect(&auth_plain("alice", "wrong"), 535, "5.7.8")
        .await;
    smtp.expect(&auth_plain("mallory", "s3cret"), 535, "5.7.8")
        .await;
    smtp.expect("MAIL FROM:<a@example.com>", 530, "5.7.0").await;
    smtp.expect(&auth_plain("alice", "s3cret"), 235, "2.7.0")
        .await;
    smtp.expect(&auth_plain("alice", "s3cret"), 503, "5.5.1")
        .await;
    let id = smtp.send_note("authed").await;
    smtp.quit().await;

    let message = lb.message(&id).await;
    assert_eq!(message["Envelope"]["AuthUser"], "alice");
    assert_eq!(message["Username"], "alice");
    assert_eq!(lb.list().await["messages"][0]["Username"], "alice");
    let transcript = message["Envelope"]["Transcript"].to_string();
    for secret in [auth_plain("alice", "s3cret"), auth_plain("alice", "wrong")] {
        let payload = secret.rsplit(' ').next().expect("a payload");
        assert!(!transcript.contains(payload), "leaked into {transcript}");
    }
    assert!(transcript.contains("credentials redacted"), "{transcript}");
}

/// The CRAM-MD5 answer for `alice` to a base64 `challenge`.
fn cram_md5_answer(challenge: &str, password: &str) -> String {
    let challenge = B64.decode(challenge).expect("a base64 challenge");
    let mut mac = Hmac::<md5::Md5>::new_from_slice(password.as_bytes()).expect("any key");
    mac.update(&challenge);
    let digest: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    B64.encode(format!("alice {digest}"))
}

#[tokio::test]
async fn auth_login_and_cram_md5_exchanges() {
    let lb = Letterbox::with_args(&["--smtp-auth", "alice:s3cret"]);

    // LOGIN, prompted step by step; a wrong password first.
    let mut smtp = lb.session().await;
    for (password, code, status) in [("nope", 535, "5.7.8"), ("s3cret", 235, "2.7.0")] {
        let prompt = smtp.cmd("AUTH LOGIN").await;
        assert_eq!((prompt.code, prompt.text()), (334, "VXNlcm5hbWU6".into()));
        let prompt = smtp.cmd(&B64.encode("alice")).await;
        assert_eq!((prompt.code, prompt.text()), (334, "UGFzc3dvcmQ6".into()));
        smtp.expect(&B64.encode(password), code, status).await;
    }
    let id = smtp.send_note("login").await;
    smtp.quit().await;
    let envelope = &lb.message(&id).await["Envelope"];
    assert_eq!(envelope["AuthUser"], "alice");
    let transcript = envelope["Transcript"].to_string();
    for password in ["s3cret", "nope"] {
        let leaked = transcript.contains(&B64.encode(password));
        assert!(!leaked, "{password} leaked into {transcript}");
    }
    assert!(
        transcript.contains("SASL response redacted"),
        "{transcript}"
    );

    // CRAM-MD5: answer the challenge with HMAC-MD5 of the password.
    let mut smtp = lb.session().await;
    for (password, code, status) in [("nope", 535, "5.7.8"), ("s3cret", 235, "2.7.0")] {
        let challenge = smtp.expect("AUTH CRAM-MD5", 334, "").await.text();
        let answer = cram_md5_answer(&challenge, password);
        smtp.expect(&answer, code, status).await;
    }
    smtp.expect("AUTH LOGIN", 503, "5.5.1").await; // already authenticated
    smtp.quit().await;
}

#[tokio::test]
async fn auth_exchange_can_be_cancelled() {
    let lb = Letterbox::with_args(&["--smtp-auth", "alice:s3cret"]);
    let mut smtp = lb.session().await;
    smtp.expect("AUTH LOGIN", 334, "").await;
    smtp.expect("*", 501, "5.7.0").await;
    smtp.expect("AUTH PLAIN", 334, "").await;
    smtp.expect("not base64!", 501, "5.5.2").await;
    smtp.expect("MAIL FROM:<a@example.com>", 530, "5.7.0").await;
    smtp.quit().await;
}

#[tokio::test]
async fn an_over_long_sasl_response_abandons_the_exchange() {
    let lb = Letterbox::with_args(&["--smtp-auth", "alice:s3cret"]);
    let mut smtp = lb.session().await;
    smtp.expect("AUTH LOGIN", 334, "").await;
    smtp.expect(&"QUFB".repeat(1500), 500, "5.5.2").await;
    // Back to commands: this is not taken as the user name.
    smtp.expect("NOOP", 250, "2.0.0").await;
    smtp.expect(&auth_plain("alice", "s3cret"), 235, "2.7.0")
        .await;
    smtp.quit().await;
}

#[tokio::test]
async fn the_null_reverse_path_is_accepted() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    let id = smtp
        .try_send_message(
            "MAIL FROM:<>",
            &["b@example.com"],
            b"Subject: bounce\r\n\r\n",
        )
        .await
        .expect("a bounce (null sender) is accepted");
    smtp.quit().await;
    let m = lb.message(&id).await;
    assert_eq!(m["Envelope"]["MailFrom"], "");
    assert_eq!(m["ReturnPath"], "");
}

#[tokio::test]
async fn postmaster_without_a_domain_is_a_valid_recipient() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    let id = smtp
        .try_send_message("MAIL FROM:<a@b.c>", &["Postmaster"], b"Subject: pm\r\n\r\n")
        .await
        .expect("Postmaster is accepted");
    smtp.quit().await;
    let rcpts = &lb.message(&id).await["Envelope"]["RcptTo"];
    let postmaster = rcpts[0].as_str().map(str::to_ascii_lowercase);
    assert_eq!(postmaster.as_deref(), Some("postmaster"), "{rcpts}");
}

#[tokio::test]
async fn an_absurd_declared_size_is_refused() {
    let lb = Letterbox::with_args(&["--max-message-size", "10K"]);
    let mut smtp = lb.session().await;
    // Declared sizes the server cannot represent are still too big.
    for size in [
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999",
        "100000000000000000000000000000",
    ] {
        let reply = smtp.cmd(&format!("MAIL FROM:<a@b.c> SIZE={size}")).await;
        let refused = reply.code == 552 || reply.code == 501;
        assert!(refused, "SIZE={size} accepted: {reply:?}");
        smtp.expect("RSET", 250, "2.0.0").await;
    }
    smtp.quit().await;
}

#[tokio::test]
async fn connections_over_the_limit_get_421() {
    let lb = Letterbox::with_args(&["--smtp-max-connections", "1"]);
    let mut first = lb.smtp().await;
    let mut second = Smtp::connect_raw(lb.smtp_addr).await;
    second.reply().await.assert(421, "4.7.0");
    second.expect_closed().await;
    // The first connection is unaffected.
    first.ehlo().await;
    first.quit().await;
    // Once it is gone its slot frees up (the server notices the close
    // asynchronously, so allow a few 421s first).
    let deadline = Instant::now() + common::TIMEOUT;
    loop {
        let mut next = Smtp::connect_raw(lb.smtp_addr).await;
        let reply = next.reply().await;
        if reply.code == 220 {
            next.quit().await;
            break;
        }
        reply.assert(421, "4.7.0");
        assert!(Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn require_tls_refuses_mail_and_auth_in_the_clear() {
    let lb = Letterbox::with_args(&["--smtp-require-tls", "--smtp-tls", "self-signed"]);
    let mut smtp = lb.session().await;
    smtp.expect("MAIL FROM:<a@example.com>", 530, "5.7.0").await;
    smtp.expect(&auth_plain("alice", "x"), 530, "5.7.0").await;

    let mut tls = smtp.starttls().await;
    let ehlo = tls.ehlo().await;
    let offered = ehlo.lines.iter().any(|l| l == "STARTTLS");
    assert!(!offered, "STARTTLS offered again: {ehlo:?}");
    tls.expect("STARTTLS", 503, "5.5.1").await;
    let id = tls.send_note("tls").await;
    tls.quit().await;
    let envelope = &lb.message(&id).await["Envelope"];
    assert_eq!(envelope["TLS"], true);
    let transcript = envelope["Transcript"].to_string();
    assert!(
        transcript.contains("TLS handshake completed"),
        "{transcript}"
    );
}

#[tokio::test]
async fn commands_pipelined_after_starttls_are_discarded() {
    let lb = Letterbox::with_args(&["--smtp-tls", "self-signed"]);
    let mut smtp = lb.session().await;
    // Injected in the clear after STARTTLS: must not survive the handshake.
    smtp.send(b"STARTTLS\r\nMAIL FROM:<injected@example.com>\r\n")
        .await;
    smtp.reply().await.assert(220, "2.0.0");
    let mut tls = smtp.upgrade().await;
    // The session starts over: MAIL needs a new EHLO, and no transaction
    // was opened by the injected command.
    tls.expect("MAIL FROM:<a@example.com>", 503, "5.5.1").await;
    tls.ehlo().await;
    tls.expect("RCPT TO:<b@example.com>", 503, "5.5.1").await;
    let id = tls.send_note("tls").await;
    tls.quit().await;
    let envelope = &lb.message(&id).await["Envelope"];
    assert_eq!(envelope["MailFrom"], "a@example.com");
    assert_eq!(envelope["TLS"], true);
}

#[tokio::test]
async fn implicit_tls_greets_inside_tls_and_offers_no_starttls() {
    let lb = Letterbox::with_args(&["--smtps", "127.0.0.1:0", "--smtp-tls", "self-signed"]);
    let addr = lb.smtps_addr.expect("an SMTPS line on stdout");
    let mut smtps = common::connect_smtps(addr).await;
    let ehlo = smtps.ehlo().await;
    assert!(!ehlo.lines.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
    let id = smtps.send_note("smtps").await;
    smtps.quit().await;
    assert_eq!(lb.message(&id).await["Envelope"]["TLS"], true);
}

#[tokio::test]
async fn starttls_is_offered_only_with_a_certificate() {
    // Without one, a client that upgrades whenever it can (nodemailer)
    // must not be offered a certificate it will refuse.
    let lb = Letterbox::start();
    let mut smtp = lb.smtp().await;
    let ehlo = smtp.ehlo().await;
    assert!(!ehlo.lines.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
    smtp.expect("STARTTLS", 502, "5.5.1").await;
    smtp.send_note("plain").await;
    smtp.quit().await;

    let lb = Letterbox::with_args(&["--smtp-tls", "self-signed"]);
    let mut smtp = lb.smtp().await;
    let ehlo = smtp.ehlo().await;
    assert!(ehlo.lines.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
    let mut tls = smtp.starttls().await;
    tls.ehlo().await;
    tls.send_note("encrypted").await;
    tls.quit().await;
}

#[tokio::test]
async fn data_without_rcpt_is_stored_for_the_header_recipients() {
    // BusyBox's `sendmail -S host:port < mail.eml` (no -t): EHLO, MAIL,
    // then DATA without any RCPT, as MailHog accepts it.
    let lb = Letterbox::start();
    let mut smtp = lb.smtp().await;
    smtp.expect("EHLO builder", 250, "").await;
    smtp.expect("MAIL FROM:<nobody@builder>", 250, "2.1.0")
        .await;
    smtp.expect("DATA", 354, "").await;
    smtp.send(
        b"From: Test <test@example.org>\r\nTo: =?utf-8?B?5pel5pys?= <nihon@example.org>\r\n\
          Cc: cc@example.org\r\nBcc: Hidden <bcc@example.org>\r\nSubject: no rcpt\r\n\r\nbody\r\n.\r\n",
    )
    .await;
    let id = queued_id(&smtp.reply().await);
    smtp.quit().await;
    let message = lb.message(&id).await;
    assert_eq!(
        message["Envelope"]["RcptTo"],
        serde_json::json!(["nihon@example.org", "cc@example.org", "bcc@example.org"]),
        "{message}"
    );
    assert_eq!(message["Envelope"]["MailFrom"], "nobody@builder");
}
