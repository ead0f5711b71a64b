//! Search over the real binary: every filter of the query language,
//! positive and negated, paging, errors, `latest?query=` and
//! `DELETE /api/v1/search`.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Letterbox, ids_of, simple_message};
use letterbox::client::http::encode;
use letterbox::domain::timefmt::{now_millis, rfc3339_millis as rfc3339};
// The same messages and single-term table the store contract holds every
// backend to, here through SMTP and HTTP.
use letterbox::store::contract::search::{ALL, SINGLE_TERMS, WELCOME, WELCOME_RCPTS, invoice};
use serde_json::json;

/// The three fixture messages' IDs, by name.
struct Fixture {
    welcome: String,
    invoice: String,
    plain: String,
}

impl Fixture {
    async fn send(lb: &Letterbox) -> Fixture {
        let welcome = lb
            .send_raw("ann@example.com", WELCOME_RCPTS, WELCOME.as_bytes())
            .await;
        let invoice = lb
            .send_raw(
                "billing@shop.example",
                &["dave+orders@example.com", "eve@example.com"],
                invoice().as_bytes(),
            )
            .await;
        let plain = lb.send_simple("Plain note").await;
        Fixture {
            welcome,
            invoice,
            plain,
        }
    }

    /// The IDs of the named messages (`welcome`, `invoice`, `plain`).
    fn ids(&self, names: &[&str]) -> BTreeSet<String> {
        names
            .iter()
            .map(|name| match *name {
                "welcome" => self.welcome.clone(),
                "invoice" => self.invoice.clone(),
                "plain" => self.plain.clone(),
                other => panic!("no fixture message {other:?}"),
            })
            .collect()
    }
}

async fn matches(lb: &Letterbox, query: &str) -> BTreeSet<String> {
    lb.search_ids(query).await.into_iter().collect()
}

