//! `POST /api/v1/send`: Mailpit's JSON in, a stored message out, through
//! the same ingest path as SMTP; and what it refuses.

mod common;

use common::Letterbox;
use serde_json::{Value, json};

/// Standard base64 (the tests need no crate for it).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A sender and one recipient, plus `extra` fields.
fn minimal(extra: Value) -> Value {
    let mut body = json!({
        "From": {"Email": "app@example.com"},
        "To": [{"Email": "user@example.com"}],
    });
    let fields = body.as_object_mut().expect("an object");
    for (key, value) in extra.as_object().expect("extra is an object") {
        fields.insert(key.clone(), value.clone());
    }
    body
}

/// `Text` or `HTML` as sent, up to line-break style (a message has CRLF)
/// and the line break that may close the part.
#[track_caller]
fn assert_text(message: &Value, key: &str, sent: &str) {
    let got = message[key]
        .as_str()
        .expect("a string")
        .replace("\r\n", "\n");
    assert_eq!(
        got.strip_suffix('\n').unwrap_or(&got),
        sent,
        "{key} of {message}"
    );
}

#[tokio::test]
async fn a_full_message_round_trips() {
    let lb = Letterbox::start();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    let pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n";
    let html = "<p>Hi <b>Zo\u{eb}</b></p><img src=\"cid:logo@app\"><a href=\"https://app.example.com/verify?t=1\">Verify</a>";
    let id = lb
        .send_api(&json!({
            "From": {"Email": "app@example.com", "Name": "The App"},
            "To": [
                {"Email": "zoe@example.com", "Name": "Zo\u{eb} Quinn"},
                {"Email": "bob+signup@example.com"}
            ],
            "Cc": [{"Email": "carol@example.com", "Name": "Carol \"CJ\" Jones"}],
            "Bcc": ["hidden@example.com", "audit+archive@example.com"],
            "ReplyTo": [{"Email": "support@example.com", "Name": "Support"}],
            "Subject": "Gr\u{fc}\u{df}e: confirm your account",
            "Text": "Hello Zo\u{eb},\nyour code is 482913.",
            "HTML": html,
            "Tags": ["welcome", "Beta"],
            "Headers": {"X-Campaign": "spring", "X-Request-Id": "req-42", "X-Note": "caf\u{e9}"},
            "Attachments": [
                {"Content": base64(png), "Filename": "logo.png", "ContentType": "image/png", "ContentID": "logo@app"},
                {"Content": base64(pdf), "Filename": "terms.pdf", "ContentType": "application/pdf"},
                {"Content": format!("data:text/plain;base64,{}", base64(b"notes\n")), "Filename": "notes.txt"},
                {"Content": base64(b"?"), "Filename": "blob.unknownext"}
            ]
        }))
        .await;
    assert_eq!(id.len(), 26, "a ULID: {id}");

    let m = lb.message(&id).await;
    assert_eq!(m["ID"], id.as_str());
    assert_eq!(
        m["From"],
        json!({"Name": "The App", "Address": "app@example.com"})
    );
    assert_eq!(
        m["To"],
        json!([
            {"Name": "Zo\u{eb} Quinn", "Address": "zoe@example.com"},
            {"Name": "", "Address": "bob+signup@example.com"}
        ])
    );
    assert_eq!(
        m["Cc"],
        json!([{"Name": "Carol \"CJ\" Jones", "Address": "carol@example.com"}])
    );
    // Bcc recipients are in no header: the envelope names them.
    assert_eq!(
        m["Bcc"],
        json!([
            {"Name": "", "Address": "hidden@example.com"},
            {"Name": "", "Address": "audit+archive@example.com"}
        ])
    );
    assert_eq!(
        m["ReplyTo"],
        json!([{"Name": "Support", "Address": "support@example.com"}])
    );
    assert_eq!(m["ReturnPath"], "app@example.com");
    assert_eq!(m["Subject"], "Gr\u{fc}\u{df}e: confirm your account");
    assert_text(&m, "Text", "Hello Zo\u{eb},\nyour code is 482913.");
    assert_text(&m, "HTML", html);
    // Tags from Tags and from plus-addresses, in headers and the envelope.
    assert_eq!(m["Tags"], json!(["archive", "Beta", "signup", "welcome"]));
    assert!(
        m["MessageID"].as_str().is_some_and(|v| !v.is_empty()),
        "{m}"
    );
    assert_eq!(m["Problems"], json!([]));

    let inline = m["Inline"].as_array().expect("Inline");
    assert_eq!(inline.len(), 1, "{m}");
    assert_eq!(inline[0]["FileName"], "logo.png");
    assert_eq!(inline[0]["ContentType"], "image/png");
    assert_eq!(inline[0]["ContentID"], "logo@app");
    assert_eq!(inline[0]["Size"], png.len());
    let attachments: Vec<(&str, &str, u64)> = m["Attachments"]
        .as_array()
        .expect("Attachments")
        .iter()
        .map(|a| {
            assert_eq!(a["ContentID"], "", "{a}");
            assert!(a["PartID"].as_str().is_some_and(|p| !p.is_empty()), "{a}");
            (
                a["FileName"].as_str().expect("FileName"),
                a["ContentType"].as_str().expect("ContentType"),
                a["Size"].as_u64().expect("Size"),
            )
        })
        .collect();
    assert_eq!(
        attachments,
        [
            ("terms.pdf", "application/pdf", pdf.len() as u64),
            ("notes.txt", "text/plain", 6),
            ("blob.unknownext", "application/octet-stream", 1),
        ]
    );

    // Every recipient is an envelope recipient; Bcc ones are in no header.
    let envelope = &m["Envelope"];
    assert_eq!(envelope["MailFrom"], "app@example.com");
    assert_eq!(
        envelope["RcptTo"],
        json!([
            "zoe@example.com",
            "bob+signup@example.com",
            "carol@example.com",
            "hidden@example.com",
            "audit+archive@example.com"
        ])
    );
    let headers = lb.get_ok(&format!("/api/v1/message/{id}/headers")).await;
    assert!(headers.get("Bcc").is_none(), "{headers}");
    let raw = String::from_utf8(lb.raw(&id).await).expect("the built message is ASCII");
    assert!(!raw.contains("hidden@"), "{raw}");
    assert!(!raw.contains("audit+archive@"), "{raw}");
    assert_eq!(headers["X-Campaign"], json!(["spring"]));
    assert_eq!(headers["X-Request-Id"], json!(["req-42"]));
    assert_eq!(headers["X-Note"], json!(["caf\u{e9}"]));
    assert_eq!(headers["X-Tags"], json!(["welcome, Beta"]));
    assert_eq!(
        headers["Subject"],
        json!(["Gr\u{fc}\u{df}e: confirm your account"])
    );
    // Attachment bytes travel base64-encoded in the message.
    assert!(raw.contains(&base64(pdf)), "{raw}");

    // The summary and search see it like SMTP mail.
    let list = lb.list().await;
    assert_eq!(list["total"], 1);
    let entry = &list["messages"][0];
    assert_eq!(entry["Attachments"], 3, "{entry}");
    assert_eq!(entry["Size"], raw.len(), "{entry}");
    assert_eq!(
        entry["Snippet"], "Hello Zo\u{eb}, your code is 482913.",
        "{entry}"
    );
    for query in [
        "bcc:hidden@example.com",
        "tag:welcome",
        "header:X-Request-Id:req-42",
        "has:inline has:attachment",
        "terms.pdf",
        "verify",
        "subject:confirm",
    ] {
        assert_eq!(lb.search_ids(query).await, [id.as_str()], "{query}");
    }
}

