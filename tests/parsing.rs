//! How stored mail is read, over the real binary: blind copies from the
//! envelope, header values as a reader means them, lenient header blocks,
//! no invented MIME parts.

mod common;

use common::{Letterbox, next_event};
use serde_json::{Value, json};

fn mailbox(address: &str) -> Value {
    json!({"Name": "", "Address": address})
}

#[tokio::test]
async fn envelope_recipients_in_no_header_are_bcc_everywhere() {
    let lb = Letterbox::start();
    let url = lb.url("/api/events").replacen("http://", "ws://", 1);
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");

    // Through the send API, as the mailpit-api suite sends.
    let sent = lb
        .send_api(&json!({
            "From": {"Email": "app@example.com"},
            "To": [{"Email": "to@example.com"}],
            "Bcc": ["bcc@example.test"],
            "Subject": "blind",
            "Text": "hi"
        }))
        .await;
    let new = next_event(&mut socket, "new").await;
    assert_eq!(new["Data"]["ID"], sent.as_str());
    assert_eq!(new["Data"]["Bcc"], json!([mailbox("bcc@example.test")]));

    // Through SMTP: a Bcc header's mailboxes stay, envelope recipients
    // named in To, Cc or Bcc (in any case) are not repeated.
    let raw = b"From: a@example.com\r\nTo: To <to@example.com>\r\nCc: cc@example.com\r\n\
Bcc: Named <named@example.com>\r\nSubject: smtp blind\r\n\r\nhi\r\n";
    let smtp = lb
        .send_raw(
            "a@example.com",
            &[
                "TO@example.com",
                "cc@example.com",
                "named@example.com",
                "hidden@example.com",
            ],
            raw,
        )
        .await;
    let new = next_event(&mut socket, "new").await;
    let expected = json!([
        {"Name": "Named", "Address": "named@example.com"},
        mailbox("hidden@example.com")
    ]);
    assert_eq!(new["Data"]["Bcc"], expected);

    let list = lb.list().await;
    let listed = |id: &str| {
        list["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .find(|m| m["ID"] == id)
            .cloned()
            .expect("listed")
    };
    assert_eq!(listed(&sent)["Bcc"], json!([mailbox("bcc@example.test")]));
    assert_eq!(listed(&smtp)["Bcc"], expected);
    assert_eq!(
        lb.message(&sent).await["Bcc"],
        json!([mailbox("bcc@example.test")])
    );
    assert_eq!(lb.message(&smtp).await["Bcc"], expected);
    // The stored bytes are as received: no Bcc header was added.
    assert_eq!(lb.raw(&smtp).await, raw);
    // A plain word finds a blind copy's address too, as Mailpit's does.
    assert_eq!(lb.search_ids("hidden").await, [smtp]);
}

#[tokio::test]
async fn header_values_come_back_without_folding_whitespace() {
    let lb = Letterbox::start();
    let raw = b"From: a@example.com\r\nTo: b@example.com\r\nSubject:\r\n  Folded\r\n subject \r\n\
X-Google-Smtp-Source:\r\n AGRyM1t0ExampleValue\r\n\r\nhi\r\n";
    let id = lb.send_raw("a@example.com", &["b@example.com"], raw).await;
    let headers = lb.get_ok(&format!("/api/v1/message/{id}/headers")).await;
    assert_eq!(
        headers["X-Google-Smtp-Source"],
        json!(["AGRyM1t0ExampleValue"])
    );
    assert_eq!(headers["Subject"], json!(["Folded subject"]));
    assert_eq!(lb.message(&id).await["Subject"], "Folded subject");
}

#[tokio::test]
async fn an_unterminated_multipart_gets_no_invented_part() {
    let lb = Letterbox::start();
    let raw = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: open\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
hello\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n\
%PDF\r\n--b\r\n";
    let id = lb.send_raw("a@example.com", &["b@example.com"], raw).await;
    let m = lb.message(&id).await;
    let names: Vec<&Value> = m["Attachments"]
        .as_array()
        .expect("Attachments")
        .iter()
        .map(|a| &a["FileName"])
        .collect();
    assert_eq!(names, [&json!("a.pdf")], "{m}");
    assert_eq!(m["Inline"], json!([]), "{m}");
    assert_eq!(lb.list().await["messages"][0]["Attachments"], 1);
}

#[tokio::test]
async fn headers_are_read_after_a_byte_order_mark_or_a_blank_line() {
    let lb = Letterbox::start();
    for (raw, subject) in [
        (
            &b"\xEF\xBB\xBFSubject: Wow\r\nFrom: a@example.com\r\n\r\nbody\r\n"[..],
            "Wow",
        ),
        (
            b"        \r\nSubject: Wow\r\nFrom: a@example.com\r\n\r\nbody\r\n",
            "Wow",
        ),
        // An unknown charset is read as ASCII rather than left encoded.
        (
            b"Subject: =?NONE?B?VEVTVA=?=\r\nFrom: a@example.com\r\n\r\nTEST\r\n",
            "TEST",
        ),
    ] {
        let id = lb.send_raw("a@example.com", &["b@example.com"], raw).await;
        let m = lb.message(&id).await;
        assert_eq!(m["Subject"], subject, "{raw:?}");
        assert_eq!(m["From"]["Address"], "a@example.com", "{raw:?}");
        let headers = lb.get_ok(&format!("/api/v1/message/{id}/headers")).await;
        assert_eq!(headers["Subject"], json!([subject]), "{raw:?}");
        assert_eq!(lb.raw(&id).await, raw, "stored as received");
    }
}

#[tokio::test]
async fn header_lines_full_of_encoded_word_starts_are_read_promptly() {
    // mailparse spends time proportional to a line's length on each `=?`
    // in a header line: 200,000 of them held a thread for many minutes.
    let lb = Letterbox::start();
    let words = "=?a?b?".repeat(200_000);
    let raw = format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: {words}\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain; x-junk=\"{words}\"\r\n\r\nhello\r\n--b--\r\n"
    );
    let id = lb
        .send_raw("a@example.com", &["b@example.com"], raw.as_bytes())
        .await;
    let m = lb.message(&id).await;
    assert_eq!(m["Text"], "hello");
    let headers = lb.get_ok(&format!("/api/v1/message/{id}/headers")).await;
    assert_eq!(headers["Subject"], json!([words]));
    assert_eq!(lb.raw(&id).await, raw.as_bytes());
}
