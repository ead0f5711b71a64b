//! `GET /api/v1/wait`: the first match after a cursor, at once if stored,
//! else as soon as it is committed; 408 on timeout; and the races.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::Letterbox;
use letterbox::client::http::encode;
use letterbox::domain::timefmt::{now_millis, rfc3339_millis};
use serde_json::{Value, json};

/// Server-side timeout for waits that must end with a message: long, so a
/// slow machine never turns a pass into a 408.
const LONG: &str = "60s";

/// An HTTP client that outlasts [`LONG`].
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("building the HTTP client")
}

/// `GET /api/v1/wait` with these parameters (values percent-encoded);
/// the status and the JSON body.
async fn wait(client: &reqwest::Client, http: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    let url = format!("{http}/api/v1/wait?{}", query.join("&"));
    let response = client
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    common::json_of(&url, response).await
}

/// A wait that must return a message; its ID.
async fn waited_id(client: &reqwest::Client, http: &str, params: &[(&str, &str)]) -> String {
    let (status, body) = wait(client, http, params).await;
    assert_eq!(status, 200, "{params:?}: {body}");
    body["ID"]
        .as_str()
        .unwrap_or_else(|| panic!("no ID in {body}"))
        .to_string()
}

/// A cursor just before now: the next message to arrive is after it
/// whether or not it lands in the same millisecond as this call.
fn just_before_now() -> String {
    rfc3339_millis(now_millis() - 1)
}

#[tokio::test]
async fn a_match_already_stored_after_the_cursor_is_returned_at_once() {
    let lb = Letterbox::start();
    let http = client();
    let first = lb.send_simple("first").await;
    let one = lb.send_simple("target one").await;
    let two = lb.send_simple("target two").await;
    lb.send_simple("other").await;

    let q = ("query", "subject:target");
    // The oldest match after the cursor, not the newest.
    let lower_case = first.to_ascii_lowercase();
    for (after, expected) in [
        (first.as_str(), &one),
        (lower_case.as_str(), &one),
        (one.as_str(), &two),
        ("2000-01-01T00:00:00Z", &one),
        ("2000-01-01T01:00:00+01:00", &one),
        ("2000-01-01", &one),
    ] {
        let params = [q, ("after", after), ("timeout", LONG)];
        assert_eq!(
            &waited_id(&http, &lb.http, &params).await,
            expected,
            "{after}"
        );
    }
    // No query: any message after the cursor.
    let params = [("after", first.as_str()), ("timeout", LONG)];
    assert_eq!(waited_id(&http, &lb.http, &params).await, one);

    // Nothing matches after `two`, and without `after` the cursor is the
    // moment of the call: stored mail does not count.
    for params in [
        &[q, ("after", two.as_str()), ("timeout", "300ms")][..],
        &[q, ("timeout", "300ms")],
        &[("timeout", "300ms")],
    ] {
        let (status, body) = wait(&http, &lb.http, params).await;
        assert_eq!(status, 408, "{params:?}: {body}");
    }
}

/// Waits for `query` after now while `sending` runs; the wait must end
/// with the message whose ID `sending` returns, whether it was set up
/// before the messages arrived or after. Returns that message.
async fn wait_ends_with(
    lb: &Letterbox,
    query: &str,
    sending: impl std::future::Future<Output = String>,
) -> Value {
    let since = just_before_now();
    let params = [
        ("query", query),
        ("after", since.as_str()),
        ("timeout", LONG),
    ];
    let http = client();
    let ((status, body), id) = tokio::join!(wait(&http, &lb.http, &params), sending);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ID"], id.as_str(), "{body}");
    body
}

