//! Mailpit's JSON shapes, key for key: Mailpit's clients compare whole
//! objects, so an extra key breaks them as surely as a missing one.
//! Letterbox's additions come only with `?additions=1`. Also the plain
//! answers Mailpit gives (`ok`), `OPTIONS`, and `/view/{ID}.html`.

mod common;

use common::Letterbox;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn keys(object: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = object
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {object}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

const SUMMARY_KEYS: [&str; 15] = [
    "Attachments",
    "Bcc",
    "Cc",
    "Created",
    "From",
    "ID",
    "MessageID",
    "Read",
    "ReplyTo",
    "Size",
    "Snippet",
    "Subject",
    "Tags",
    "To",
    "Username",
];

const MESSAGE_KEYS: [&str; 18] = [
    "Attachments",
    "Bcc",
    "Cc",
    "Date",
    "From",
    "HTML",
    "ID",
    "Inline",
    "ListUnsubscribe",
    "MessageID",
    "ReplyTo",
    "ReturnPath",
    "Size",
    "Subject",
    "Tags",
    "Text",
    "To",
    "Username",
];

async fn send_with_attachment(lb: &Letterbox) -> String {
    lb.send_api(&json!({
        "From": {"Email": "app@example.com"},
        "To": [{"Email": "user@example.com"}],
        "Subject": "shapes",
        "Text": "hi",
        // "hello" in base64: its digests are well known.
        "Attachments": [{"Content": "aGVsbG8=", "Filename": "hello.txt"}]
    }))
    .await
}

#[tokio::test]
async fn summaries_and_messages_have_mailpit_keys_only() {
    let lb = Letterbox::start();
    let id = send_with_attachment(&lb).await;

    for path in ["/api/v1/messages", "/api/v1/search?query=shapes"] {
        let list = lb.get_ok(path).await;
        assert_eq!(
            keys(&list),
            [
                "count",
                "messages",
                "messages_count",
                "messages_unread",
                "start",
                "tags",
                "total",
                "unread"
            ],
            "{path}"
        );
        assert_eq!(keys(&list["messages"][0]), SUMMARY_KEYS, "{path}");
        let with = lb
            .get_ok(&format!(
                "{path}{}additions=1",
                if path.contains('?') { "&" } else { "?" }
            ))
            .await;
        assert_eq!(with["messages"][0]["Inbox"], "default", "{path}");
    }

    let message = lb.get_ok(&format!("/api/v1/message/{id}")).await;
    assert_eq!(keys(&message), MESSAGE_KEYS);
    assert_eq!(
        message["Attachments"][0]["Checksums"],
        json!({
            "MD5": "5d41402abc4b2a76b9719d911017c592",
            "SHA1": "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
            "SHA256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        })
    );
    assert_eq!(
        keys(&message["Attachments"][0]),
        [
            "Checksums",
            "ContentID",
            "ContentType",
            "FileName",
            "PartID",
            "Size"
        ]
    );

    let with = lb
        .get_ok(&format!("/api/v1/message/{id}?additions=1"))
        .await;
    let mut expected: Vec<&str> = MESSAGE_KEYS.to_vec();
    expected.extend(["Created", "Envelope", "Inbox", "Problems", "Read"]);
    expected.sort_unstable();
    assert_eq!(keys(&with), expected);
    assert_eq!(with["Envelope"]["MailFrom"], "app@example.com");
}

#[tokio::test]
async fn webui_has_mailpit_keys() {
    let lb = Letterbox::start();
    let webui = lb.get_ok("/api/v1/webui").await;
    assert_eq!(
        keys(&webui),
        [
            "ChaosEnabled",
            "DuplicatesIgnored",
            "HideDeleteAllButton",
            "Label",
            "MessageRelay",
            "SpamAssassin"
        ]
    );
    assert_eq!(
        keys(&webui["MessageRelay"]),
        [
            "AllowedRecipients",
            "BlockedRecipients",
            "Enabled",
            "OverrideFrom",
            "PreserveMessageIDs",
            "RecipientAllowlist",
            "ReturnPath",
            "SMTPServer"
        ]
    );
}

/// What a Mailpit client PUTs is what it gets back, from PUT and GET.
#[tokio::test]
async fn chaos_echoes_what_was_put() {
    let lb = Letterbox::start();
    let triggers = json!({
        "Authentication": {"ErrorCode": 451, "Probability": 5},
        "Recipient": {"ErrorCode": 452, "Probability": 10},
        "Sender": {"ErrorCode": 453, "Probability": 15},
    });
    let (status, put) = lb
        .request_json("PUT", "/api/v1/chaos", Some(&triggers.to_string()))
        .await;
    assert_eq!((status, &put), (200, &triggers));
    assert_eq!(lb.get_ok("/api/v1/chaos").await, triggers);

    // Letterbox's triggers appear beside them once set.
    let more = json!({"Data": {"ErrorCode": 451, "Probability": 0, "Delay": 10}});
    let (status, put) = lb
        .request_json("PUT", "/api/v1/chaos", Some(&more.to_string()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(put["Data"], more["Data"]);
    assert_eq!(put["Sender"], json!({"ErrorCode": 451, "Probability": 0}));
}

/// A request as the `mailhog` npm client (Node's `http.request`) sends it:
/// no `Accept`, no `User-Agent`, no body; `extra` header lines added. The
/// status line and the body.
async fn bare_request(lb: &Letterbox, method: &str, path: &str, extra: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(lb.http_addr)
        .await
        .expect("connects");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{extra}\r\n",
        lb.http_addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a response");
    let status = head.lines().next().unwrap_or_default().to_string();
    (status, body.to_string())
}

#[tokio::test]
async fn changes_answer_ok_except_to_the_mailhog_client() {
    let lb = Letterbox::start();
    let id = lb.send_simple("one").await;
    for (method, path, body) in [
        (
            "PUT",
            "/api/v1/messages",
            json!({"IDs": [id], "Read": true}),
        ),
        ("PUT", "/api/v1/tags", json!({"IDs": [id], "Tags": ["a"]})),
        ("PUT", "/api/v1/tags/a", json!({"Name": "b"})),
        ("DELETE", "/api/v1/tags/b", Value::Null),
        ("DELETE", "/api/v1/search?query=subject:one", Value::Null),
    ] {
        let body = (!body.is_null()).then(|| body.to_string());
        let (status, text) = lb.request(method, path, body.as_deref()).await;
        assert_eq!((status, text.as_str()), (200, "ok"), "{method} {path}");
    }
    lb.send_simple("two").await;
    assert_eq!(lb.delete_messages(None).await, (200, "ok".to_string()));

    // MailHog answers its `DELETE` with nothing, and its client parses
    // any body as JSON.
    lb.send_simple("three").await;
    let (status, body) = bare_request(&lb, "DELETE", "/api/v1/messages", "").await;
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(body, "", "no body for a client that sends no Accept");
    assert_eq!(lb.list().await["total"], 0);
    // Go's client sends a User-Agent and no Accept: it gets Mailpit's `ok`.
    let go = "User-Agent: Go-http-client/1.1\r\n";
    let (status, body) = bare_request(&lb, "DELETE", "/api/v1/messages", go).await;
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(body, "ok");
}

#[tokio::test]
async fn options_on_api_paths_is_200() {
    let lb = Letterbox::start();
    for path in ["/api/v1/messages", "/api/v1/send", "/api/v1/message/latest"] {
        let (status, _) = bare_request(&lb, "OPTIONS", path, "").await;
        assert!(status.contains(" 200 "), "{path}: {status}");
    }
}

/// `/view/{ID}.html` is the HTML as sent; with `embed=1` its links open in
/// a new tab, as Mailpit's do, and still no script may run.
#[tokio::test]
async fn the_html_view_is_as_sent_and_embeds_links() {
    let lb = Letterbox::start();
    let html = "<div>\n  <p>Two\n lines</p>\n  <a href=\"https://example.test\" target=\"_self\">Link</a></div>";
    lb.send_api(&json!({
        "From": {"Email": "app@example.com"},
        "To": [{"Email": "user@example.com"}],
        "HTML": html
    }))
    .await;
    let view = lb.get("/view/latest.html").await;
    assert_eq!(view.status(), 200);
    assert!(view.text().await.unwrap().contains(html));

    let embedded = lb.get("/view/latest.html?embed=1").await;
    let policy = embedded.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        policy.contains("sandbox") && !policy.contains("script"),
        "{policy}"
    );
    let text = embedded.text().await.unwrap();
    assert!(
        text.contains(
            r#"<a href="https://example.test" target="_blank" rel="noreferrer noopener">"#
        ),
        "{text}"
    );
    assert!(!text.contains("_self"), "{text}");
}
