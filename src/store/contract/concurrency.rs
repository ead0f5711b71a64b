//! Concurrency: many inserts at once all land, and whatever an insert
//! stored is readable as soon as it returns.

use super::fixtures::{query, simple};
use super::{Backend, open};
use crate::store::Selection;

/// 64 concurrent inserts all succeed and are all listed and counted.
pub async fn concurrent_inserts_are_all_readable(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    let inserts: Vec<_> = (0..64)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let message = simple(&format!("c{n:02}"), &format!("concurrent {n}"));
                store.insert(message).await
            })
        })
        .collect();
    for insert in inserts {
        insert.await.expect("an inserter").expect("insert");
    }
    assert_eq!(store.counts().await.unwrap().total, 64);
    let page = store.list(0, 100).await.unwrap();
    let mut ids: Vec<String> = page.messages.into_iter().map(|m| m.id).collect();
    ids.sort();
    let expected: Vec<String> = (0..64).map(|n| format!("c{n:02}")).collect();
    assert_eq!(ids, expected);
    let found = store.search(query("concurrent"), 0, 100).await.unwrap();
    assert_eq!(found.matched, 64, "every message is searchable");
}

/// Each of many concurrent writers reads its own write back at once, by
/// ID, in a list and by search; and sees its own change of the read flag.
pub async fn read_your_writes(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    let writers: Vec<_> = (0..16)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = format!("w{n:02}");
                store
                    .insert(simple(&id, &format!("writer q{n}q")))
                    .await
                    .expect("insert");
                let stored = store.message(id.clone()).await.expect("message");
                assert!(stored.is_some(), "{id} readable after its insert");
                assert!(store.raw(id.clone()).await.expect("raw").is_some());
                let found = store.search(query(&format!("q{n}q")), 0, 10).await;
                let found: Vec<String> = found
                    .expect("search")
                    .messages
                    .into_iter()
                    .map(|m| m.id)
                    .collect();
                assert_eq!(
                    found,
                    std::slice::from_ref(&id),
                    "{id} searchable after its insert"
                );
                store
                    .set_read(Selection::Ids(vec![id.clone()]), true)
                    .await
                    .expect("set_read");
                let stored = store.message(id.clone()).await.expect("message");
                assert!(stored.expect("the message").summary.read, "{id} read");
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer");
    }
    assert_eq!(store.counts().await.unwrap().unread, 0);
}