#[tokio::test]
async fn a_match_sent_after_the_call_ends_the_wait_and_others_do_not() {
    let lb = Letterbox::start();
    let body = wait_ends_with(&lb, "subject:wanted to:rcpt", async {
        lb.send_simple("ignored").await;
        lb.send_raw(
            "a@example.com",
            &["other@example.com"],
            b"To: other@example.com\r\nSubject: wanted elsewhere\r\n\r\nx\r\n",
        )
        .await;
        lb.send_simple("wanted").await
    })
    .await;
    assert_eq!(body["Subject"], "wanted");

    // Words and header filters too: each new message is looked up in the
    // full-text index on its own.
    wait_ends_with(&lb, "unicorn header:X-Kind:rare -hello", async {
        lb.send_simple("unicorn without the header").await;
        lb.send_raw(
            "a@example.com",
            &["b@example.com"],
            b"X-Kind: rare\r\nSubject: unicorns\r\n\r\nhello\r\n",
        )
        .await;
        lb.send_raw(
            "a@example.com",
            &["b@example.com"],
            b"X-Kind: rare\r\nSubject: a unicorn\r\n\r\nbye\r\n",
        )
        .await
    })
    .await;
}

#[tokio::test]
async fn a_live_wait_sees_mail_from_smtp_and_from_the_send_api() {
    let lb = Letterbox::start();
    let http = client();
    let since = lb.send_simple("before").await;
    // A fresh wait per message, each after the previous message's ID.
    let params = [("after", since.as_str()), ("timeout", LONG)];
    let waiting = wait(&http, &lb.http, &params);
    let by_api = async {
        lb.send_api(&json!({
            "From": {"Email": "app@example.com"},
            "To": [{"Email": "user@example.com"}],
            "Subject": "from the API"
        }))
        .await
    };
    let ((status, body), id) = tokio::join!(waiting, by_api);
    assert_eq!((status, &body["ID"]), (200, &json!(id)), "{body}");
    let params = [("after", id.as_str()), ("timeout", LONG)];
    let waiting = wait(&http, &lb.http, &params);
    let ((status, body), by_smtp) = tokio::join!(waiting, lb.send_simple("over SMTP"));
    assert_eq!((status, &body["ID"]), (200, &json!(by_smtp)), "{body}");
}

#[tokio::test]
async fn a_timeout_is_408_with_a_json_error() {
    let lb = Letterbox::start();
    let http = client();
    lb.send_simple("not this one").await;
    let (status, body) = wait(
        &http,
        &lb.http,
        &[("query", "subject:never"), ("timeout", "250ms")],
    )
    .await;
    assert_eq!(status, 408, "{body}");
    let error = body["Error"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(
        error.contains("subject:never") && error.contains("250ms"),
        "{error}"
    );
    let (status, body) = wait(&http, &lb.http, &[("timeout", "1s")]).await;
    assert_eq!(status, 408, "{body}");
    assert!(
        body["Error"].as_str().is_some_and(|e| e.contains("1s")),
        "{body}"
    );
}

#[tokio::test]
async fn full_1_returns_the_whole_message() {
    let lb = Letterbox::start();
    let http = client();
    let before = lb.send_simple("before").await;
    let id = lb
        .send_api(&json!({
            "From": {"Email": "app@example.com"},
            "To": [{"Email": "user@example.com"}],
            "Subject": "Your code",
            "Text": "Your code is 482913",
            "HTML": "<p>Your code is <b>482913</b></p>",
            "Attachments": [{"Content": "aGk=", "Filename": "a.txt"}]
        }))
        .await;
    let cursor = [("after", before.as_str()), ("timeout", LONG)];

    let (status, summary) = wait(&http, &lb.http, &cursor).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        summary,
        lb.list().await["messages"][0],
        "the list's summary"
    );
    assert!(summary.get("Text").is_none(), "{summary}");

    for full in ["1", "true"] {
        let params = [cursor[0], cursor[1], ("full", full)];
        let (status, message) = wait(&http, &lb.http, &params).await;
        assert_eq!(status, 200, "{message}");
        assert_eq!(message, lb.message(&id).await, "full={full}");
        assert_eq!(message["Attachments"][0]["FileName"], "a.txt");
        assert!(
            message["Text"]
                .as_str()
                .is_some_and(|t| t.contains("482913")),
            "{message}"
        );
    }
}