#[tokio::test]
async fn text_only_html_only_and_empty_bodies() {
    let lb = Letterbox::start();
    let long_line = "word ".repeat(400);
    for (text, html) in [
        ("Just text.\nTwo lines.", ""),
        ("", "<h1>Only HTML</h1>"),
        ("", ""),
        (
            "\u{65e5}\u{672c}\u{8a9e}\u{306e}\u{672c}\u{6587}",
            "<p>\u{65e5}\u{672c}</p>",
        ),
        (long_line.as_str(), ""),
    ] {
        let id = lb
            .send_api(&minimal(
                json!({"Subject": "bodies", "Text": text, "HTML": html}),
            ))
            .await;
        let m = lb.message(&id).await;
        assert_text(&m, "Text", text);
        assert_text(&m, "HTML", html);
        assert_eq!(m["Problems"], json!([]), "{m}");
    }
}

#[tokio::test]
async fn invalid_requests_are_400_and_store_nothing() {
    let lb = Letterbox::start();
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "JSON body is required"),
        ("{".into(), "invalid JSON"),
        ("[]".into(), "invalid JSON"),
        (json!({"To": [{"Email": "a@example.com"}]}).to_string(), "From is required"),
        (json!({"From": {"Email": "a@example.com"}}).to_string(), "recipient"),
        (minimal(json!({"To": []})).to_string(), "recipient"),
        (minimal(json!({"Starred": true})).to_string(), "Starred"),
        (minimal(json!({"To": "user@example.com"})).to_string(), "invalid JSON"),
        (minimal(json!({"From": {"Name": "No address"}})).to_string(), "invalid JSON"),
        (minimal(json!({"From": {"Email": "not-an-address"}})).to_string(), "not-an-address"),
        (minimal(json!({"To": [{"Email": "a@b>, evil@example.com"}]})).to_string(), "valid email"),
        (minimal(json!({"Cc": [{"Email": "two words@example.com"}]})).to_string(), "valid email"),
        (minimal(json!({"Subject": "hi\r\nBcc: evil@example.com"})).to_string(), "line breaks"),
        (minimal(json!({"From": {"Email": "a@example.com", "Name": "A\nB"}})).to_string(), "line breaks"),
        (minimal(json!({"Headers": {"X-Ok": "a\r\nBcc: evil@example.com"}})).to_string(), "line breaks"),
        (minimal(json!({"Headers": {"X-Ok": "a\nb"}})).to_string(), "line breaks"),
        (minimal(json!({"Headers": {"Subject": "x"}})).to_string(), "Subject"),
        (minimal(json!({"Headers": {"bcc": "evil@example.com"}})).to_string(), "bcc"),
        (minimal(json!({"Headers": {"X-Tags": "x"}})).to_string(), "X-Tags"),
        (minimal(json!({"Headers": {"Content-Type": "text/html"}})).to_string(), "Content-Type"),
        (minimal(json!({"Headers": {"Bad Name": "x"}})).to_string(), "Bad Name"),
        (minimal(json!({"Headers": {"X-Colon:": "x"}})).to_string(), "X-Colon:"),
        (minimal(json!({"Headers": {"": "x"}})).to_string(), "header name"),
        (minimal(json!({"Attachments": [{"Content": "!!!not base64", "Filename": "a.bin"}]})).to_string(), "base64"),
        (minimal(json!({"Attachments": [{"Content": "aGk=", "Filename": "a.bin", "ContentType": "nonsense"}]})).to_string(), "MIME type"),
        (minimal(json!({"Attachments": [{"Content": "aGk=", "Filename": "a.bin", "ContentType": "text/plain\r\nX-Evil: 1"}]})).to_string(), "MIME type"),
        (minimal(json!({"Attachments": [{"Content": "aGk="}]})).to_string(), "invalid JSON"),
    ];
    for (body, says) in &cases {
        let error = lb
            .request_err("POST", "/api/v1/send", Some(body), 400)
            .await;
        assert!(error.contains(says), "{body}: {error}");
    }
    assert_eq!(lb.list().await["total"], 0);
}

