//! Read state (`PUT /api/v1/messages`, `is:read`, `is:unread`) and tags
//! (automatic at ingest, set, rename, merge, delete, and where they show).

mod common;

use std::collections::BTreeSet;

use common::Letterbox;
use letterbox::client::http::encode;
use serde_json::{Value, json};

/// `PUT /api/v1/messages` with this body, which must succeed.
async fn put_read(lb: &Letterbox, body: Value) {
    lb.request_ok("PUT", "/api/v1/messages", &body).await;
}

/// `PUT /api/v1/tags` with these IDs and tags, which must succeed.
async fn set_tags(lb: &Letterbox, ids: &[&String], tags: &[&str]) {
    lb.request_ok("PUT", "/api/v1/tags", &json!({"IDs": ids, "Tags": tags}))
        .await;
}

fn set_of(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

async fn search_set(lb: &Letterbox, query: &str) -> BTreeSet<String> {
    lb.search_ids(query).await.into_iter().collect()
}

/// Asserts which of `all` are read: through `is:read`, `is:unread`, the
/// list's counters, each summary's and each message's `Read`.
async fn assert_read(lb: &Letterbox, all: &[&String], read: &[&String]) {
    let read = set_of(read);
    let unread: BTreeSet<String> = set_of(all).difference(&read).cloned().collect();
    assert_eq!(search_set(lb, "is:read").await, read, "is:read");
    assert_eq!(search_set(lb, "is:unread").await, unread, "is:unread");
    assert_eq!(search_set(lb, "-is:read").await, unread, "-is:read");
    let list = lb.list().await;
    assert_eq!(list["unread"], unread.len(), "{list}");
    assert_eq!(list["messages_unread"], unread.len(), "{list}");
    for entry in list["messages"].as_array().expect("messages") {
        let id = entry["ID"].as_str().expect("ID");
        assert_eq!(entry["Read"], read.contains(id), "summary {id}");
        assert_eq!(lb.message(id).await["Read"], read.contains(id), "{id}");
    }
    let info = lb.get_ok("/api/v1/info").await;
    assert_eq!(info["Unread"], unread.len(), "{info}");
}

/// The `Tags` of one message, as the message JSON shows them.
async fn tags_of(lb: &Letterbox, id: &str) -> Value {
    lb.message(id).await["Tags"].clone()
}

#[tokio::test]
async fn read_state_by_ids_by_search_and_for_all() {
    let lb = Letterbox::start();
    let ids = lb.send_numbered(4).await;
    let [a, b, c, d] = [&ids[0], &ids[1], &ids[2], &ids[3]];
    let all = [a, b, c, d];
    assert_read(&lb, &all, &[]).await;

    // Reading a message does not mark it read (asserted above, again here).
    lb.message(a).await;
    lb.get_ok(&format!("/api/v1/message/{a}/headers")).await;
    lb.raw(a).await;
    assert_read(&lb, &all, &[]).await;

    put_read(&lb, json!({"IDs": [a, b], "Read": true})).await;
    assert_read(&lb, &all, &[a, b]).await;
    // Unknown IDs are passed over; the known ones still change.
    put_read(
        &lb,
        json!({"IDs": ["01ARZ3NDEKTSV4RRFFQ69G5FAV", c], "Read": true}),
    )
    .await;
    assert_read(&lb, &all, &[a, b, c]).await;
    put_read(&lb, json!({"IDs": [b], "Read": false})).await;
    assert_read(&lb, &all, &[a, c]).await;
    // Setting the state a message already has changes nothing.
    put_read(&lb, json!({"IDs": [a], "Read": true})).await;
    assert_read(&lb, &all, &[a, c]).await;

    // By search.
    put_read(&lb, json!({"Search": "subject:m3", "Read": true})).await;
    assert_read(&lb, &all, &[a, c, d]).await;
    put_read(&lb, json!({"Search": "is:read -subject:m0", "Read": false})).await;
    assert_read(&lb, &all, &[a]).await;
    put_read(&lb, json!({"Search": "subject:absent", "Read": true})).await;
    assert_read(&lb, &all, &[a]).await;

    // Every message: neither IDs nor Search, or both empty.
    put_read(&lb, json!({"Read": true})).await;
    assert_read(&lb, &all, &all).await;
    put_read(&lb, json!({"IDs": [], "Search": "", "Read": false})).await;
    assert_read(&lb, &all, &[]).await;
    // Go's JSON matches keys case-insensitively, so clients send these too.
    put_read(&lb, json!({"ids": [d], "read": true})).await;
    assert_read(&lb, &all, &[d]).await;
    put_read(&lb, json!({"search": "subject:m1", "read": true})).await;
    assert_read(&lb, &all, &[b, d]).await;
}

#[tokio::test]
async fn bad_read_requests_are_400_and_change_nothing() {
    let lb = Letterbox::start();
    let id = lb.send_simple("stays unread").await;
    for (body, says) in [
        ("", "JSON body is required"),
        ("not json", "invalid JSON"),
        ("[]", "invalid JSON"),
        (r#"{"Read": "yes"}"#, "invalid JSON"),
        (r#"{"IDs": "one", "Read": true}"#, "invalid JSON"),
        (r#"{"Read": true, "Starred": true}"#, "Starred"),
        (r#"{"Search": "is:bogus", "Read": true}"#, "is:bogus"),
        (
            r#"{"Search": "\"open", "Read": true}"#,
            "unterminated quote",
        ),
    ] {
        let error = lb
            .request_err("PUT", "/api/v1/messages", Some(body), 400)
            .await;
        assert!(error.contains(says), "{body}: {error}");
    }
    assert_read(&lb, &[&id], &[]).await;
}

#[tokio::test]
async fn tags_come_from_x_tags_and_plus_addresses() {
    let lb = Letterbox::start();
    let raw = "From: App <app+outbound@example.com>\r\n\
               To: Ann <ann+signup@example.com>, bob@example.com\r\n\
               Cc: carol+Team.A@example.com\r\n\
               Bcc: dave+audit@example.com\r\n\
               X-Tags: Welcome, beta-2 , we!rd, SIGNUP\r\n\
               X-Tags: second header\r\n\
               Subject: Tagged\r\n\
               \r\n\
               Body\r\n";
    // eve+hidden is a Bcc recipient found only in the envelope.
    let tagged = lb
        .send_raw(
            "app@example.com",
            &["ann+signup@example.com", "eve+hidden@example.com"],
            raw.as_bytes(),
        )
        .await;
    let untagged = lb.send_simple("No tags").await;
    // The first spelling wins: "SIGNUP" in X-Tags over ann+signup.
    let expected = json!([
        "audit",
        "beta-2",
        "hidden",
        "outbound",
        "second header",
        "SIGNUP",
        "Team.A",
        "Welcome",
        "werd"
    ]);
    assert_eq!(lb.get_ok("/api/v1/tags").await, expected);
    assert_eq!(tags_of(&lb, &tagged).await, expected);
    assert_eq!(tags_of(&lb, &untagged).await, json!([]));
    let list = lb.list().await;
    assert_eq!(list["tags"], expected);
    assert_eq!(list["messages"][1]["ID"], tagged.as_str());
    assert_eq!(list["messages"][1]["Tags"], expected);
    assert_eq!(list["messages"][0]["Tags"], json!([]));

    for tag in [
        "signup",
        "SIGNUP",
        "team.a",
        "hidden",
        "second header",
        "werd",
    ] {
        let query = if tag.contains(' ') {
            format!("tag:\"{tag}\"")
        } else {
            format!("tag:{tag}")
        };
        assert_eq!(lb.search_ids(&query).await, [tagged.as_str()], "{query}");
    }
    assert_eq!(lb.search_ids("is:tagged").await, [tagged.as_str()]);
    assert_eq!(lb.search_ids("-is:tagged").await, [untagged.as_str()]);
}

#[tokio::test]
async fn setting_tags_replaces_them_and_an_empty_list_clears_them() {
    let lb = Letterbox::start();
    let ids = lb.send_numbered(3).await;
    let [a, b, c] = [&ids[0], &ids[1], &ids[2]];

    set_tags(&lb, &[a, b], &["red", "Blue"]).await;
    for id in [a, b] {
        assert_eq!(tags_of(&lb, id).await, json!(["Blue", "red"]));
    }
    assert_eq!(tags_of(&lb, c).await, json!([]));
    assert_eq!(lb.get_ok("/api/v1/tags").await, json!(["Blue", "red"]));

    // Replaced, not added to; cleaned of disallowed characters; duplicates
    // (in any letter case) and empty names dropped.
    set_tags(&lb, &[a], &["green", "GREEN", "we<i>rd!", "  ", "red"]).await;
    assert_eq!(tags_of(&lb, a).await, json!(["green", "red", "weird"]));
    assert_eq!(tags_of(&lb, b).await, json!(["Blue", "red"]));
    assert_eq!(
        lb.get_ok("/api/v1/tags").await,
        json!(["Blue", "green", "red", "weird"])
    );
    assert_eq!(search_set(&lb, "tag:red").await, set_of(&[a, b]));
    assert_eq!(search_set(&lb, "is:tagged").await, set_of(&[a, b]));

    // Clearing: tags no message carries leave the list.
    set_tags(&lb, &[a], &[]).await;
    assert_eq!(tags_of(&lb, a).await, json!([]));
    assert_eq!(lb.get_ok("/api/v1/tags").await, json!(["Blue", "red"]));
    set_tags(&lb, &[b], &[]).await;
    assert_eq!(lb.get_ok("/api/v1/tags").await, json!([]));
    assert_eq!(search_set(&lb, "is:tagged").await, BTreeSet::new());

    // Unknown IDs are passed over.
    set_tags(&lb, &[&"01ARZ3NDEKTSV4RRFFQ69G5FAV".to_string(), c], &["x"]).await;
    assert_eq!(tags_of(&lb, c).await, json!(["x"]));
}

#[tokio::test]
async fn bad_tag_requests_are_refused() {
    let lb = Letterbox::start();
    let id = lb.send_simple("tagged").await;
    set_tags(&lb, &[&id], &["keep"]).await;
    for (body, says) in [
        ("", "JSON body is required"),
        ("{", "invalid JSON"),
        (r#"{"IDs": [], "Tags": ["x"]}"#, "IDs"),
        (r#"{"IDs": ["a"], "Tags": "x"}"#, "invalid JSON"),
        (r#"{"IDs": ["a"], "Tags": ["x"], "Color": 1}"#, "Color"),
    ] {
        let error = lb.request_err("PUT", "/api/v1/tags", Some(body), 400).await;
        assert!(error.contains(says), "{body}: {error}");
    }
    for (body, says) in [
        ("", "JSON body is required"),
        (r#"{"name": 5}"#, "invalid JSON"),
        (r#"{"Name": "!!!"}"#, "no allowed characters"),
        (r#"{"Name": "x", "Extra": 1}"#, "Extra"),
    ] {
        let error = lb
            .request_err("PUT", "/api/v1/tags/keep", Some(body), 400)
            .await;
        assert!(error.contains(says), "{body}: {error}");
    }
    let rename = json!({"Name": "new"}).to_string();
    let error = lb
        .request_err("PUT", "/api/v1/tags/absent", Some(&rename), 404)
        .await;
    assert!(error.contains("absent"), "{error}");
    let error = lb
        .request_err("DELETE", "/api/v1/tags/absent", None, 404)
        .await;
    assert!(error.contains("absent"), "{error}");
    assert_eq!(tags_of(&lb, &id).await, json!(["keep"]));
}

#[tokio::test]
async fn renaming_a_tag_and_merging_into_an_existing_one() {
    let lb = Letterbox::start();
    let ids = lb.send_numbered(3).await;
    let [a, b, c] = [&ids[0], &ids[1], &ids[2]];
    set_tags(&lb, &[a], &["old", "shared"]).await;
    set_tags(&lb, &[b], &["old"]).await;
    set_tags(&lb, &[c], &["shared", "other"]).await;

    lb.request_ok("PUT", "/api/v1/tags/old", &json!({"Name": "Renamed Tag"}))
        .await;
    assert_eq!(tags_of(&lb, a).await, json!(["Renamed Tag", "shared"]));
    assert_eq!(tags_of(&lb, b).await, json!(["Renamed Tag"]));
    assert_eq!(
        lb.get_ok("/api/v1/tags").await,
        json!(["other", "Renamed Tag", "shared"])
    );
    assert_eq!(search_set(&lb, "tag:old").await, BTreeSet::new());

    // A name with a space, percent-encoded in the path; renamed onto an
    // existing tag: the two merge, and `a`, which had both, keeps one.
    let path = format!("/api/v1/tags/{}", encode("Renamed Tag"));
    lb.request_ok("PUT", &path, &json!({"Name": "shared"}))
        .await;
    assert_eq!(tags_of(&lb, a).await, json!(["shared"]));
    assert_eq!(tags_of(&lb, b).await, json!(["shared"]));
    assert_eq!(tags_of(&lb, c).await, json!(["other", "shared"]));
    assert_eq!(lb.get_ok("/api/v1/tags").await, json!(["other", "shared"]));
    assert_eq!(search_set(&lb, "tag:shared").await, set_of(&[a, b, c]));

    // Only the letter case changes; lower-case `name` is accepted too.
    lb.request_ok("PUT", "/api/v1/tags/SHARED", &json!({"name": "Shared"}))
        .await;
    assert_eq!(lb.get_ok("/api/v1/tags").await, json!(["other", "Shared"]));
    assert_eq!(tags_of(&lb, c).await, json!(["other", "Shared"]));
}

#[tokio::test]
async fn deleting_a_tag_keeps_the_messages() {
    let lb = Letterbox::start();
    let ids = lb.send_numbered(2).await;
    let [a, b] = [&ids[0], &ids[1]];
    set_tags(&lb, &[a, b], &["gone", "kept"]).await;

    let (status, body) = lb.request("DELETE", "/api/v1/tags/GONE", None).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(lb.list().await["total"], 2);
    for id in [a, b] {
        assert_eq!(tags_of(&lb, id).await, json!(["kept"]));
    }
    assert_eq!(lb.get_ok("/api/v1/tags").await, json!(["kept"]));
    assert_eq!(search_set(&lb, "tag:gone").await, BTreeSet::new());
    lb.request_err("DELETE", "/api/v1/tags/gone", None, 404)
        .await;

    let (status, body) = lb.request("DELETE", "/api/v1/tags/kept", None).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(lb.get_ok("/api/v1/tags").await, json!([]));
    assert_eq!(search_set(&lb, "is:tagged").await, BTreeSet::new());
    assert_eq!(lb.list().await["total"], 2);
}

#[tokio::test]
async fn deleting_messages_drops_tags_nobody_carries() {
    let lb = Letterbox::start();
    let ids = lb.send_numbered(2).await;
    set_tags(&lb, &[&ids[0]], &["only-first"]).await;
    set_tags(&lb, &[&ids[1]], &["only-second"]).await;
    let (status, _) = lb
        .delete_messages(Some(&json!({"IDs": [ids[0]]}).to_string()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(lb.get_ok("/api/v1/tags").await, json!(["only-second"]));
    assert_eq!(lb.list().await["tags"], json!(["only-second"]));
}

#[tokio::test]
async fn info_counts_the_tags_in_use() {
    let lb = Letterbox::start();
    let ids = lb.send_numbered(3).await;
    set_tags(&lb, &[&ids[0], &ids[1]], &["two"]).await;
    set_tags(&lb, &[&ids[2]], &["one", "two"]).await;
    let info = lb.get_ok("/api/v1/info").await;
    assert_eq!(info["Tags"], json!({"one": 1, "two": 3}), "{info}");
}