#[tokio::test]
async fn bad_parameters_are_400() {
    let lb = Letterbox::start();
    let http = client();
    for (params, says) in [
        (&[("after", "yesterday")][..], "after"),
        (&[("after", "12345")], "after"),
        (&[("after", "01ARZ3NDEKTSV4RRFFQ69G5FA")], "after"),
        (&[("after", "01ARZ3NDEKTSV4RRFFQ69G5FA!")], "after"),
        (&[("timeout", "soon")], "timeout"),
        (&[("timeout", "-1s")], "timeout"),
        (&[("timeout", "31m")], "timeout"),
        (&[("query", "is:bogus")], "is:bogus"),
        (&[("query", "from:")], "from:"),
    ] {
        let (status, body) = wait(&http, &lb.http, params).await;
        assert_eq!(status, 400, "{params:?}: {body}");
        assert!(
            body["Error"].as_str().is_some_and(|e| e.contains(says)),
            "{params:?}: {body}"
        );
    }
}

/// The race "the message arrives while the wait is being set up": the wait
/// request and the SMTP transaction start together, every time.
#[tokio::test]
async fn a_message_arriving_while_the_wait_is_set_up_is_never_missed() {
    const ROUNDS: usize = 50;
    let lb = Letterbox::start();
    let http = client();
    let mut previous = lb.send_simple("start").await;
    for round in 0..ROUNDS {
        let subject = format!("race-{round}-end");
        let query = format!("subject:{subject}");
        // Alternate the two kinds of cursor: a time just before the
        // send, and the ID of the message before it.
        let after = if round % 2 == 0 {
            just_before_now()
        } else {
            previous.clone()
        };
        let params = [
            ("query", query.as_str()),
            ("after", after.as_str()),
            ("timeout", LONG),
        ];
        let ((status, body), id) =
            tokio::join!(wait(&http, &lb.http, &params), lb.send_simple(&subject));
        assert_eq!(status, 200, "round {round}: {body}");
        assert_eq!(body["ID"], id.as_str(), "round {round}: {body}");
        previous = id;
    }
}

/// Many waiters at once, each released by its own message and by no other.
#[tokio::test]
async fn two_hundred_waiters_each_get_their_own_message() {
    const WAITERS: usize = 200;
    let lb = Letterbox::start();
    let http = client();
    let base = Arc::new(lb.http.clone());
    let since = just_before_now();
    let mut waiters = tokio::task::JoinSet::new();
    for n in 0..WAITERS {
        let (base, http, since) = (base.clone(), http.clone(), since.clone());
        waiters.spawn(async move {
            let query = format!("subject:crowd-{n}-end");
            let params = [
                ("query", query.as_str()),
                ("after", since.as_str()),
                ("timeout", LONG),
            ];
            (n, waited_id(&http, &base, &params).await)
        });
    }
    // Newest waiter first, all on one SMTP connection.
    let mut smtp = lb.session().await;
    let mut sent = vec![String::new(); WAITERS];
    for n in (0..WAITERS).rev() {
        let data = format!("Subject: crowd-{n}-end\r\n\r\nx\r\n");
        sent[n] = smtp
            .send_message("a@example.com", &["b@example.com"], data.as_bytes())
            .await;
    }
    smtp.quit().await;
    let mut released = 0;
    while let Some(result) = waiters.join_next().await {
        let (n, id) = result.expect("a waiter task panicked");
        assert_eq!(id, sent[n], "waiter {n}");
        released += 1;
    }
    assert_eq!(released, WAITERS);
}

#[tokio::test]
async fn a_time_cursor_includes_its_own_millisecond() {
    let lb = Letterbox::start();
    let http = client();
    let id = lb.send_simple("same millisecond").await;
    // The message arrived at or after the instant its Created names (that
    // is the arrival time cut to the millisecond).
    let created = lb.message(&id).await["Created"]
        .as_str()
        .expect("Created")
        .to_string();
    let params = [("after", created.as_str()), ("timeout", "5s")];
    assert_eq!(waited_id(&http, &lb.http, &params).await, id);
}
