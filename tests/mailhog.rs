//! MailHog's API shapes (`/api/v2/messages`, `/api/v2/search`,
//! `/api/v1/messages/{id}` and its download and delete).

mod common;

use common::Letterbox;

const MIXED: &str = "From: Ann <ann@example.test>\r\nTo: bob@example.test\r\nSubject: Report\r\n\
Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n\
Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nplain body\r\n--inner\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n<p>html body</p>\r\n--inner--\r\n--outer\r\n\
Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--outer--\r\n";

#[tokio::test]
async fn v2_list_has_mailhog_shapes() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw(
            "sender@example.test",
            &["bob@example.test", "hidden@example.test"],
            MIXED.as_bytes(),
        )
        .await;
    let list = lb.get_ok("/api/v2/messages?limit=10").await;
    assert_eq!(
        (
            list["total"].as_u64(),
            list["count"].as_u64(),
            list["start"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );
    let m = &list["items"][0];
    assert_eq!(m["ID"], id);
    assert_eq!(m["From"]["Mailbox"], "sender");
    assert_eq!(m["From"]["Domain"], "example.test");
    assert_eq!(m["To"][1]["Mailbox"], "hidden");
    assert_eq!(m["Content"]["Headers"]["Subject"][0], "Report");
    // As MailHog keeps it: without the line break before the end of data.
    assert_eq!(m["Raw"]["Data"], MIXED.strip_suffix("\r\n").unwrap());
    assert_eq!(m["Raw"]["Helo"], "client.example.com");
    // Every leaf part, nested alternative included.
    let parts = m["MIME"]["Parts"].as_array().unwrap();
    let types: Vec<_> = parts
        .iter()
        .map(|p| p["Headers"]["Content-Type"][0].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "text/plain; charset=utf-8",
            "text/html; charset=utf-8",
            "application/pdf"
        ]
    );
    assert_eq!(parts[0]["Body"], "plain body");
    assert_eq!(
        parts[2]["Headers"]["Content-Disposition"][0],
        "attachment; filename=\"r.pdf\""
    );
    assert_eq!(parts[2]["Body"], "JVBERg==");
}

#[tokio::test]
async fn v2_search_kinds() {
    let lb = Letterbox::start();
    lb.send_raw(
        "a@example.test",
        &["bob@example.test", "hidden@example.test"],
        MIXED.as_bytes(),
    )
    .await;
    lb.send_simple("other").await;
    for (kind, query, expected) in [
        ("from", "ann@example", 1),
        ("to", "hidden@", 1),
        ("to", "bob@example.test", 1),
        ("containing", "html body", 1),
        ("containing", "nothing-like-this", 0),
    ] {
        let result = lb
            .get_ok(&format!("/api/v2/search?kind={kind}&query={query}"))
            .await;
        assert_eq!(result["total"], expected, "{kind}={query}: {result}");
    }
    let (status, body) = lb.get_json("/api/v2/search?kind=subject&query=x").await;
    assert_eq!(status, 400);
    assert!(body["Error"].as_str().unwrap().contains("kind must be"));
}

