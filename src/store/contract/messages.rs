//! Storing messages and reading them back: one message, pages, cursors,
//! counts and inboxes.

use super::fixtures::{ids, prepared, query, simple, simple_raw};
use super::{Backend, open};
use crate::domain::inbox::InboxName;
use crate::domain::search::Query;
use crate::store::{Cursor, InboxCounts};

const MULTIPART: &[u8] = b"From: Ann <ann@example.com>\r
To: Bob <bob@example.com>\r
Subject: Round trip\r
Date: Tue, 01 Jul 2025 10:00:00 +0000\r
Message-ID: <trip@example.com>\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary=\"b\"\r
\r
--b\r
Content-Type: text/plain\r
\r
Body text.\r
--b\r
Content-Type: application/octet-stream\r
Content-Disposition: attachment; filename=\"data.bin\"\r
\r
0123456789\r
--b--\r
";

/// What goes in comes out: the raw bytes exactly, the summary, the
/// envelope, the parts; an unknown ID is `None`, not an error.
pub async fn insert_get_raw_round_trip(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    let message = prepared("m1", 1_751_364_000_123, &["bob@example.com"], MULTIPART);
    let summary = message.summary();
    let (envelope, parts) = (message.envelope.clone(), message.parsed.parts.clone());
    store.insert(message).await.expect("insert");

    let raw = store.raw("m1".into()).await.expect("raw");
    assert_eq!(
        raw.as_deref(),
        Some(MULTIPART),
        "raw bytes exactly as received"
    );
    let stored = store
        .message("m1".into())
        .await
        .expect("message")
        .expect("the stored message");
    assert_eq!(stored.received_at_ms, 1_751_364_000_123);
    assert_eq!(stored.date, Some(1_751_364_000));
    assert_eq!(stored.envelope, envelope);
    assert_eq!(stored.parts, parts);
    let s = &stored.summary;
    assert_eq!(
        (s.id.as_str(), s.subject.as_str(), s.from.address.as_str()),
        ("m1", "Round trip", "ann@example.com")
    );
    assert_eq!((s.size, s.attachments, s.read), (summary.size, 1, false));
    assert_eq!(s.message_id, "trip@example.com");
    assert_eq!(s.created, summary.created);
    assert_eq!(s.snippet, summary.snippet);

    assert!(
        store
            .message("nope".into())
            .await
            .expect("message")
            .is_none()
    );
    assert!(store.raw("nope".into()).await.expect("raw").is_none());
    // An ID is stored once.
    assert!(store.insert(simple("m1", "again")).await.is_err());
    assert_eq!(store.counts().await.expect("counts").total, 1);
}

