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