#[tokio::test]
async fn v1_message_download_and_delete() {
    let lb = Letterbox::start();
    let id = lb.send_simple("one").await;
    let message = lb.get_ok(&format!("/api/v1/messages/{id}")).await;
    assert_eq!(message["ID"], id);
    assert!(
        message["MIME"].is_null(),
        "a single-part message has no MIME parts"
    );

    let download = lb.get(&format!("/api/v1/messages/{id}/download")).await;
    assert_eq!(download.headers()["content-type"], "message/rfc822");
    assert_eq!(
        download.headers()["content-disposition"],
        format!("attachment; filename=\"{id}.eml\"").as_str()
    );
    assert_eq!(download.bytes().await.unwrap().to_vec(), lb.raw(&id).await);

    let deleted = reqwest::Client::new()
        .delete(lb.url(&format!("/api/v1/messages/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert!(deleted.text().await.unwrap().is_empty());
    let (status, _) = lb.get_json(&format!("/api/v1/messages/{id}")).await;
    assert_eq!(status, 404);
    let again = reqwest::Client::new()
        .delete(lb.url(&format!("/api/v1/messages/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
}

/// MailHog's `containing` looks in the raw source: an encoded form (what
/// the `mailhog` client's own suite searches for) matches.
#[tokio::test]
async fn containing_matches_the_raw_source() {
    let lb = Letterbox::start();
    let encoded = "From: a@example.test\r\nTo: b@example.test\r\nSubject: =?UTF-8?Q?=C3=BC=C3=A4=C3=B6?=\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=C3=BC=C3=A4=C3=B6\r\n";
    let id = lb
        .send_raw("a@example.test", &["b@example.test"], encoded.as_bytes())
        .await;
    lb.send_simple("other").await;
    for query in [
        "=C3=BC=C3=A4=C3=B6",
        "=c3=bc",
        "Content-Transfer-Encoding: QUOTED",
    ] {
        let result = lb
            .get_ok(&format!(
                "/api/v2/search?kind=containing&query={}",
                query.replace('=', "%3D").replace(' ', "%20")
            ))
            .await;
        assert_eq!(
            (result["total"].as_u64(), result["count"].as_u64()),
            (Some(1), Some(1)),
            "{query}: {result}"
        );
        assert_eq!(result["items"][0]["ID"], id.as_str());
    }
}

/// A release in MailHog's shape to Letterbox's own SMTP listener stores
/// the message again for the new recipient; any other host is refused
/// before anything connects, with the settings that choose the targets.
#[tokio::test]
async fn release_goes_only_where_the_configuration_says() {
    let lb = Letterbox::start();
    let id = lb.send_simple("to release").await;
    let port = lb.smtp_addr.port();
    let release = |body: serde_json::Value| {
        lb.client()
            .post(lb.url(&format!("/api/v1/messages/{id}/release")))
            .body(body.to_string())
            .send()
    };

    let response = release(serde_json::json!({"host": "localhost", "port": port.to_string(), "email": "again@example.test"}))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "", "MailHog's empty answer");
    let list = lb.list().await;
    assert_eq!(list["total"], 2, "{list}");
    let copy = lb
        .message(list["messages"][0]["ID"].as_str().unwrap())
        .await;
    assert_eq!(
        copy["Envelope"]["RcptTo"],
        serde_json::json!(["again@example.test"])
    );
    assert_eq!(copy["Subject"], "to release");

    for (host, port) in [
        ("127.0.0.1", "25".to_string()),
        ("192.0.2.1", port.to_string()),
        ("example.com", "25".to_string()),
    ] {
        let response =
            release(serde_json::json!({"Host": host, "Port": port, "Email": "x@example.test"}))
                .await
                .unwrap();
        assert_eq!(response.status(), 400, "{host}:{port}");
        let error: serde_json::Value = response.json().await.unwrap();
        let text = error["Error"].as_str().unwrap();
        assert!(
            text.contains("--smtp") && text.contains("--relay-host"),
            "{text}"
        );
    }
    assert_eq!(lb.list().await["total"], 2);
}

/// Peak resident memory of a process (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("a VmHWM line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM in kB");
    kib * 1024
}

/// Reads a whole response without keeping it; its first and last bytes.
async fn drain(response: reqwest::Response) -> (String, String) {
    let mut response = response;
    let mut head = Vec::new();
    let mut tail = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("the body") {
        if head.len() < 64 {
            head.extend_from_slice(&chunk[..chunk.len().min(64)]);
        }
        tail.extend_from_slice(&chunk);
        let keep = tail.len().saturating_sub(64);
        tail.drain(..keep);
    }
    (
        String::from_utf8_lossy(&head).into_owned(),
        String::from_utf8_lossy(&tail).into_owned(),
    )
}

/// Lists embed whole messages: six large ones stored, the server's peak
/// memory while serving them stays within a bound set by
/// `--max-message-size` (the list is written one message at a time), not
/// by what is stored.
#[tokio::test]
async fn lists_of_large_messages_take_bounded_memory() {
    if !std::path::Path::new("/proc/self/clear_refs").exists() {
        eprintln!("SKIPPED: needs Linux's /proc to measure peak memory");
        return;
    }
    const MAX: u64 = 10 << 20;
    let lb = Letterbox::with_args(&["--max-message-size", "10M"]);
    let line = "All work and no play makes Jack a dull boy.\r\n";
    let mut message =
        String::from("From: a@example.test\r\nTo: b@example.test\r\nSubject: big\r\n\r\n");
    while message.len() < 9 << 20 {
        message.push_str(line);
    }
    for _ in 0..6 {
        lb.send_raw("a@example.test", &["b@example.test"], message.as_bytes())
            .await;
    }
    for path in [
        "/api/v2/messages",
        "/api/v2/search?kind=containing&query=jack",
        "/api/v2/search?kind=to&query=b@example.test",
    ] {
        // Peak memory from now on: "5" resets VmHWM to the current RSS.
        std::fs::write(format!("/proc/{}/clear_refs", lb.pid()), "5").expect("clear_refs");
        let before = peak_rss(lb.pid());
        // 54 MB of JSON from a debug build takes seconds, and far longer
        // on a loaded machine: this test bounds memory, not time.
        let response = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(300))
            .build()
            .expect("an HTTP client")
            .get(lb.url(path))
            .send()
            .await
            .expect(path);
        assert_eq!(response.status(), 200, "{path}");
        let (head, tail) = drain(response).await;
        // Six messages listed (`count` may come first or, streamed, last).
        assert!(head.starts_with(r#"{"total":6,"#), "{path}: {head}");
        assert!(
            head.contains(r#""count":6,"#) || tail.ends_with(r#"],"count":6}"#),
            "{path}: {head} ... {tail}"
        );
        let grew = peak_rss(lb.pid()).saturating_sub(before);
        eprintln!("{path}: peak memory grew by {} KiB", grew >> 10);
        // One message read (decompressed into a buffer that may double),
        // with a copy for `containing`, and room for the allocator: about
        // 20 MB measured, where embedding all six took 230 MB.
        assert!(
            grew < 4 * MAX,
            "{path}: the peak memory grew by {} MB serving the list (bound {} MB)",
            grew >> 20,
            (4 * MAX) >> 20
        );
    }
}

#[tokio::test]
async fn a_body_is_shown_without_the_line_break_that_ended_the_data() {
    // What mailhog-node's suite checks of `text content\r\n.\r\n`.
    let lb = Letterbox::start();
    lb.send_raw(
        "a@example.test",
        &["b@example.test"],
        b"Subject: Mail without charset\r\n\r\ntext content\r\n",
    )
    .await;
    let list = lb.get_ok("/api/v2/messages").await;
    assert_eq!(list["items"][0]["Content"]["Body"], "text content");
}