#[tokio::test]
async fn every_filter_positive_and_negated() {
    let lb = Letterbox::start();
    let f = Fixture::send(&lb).await;
    lb.request_ok(
        "PUT",
        "/api/v1/messages",
        &json!({"IDs": [f.plain], "Read": true}),
    )
    .await;
    // The size filters compare the stored size of the raw message.
    let list = lb.list().await;
    for entry in list["messages"].as_array().expect("messages") {
        let size = entry["Size"].as_u64().expect("Size");
        let big = entry["ID"] == f.invoice.as_str();
        assert_eq!(size > 3 * 1024, big, "fixture sizes: {entry}");
    }

    let all = f.ids(ALL);
    let mut failures = Vec::new();
    for &(query, names) in SINGLE_TERMS {
        let expected = f.ids(names);
        let others: BTreeSet<String> = all.difference(&expected).cloned().collect();
        for (q, want) in [
            (query.to_string(), &expected),
            (format!("-{query}"), &others),
            (format!("!{query}"), &others),
        ] {
            let got = matches(&lb, &q).await;
            if &got != want {
                failures.push(format!("{q}: expected {want:?}, got {got:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "welcome={} invoice={} plain={}\n{}",
        f.welcome,
        f.invoice,
        f.plain,
        failures.join("\n")
    );
}

#[tokio::test]
async fn terms_are_and_ed() {
    let lb = Letterbox::start();
    let f = Fixture::send(&lb).await;
    for (query, names) in [
        ("quick brown", &["welcome"][..]),
        ("brown quick", &["welcome"]),
        ("quick statement", &[]),
        ("quick -brown", &[]),
        ("from:ann subject:welcome has:attachment", &[]),
        ("from:ann -has:attachment", &["welcome"]),
        ("is:tagged !tag:orders", &["welcome"]),
        ("is:unread -is:tagged", &["plain"]),
        ("header:X-Campaign verif tag:beta to:bob", &["welcome"]),
        ("  from:ann    cc:carol  ", &["welcome"]),
        ("-from:ann -from:billing", &["plain"]),
    ] {
        assert_eq!(matches(&lb, query).await, f.ids(names), "{query}");
    }
}

#[tokio::test]
async fn before_and_after_split_by_arrival_time() {
    let lb = Letterbox::start();
    let first = lb.send_simple("first").await;
    // The 250 reply comes after the commit, so `first` arrived at or
    // before `t`; wait for the clock to pass t + 1 before the second.
    let t = now_millis();
    while now_millis() <= t + 1 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let second = lb.send_simple("second").await;
    let split = t + 1;
    let utc = rfc3339(split);
    // The same instant written in +02:00.
    let plus_two = rfc3339(split + 2 * 3_600_000).replace('Z', "+02:00");
    for at in [&utc, &plus_two] {
        assert_eq!(
            lb.search_ids(&format!("after:{at}")).await,
            [second.as_str()],
            "{at}"
        );
        assert_eq!(
            lb.search_ids(&format!("before:{at}")).await,
            [first.as_str()],
            "{at}"
        );
        assert_eq!(
            lb.search_ids(&format!("-after:{at}")).await,
            [first.as_str()],
            "{at}"
        );
        let between = format!("after:{} before:{}", rfc3339(t - 60_000), at);
        assert_eq!(lb.search_ids(&between).await, [first.as_str()], "{between}");
    }
}

#[tokio::test]
async fn search_pages_count_matches_not_the_mailbox() {
    let lb = Letterbox::start();
    let mut matching = Vec::new();
    for i in 0..25 {
        matching.push(lb.send_simple(&format!("page {i}")).await);
        if i % 5 == 0 {
            lb.send_simple(&format!("other {i}")).await;
        }
    }
    lb.request_ok(
        "PUT",
        "/api/v1/messages",
        &json!({"IDs": [matching[0]], "Read": true}),
    )
    .await;
    let newest_first: Vec<String> = matching.iter().rev().cloned().collect();

    let mut seen = Vec::new();
    for (start, limit, len) in [
        (0, 10, 10),
        (10, 10, 10),
        (20, 10, 5),
        (25, 10, 0),
        (3, 1, 1),
    ] {
        let page = lb
            .get_ok(&format!(
                "/api/v1/search?query=subject:page&start={start}&limit={limit}"
            ))
            .await;
        assert_eq!(page["total"], 30, "{page}");
        assert_eq!(page["unread"], 29, "{page}");
        assert_eq!(page["messages_count"], 25, "{page}");
        assert_eq!(page["messages_unread"], 24, "{page}");
        assert_eq!(page["start"], start, "{page}");
        assert_eq!(page["count"], len, "{page}");
        let ids = ids_of(&page);
        let end = (start + len).min(25);
        assert_eq!(ids, newest_first[start.min(25)..end], "start={start}");
        if limit == 10 {
            seen.extend(ids);
        }
    }
    assert_eq!(seen, newest_first, "the pages cover every match once");

    // The default page is 50 and limit=0 means the default.
    for query in ["query=subject:page", "query=subject:page&limit=0"] {
        let page = lb.get_ok(&format!("/api/v1/search?{query}")).await;
        assert_eq!(ids_of(&page), newest_first, "{query}");
    }
    let none = lb.search("subject:nothing-like-this").await;
    assert_eq!(none["messages_count"], 0, "{none}");
    assert_eq!(none["messages"], json!([]), "{none}");
    assert_eq!(none["total"], 30, "{none}");
}

/// Word searches are answered by the full-text index alone, and queries
/// on the read flag and tags by a narrow index: their counts and deep pages
/// must agree with the general path whatever is read.
#[tokio::test]
async fn counts_and_deep_pages_hold_whatever_is_read() {
    let lb = Letterbox::start();
    let mut alpha = Vec::new();
    for i in 0..6 {
        alpha.push(lb.send_simple(&format!("alpha {i}")).await);
        if i % 2 == 0 {
            lb.send_simple(&format!("beta {i}")).await;
        }
    }
    let newest_first: Vec<String> = alpha.iter().rev().cloned().collect();
    let set_read = |ids: &[String], read: bool| {
        let body = json!({"IDs": ids, "Read": read});
        let lb = &lb;
        async move { lb.request_ok("PUT", "/api/v1/messages", &body).await }
    };
    let counts = |query: &'static str| {
        let lb = &lb;
        async move {
            let page = lb.search(query).await;
            (
                page["messages_count"].as_u64().unwrap(),
                page["messages_unread"].as_u64().unwrap(),
            )
        }
    };

    // Every message unread, then one read, then all read.
    assert_eq!(counts("alpha").await, (6, 6));
    assert_eq!(counts("alpha subject:alpha").await, (6, 6));
    set_read(&alpha[..1], true).await;
    assert_eq!(counts("alpha").await, (6, 5));
    assert_eq!(counts("alpha hello").await, (6, 5));
    assert_eq!(counts("is:unread").await, (8, 8));
    assert_eq!(counts("is:read").await, (1, 0));
    set_read(&lb.ids().await, true).await;
    assert_eq!(counts("alpha").await, (6, 0));
    assert_eq!(counts("is:unread").await, (0, 0));
    set_read(&alpha[3..], false).await;
    assert_eq!(counts("alpha").await, (6, 3));
    assert_eq!(counts("is:unread").await, (3, 3));

    // Pages past the first, newest first, from each path.
    for query in ["alpha", "alpha subject:alpha", "is:unread", ""] {
        let expected: Vec<String> = match query {
            "is:unread" => newest_first[..3].to_vec(),
            "" => lb.ids().await,
            _ => newest_first.clone(),
        };
        for start in [0, 2, 5, 9] {
            let path = match query {
                "" => format!("/api/v1/messages?start={start}&limit=2"),
                _ => format!(
                    "/api/v1/search?query={}&start={start}&limit=2",
                    letterbox::client::http::encode(query)
                ),
            };
            let page = lb.get_ok(&path).await;
            let from = start.min(expected.len());
            let to = (start + 2).min(expected.len());
            assert_eq!(ids_of(&page), expected[from..to], "{query} start={start}");
        }
    }
}

/// A word searches as a prefix whether it stands for one indexed term, a
/// few (read from each term's match list) or many (a prefix query).
#[tokio::test]
async fn a_word_matches_every_term_it_starts() {
    let lb = Letterbox::start();
    let alpha = lb.send_simple("alpha").await;
    let alpine = lb.send_simple("Alpine").await;
    let alps = lb.send_simple("Älps").await;
    let mut many = Vec::new();
    for i in 0..20 {
        many.push(lb.send_simple(&format!("zq{i}x")).await);
    }
    let set = |ids: &[&String]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    for (query, expected) in [
        ("alpha", set(&[&alpha])),
        ("alp", set(&[&alpha, &alpine, &alps])),
        ("ALP", set(&[&alpha, &alpine, &alps])),
        ("älp", set(&[&alpha, &alpine, &alps])),
        ("alpz", BTreeSet::new()),
        (
            "zq",
            many.iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .cloned()
                .collect(),
        ),
        (
            "zq1",
            set(&[
                &many[1], &many[10], &many[11], &many[12], &many[13], &many[14], &many[15],
                &many[16], &many[17], &many[18], &many[19],
            ]),
        ),
        ("zq1 alp", BTreeSet::new()),
    ] {
        let page = lb.search(query).await;
        assert_eq!(matches(&lb, query).await, expected, "{query}");
        assert_eq!(page["messages_count"], expected.len(), "{query}");
    }
}

/// With hundreds of messages read and hundreds not, the unread among a
/// word's matches are counted by merging the matches with the read (or
/// the unread) messages; the two sides are tried either way round.
#[tokio::test]
async fn unread_matches_when_many_are_read_and_many_not() {
    let lb = Letterbox::start();
    let mut smtp = lb.session().await;
    for i in 0..500 {
        let subject = if i % 2 == 0 { "even" } else { "odd" };
        let data = common::simple_message(&format!("{subject} {i}"), "Hello.");
        smtp.send_message("a@example.com", &["b@example.com"], &data)
            .await;
    }
    smtp.quit().await;
    let ids = lb.ids().await;
    assert_eq!(ids.len(), 500);
    // Too many of either to test one by one: first fewer read (220), then
    // fewer unread (220), so both ways round are merged.
    for (read, unread_per_word) in [(220, 140), (280, 110)] {
        lb.request_ok(
            "PUT",
            "/api/v1/messages",
            &json!({"IDs": &ids[..read], "Read": true}),
        )
        .await;
        for word in ["even", "odd", "hello"] {
            let page = lb.search(word).await;
            let expected = if word == "hello" {
                (500, 2 * unread_per_word)
            } else {
                (250, unread_per_word)
            };
            assert_eq!(
                (
                    page["messages_count"].as_u64().unwrap(),
                    page["messages_unread"].as_u64().unwrap()
                ),
                expected,
                "{word} with {read} read"
            );
        }
    }
}

#[tokio::test]
async fn search_lists_every_tag_in_use_and_each_messages_tags() {
    let lb = Letterbox::start();
    let f = Fixture::send(&lb).await;
    let page = lb.search("tag:orders").await;
    assert_eq!(
        page["tags"],
        json!(["archive", "Beta", "onboarding", "orders"])
    );
    assert_eq!(page["messages"][0]["ID"], f.invoice.as_str());
    assert_eq!(page["messages"][0]["Tags"], json!(["orders"]));
    let welcome = lb.search("tag:beta").await;
    assert_eq!(
        welcome["messages"][0]["Tags"],
        json!(["archive", "Beta", "onboarding"])
    );
}

#[tokio::test]
async fn bad_queries_are_400_saying_what_is_wrong() {
    let lb = Letterbox::start();
    lb.send_simple("kept").await;
    for (query, says) in [
        ("from:", "from: needs a value"),
        ("subject:", "subject: needs a value"),
        ("is:starred", "is:starred"),
        ("has:pdf", "has:pdf"),
        ("larger:big", "not a size"),
        ("smaller:-5K", "not a size"),
        ("after:yesterday", "not a date"),
        ("before:2026-13-45", "not a date"),
        ("\"open", "unterminated quote"),
        ("header::value", "header name"),
    ] {
        let path = format!("/api/v1/search?query={}", encode(query));
        let error = lb.request_err("GET", &path, None, 400).await;
        assert!(
            error.starts_with("bad query: ") && error.contains(says),
            "{query}: {error}"
        );
        // The same refusal when deleting by that query; nothing is deleted.
        let error = lb.request_err("DELETE", &path, None, 400).await;
        assert!(error.contains(says), "DELETE {query}: {error}");
    }
    for path in [
        "/api/v1/search",
        "/api/v1/search?query=",
        "/api/v1/search?query=%20%20",
    ] {
        let error = lb.request_err("GET", path, None, 400).await;
        assert!(error.contains("query"), "{path}: {error}");
        lb.request_err("DELETE", path, None, 400).await;
    }
    for query in ["limit=x", "start=-1"] {
        let path = format!("/api/v1/search?query=kept&{query}");
        lb.request_err("GET", &path, None, 400).await;
    }
    assert_eq!(lb.list().await["total"], 1, "a refused delete deleted");
}

#[tokio::test]
async fn delete_search_deletes_exactly_the_matches() {
    let lb = Letterbox::start();
    let f = Fixture::send(&lb).await;
    let extra = lb.send_simple("Plain again").await;

    let (status, body) = lb
        .request("DELETE", "/api/v1/search?query=is:tagged", None)
        .await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let left: BTreeSet<String> = lb.ids().await.into_iter().collect();
    assert_eq!(left, [f.plain.clone(), extra.clone()].into());
    for id in [&f.welcome, &f.invoice] {
        lb.request_err("GET", &format!("/api/v1/message/{id}"), None, 404)
            .await;
    }
    // Their tags went with them.
    assert_eq!(lb.get_ok("/api/v1/tags").await, json!([]));
    assert_eq!(lb.search("is:tagged").await["messages_count"], 0);

    // A query matching nothing deletes nothing.
    let (status, _) = lb
        .request("DELETE", "/api/v1/search?query=subject:absent", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(lb.list().await["total"], 2);

    let path = format!("/api/v1/search?query={}", encode("subject:\"Plain again\""));
    assert_eq!(lb.request("DELETE", &path, None).await.0, 200);
    assert_eq!(lb.ids().await, [f.plain]);
}

#[tokio::test]
async fn a_query_that_is_only_negation_signs_deletes_nothing() {
    let lb = Letterbox::start();
    lb.send_simple("keep me").await;
    for query in ["-", "!", "- !", "-\u{20}-"] {
        let path = format!("/api/v1/search?query={}", encode(query));
        lb.request_err("DELETE", &path, None, 400).await;
        assert_eq!(lb.list().await["total"], 1, "DELETE {query:?} deleted");
    }
}

#[tokio::test]
async fn bcc_does_not_match_to_or_cc_recipients() {
    let lb = Letterbox::start();
    let f = Fixture::send(&lb).await;
    for query in ["bcc:bob", "bcc:carol", "bcc:dave", "bcc:rcpt@example.com"] {
        assert_eq!(matches(&lb, query).await, BTreeSet::new(), "{query}");
    }
    assert_eq!(matches(&lb, "bcc:hidden").await, f.ids(&["welcome"]));
}

#[tokio::test]
async fn header_filters_look_only_at_that_header() {
    let lb = Letterbox::start();
    let f = Fixture::send(&lb).await;
    let subject = "About X-Campaign and X-Priority 1";
    let talk = lb
        .send_raw(
            "a@example.com",
            &["b@example.com"],
            &simple_message(subject, "X-Campaign: spring sale"),
        )
        .await;
    assert!(matches(&lb, "X-Campaign").await.contains(&talk));
    for (query, names) in [
        ("header:X-Campaign", &["welcome"][..]),
        ("header:X-Campaign:spring", &["welcome"]),
        ("header:X-Priority:1", &["invoice"]),
    ] {
        assert_eq!(matches(&lb, query).await, f.ids(names), "{query}");
    }
}

#[tokio::test]
async fn header_values_match_anywhere_like_other_field_filters() {
    let lb = Letterbox::start();
    let f = Fixture::send(&lb).await;
    // subject: matches inside the value ("Welcome aboard"), so should header:.
    assert_eq!(matches(&lb, "subject:board").await, f.ids(&["welcome"]));
    assert_eq!(
        matches(&lb, "header:X-Campaign:sale").await,
        f.ids(&["welcome"])
    );
}

#[tokio::test]
async fn latest_with_a_query_on_message_headers_and_raw() {
    let lb = Letterbox::start();
    let f = Fixture::send(&lb).await;
    lb.send_simple("Plain note two").await;
    let q = encode("has:attachment");
    let message = lb
        .get_ok(&format!("/api/v1/message/latest?query={q}"))
        .await;
    assert_eq!(message["ID"], f.invoice.as_str());
    let headers = lb
        .get_ok(&format!("/api/v1/message/latest/headers?query={q}"))
        .await;
    assert_eq!(headers["X-Priority"], json!(["1"]));
    let raw = lb
        .get(&format!("/api/v1/message/latest/raw?query={q}"))
        .await;
    assert_eq!(raw.status(), 200);
    assert_eq!(raw.text().await.expect("raw text"), invoice());

    let newest_tagged = lb
        .get_ok(&format!(
            "/api/v1/message/latest?query={}",
            encode("tag:beta")
        ))
        .await;
    assert_eq!(newest_tagged["ID"], f.welcome.as_str());

    for path in [
        "/api/v1/message/latest?query=subject:absent",
        "/api/v1/message/latest/headers?query=subject:absent",
        "/api/v1/message/latest/raw?query=subject:absent",
    ] {
        lb.request_err("GET", path, None, 404).await;
    }
    let error = lb
        .request_err("GET", "/api/v1/message/latest?query=is:bogus", None, 400)
        .await;
    assert!(error.contains("is:bogus"), "{error}");
}

/// Mail built to tempt a search into matching what nobody meant: header
/// names (`Message-ID`, `MIME-Version`), other headers' values, the HTML
/// source.
fn tempting(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.com>\r\n\
         To: Recipient <rcpt@example.com>\r\n\
         Subject: {subject}\r\n\
         Message-ID: <delete-me-{}@tests.example.com>\r\n\
         MIME-Version: 1.0\r\n\
         X-Note: Delete Me version\r\n\
         Content-Type: text/html\r\n\
         \r\n\
         <p data-me=\"version\">{body}</p>\r\n",
        subject.replace(' ', ".")
    )
    .into_bytes()
}

#[tokio::test]
async fn delete_search_deletes_exactly_what_search_lists() {
    let lb = Letterbox::start();
    // Every message sent, with its subject; earlier rounds' survivors stay.
    let mut sent = BTreeSet::new();
    for (query, expected_subjects) in [
        ("subject:Delete Me", &["Delete Me"][..]),
        ("Me", &["Delete Me", "Meeting notes"]),
        ("version", &["New version out"]),
        ("\"Delete Me\"", &["Delete Me"]),
        (
            "html:data-me",
            &["No Delete", "Delete Me", "Meeting notes", "New version out"],
        ),
        (
            "header:X-Note:version",
            &["No Delete", "Delete Me", "Meeting notes", "New version out"],
        ),
        (
            "rcpt -subject:\"No Delete\"",
            &["Delete Me", "Meeting notes", "New version out"],
        ),
    ] {
        for (subject, body) in [
            ("No Delete", "keep this one"),
            ("Delete Me", "a note"),
            ("Meeting notes", "agenda"),
            ("New version out", "release"),
        ] {
            let id = lb
                .send_raw(
                    "sender@example.com",
                    &["rcpt@example.com"],
                    &tempting(subject, body),
                )
                .await;
            sent.insert((id, subject));
        }
        let before: BTreeSet<String> = lb.ids().await.into_iter().collect();
        let listed = matches(&lb, query).await;
        let expected: BTreeSet<String> = sent
            .iter()
            .filter(|(id, subject)| before.contains(id) && expected_subjects.contains(subject))
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(listed, expected, "GET search {query:?}");
        let path = format!("/api/v1/search?query={}", encode(query));
        assert_eq!(lb.request("DELETE", &path, None).await.0, 200, "{query}");
        let after: BTreeSet<String> = lb.ids().await.into_iter().collect();
        let kept: BTreeSet<String> = before.difference(&listed).cloned().collect();
        assert_eq!(
            after, kept,
            "DELETE search {query:?} deleted other messages"
        );
    }
}

#[tokio::test]
async fn bad_queries_are_400_on_every_route_that_takes_one() {
    let lb = Letterbox::start();
    let id = lb.send_simple("a b").await;
    let many_negated = "-from:ab ".repeat(500);
    let many_fields = "subject:ab ".repeat(500);
    for (query, says) in [
        ("a\0b", "NUL character (%00); remove it"),
        ("subject:a\0b", "NUL"),
        ("header:X-A\0:b", "NUL"),
        ("from:\0", "NUL"),
        (
            many_negated.as_str(),
            "the query has 500 terms; use at most 100",
        ),
        (many_fields.as_str(), "use at most 100"),
    ] {
        let q = encode(query);
        for (method, path) in [
            ("GET", format!("/api/v1/search?query={q}")),
            ("DELETE", format!("/api/v1/search?query={q}")),
            ("GET", format!("/api/v1/message/latest?query={q}")),
            ("GET", format!("/api/v1/message/latest/headers?query={q}")),
            ("GET", format!("/api/v1/wait?timeout=1s&query={q}")),
        ] {
            let error = lb.request_err(method, &path, None, 400).await;
            assert!(error.contains(says), "{method} {path}: {error}");
        }
    }
    assert_eq!(lb.ids().await, vec![id.clone()], "a bad DELETE deleted");
    // The most terms allowed work, negated address filters included.
    let most = "-from:zz ".repeat(100);
    assert_eq!(lb.search_ids(&most).await, vec![id.clone()]);
    let most = "-nothing ".repeat(100);
    assert_eq!(lb.search_ids(&most).await, vec![id.clone()]);
    let most = "simple ".repeat(100);
    assert_eq!(lb.search_ids(&most).await, Vec::<String>::new());
    // MailHog's search builds its query without the parser: a NUL there
    // matches nothing rather than failing.
    let (status, _) = lb
        .request("GET", "/api/v2/search?kind=containing&query=a%00b", None)
        .await;
    assert_eq!(status, 200);
}
