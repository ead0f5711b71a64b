//! The Mailpit-shaped HTTP API: listing, reading, deleting, errors, info
//! and probes.

mod common;

use common::{Letterbox, ids_of, queued_id, simple_message};
use serde_json::{Value, json};

/// The IDs of the page at `query`, checking the page's counters.
async fn page(lb: &Letterbox, query: &str, total: u64, start: u64) -> Vec<String> {
    let list = lb.get_ok(&format!("/api/v1/messages?{query}")).await;
    let ids = ids_of(&list);
    assert_eq!(list["total"], total, "{query}: {list}");
    assert_eq!(list["messages_count"], total, "{query}");
    assert_eq!(list["unread"], total, "{query}");
    assert_eq!(list["messages_unread"], total, "{query}");
    assert_eq!(list["start"], start, "{query}");
    assert_eq!(list["count"], ids.len(), "{query}");
    assert_eq!(list["tags"], json!([]), "{query}");
    ids
}

/// Asserts a JSON error response: the status and an `Error` string.
#[track_caller]
fn assert_error(status: u16, body: &Value, expected: u16) {
    assert_eq!(status, expected, "{body}");
    assert!(
        body["Error"].as_str().is_some_and(|e| !e.is_empty()),
        "no Error text in {body}"
    );
}

#[tokio::test]
async fn pagination_newest_first() {
    let lb = Letterbox::start();
    let ids = lb.send_numbered(5).await;
    let newest: Vec<String> = ids.iter().rev().cloned().collect();

    assert_eq!(page(&lb, "", 5, 0).await, newest);
    assert_eq!(page(&lb, "start=0&limit=2", 5, 0).await, newest[0..2]);
    assert_eq!(page(&lb, "start=2&limit=2", 5, 2).await, newest[2..4]);
    assert_eq!(page(&lb, "start=4&limit=2", 5, 4).await, newest[4..]);
    assert!(page(&lb, "start=5&limit=2", 5, 5).await.is_empty());
    assert!(page(&lb, "start=1000", 5, 1000).await.is_empty());
    assert_eq!(page(&lb, "limit=0", 5, 0).await, newest, "0 = default");
    assert_eq!(page(&lb, "limit=999999", 5, 0).await, newest);
    assert_eq!(page(&lb, "start=&limit=", 5, 0).await, newest);
}

#[tokio::test]
async fn list_entries_have_the_mailpit_shape() {
    let lb = Letterbox::start();
    let id = lb.send_simple("shape").await;
    let list = lb.list().await;
    let entry = &list["messages"][0];
    let mut keys: Vec<&str> = entry
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "Attachments",
            "Bcc",
            "Cc",
            "Created",
            "From",
            "ID",
            // A Letterbox addition: the message's inbox.
            "Inbox",
            "MessageID",
            "Read",
            "ReplyTo",
            "Size",
            "Snippet",
            "Subject",
            "Tags",
            "To",
            "Username"
        ]
    );
    assert_eq!(entry["ID"], id);
    assert_eq!(entry["MessageID"], "shape@tests.example.com");
    assert_eq!(entry["Read"], false);
    assert_eq!(
        entry["From"],
        json!({"Name": "Sender", "Address": "sender@example.com"})
    );
    assert_eq!(
        entry["To"],
        json!([{"Name": "Recipient", "Address": "rcpt@example.com"}])
    );
    assert_eq!(entry["Subject"], "shape");
    assert_eq!(
        entry["Size"],
        simple_message("shape", "Hello from the tests.").len()
    );
    assert_eq!(entry["Attachments"], 0);
    assert_eq!(entry["Snippet"], "Hello from the tests.");
    assert_eq!(entry["Username"], "");
    assert_eq!(entry["Tags"], json!([]));
    let created = entry["Created"].as_str().expect("Created is a string");
    assert!(
        created.len() == 24 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "not RFC 3339 with milliseconds: {created}"
    );
}

