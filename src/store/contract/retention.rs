//! Retention: a store keeps at most so many messages and none older than
//! so much, pruning the oldest (by arrival) and announcing what it pruned.
//! Pruning may happen after the insert that caused it returns.

use std::time::Duration;

use super::fixtures::{ids, prepared, simple, simple_raw};
use super::{Backend, eventually};
use crate::domain::retention::Retention;
use crate::domain::timefmt::now_millis;
use crate::events::{Event, Events};
use crate::store::Store;

async fn total(store: &Store) -> u64 {
    store.counts().await.expect("counts").total
}

/// Everything `events` announced as deleted so far.
fn deleted(events: &mut crate::events::Subscription) -> Vec<String> {
    let mut gone = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::Deleted(ids) = event {
            gone.extend(ids.iter().cloned());
        }
    }
    gone.sort();
    gone
}

/// With `max_messages` 3, only the three newest of five stay.
pub async fn retention_max_messages(backend: &impl Backend) {
    let events = Events::default();
    let mut heard = events.subscribe();
    let retention = Retention {
        max_messages: 3,
        max_age: None,
    };
    let store = backend.open(retention, events).await;
    for n in 1..=5 {
        store
            .insert(simple(&format!("m{n}"), &format!("number {n}")))
            .await
            .expect("insert");
    }
    eventually("pruning to 3 messages", || async {
        total(&store).await == 3
    })
    .await;
    assert_eq!(ids(&store.list(0, 10).await.unwrap()), ["m5", "m4", "m3"]);
    assert!(store.raw("m1".into()).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        deleted(&mut heard),
        ["m1", "m2"],
        "pruned messages are announced"
    );
    // The limit holds as mail keeps coming.
    store
        .insert(simple("m6", "number 6"))
        .await
        .expect("insert");
    eventually("pruning to 3 again", || async { total(&store).await == 3 }).await;
    assert_eq!(ids(&store.list(0, 10).await.unwrap()), ["m6", "m5", "m4"]);
}

/// With `max_age` an hour, messages received longer ago go; younger stay.
pub async fn retention_max_age(backend: &impl Backend) {
    let events = Events::default();
    let mut heard = events.subscribe();
    let retention = Retention {
        max_messages: 0,
        max_age: Some(Duration::from_secs(3600)),
    };
    let store = backend.open(retention, events).await;
    let now = now_millis();
    let hour = 3_600_000;
    for (id, at) in [
        ("old1", now - 3 * hour),
        ("old2", now - hour - 5000),
        ("new", now),
    ] {
        let raw = simple_raw(id);
        store
            .insert(prepared(id, at, &["rcpt@example.com"], &raw))
            .await
            .expect("insert");
    }
    eventually("pruning messages over an hour old", || async {
        total(&store).await == 1
    })
    .await;
    assert_eq!(ids(&store.list(0, 10).await.unwrap()), ["new"]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(deleted(&mut heard), ["old1", "old2"]);
}
