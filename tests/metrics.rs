//! `GET /metrics`: Prometheus text with what happened, on the web port
//! (behind the UI login) or on an address of its own (open).

mod common;

use common::{Letterbox, metric_sample};

async fn metrics_at(lb: &Letterbox, url: &str) -> String {
    let response = lb.client().get(url).send().await.expect("GET /metrics");
    assert_eq!(response.status(), 200, "{url}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn counts_what_happened() {
    let lb = Letterbox::with_args(&["--max-message-size", "2K", "--smtp-max-recipients", "1"]);
    lb.send_simple("one").await;
    lb.send_simple("two").await;
    let mut smtp = lb.session().await;
    smtp.expect("MAIL FROM:<a@example.com> SIZE=999999", 552, "5.3.4")
        .await;
    smtp.envelope("a@example.com", &["b@example.com"]).await;
    smtp.expect("RCPT TO:<c@example.com>", 452, "4.5.3").await;
    smtp.expect("RSET", 250, "2.0.0").await;
    // Syntax errors are the client's mistakes, not refusals.
    smtp.expect("MAIL FROM:<not an address", 501, "5.").await;

    // The two finished sessions end on the server a moment after their
    // client read `221`; then only this one is active.
    let text = common::eventually("the finished sessions to end", async || {
        let text = metrics_at(&lb, &lb.url("/metrics")).await;
        (metric_sample(&text, "letterbox_smtp_sessions_active") == 1.0).then_some(text)
    })
    .await;
    assert_eq!(metric_sample(&text, "letterbox_messages"), 2.0);
    assert_eq!(metric_sample(&text, "letterbox_messages_unread"), 2.0);
    assert_eq!(metric_sample(&text, "letterbox_smtp_accepted_total"), 2.0);
    let sizes: usize = lb.list().await["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Size"].as_u64().unwrap() as usize)
        .sum();
    assert_eq!(
        metric_sample(&text, "letterbox_smtp_accepted_bytes_total"),
        sizes as f64
    );
    let rejected = |reason: &str| {
        metric_sample(
            &text,
            &format!("letterbox_smtp_rejected_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(rejected("message_too_big"), 1.0);
    assert_eq!(rejected("too_many_recipients"), 1.0);
    assert_eq!(rejected("auth_failed"), 0.0);
    assert_eq!(
        metric_sample(&text, "letterbox_ingest_duration_seconds_count"),
        2.0
    );
    assert_eq!(
        metric_sample(
            &text,
            "letterbox_ingest_duration_seconds_bucket{le=\"+Inf\"}"
        ),
        2.0
    );
    assert!(metric_sample(&text, "letterbox_ingest_duration_seconds_sum") > 0.0);
    assert_eq!(metric_sample(&text, "letterbox_websocket_clients"), 0.0);
    assert!(metric_sample(&text, "letterbox_database_size_bytes") > 0.0);

    // /api/v1/info's Mailpit field totals the refusals.
    let info = lb.get_ok("/api/v1/info").await;
    assert_eq!(info["RuntimeStats"]["SMTPRejected"], 2, "{info}");

    smtp.quit().await;
    common::eventually("the session is counted as closed", async || {
        let text = metrics_at(&lb, &lb.url("/metrics")).await;
        (metric_sample(&text, "letterbox_smtp_sessions_active") == 0.0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_metrics_address_of_its_own_is_open() {
    let lb = Letterbox::with_args(&["--metrics", "127.0.0.1:0", "--ui-auth", "ops:secret"]);
    let addr = lb.metrics_addr.expect("a Metrics line at start");
    lb.send_simple("counted").await;
    let text = metrics_at(&lb, &format!("http://{addr}/metrics")).await;
    assert_eq!(metric_sample(&text, "letterbox_smtp_accepted_total"), 1.0);
    // Only /metrics is served there: the API stays behind the login.
    let api = lb
        .client()
        .get(format!("http://{addr}/api/v1/messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    let guarded = lb.client().get(lb.url("/metrics")).send().await.unwrap();
    assert_eq!(guarded.status(), 401);
}
