//! Events: each committed change is published once, saying what changed,
//! and a change that changed nothing publishes nothing.

use std::time::Duration;

use super::fixtures::{query, simple};
use super::{Backend, open};
use crate::events::{Event, Subscription};
use crate::store::Selection;

/// The next event, waiting up to five seconds (a backend may deliver
/// events from another connection).
async fn next(events: &mut Subscription) -> Event {
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("an event within five seconds")
        .expect("an open subscription")
}

/// No event within a moment.
async fn quiet(events: &mut Subscription, after: &str) {
    let heard = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
    assert!(heard.is_err(), "no event after {after}, got {heard:?}");
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub async fn events_for_each_change(backend: &impl Backend) {
    let (store, events) = open(backend).await;
    let mut heard = events.subscribe();

    store.insert(simple("m1", "one")).await.unwrap();
    store.insert(simple("m2", "two")).await.unwrap();
    for id in ["m1", "m2"] {
        match next(&mut heard).await {
            Event::New(summary) => assert_eq!(summary.id, id),
            other => panic!("expected New({id}), got {other:?}"),
        }
    }

    store
        .set_read(Selection::Ids(strings(&["m1"])), true)
        .await
        .unwrap();
    read_changed(&mut heard, "m1").await;
    let unread = Selection::Query(query("is:unread"));
    store.set_read(unread.clone(), true).await.unwrap();
    read_changed(&mut heard, "m2").await;
    store.set_read(unread, true).await.unwrap();
    quiet(&mut heard, "marking no message read by a query").await;
    // Messages named by ID are announced changed or not (Mailpit's
    // clients wait for the update).
    store
        .set_read(Selection::Ids(strings(&["m1"])), true)
        .await
        .unwrap();
    read_changed(&mut heard, "m1").await;

    store
        .set_tags(strings(&["m1"]), strings(&["red"]))
        .await
        .unwrap();
    match next(&mut heard).await {
        Event::TagsChanged(changed) => {
            assert_eq!(&changed[..], &[("m1".to_string(), strings(&["red"]))])
        }
        other => panic!("expected TagsChanged, got {other:?}"),
    }
    store.rename_tag("red".into(), "blue".into()).await.unwrap();
    match next(&mut heard).await {
        Event::TagsChanged(changed) => {
            assert_eq!(&changed[..], &[("m1".to_string(), strings(&["blue"]))])
        }
        other => panic!("expected TagsChanged, got {other:?}"),
    }
    store.delete_tag("blue".into()).await.unwrap();
    match next(&mut heard).await {
        Event::TagsChanged(changed) => assert_eq!(&changed[..], &[("m1".to_string(), vec![])]),
        other => panic!("expected TagsChanged, got {other:?}"),
    }
    store.delete_tag("blue".into()).await.unwrap();
    quiet(&mut heard, "deleting an unused tag").await;

    let queued = store
        .queue_relay(
            "m2".into(),
            "f@example.com".into(),
            strings(&["r@example.com"]),
        )
        .await
        .unwrap();
    assert!(queued);
    match next(&mut heard).await {
        Event::RelayChanged(id) => assert_eq!(id, "m2"),
        other => panic!("expected RelayChanged, got {other:?}"),
    }

    store
        .delete(Selection::Ids(strings(&["m1", "missing"])))
        .await
        .unwrap();
    match next(&mut heard).await {
        Event::Deleted(ids) => assert_eq!(&ids[..], &strings(&["m1"])[..]),
        other => panic!("expected Deleted, got {other:?}"),
    }
    store
        .delete(Selection::Ids(strings(&["missing"])))
        .await
        .unwrap();
    quiet(&mut heard, "deleting no message").await;
    store.delete(Selection::All).await.unwrap();
    assert!(matches!(next(&mut heard).await, Event::Cleared));
}

/// The next event says that `id`, and only it, was marked read.
async fn read_changed(heard: &mut Subscription, id: &str) {
    match next(heard).await {
        Event::ReadChanged { ids, read } => {
            assert_eq!((&ids[..], read), (&strings(&[id])[..], true))
        }
        other => panic!("expected ReadChanged({id}), got {other:?}"),
    }
}