/// Lists are newest first and page by `start` and `limit`; cursors find
/// the oldest message after an ID or at or after a time.
pub async fn list_pages_and_cursors(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    for n in 0..7 {
        let raw = simple_raw(&format!("number {n}"));
        let id = format!("m{n:02}");
        let at = 1_000_000 + n * 1000;
        store
            .insert(prepared(&id, at, &["rcpt@example.com"], &raw))
            .await
            .expect("insert");
    }
    let all = store.list(0, 100).await.expect("list");
    let newest_first: Vec<String> = (0..7).rev().map(|n| format!("m{n:02}")).collect();
    assert_eq!(ids(&all), newest_first);
    assert_eq!((all.total, all.unread, all.matched), (7, 7, 7));
    let page = store.list(2, 3).await.expect("page");
    assert_eq!(ids(&page), ["m04", "m03", "m02"]);
    assert_eq!(
        (page.total, page.matched),
        (7, 7),
        "counts are of all, not the page"
    );
    assert!(ids(&store.list(7, 3).await.expect("past the end")).is_empty());
    // Every window, wherever it lies (a backend may read a page past the
    // middle from the oldest end), is the same slice of the whole list.
    for start in 0..9 {
        for limit in 0..5 {
            let page = store.list(start, limit).await.expect("window");
            let (from, to) = (start.min(7) as usize, (start + limit).min(7) as usize);
            assert_eq!(
                ids(&page),
                newest_first[from..to],
                "start={start} limit={limit}"
            );
            assert_eq!(page.matched, 7, "start={start} limit={limit}");
        }
    }

    let any = Query::default();
    let after = |c: Cursor| store.first_after(any.clone(), c);
    assert_eq!(
        after(Cursor::AfterId("m02".into()))
            .await
            .unwrap()
            .as_deref(),
        Some("m03")
    );
    assert_eq!(after(Cursor::AfterId("m06".into())).await.unwrap(), None);
    assert_eq!(
        after(Cursor::AfterTime(1_003_000))
            .await
            .unwrap()
            .as_deref(),
        Some("m03")
    );
    assert_eq!(
        after(Cursor::AfterTime(1_003_001))
            .await
            .unwrap()
            .as_deref(),
        Some("m04")
    );
    let odd = query("subject:\"number 5\"");
    let first = store.first_after(odd.clone(), Cursor::AfterTime(0)).await;
    assert_eq!(first.unwrap().as_deref(), Some("m05"));

    // An export's walk: pages in ID order, from the start or after an ID.
    let page = store.ids_after(any.clone(), None, 3).await.unwrap();
    assert_eq!(page, ["m00", "m01", "m02"]);
    let page = store.ids_after(any.clone(), Some("m02".into()), 3).await;
    assert_eq!(page.unwrap(), ["m03", "m04", "m05"]);
    let page = store.ids_after(any.clone(), Some("m05".into()), 3).await;
    assert_eq!(page.unwrap(), ["m06"]);
    let page = store.ids_after(odd.clone(), Some("m01".into()), 3).await;
    assert_eq!(page.unwrap(), ["m05"]);

    assert_eq!(store.latest_id(None).await.unwrap().as_deref(), Some("m06"));
    let latest = store.latest_id(Some(query("subject:\"number 1\""))).await;
    assert_eq!(latest.unwrap().as_deref(), Some("m01"));
    assert_eq!(
        store
            .latest_id(Some(query("nothing-matches")))
            .await
            .unwrap(),
        None
    );
    assert!(store.matches(odd.clone(), "m05".into()).await.unwrap());
    assert!(!store.matches(odd, "m04".into()).await.unwrap());
    // Words alone (which a backend may test apart), and a missing ID.
    let words = query("\"number 5\" -nothing");
    assert!(store.matches(words.clone(), "m05".into()).await.unwrap());
    assert!(!store.matches(words.clone(), "m04".into()).await.unwrap());
    assert!(!store.matches(words, "m99".into()).await.unwrap());
}

/// Counts of everything and of each inbox, read and unread.
pub async fn counts_and_inboxes(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    let empty = store.counts().await.expect("counts");
    assert_eq!((empty.total, empty.unread), (0, 0));
    assert!(store.inbox_counts().await.expect("inboxes").is_empty());
    for (id, inbox) in [("a1", "default"), ("a2", "team"), ("a3", "team")] {
        let mut message = simple(id, id);
        message.inbox = InboxName::parse(inbox).expect("an inbox name");
        store.insert(message).await.expect("insert");
    }
    store
        .set_read(crate::store::Selection::Ids(vec!["a2".into()]), true)
        .await
        .expect("set_read");
    let counts = store.counts().await.expect("counts");
    assert_eq!((counts.total, counts.unread), (3, 2));
    let by_inbox = store.inbox_counts().await.expect("inboxes");
    let inbox = |name: &str, total, unread| InboxCounts {
        name: name.into(),
        total,
        unread,
    };
    assert_eq!(by_inbox, [inbox("default", 1, 1), inbox("team", 2, 1)]);
    assert!(store.inbox_in_use("team".into()).await.unwrap());
    assert!(!store.inbox_in_use("other".into()).await.unwrap());
    let team = store
        .search(Query::default().in_inbox("team"), 0, 10)
        .await
        .expect("search");
    assert_eq!(ids(&team), ["a3", "a2"]);

    let info = store.info().await.expect("info");
    assert!(!info.backend.is_empty());
    assert_eq!(info.location, store.describe().location);
}