#[tokio::test]
async fn the_page_size_is_capped_at_1000() {
    const CONNECTIONS: usize = 4;
    const EACH: usize = 251;
    let lb = Letterbox::start();
    // Pipelined BDAT transactions on a few connections at once.
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CONNECTIONS {
        let addr = lb.smtp_addr;
        tasks.spawn(async move {
            let mut smtp = common::Smtp::connect(addr).await;
            smtp.ehlo().await;
            let mut script = Vec::new();
            for n in 0..EACH {
                let body = format!("Subject: bulk {c}.{n}\r\n\r\nx\r\n");
                script.extend_from_slice(
                    format!(
                        "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nBDAT {} LAST\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
            smtp.send(&script).await;
            for _ in 0..EACH {
                smtp.reply().await.assert(250, "2.1.0");
                smtp.reply().await.assert(250, "2.1.5");
                queued_id(&smtp.reply().await);
            }
            smtp.quit().await;
        });
    }
    tasks.join_all().await;
    let total = CONNECTIONS * EACH;
    assert!(total > 1000);

    let all = lb.get_ok("/api/v1/messages?limit=5000").await;
    assert_eq!(all["total"], total);
    assert_eq!(all["count"], 1000);
    let rest = lb.get_ok("/api/v1/messages?start=1000&limit=1000").await;
    assert_eq!(rest["count"], total - 1000);
    let mut ids = ids_of(&all);
    ids.extend(ids_of(&rest));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total, "pages overlap or miss messages");
}

#[tokio::test]
async fn bad_paging_parameters_get_400_json() {
    let lb = Letterbox::start();
    for query in ["limit=abc", "limit=-1", "limit=1.5", "start=x", "start=-3"] {
        let (status, body) = lb.get_json(&format!("/api/v1/messages?{query}")).await;
        assert_error(status, &body, 400);
        let name = query.split('=').next().expect("a name");
        assert!(
            body["Error"].as_str().is_some_and(|e| e.contains(name)),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn a_huge_start_is_not_a_server_error() {
    let lb = Letterbox::start();
    lb.send_simple("one").await;
    for start in ["9223372036854775808", "18446744073709551615"] {
        let (status, body) = lb
            .get_json(&format!("/api/v1/messages?start={start}"))
            .await;
        match status {
            200 => assert_eq!(body["messages"], json!([]), "{body}"),
            _ => assert_error(status, &body, 400),
        }
    }
}

#[tokio::test]
async fn latest_and_missing_messages() {
    let lb = Letterbox::start();
    let (status, body) = lb.get_json("/api/v1/message/latest").await;
    assert_error(status, &body, 404);

    let ids = lb.send_numbered(3).await;
    let latest = lb.message("latest").await;
    assert_eq!(latest["ID"], ids[2]);
    assert_eq!(latest["Subject"], "m2");
    let raw = lb.raw("latest").await;
    assert_eq!(raw, simple_message("m2", "Hello from the tests."));

    let missing = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    for path in [
        format!("/api/v1/message/{missing}"),
        format!("/api/v1/message/{missing}/headers"),
        format!("/api/v1/message/{missing}/raw"),
        "/api/v1/message/not-an-id".to_string(),
        "/api/v1/no-such-endpoint".to_string(),
        "/nothing/here".to_string(),
    ] {
        let (status, body) = lb.get_json(&path).await;
        assert_error(status, &body, 404);
    }
}

const MULTIPART: &str = "From: \"Ann Example\" <ann@example.com>\r\n\
To: bob@example.com, \"Carol C\" <carol@example.com>\r\n\
Cc: dave@example.com\r\n\
Reply-To: replies@example.com\r\n\
Subject: =?UTF-8?Q?Caf=C3=A9?= report\r\n\
Message-ID: <report-1@example.com>\r\n\
Date: Tue, 01 Jul 2025 10:00:00 +0000\r\n\
x-custom-header: first\r\n\
X-CUSTOM-HEADER: second\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
--outer\r\n\
Content-Type: multipart/related; boundary=\"rel\"\r\n\
\r\n\
--rel\r\n\
Content-Type: multipart/alternative; boundary=\"alt\"\r\n\
\r\n\
--alt\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Plain body text.\r\n\
--alt\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>HTML body <img src=\"cid:logo@example.com\"></p>\r\n\
--alt--\r\n\
--rel\r\n\
Content-Type: image/png; name=\"logo.png\"\r\n\
Content-ID: <logo@example.com>\r\n\
Content-Disposition: inline; filename=\"logo.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
iVBORw0KGgo=\r\n\
--rel--\r\n\
--outer\r\n\
Content-Type: application/pdf; name=\"report.pdf\"\r\n\
Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--outer--\r\n";

#[tokio::test]
async fn a_full_message() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw(
            "bounce@example.com",
            &["bob@example.com", "hidden@example.com"],
            MULTIPART.as_bytes(),
        )
        .await;
    let m = lb.message(&id).await;
    assert_eq!(m["ID"], id);
    assert_eq!(m["MessageID"], "report-1@example.com");
    assert_eq!(m["Subject"], "Café report");
    assert_eq!(
        m["From"],
        json!({"Name": "Ann Example", "Address": "ann@example.com"})
    );
    assert_eq!(
        m["To"],
        json!([
            {"Name": "", "Address": "bob@example.com"},
            {"Name": "Carol C", "Address": "carol@example.com"}
        ])
    );
    assert_eq!(
        m["Cc"],
        json!([{"Name": "", "Address": "dave@example.com"}])
    );
    // The envelope recipient no header names got a blind copy.
    assert_eq!(
        m["Bcc"],
        json!([{"Name": "", "Address": "hidden@example.com"}])
    );
    assert_eq!(
        m["ReplyTo"],
        json!([{"Name": "", "Address": "replies@example.com"}])
    );
    assert_eq!(m["ReturnPath"], "bounce@example.com");
    assert_eq!(m["Read"], false);
    assert_eq!(m["Size"], MULTIPART.len());
    assert_eq!(
        m["Text"].as_str().map(str::trim_end),
        Some("Plain body text.")
    );
    assert!(
        m["HTML"]
            .as_str()
            .is_some_and(|h| h.contains("<p>HTML body <img src=\"cid:logo@example.com\"></p>")),
        "{}",
        m["HTML"]
    );
    assert_eq!(m["Attachments"].as_array().map(Vec::len), Some(1), "{m}");
    let attachment = &m["Attachments"][0];
    assert_eq!(attachment["FileName"], "report.pdf");
    assert_eq!(attachment["ContentType"], "application/pdf");
    assert_eq!(attachment["ContentID"], "");
    assert_eq!(attachment["Size"], 9, "decoded size of %PDF-1.4\\n");
    assert!(attachment["PartID"].as_str().is_some_and(|p| !p.is_empty()));
    assert_eq!(m["Inline"].as_array().map(Vec::len), Some(1), "{m}");
    let inline = &m["Inline"][0];
    assert_eq!(inline["FileName"], "logo.png");
    assert_eq!(inline["ContentType"], "image/png");
    assert_eq!(inline["ContentID"], "logo@example.com");
    assert_ne!(inline["PartID"], attachment["PartID"]);

    let envelope = &m["Envelope"];
    let rcpts = ["bob@example.com", "hidden@example.com"];
    common::assert_plain_envelope(envelope, "bounce@example.com", &rcpts);
    assert_eq!(envelope["AuthUser"], Value::Null);
    assert_eq!(envelope["SMTPUTF8"], false);
    assert!(envelope["Transcript"].is_array());

    let summary = &lb.list().await["messages"][0];
    assert_eq!(summary["Attachments"], 1);
    assert_eq!(summary["Snippet"], "Plain body text.");
}

#[tokio::test]
async fn headers_use_canonical_keys_and_keep_every_value() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw("a@example.com", &["b@example.com"], MULTIPART.as_bytes())
        .await;
    let headers = lb.get_ok(&format!("/api/v1/message/{id}/headers")).await;
    assert_eq!(headers["X-Custom-Header"], json!(["first", "second"]));
    assert_eq!(headers["Subject"], json!(["Café report"]));
    assert_eq!(headers["Message-Id"], json!(["<report-1@example.com>"]));
    assert_eq!(headers["Mime-Version"], json!(["1.0"]));
    assert_eq!(headers["Reply-To"], json!(["replies@example.com"]));
    assert!(headers.get("x-custom-header").is_none(), "{headers}");
    // Only the top-level header block.
    assert!(headers.get("Content-Id").is_none(), "{headers}");
}

#[tokio::test]
async fn raw_and_download() {
    let lb = Letterbox::start();
    // Bytes that are not UTF-8 come back untouched.
    let data = b"Subject: raw\r\n\r\nLatin-1: caf\xe9\r\n\x00\x01\xff\r\n";
    let id = lb.send_raw("a@example.com", &["b@example.com"], data).await;

    let response = lb.get(&format!("/api/v1/message/{id}/raw")).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert!(headers.get("content-disposition").is_none());
    assert_eq!(response.bytes().await.expect("the body"), &data[..]);

    let response = lb.get(&format!("/api/v1/message/{id}/raw?dl=1")).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "message/rfc822");
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"{id}.eml\"").as_str()
    );
    assert_eq!(response.bytes().await.expect("the body"), &data[..]);
}

