//! The webhook queue: a delivery queued with its message (and only with
//! it), due in order, claimed for an attempt exactly once, retried later or
//! gone once delivered or dropped, and kept when its message is deleted.

use std::sync::Arc;

use super::fixtures::simple;
use super::{Backend, open};
use crate::domain::timefmt::now_millis;
use crate::store::{NewMessage, Selection, WebhookDelivery, WebhookNext, WebhookQueueStats};

fn announced(id: &str, received_at_ms: i64) -> NewMessage {
    let mut message = simple(id, id);
    message.received_at_ms = received_at_ms;
    message.webhook = Some(format!(r#"{{"ID":"{id}"}}"#));
    message
}

fn ids(deliveries: &[WebhookDelivery]) -> Vec<&str> {
    deliveries.iter().map(|d| d.message_id.as_str()).collect()
}

/// Queue with the message, due oldest first, claim, retry, deliver, drop;
/// deleting messages leaves their deliveries.
pub async fn webhook_queue_and_outcomes(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    assert_eq!(
        store.webhook_stats().await.unwrap(),
        WebhookQueueStats::default()
    );
    let now = now_millis();
    store.insert(announced("w2", now - 1_000)).await.unwrap();
    store.insert(simple("quiet", "no webhook")).await.unwrap();
    store.insert(announced("w1", now - 2_000)).await.unwrap();
    store.insert(announced("w3", now)).await.unwrap();
    assert_eq!(
        store.webhook_stats().await.unwrap(),
        WebhookQueueStats {
            queued: 3,
            next_due_ms: Some(now - 2_000)
        },
        "one delivery per message that has a payload"
    );

    let due = store.webhook_due(now, 10).await.unwrap();
    assert_eq!(ids(&due), ["w1", "w2", "w3"], "the longest waiting first");
    let first = &due[0];
    assert_eq!(first.payload, r#"{"ID":"w1"}"#);
    assert_eq!(
        (first.created_ms, first.next_attempt_ms),
        (now - 2_000, now - 2_000)
    );
    assert_eq!((first.attempts, first.last_error.as_deref()), (0, None));
    assert_eq!(ids(&store.webhook_due(now, 2).await.unwrap()), ["w1", "w2"]);
    assert_eq!(
        ids(&store.webhook_due(now - 1_500, 10).await.unwrap()),
        ["w1"]
    );

    // A claim holds the delivery until it runs out.
    let lease = now + 30_000;
    assert!(store.claim_webhook(first.id, now, lease).await.unwrap());
    assert!(
        !store.claim_webhook(first.id, now, lease).await.unwrap(),
        "a claimed delivery is not due"
    );
    assert_eq!(
        ids(&store.webhook_due(now, 10).await.unwrap()),
        ["w2", "w3"]
    );
    let after_lease = store.webhook_due(lease, 10).await.unwrap();
    assert_eq!(
        ids(&after_lease),
        ["w2", "w3", "w1"],
        "a claim that never finished runs out"
    );
    let not_yet = due[2].id;
    assert!(
        !store.claim_webhook(not_yet, now - 10, lease).await.unwrap(),
        "a delivery is claimed only once it is due"
    );

    // A failed attempt waits for its retry, counted, with its error.
    let retry_at = now + 60_000;
    let retry = WebhookNext::RetryAt {
        at_ms: retry_at,
        error: "HTTP 500".into(),
    };
    assert!(store.finish_webhook(first.id, retry).await.unwrap());
    let all = store.webhook_due(retry_at, 10).await.unwrap();
    assert_eq!(ids(&all), ["w2", "w3", "w1"]);
    let retried = &all[2];
    assert_eq!(retried.next_attempt_ms, retry_at);
    assert_eq!(
        (retried.attempts, retried.last_error.as_deref()),
        (1, Some("HTTP 500"))
    );
    assert_eq!(retried.created_ms, now - 2_000, "created stays");
    assert_eq!(retried.payload, r#"{"ID":"w1"}"#, "the payload stays");

    // Delivered and dropped deliveries leave the queue.
    assert!(store.claim_webhook(due[1].id, now, lease).await.unwrap());
    assert!(
        store
            .finish_webhook(due[1].id, WebhookNext::Delivered)
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_webhook(retried.id, WebhookNext::Dropped)
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_webhook(retried.id, WebhookNext::Delivered)
            .await
            .unwrap(),
        "a finished delivery is gone"
    );
    assert!(
        !store
            .claim_webhook(retried.id, retry_at, lease)
            .await
            .unwrap()
    );
    assert_eq!(ids(&store.webhook_due(retry_at, 10).await.unwrap()), ["w3"]);

    // The message arrived: deleting it does not take back its webhook.
    store
        .delete(Selection::Ids(vec!["w3".into()]))
        .await
        .unwrap();
    store.delete(Selection::All).await.unwrap();
    assert_eq!(
        store.webhook_stats().await.unwrap(),
        WebhookQueueStats {
            queued: 1,
            next_due_ms: Some(now)
        }
    );
    assert!(store.claim_webhook(due[2].id, now, lease).await.unwrap());
    assert!(
        store
            .finish_webhook(due[2].id, WebhookNext::Delivered)
            .await
            .unwrap()
    );
    assert_eq!(
        store.webhook_stats().await.unwrap(),
        WebhookQueueStats::default()
    );
}

/// Of many concurrent claims of one delivery, exactly one wins.
pub async fn webhook_claims_once(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    let now = now_millis();
    for round in 0..5 {
        store
            .insert(announced(&format!("m{round}"), now))
            .await
            .unwrap();
        let due = store.webhook_due(now, 10).await.unwrap();
        let id = due.last().expect("the queued delivery").id;
        let store = Arc::new(store.clone());
        let claims: Vec<_> = (0..16)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .claim_webhook(id, now, now + 60_000)
                        .await
                        .expect("claim_webhook")
                })
            })
            .collect();
        let mut won = 0;
        for claim in claims {
            won += usize::from(claim.await.expect("a claimer"));
        }
        assert_eq!(won, 1, "round {round}: claims won");
    }
}

/// A message whose insert fails queues no delivery: they commit together.
pub async fn webhook_queued_with_its_message(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    let now = now_millis();
    store.insert(announced("dup", now)).await.unwrap();
    let again = announced("dup", now);
    assert!(
        store.insert(again).await.is_err(),
        "a second message with the same ID is refused"
    );
    assert_eq!(store.webhook_stats().await.unwrap().queued, 1);
}
