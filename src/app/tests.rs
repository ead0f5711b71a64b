//! Each operation's counters and rules, on a throw-away store.

use std::sync::Arc;

use crate::domain::Envelope;
use crate::domain::inbox::{InboxName, Inboxes, Rule};
use crate::events::Events;
use crate::store::{
    AttemptOutcome, Durability, Location, RelayAttempt, RelayNext, RelayOutcome, Selection, Store,
    StoreConfig,
};

use super::{App, Stats};

fn app(rules: &[&str]) -> App {
    let events = Events::default();
    let config = StoreConfig {
        location: Location::Temporary,
        max_messages: 0,
        max_age: None,
        durability: Durability::default(),
    };
    let store = Store::open(&config, events.clone()).expect("a temporary store opens");
    let rules = rules.iter().map(|r| Rule::parse(r).unwrap()).collect();
    App::new(
        store,
        events,
        Arc::new(Stats::default()),
        Arc::new(Inboxes::new(rules)),
        |id| format!("250 queued as {id}"),
    )
}

async fn send(app: &App, subject: &str) -> String {
    let raw =
        format!("From: a@example.com\r\nTo: b@example.com\r\nSubject: {subject}\r\n\r\nhi\r\n");
    let envelope = Envelope {
        mail_from: "a@example.com".into(),
        rcpt_to: vec!["b@example.com".into()],
        ..Envelope::default()
    };
    app.accept(envelope, raw.into_bytes()).await.unwrap()
}

#[tokio::test]
async fn deletions_are_counted_once_whoever_deletes() {
    let app = app(&[]);
    let first = send(&app, "one").await;
    send(&app, "two").await;
    send(&app, "three").await;
    assert!(app.delete_one(first.clone()).await.unwrap());
    assert!(!app.delete_one(first).await.unwrap(), "already gone");
    assert_eq!(app.delete(Selection::All).await.unwrap(), 2);
    let stats = app.stats().snapshot();
    assert_eq!(stats.messages_deleted, 3);
    assert_eq!(stats.smtp_accepted, 3);
}

#[tokio::test]
async fn latest_is_the_newest_still_stored() {
    let app = app(&[]);
    assert!(app.latest(None).await.unwrap().is_none());
    let older = send(&app, "older").await;
    let newer = send(&app, "newer").await;
    let (message, raw) = app.latest_with_raw(None).await.unwrap().unwrap();
    assert_eq!(message.summary.id, newer);
    assert!(raw.ends_with(b"hi\r\n"));
    app.delete_one(newer).await.unwrap();
    assert_eq!(app.latest(None).await.unwrap().unwrap().summary.id, older);
}

#[tokio::test]
async fn the_transcript_ends_with_the_reply_that_names_the_id() {
    let app = app(&[]);
    let envelope = Envelope {
        transcript: vec!["C: DATA".into()],
        ..Envelope::default()
    };
    let id = app
        .accept(envelope, b"Subject: s\r\n\r\nx\r\n".to_vec())
        .await
        .unwrap();
    let message = app.message(id.clone()).await.unwrap().unwrap();
    let last = message.envelope.transcript.last().unwrap();
    assert_eq!(last, &format!("S: 250 queued as {id}"));
}

#[tokio::test]
async fn configured_inboxes_exist_while_empty_and_the_default_comes_first() {
    let app = app(&["alerts=subject:alert"]);
    let names = |counts: Vec<crate::store::InboxCounts>| {
        counts.into_iter().map(|c| c.name).collect::<Vec<_>>()
    };
    assert_eq!(names(app.inboxes().await.unwrap()), ["default", "alerts"]);
    let alerts = InboxName::parse("alerts").unwrap();
    assert!(app.inbox_exists(&alerts).await.unwrap());
    let other = InboxName::parse("other").unwrap();
    assert!(!app.inbox_exists(&other).await.unwrap());
    send(&app, "alert: disk").await;
    let counts = app.inboxes().await.unwrap();
    assert_eq!((counts[1].name.as_str(), counts[1].total), ("alerts", 1));
}

#[tokio::test]
async fn each_relay_attempt_is_counted_by_what_follows_from_it() {
    let app = app(&[]);
    let id = send(&app, "release me").await;
    let to = vec!["x@example.com".to_string(), "y@example.com".to_string()];
    assert!(
        app.queue_release(id.clone(), "a@example.com".into(), to)
            .await
            .unwrap()
    );
    let job = app.releases(id).await.unwrap().remove(0).job;
    assert!(app.claim_release(job).await.unwrap());
    let outcome = |who: &str, outcome, next| RelayOutcome {
        recipients: vec![who.into()],
        attempt: RelayAttempt {
            at: "2026-01-01T00:00:00.000Z".into(),
            outcome,
            reply: "reply".into(),
        },
        next,
    };
    let outcomes = vec![
        outcome("x@example.com", AttemptOutcome::Sent, RelayNext::Sent),
        outcome(
            "y@example.com",
            AttemptOutcome::Temporary,
            RelayNext::RetryAt(i64::MAX),
        ),
    ];
    app.finish_release(job, outcomes).await.unwrap();
    let stats = app.stats().snapshot();
    assert_eq!(
        (stats.relay_sent, stats.relay_retried, stats.relay_failed),
        (1, 1, 0)
    );
}

/// However a waiter takes the burst (one message at a time or several at
/// once), it answers the oldest match after its cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_behind_a_burst_answers_its_oldest_match() {
    let app = app(&[]);
    let waiter = {
        let app = app.clone();
        tokio::spawn(async move {
            let query = crate::domain::search::Query::parse("needle").unwrap();
            app.first_match(&query, &crate::store::Cursor::AfterTime(0))
                .await
        })
    };
    let sends: Vec<_> = (0..40)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move { send(&app, &format!("hay {i}")).await })
        })
        .collect();
    for send in sends {
        send.await.unwrap();
    }
    let first = send(&app, "needle one").await;
    send(&app, "needle two").await;
    assert_eq!(waiter.await.unwrap().unwrap(), first);
}