/// A forwarded `.eml` attached as a file: one attachment in the index (as
/// Mailpit lists it), and each of its own parts still served by its ID.
#[tokio::test]
async fn each_part_of_an_attached_message_is_served_on_its_own() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw(
            "ann@example.com",
            &["bob@example.com"],
            b"Subject: Fwd: the report\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nForwarded.\r\n\
--b\r\nContent-Type: message/rfc822\r\n\
Content-Disposition: attachment; filename=\"report.eml\"\r\n\r\n\
From: Carol <carol@example.com>\r\nSubject: The report\r\n\
Content-Type: multipart/mixed; boundary=c\r\n\r\n\
--c\r\nContent-Type: text/plain\r\n\r\nNumbers.\r\n\
--c\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"chart.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--c--\r\n\
--b--\r\n",
        )
        .await;
    let message = lb.message(&id).await;
    assert_eq!(message["Attachments"].as_array().unwrap().len(), 1);
    assert_eq!(message["Attachments"][0]["PartID"], "2");

    let response = lb.get(&format!("/api/v1/message/{id}/part/2.1")).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(response.text().await.unwrap(), "Numbers.");

    let response = lb.get(&format!("/api/v1/message/{id}/part/2.2?dl=1")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"chart.png\"; filename*=UTF-8''chart.png"
    );
    assert_eq!(&response.bytes().await.unwrap()[..], b"\x89PNG\r\n\x1a\n");

    for missing in ["2.3", "2.1.1", "3.1", "1.1"] {
        let (status, body) = lb
            .get_json(&format!("/api/v1/message/{id}/part/{missing}"))
            .await;
        assert_eq!(status, 404, "{missing}: {body}");
    }
    let (status, _) = lb.get_json(&format!("/api/v1/message/{id}/part/2.0")).await;
    assert_eq!(status, 404, "a container has no content of its own");
}

