//! Chaos rules over real sockets: set by `--chaos`, `LETTERBOX_CHAOS`,
//! `PUT /api/v1/chaos` (Mailpit's shape) or MailHog's `/api/v2/jim`, they
//! refuse, slow down or drop SMTP sessions at the stage they name; every
//! injection shows in the transcript and in `/metrics`.

mod common;

use std::time::{Duration, Instant};

use common::{Launch, Letterbox, json_of};
use serde_json::{Value, json};

/// `PUT /api/v1/chaos` with this body: status and JSON answer.
async fn put_chaos(lb: &Letterbox, body: &Value) -> (u16, Value) {
    let response = lb
        .client()
        .put(lb.url("/api/v1/chaos"))
        .json(body)
        .send()
        .await
        .expect("PUT /api/v1/chaos");
    json_of("PUT /api/v1/chaos", response).await
}

/// A request to MailHog's Jim with an optional JSON body.
async fn jim(lb: &Letterbox, method: reqwest::Method, body: Option<Value>) -> (u16, Value) {
    let mut request = lb.client().request(method.clone(), lb.url("/api/v2/jim"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("a Jim request");
    json_of(&format!("{method} /api/v2/jim"), response).await
}

async fn metrics(lb: &Letterbox) -> String {
    lb.get("/metrics").await.text().await.expect("metrics text")
}

#[tokio::test]
async fn rules_from_the_flag_and_the_environment() {
    for lb in [
        Letterbox::with_args(&["--chaos", "rcpt=451"]),
        Launch::default().env("LETTERBOX_CHAOS", "rcpt=451").start(),
    ] {
        let mut smtp = lb.session().await;
        smtp.expect("MAIL FROM:<app@example.test>", 250, "2.1.0")
            .await;
        let reply = smtp
            .expect("RCPT TO:<user@example.test>", 451, "4.3.0")
            .await;
        assert!(reply.text().contains("chaos rule"), "{reply:?}");
        let rules = lb.get_ok("/api/v1/chaos").await;
        assert_eq!(rules["Recipient"]["ErrorCode"], 451);
        assert_eq!(rules["Recipient"]["Probability"], 100);
        assert_eq!(rules["Sender"]["Probability"], 0);
    }
}

#[tokio::test]
async fn connect_421_answers_and_closes() {
    let lb = Letterbox::with_args(&["--chaos", "connect=421"]);
    let mut smtp = common::Smtp::connect_raw(lb.smtp_addr).await;
    smtp.reply().await.assert(421, "4.3.2");
    smtp.expect_closed().await;
}

#[tokio::test]
async fn the_api_round_trip_changes_open_sessions_too() {
    let lb = Letterbox::start();
    let initial = lb.get_ok("/api/v1/chaos").await;
    for (name, code) in [("Sender", 451), ("Recipient", 451), ("Authentication", 535)] {
        assert_eq!(initial[name]["ErrorCode"], code, "{initial}");
        assert_eq!(initial[name]["Probability"], 0, "{initial}");
    }
    assert_eq!(lb.get_ok("/api/v1/webui").await["ChaosEnabled"], true);

    // A session opened before the change meets the new rule.
    let mut open = lb.session().await;
    let (status, answer) = put_chaos(
        &lb,
        &json!({"Recipient": {"ErrorCode": 451, "Probability": 100}}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, lb.get_ok("/api/v1/chaos").await);
    assert_eq!(answer["Recipient"]["ErrorCode"], 451);
    open.expect("MAIL FROM:<app@example.test>", 250, "2.1.0")
        .await;
    open.expect("RCPT TO:<user@example.test>", 451, "4.3.0")
        .await;

    // PUT replaces: triggers left out are off again.
    let (status, answer) = put_chaos(&lb, &json!({})).await;
    assert_eq!(
        (status, &answer["Recipient"]["Probability"]),
        (200, &json!(0))
    );
    open.expect("RSET", 250, "2.0.0").await;
    open.send_note("accepted again").await;
}

#[tokio::test]
async fn malformed_rules_are_refused_with_what_is_wrong() {
    let lb = Letterbox::with_args(&["--chaos", "rcpt=451"]);
    for (body, says) in [
        (json!({"Sender": {"ErrorCode": 250}}), "ErrorCode 250"),
        (
            json!({"Recipient": {"Probability": 150}}),
            "Probability 150",
        ),
        (json!({"Recipient": {"Probabilty": 5}}), "Probabilty"),
        (json!({"Bounce": {}}), "Bounce"),
        (json!({"Data": {"Delay": "2s"}}), "Data"),
    ] {
        let (status, answer) = put_chaos(&lb, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let error = answer["Error"].as_str().expect("an Error message");
        assert!(error.contains(says), "{body}: {error}");
    }
    // The rules in force did not change.
    assert_eq!(
        lb.get_ok("/api/v1/chaos").await["Recipient"]["Probability"],
        100
    );
}

#[tokio::test]
async fn data_554_refuses_the_message() {
    let lb = Letterbox::start();
    put_chaos(
        &lb,
        &json!({"Data": {"ErrorCode": 554, "Probability": 100}}),
    )
    .await;
    let mut smtp = lb.session().await;
    smtp.envelope("app@example.test", &["user@example.test"])
        .await;
    smtp.expect("DATA", 554, "5.7.1").await;
    smtp.quit().await;
    assert_eq!(lb.list().await["total"], 0);
}

#[tokio::test]
async fn a_delay_holds_the_reply_back() {
    let lb = Letterbox::start();
    put_chaos(&lb, &json!({"Recipient": {"Delay": 400}})).await;
    let mut smtp = lb.session().await;
    smtp.expect("MAIL FROM:<app@example.test>", 250, "2.1.0")
        .await;
    let started = Instant::now();
    smtp.expect("RCPT TO:<user@example.test>", 250, "2.1.5")
        .await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    // Slow, not failing: the message goes through.
    smtp.cmd("DATA").await.assert(354, "");
    smtp.send(b"Subject: slow\r\n\r\nx\r\n.\r\n").await;
    smtp.reply().await.assert(250, "2.0.0");
}

#[tokio::test]
async fn disconnect_drops_the_connection_without_a_reply() {
    let lb = Letterbox::start();
    put_chaos(
        &lb,
        &json!({"Sender": {"Probability": 100, "Disconnect": true}}),
    )
    .await;
    let mut smtp = lb.session().await;
    smtp.send(b"MAIL FROM:<app@example.test>\r\n").await;
    assert!(
        smtp.try_reply().await.is_none(),
        "the connection was dropped"
    );
    let text = metrics(&lb).await;
    assert!(
        text.contains(
            "letterbox_smtp_chaos_injected_total{source=\"rule\",stage=\"mail\",outcome=\"disconnect\"} 1\n"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn authentication_fails_with_535() {
    let lb = Letterbox::start();
    put_chaos(
        &lb,
        &json!({"Authentication": {"ErrorCode": 535, "Probability": 100}}),
    )
    .await;
    let mut smtp = lb.session().await;
    // "\0user\0pass"
    smtp.expect("AUTH PLAIN AHVzZXIAcGFzcw==", 535, "5.7.8")
        .await;
}

/// A slow link: every byte of a 20 KB message at 20,000 bytes a second
/// takes a second to arrive; the transcript and `/metrics` say why.
#[tokio::test]
async fn a_slow_link_paces_the_bytes() {
    let lb = Letterbox::with_args(&["--chaos", "link=20000@100%"]);
    let body = "x".repeat(76) + "\r\n";
    let message = format!("Subject: slow link\r\n\r\n{}", body.repeat(256)); // 20 KiB
    let started = Instant::now();
    let id = lb
        .send_raw(
            "app@example.test",
            &["user@example.test"],
            message.as_bytes(),
        )
        .await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert_eq!(lb.raw(&id).await, message.as_bytes(), "slow, not altered");
    let transcript = lb.message(&id).await["Envelope"]["Transcript"].to_string();
    assert!(
        transcript.contains("(link limited to 20000 bytes a second by a chaos rule)"),
        "{transcript}"
    );
    assert!(metrics(&lb).await.contains(
        "letterbox_smtp_chaos_injected_total{source=\"rule\",stage=\"link\",outcome=\"slow\"} 1\n"
    ));
    // Lifted: new connections are fast again (and the API shows it).
    put_chaos(&lb, &json!({})).await;
    // (Letterbox's additions to Mailpit's shape are left out when unset.)
    assert_eq!(lb.get_ok("/api/v1/chaos").await.get("Link"), None);
    let started = Instant::now();
    lb.send_raw(
        "app@example.test",
        &["user@example.test"],
        message.as_bytes(),
    )
    .await;
    assert!(started.elapsed() < took, "{:?}", started.elapsed());
}

#[tokio::test]
async fn jim_maps_onto_the_same_rules() {
    let lb = Letterbox::start();
    let (status, _) = jim(&lb, reqwest::Method::GET, None).await;
    assert_eq!(status, 404, "Jim is not there until invited");

    let certain_rejection = json!({
        "AcceptChance": 1, "DisconnectChance": 0, "RejectSenderChance": 0,
        "RejectRecipientChance": 1, "RejectAuthChance": 0,
    });
    let (status, answer) = jim(&lb, reqwest::Method::POST, Some(certain_rejection)).await;
    assert_eq!(status, 200, "{answer}");
    let (_, now) = jim(&lb, reqwest::Method::GET, None).await;
    assert_eq!(now["RejectRecipientChance"], 1.0, "{now}");
    assert_eq!(now["AcceptChance"], 1.0, "{now}");
    let rules = lb.get_ok("/api/v1/chaos").await;
    assert_eq!(rules["Recipient"]["ErrorCode"], 550, "{rules}");
    assert_eq!(rules["Recipient"]["Probability"], 100, "{rules}");
    let mut smtp = lb.session().await;
    smtp.expect("MAIL FROM:<app@example.test>", 250, "2.1.0")
        .await;
    smtp.expect("RCPT TO:<user@example.test>", 550, "5.1.1")
        .await;

    // Refused connections are dropped unanswered, as MailHog does.
    let (status, _) = jim(&lb, reqwest::Method::PUT, Some(json!({"AcceptChance": 0}))).await;
    assert_eq!(status, 200);
    let mut refused = common::Smtp::connect_raw(lb.smtp_addr).await;
    assert!(refused.try_reply().await.is_none(), "no greeting");

    let (status, answer) = jim(&lb, reqwest::Method::PUT, Some(json!({"AcceptChance": 2}))).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["Error"].as_str().unwrap().contains("AcceptChance 2"),
        "{answer}"
    );

    let (status, _) = jim(&lb, reqwest::Method::DELETE, None).await;
    assert_eq!(status, 200);
    let (status, _) = jim(&lb, reqwest::Method::GET, None).await;
    assert_eq!(status, 404);
    let (status, _) = jim(&lb, reqwest::Method::PUT, Some(json!({}))).await;
    assert_eq!(status, 404, "PUT needs Jim invited first");
    lb.send_simple("Jim has left").await;
}

/// What an app's retry logic meets: `451` at RCPT, then (the rule lifted)
/// success on the same connection. The stored message's transcript shows
/// the injected failure it was retried after; `/metrics` counts it.
#[tokio::test]
async fn the_transcript_and_metrics_show_the_injection() {
    let lb = Letterbox::with_args(&["--chaos", "rcpt=451"]);
    let mut smtp = lb.session().await;
    smtp.expect("MAIL FROM:<app@example.test>", 250, "2.1.0")
        .await;
    smtp.expect("RCPT TO:<user@example.test>", 451, "4.3.0")
        .await;
    smtp.expect("RSET", 250, "2.0.0").await;
    put_chaos(&lb, &json!({})).await;
    let id = smtp.send_note("the retry").await;

    let transcript = lb.message(&id).await["Envelope"]["Transcript"].clone();
    let lines: Vec<&str> = transcript
        .as_array()
        .expect("a transcript")
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let at = lines
        .iter()
        .position(|l| *l == "(failure injected at rcpt by a chaos rule)")
        .unwrap_or_else(|| panic!("no injection in {lines:#?}"));
    assert!(lines[at + 1].starts_with("S: 451 4.3.0"), "{lines:#?}");

    let text = metrics(&lb).await;
    assert!(
        text.contains(
            "letterbox_smtp_chaos_injected_total{source=\"rule\",stage=\"rcpt\",outcome=\"451\"} 1\n"
        ),
        "{text}"
    );
    // An injected 451 is not a storage failure.
    assert!(
        text.contains("letterbox_smtp_rejected_total{reason=\"storage\"} 0\n"),
        "{text}"
    );
}

#[tokio::test]
async fn address_injections_are_counted_too() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    smtp.expect("MAIL FROM:<app@example.test>", 250, "2.1.0")
        .await;
    smtp.expect("RCPT TO:<fail-550@example.test>", 550, "5.1.1")
        .await;
    let text = metrics(&lb).await;
    assert!(
        text.contains(
            "letterbox_smtp_chaos_injected_total{source=\"address\",stage=\"rcpt\",outcome=\"550\"} 1\n"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn the_web_ui_shows_when_chaos_is_active() {
    let lb = Letterbox::with_args(&["--chaos", "rcpt=451@50%,data=delay:2s"]);
    let page = lb.get("/").await.text().await.unwrap();
    assert!(
        page.contains("id=\"chaos-banner\" role=\"status\">"),
        "shown: {page}"
    );
    assert!(
        page.contains("rcpt=451@50%,data=delay:2000ms"),
        "the rules are named: {page}"
    );
    put_chaos(&lb, &json!({})).await;
    let page = lb.get("/").await.text().await.unwrap();
    // Still there for the live updates, but hidden.
    assert!(
        page.contains("id=\"chaos-banner\" role=\"status\" hidden>"),
        "hidden: {page}"
    );
    assert!(!page.contains("rcpt=451"), "{page}");
}