#[tokio::test]
async fn over_the_size_limit_is_413() {
    let lb = Letterbox::with_args(&["--max-message-size", "10K"]);
    let big = minimal(json!({
        "Attachments": [{"Content": base64(&[7u8; 12 * 1024]), "Filename": "big.bin"}]
    }));
    let error = lb
        .request_err("POST", "/api/v1/send", Some(&big.to_string()), 413)
        .await;
    assert!(error.contains("10240"), "{error}");
    let text = minimal(json!({"Text": "x".repeat(11 * 1024)}));
    lb.request_err("POST", "/api/v1/send", Some(&text.to_string()), 413)
        .await;
    assert_eq!(lb.list().await["total"], 0);

    let small = minimal(json!({
        "Attachments": [{"Content": base64(&[7u8; 4 * 1024]), "Filename": "small.bin"}]
    }));
    let id = lb.send_api(&small).await;
    assert_eq!(lb.ids().await, [id]);
}

#[tokio::test]
async fn api_and_smtp_mail_share_one_mailbox() {
    let lb = Letterbox::start();
    let by_smtp = lb.send_simple("over SMTP").await;
    let by_api = lb
        .send_api(&minimal(json!({"Subject": "over the API", "Text": "hi"})))
        .await;
    assert_eq!(lb.ids().await, [by_api.as_str(), by_smtp.as_str()]);
    let latest = lb.message("latest").await;
    assert_eq!(latest["ID"], by_api.as_str());
    assert_eq!(latest["Read"], false);
    assert_eq!(latest["Envelope"]["Helo"], Value::Null, "{latest}");
}

#[tokio::test]
async fn an_inline_part_without_html_is_kept() {
    let lb = Letterbox::start();
    let id = lb
        .send_api(&minimal(json!({
            "Text": "see the picture",
            "Attachments": [{"Content": base64(b"GIF89a"), "Filename": "pic.gif", "ContentID": "pic"}]
        })))
        .await;
    let m = lb.message(&id).await;
    let parts: Vec<&Value> = m["Inline"]
        .as_array()
        .into_iter()
        .chain(m["Attachments"].as_array())
        .flatten()
        .collect();
    assert_eq!(parts.len(), 1, "{m}");
    assert_eq!(parts[0]["FileName"], "pic.gif");
    assert_eq!(parts[0]["Size"], 6);
}