#[tokio::test]
async fn reading_does_not_mark_as_read() {
    let lb = Letterbox::start();
    let id = lb.send_simple("unread").await;
    lb.message(&id).await;
    lb.message("latest").await;
    lb.raw(&id).await;
    lb.get_ok(&format!("/api/v1/message/{id}/headers")).await;
    let list = lb.list().await;
    assert_eq!(list["messages"][0]["Read"], false);
    assert_eq!(list["unread"], 1);
    assert_eq!(lb.message(&id).await["Read"], false);
    assert_eq!(lb.get_ok("/api/v1/info").await["Unread"], 1);
}

#[tokio::test]
async fn delete_by_ids() {
    let lb = Letterbox::start();
    let ids = lb.send_numbered(4).await;
    let body = json!({"IDs": [ids[0], ids[2], "01ARZ3NDEKTSV4RRFFQ69G5FAV"]}).to_string();
    let (status, text) = lb.delete_messages(Some(&body)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(lb.ids().await, [ids[3].clone(), ids[1].clone()]);
    let (status, _) = lb.get_json(&format!("/api/v1/message/{}", ids[0])).await;
    assert_eq!(status, 404);
    let info = lb.get_ok("/api/v1/info").await;
    assert_eq!(info["Messages"], 2);
    assert_eq!(info["RuntimeStats"]["MessagesDeleted"], 2);
}

#[tokio::test]
async fn delete_everything() {
    let lb = Letterbox::start();
    for body in [
        None,
        Some(""),
        Some("  \n"),
        Some("{}"),
        Some(r#"{"IDs": []}"#),
    ] {
        lb.send_numbered(2).await;
        let (status, text) = lb.delete_messages(body).await;
        assert_eq!(status, 200, "{body:?}: {text}");
        assert_eq!(lb.list().await["total"], 0, "{body:?}");
    }
    let info = lb.get_ok("/api/v1/info").await;
    assert_eq!(info["RuntimeStats"]["MessagesDeleted"], 10);
    // Deleting from an empty store is fine too.
    assert_eq!(lb.delete_messages(None).await.0, 200);
    // And the store keeps working afterwards.
    let id = lb.send_simple("after").await;
    assert_eq!(lb.ids().await, [id]);
}

#[tokio::test]
async fn an_unreadable_delete_request_deletes_nothing() {
    let lb = Letterbox::start();
    let ids = lb.send_numbered(2).await;
    for body in [
        "{",
        "not json",
        r#"{"IDs": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}"#,
        r#"{"IDs": [1, 2]}"#,
        "null",
    ] {
        let (status, text) = lb.delete_messages(Some(body)).await;
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{body}: error body is not JSON ({e}): {text}"));
        assert_error(status, &json, 400);
        assert_eq!(lb.ids().await.len(), ids.len(), "{body} deleted messages");
    }
}

#[tokio::test]
async fn a_delete_request_with_misnamed_ids_does_not_delete_everything() {
    let lb = Letterbox::start();
    let ids = lb.send_numbered(3).await;
    // Mailpit (Go's encoding/json) matches `ids` to `IDs` and deletes just
    // that message; refusing the body would be safe too. Deleting all is not.
    for body in [json!({"ids": [ids[0]]}).to_string(), "[]".to_string()] {
        let (status, text) = lb.delete_messages(Some(&body)).await;
        assert!(status == 200 || status == 400, "{body}: {status} {text}");
        let left = lb.ids().await;
        assert!(
            left.contains(&ids[1]) && left.contains(&ids[2]),
            "{body} deleted unrelated messages; left: {left:?}"
        );
    }
}

#[tokio::test]
async fn info_counts() {
    let lb = Letterbox::start();
    let info = lb.get_ok("/api/v1/info").await;
    assert_eq!(info["Version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["Messages"], 0);
    assert_eq!(info["Unread"], 0);
    assert_eq!(info["RuntimeStats"]["SMTPAccepted"], 0);

    let ids = lb.send_numbered(3).await;
    let mut size = 0;
    for id in &ids {
        size += lb.raw(id).await.len();
    }
    // A refused message is not counted as accepted.
    let mut smtp = lb.smtp().await;
    smtp.ehlo().await;
    smtp.cmd("MAIL FROM:<a@example.com>")
        .await
        .assert(250, "2.1.0");
    smtp.cmd("RCPT TO:<>").await.assert(501, "5.1.3");
    smtp.cmd("DATA").await.assert(554, "5.5.1");
    smtp.quit().await;

    let info = lb.get_ok("/api/v1/info").await;
    assert_eq!(info["Messages"], 3);
    assert_eq!(info["Unread"], 3);
    assert!(
        info["DatabaseSize"].as_u64().is_some_and(|n| n > 0),
        "{info}"
    );
    assert!(
        info["Database"]
            .as_str()
            .is_some_and(|p| p.ends_with("letterbox.db")),
        "{info}"
    );
    let stats = &info["RuntimeStats"];
    assert_eq!(stats["SMTPAccepted"], 3);
    assert_eq!(stats["SMTPAcceptedSize"], size);
    assert_eq!(stats["SMTPRejected"], 0);
    assert_eq!(stats["MessagesDeleted"], 0);
    assert!(stats["Uptime"].is_u64());
}

#[tokio::test]
async fn probes() {
    let lb = Letterbox::start();
    for (path, body) in [("/livez", "ok"), ("/readyz", "ready")] {
        let response = lb.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await.expect("a body"), body);
    }
}

#[tokio::test]
async fn every_response_says_nosniff() {
    let lb = Letterbox::start();
    let id = lb.send_simple("headers").await;
    for path in [
        "/api/v1/messages".to_string(),
        format!("/api/v1/message/{id}"),
        format!("/api/v1/message/{id}/raw"),
        format!("/api/v1/message/{id}/raw?dl=1"),
        "/api/v1/message/01ARZ3NDEKTSV4RRFFQ69G5FAV".to_string(),
        "/api/v1/messages?limit=x".to_string(),
        "/api/v1/info".to_string(),
        "/livez".to_string(),
        "/readyz".to_string(),
        "/no/such/page".to_string(),
    ] {
        let response = lb.get(&path).await;
        let headers = response.headers();
        assert_eq!(
            headers.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{path}"
        );
        assert_eq!(
            headers.get("x-frame-options").map(|v| v.as_bytes()),
            Some(&b"DENY"[..]),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_message_sent_with_bare_lf_is_shown() {
    // The API reads whatever line endings the message came with.
    let lb = Letterbox::start();
    let data = b"From: a@example.com\nSubject: bare lf\n\nline one\nline two\n";
    let id = lb.send_raw("a@example.com", &["b@example.com"], data).await;
    let m = lb.message(&id).await;
    assert_eq!(m["Subject"], "bare lf");
    assert_eq!(m["Text"], "line one\nline two\n");
    assert_eq!(lb.raw(&id).await, data);
}
