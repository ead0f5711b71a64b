//! Changes to stored messages: read flags and deletion by selection (IDs,
//! a query, everything), and tags.

use super::fixtures::{ids, query, simple};
use super::{Backend, open};
use crate::store::{Selection, Store};

/// Stores `a1`..`a4` (subjects `alpha 1`..) and `b1`, `b2` (`beta 1`..).
async fn five_and_two(store: &Store) {
    for id in ["a1", "a2", "a3", "a4", "a5", "b1", "b2"] {
        let subject = format!(
            "{} {}",
            if id.starts_with('a') { "alpha" } else { "beta" },
            &id[1..]
        );
        store.insert(simple(id, &subject)).await.expect("insert");
    }
}

async fn unread(store: &Store) -> Vec<String> {
    let mut ids = ids(&store
        .search(query("is:unread"), 0, 100)
        .await
        .expect("search"));
    ids.sort();
    ids
}

/// Read flags change by IDs (unknown ones ignored), by query and for all;
/// the count says how many changed.
pub async fn set_read_by_selection(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    five_and_two(&store).await;
    let by_ids = Selection::Ids(vec!["a1".into(), "b1".into(), "missing".into()]);
    assert_eq!(store.set_read(by_ids.clone(), true).await.unwrap(), 2);
    assert_eq!(
        store.set_read(by_ids, true).await.unwrap(),
        0,
        "already read"
    );
    assert_eq!(unread(&store).await, ["a2", "a3", "a4", "a5", "b2"]);
    let alpha = Selection::Query(query("subject:alpha"));
    assert_eq!(store.set_read(alpha, true).await.unwrap(), 4);
    assert_eq!(unread(&store).await, ["b2"]);
    let message = store.message("a3".into()).await.unwrap().expect("a3");
    assert!(message.summary.read);
    assert_eq!(store.set_read(Selection::All, false).await.unwrap(), 6);
    assert_eq!(unread(&store).await.len(), 7);
    assert_eq!(store.counts().await.unwrap().unread, 7);
}

/// Deletion by IDs, by query and of everything takes exactly those
/// messages, their raw bytes and their tags.
pub async fn delete_by_selection(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    five_and_two(&store).await;
    store
        .set_tags(vec!["b1".into()], vec!["only-b1".into()])
        .await
        .unwrap();
    let by_ids = Selection::Ids(vec!["a1".into(), "b1".into(), "missing".into()]);
    assert_eq!(store.delete(by_ids).await.unwrap(), 2);
    assert!(store.message("a1".into()).await.unwrap().is_none());
    assert!(store.raw("b1".into()).await.unwrap().is_none());
    assert!(store.tags().await.unwrap().is_empty(), "an unused tag goes");
    let alpha = Selection::Query(query("subject:alpha -subject:\"alpha 5\""));
    assert_eq!(store.delete(alpha).await.unwrap(), 3);
    let mut left = ids(&store.list(0, 100).await.unwrap());
    left.sort();
    assert_eq!(left, ["a5", "b2"]);
    assert_eq!(store.delete(Selection::All).await.unwrap(), 2);
    assert_eq!(store.counts().await.unwrap().total, 0);
    assert!(store.inbox_counts().await.unwrap().is_empty());
    // The store still takes mail afterwards.
    store.insert(simple("c1", "after")).await.expect("insert");
    assert_eq!(ids(&store.list(0, 10).await.unwrap()), ["c1"]);
}

/// Tags: set (replacing), counted, listed sorted, found by `tag:`,
/// renamed (merging), deleted.
pub async fn tags(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    five_and_two(&store).await;
    let set = |ids: &[&str], tags: &[&str]| {
        store.set_tags(
            ids.iter().map(|s| s.to_string()).collect(),
            tags.iter().map(|s| s.to_string()).collect(),
        )
    };
    assert_eq!(
        set(&["a1", "a2", "missing"], &["red", "Blue"])
            .await
            .unwrap(),
        2
    );
    assert_eq!(set(&["a3"], &["red"]).await.unwrap(), 1);
    assert_eq!(store.tags().await.unwrap(), ["Blue", "red"]);
    let counts = store.tag_counts().await.unwrap();
    assert_eq!(counts, [("Blue".to_string(), 2), ("red".to_string(), 3)]);
    let page = store.search(query("tag:red"), 0, 10).await.unwrap();
    assert_eq!(ids(&page), ["a3", "a2", "a1"]);
    assert_eq!(page.tags, ["Blue", "red"], "a page lists every tag in use");
    let a1 = page.messages.iter().find(|m| m.id == "a1").expect("a1");
    assert_eq!(a1.tags, ["Blue", "red"], "each message with its tags");
    let stored = store.message("a2".into()).await.unwrap().expect("a2");
    assert_eq!(stored.summary.tags, ["Blue", "red"]);

    // Setting replaces; an empty list clears.
    assert_eq!(set(&["a1"], &["green"]).await.unwrap(), 1);
    assert_eq!(set(&["a2"], &[]).await.unwrap(), 1);
    assert_eq!(store.tags().await.unwrap(), ["green", "red"]);

    // Renaming onto an existing tag merges the two.
    assert_eq!(
        store
            .rename_tag("green".into(), "red".into())
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.tag_counts().await.unwrap(), [("red".to_string(), 2)]);
    assert_eq!(
        store.rename_tag("red".into(), "Red".into()).await.unwrap(),
        2
    );
    assert_eq!(store.tags().await.unwrap(), ["Red"]);
    assert_eq!(
        store.rename_tag("none".into(), "x".into()).await.unwrap(),
        0
    );
    // A message carrying both tags keeps one.
    assert_eq!(set(&["a4"], &["Red", "blue"]).await.unwrap(), 1);
    assert_eq!(
        store.rename_tag("blue".into(), "red".into()).await.unwrap(),
        1
    );
    let a4 = store.message("a4".into()).await.unwrap().expect("a4");
    assert_eq!(a4.summary.tags, ["Red"]);
    assert_eq!(store.tag_counts().await.unwrap(), [("Red".to_string(), 3)]);

    assert_eq!(store.delete_tag("Red".into()).await.unwrap(), 3);
    assert!(store.tags().await.unwrap().is_empty());
    assert!(ids(&store.search(query("is:tagged"), 0, 10).await.unwrap()).is_empty());
    assert_eq!(store.delete_tag("Red".into()).await.unwrap(), 0);
}
