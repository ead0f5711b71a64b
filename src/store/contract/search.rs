//! Search semantics: every filter of the query language, positive and
//! negated, as `tests/search.rs` holds the whole server to them; paging
//! and the counts a page carries; date ranges over arrival time. The
//! fixture messages and the single-term table are public: `tests/search.rs`
//! holds the whole server (over SMTP and HTTP) to the same table.

use std::collections::BTreeSet;

use super::fixtures::{ids, prepared, query, simple_raw};
use super::{Backend, open};
use crate::domain::timefmt::{now_millis, rfc3339_millis};
use crate::store::{Selection, Store};

pub const WELCOME: &str = "From: Ann Smith <ann@example.com>\r
To: Bob Jones <bob@example.com>\r
Cc: Carol <carol@example.com>\r
Reply-To: Help Desk <help@example.com>\r
Subject: Welcome aboard, caf\u{e9} lovers\r
Message-ID: <welcome-1@shop.example>\r
X-Campaign: spring sale\r
X-Tags: onboarding, Beta\r
MIME-Version: 1.0\r
Content-Type: multipart/alternative; boundary=\"alt\"\r
\r
--alt\r
Content-Type: text/plain; charset=utf-8\r
\r
The quick brown fox. Your verification code is 482913.\r
--alt\r
Content-Type: text/html; charset=utf-8\r
\r
<p>Hello there</p><a data-testid=\"confirm-button\" href=\"https://app.example.com/confirm?token=Zq81xT\">Confirm</a>\r
--alt--\r
";

/// Envelope recipients of [`WELCOME`]: `hidden` and `audit+archive` are
/// Bcc recipients (in no header); `archive` becomes a tag.
pub const WELCOME_RCPTS: &[&str] = &[
    "bob@example.com",
    "carol@example.com",
    "hidden@example.com",
    "audit+archive@example.com",
];

/// An invoice: HTML with an inline image, a PDF attachment big enough for
/// the size filters, a Bcc header and a plus-addressed recipient.
pub fn invoice() -> String {
    let pdf = "JVBERi0xLjQK".repeat(400);
    let pdf: Vec<&str> = pdf
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
        .collect();
    format!(
        "From: Shop Billing <billing@shop.example>\r
To: Dave <dave+orders@example.com>\r
Bcc: eve@example.com\r
Subject: Your invoice\r
Message-ID: <inv-77@shop.example>\r
X-Priority: 1\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary=\"mix\"\r
\r
--mix\r
Content-Type: multipart/related; boundary=\"rel\"\r
\r
--rel\r
Content-Type: text/html; charset=utf-8\r
\r
<p>Please find your statement attached.</p><img src=\"cid:logo@shop\">\r
--rel\r
Content-Type: image/png\r
Content-ID: <logo@shop>\r
Content-Disposition: inline; filename=\"logo.png\"\r
Content-Transfer-Encoding: base64\r
\r
iVBORw0KGgo=\r
--rel--\r
--mix\r
Content-Type: application/pdf; name=\"ledger-q3.pdf\"\r
Content-Disposition: attachment; filename=\"ledger-q3.pdf\"\r
Content-Transfer-Encoding: base64\r
\r
{}\r
--mix--\r
",
        pdf.join("\r\n")
    )
}

/// Stores the three fixture messages (`welcome`, `invoice`, `plain`, read)
/// received now.
async fn fixture(store: &Store) {
    let now = now_millis();
    let messages = [
        prepared("welcome", now, WELCOME_RCPTS, WELCOME.as_bytes()),
        prepared(
            "invoice",
            now,
            &["dave+orders@example.com", "eve@example.com"],
            invoice().as_bytes(),
        ),
        prepared(
            "plain",
            now,
            &["rcpt@example.com"],
            &simple_raw("Plain note"),
        ),
    ];
    for message in messages {
        store.insert(message).await.expect("insert");
    }
    let plain = Selection::Ids(vec!["plain".into()]);
    store.set_read(plain, true).await.expect("set_read");
}

async fn matching(store: &Store, text: &str) -> BTreeSet<String> {
    let page = store.search(query(text), 0, 100).await.expect("search");
    assert_eq!(
        page.matched as usize,
        page.messages.len(),
        "{text}: matched"
    );
    ids(&page).into_iter().collect()
}

pub const ALL: &[&str] = &["welcome", "invoice", "plain"];

/// Each single-term query and what it matches. Each is also run negated
/// with `-` and `!`, which must match exactly the other messages.
pub const SINGLE_TERMS: &[(&str, &[&str])] = &[
    // Words: token and prefix matches over what Mailpit's words look in:
    // the people, the subject, the text (HTML as rendered) and attachment
    // names.
    ("verification", &["welcome"]),
    ("verif", &["welcome"]),
    ("VERIFICATION", &["welcome"]),
    ("cafe", &["welcome"]),
    ("statement", &["invoice"]),
    ("Hello", &["welcome", "plain"]),
    ("nowhere", &[]),
    // Quoted phrases: these words, in this order.
    ("\"quick brown\"", &["welcome"]),
    ("\"brown quick\"", &[]),
    ("\"Hello there\"", &["welcome"]),
    // Names and addresses of From, To, Cc, Bcc (envelope-only too),
    // Reply-To; the subject.
    ("Jones", &["welcome"]),
    ("carol@example.com", &["welcome"]),
    ("hidden", &["welcome"]),
    ("eve", &["invoice"]),
    ("Desk", &["welcome"]),
    ("shop", &["invoice"]),
    ("aboard", &["welcome"]),
    // Not header names, nor other headers' values, nor the HTML source.
    ("Campaign", &[]),
    ("\"spring sale\"", &[]),
    ("MIME", &[]),
    ("version", &[]),
    ("Priority", &[]),
    ("Content", &[]),
    ("multipart", &[]),
    ("confirm-button", &[]),
    ("Zq81xT", &[]),
    // The HTML source through html: (attributes and link targets).
    ("html:confirm-button", &["welcome"]),
    ("html:data-testid", &["welcome"]),
    ("html:Zq81xT", &["welcome"]),
    (
        "html:\"https://app.example.com/confirm?token=Zq81xT\"",
        &["welcome"],
    ),
    ("html:statement", &["invoice"]),
    ("html:verification", &[]),
    // Attachment names.
    ("ledger", &["invoice"]),
    ("ledger-q3.pdf", &["invoice"]),
    // Addresses: substring of the address or the display name, any case.
    ("from:ann", &["welcome"]),
    ("from:\"Ann Smith\"", &["welcome"]),
    ("from:BILLING@shop", &["invoice"]),
    ("from:example.com", &["welcome", "plain"]),
    ("to:bob@example.com", &["welcome"]),
    ("to:\"Bob Jones\"", &["welcome"]),
    ("to:dave", &["invoice"]),
    ("to:rcpt@", &["plain"]),
    ("cc:carol", &["welcome"]),
    ("cc:Carol", &["welcome"]),
    ("cc:bob", &[]),
    // Bcc: the header, and envelope recipients found in no header.
    ("bcc:eve", &["invoice"]),
    ("bcc:hidden@example.com", &["welcome"]),
    ("bcc:audit", &["welcome"]),
    ("reply-to:help@example.com", &["welcome"]),
    ("reply-to:\"Help Desk\"", &["welcome"]),
    ("reply-to:ann", &[]),
    ("addressed:ann", &["welcome"]),
    ("addressed:carol", &["welcome"]),
    ("addressed:hidden", &["welcome"]),
    ("addressed:eve", &["invoice"]),
    ("addressed:help", &["welcome"]),
    ("addressed:nobody", &[]),
    ("subject:welcome", &["welcome"]),
    ("subject:\"Your invoice\"", &["invoice"]),
    ("subject:\"invoice Your\"", &[]),
    ("message-id:welcome-1@shop.example", &["welcome"]),
    ("message-id:<inv-77@shop.example>", &["invoice"]),
    ("message-id:tests.example.com", &["plain"]),
    // Tags: X-Tags, plus-addresses in headers and in the envelope.
    ("tag:onboarding", &["welcome"]),
    ("tag:beta", &["welcome"]),
    ("tag:orders", &["invoice"]),
    ("tag:archive", &["welcome"]),
    ("tag:board", &[]),
    ("is:tagged", &["welcome", "invoice"]),
    ("is:read", &["plain"]),
    ("is:unread", &["welcome", "invoice"]),
    ("has:attachment", &["invoice"]),
    ("has:attachments", &["invoice"]),
    ("has:inline", &["invoice"]),
    ("larger:3K", &["invoice"]),
    ("smaller:3K", &["welcome", "plain"]),
    ("larger:1M", &[]),
    ("after:2000-01-01", ALL),
    ("after:2999/12/31", &[]),
    ("before:2000-01-01T00:00:00Z", &[]),
    ("before:2999-12-31T23:00:00+01:00", ALL),
    // Any header by name, and by name and value.
    ("header:X-Campaign", &["welcome"]),
    ("header:x-campaign:spring", &["welcome"]),
    ("header:X-Campaign:\"spring sale\"", &["welcome"]),
    ("header:X-Campaign:autumn", &[]),
    ("header:X-Priority:1", &["invoice"]),
    ("header:X-Priority:2", &[]),
    ("header:Message-ID:inv-77", &["invoice"]),
    ("header:X-Missing", &[]),
];

/// Every single-term query matches what it must, and negated with `-` or
/// `!` exactly the other messages.
pub async fn search_semantics(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    fixture(&store).await;
    let set =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| n.to_string()).collect() };
    let all = set(ALL);
    let mut failures = Vec::new();
    for &(text, names) in SINGLE_TERMS {
        let expected = set(names);
        let others: BTreeSet<String> = all.difference(&expected).cloned().collect();
        for (q, want) in [
            (text.to_string(), &expected),
            (format!("-{text}"), &others),
            (format!("!{text}"), &others),
        ] {
            let got = matching(&store, &q).await;
            if &got != want {
                failures.push(format!("{q}: expected {want:?}, got {got:?}"));
            }
            // The same semantics when each message is tested on its own
            // (what a waiting request does with new mail).
            failures.extend(tested_one_by_one(&store, &q, want).await);
        }
    }
    // Terms are and-ed.
    for (text, names) in [
        ("quick brown", &["welcome"][..]),
        ("hello is:unread", &["welcome"]),
        ("from:example.com -tag:beta", &["plain"]),
    ] {
        let got = matching(&store, text).await;
        if got != set(names) {
            failures.push(format!("{text}: expected {names:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Where [`Store::matches`] and [`Store::first_matching`] disagree with
/// `want`, the messages of [`ALL`] that `text` matches.
async fn tested_one_by_one(store: &Store, text: &str, want: &BTreeSet<String>) -> Vec<String> {
    let mut failures = Vec::new();
    for id in ALL {
        let matched = store.matches(query(text), id.to_string()).await;
        if matched.expect("matches") != want.contains(*id) {
            failures.push(format!("{text}: matches({id}) disagrees with {want:?}"));
        }
    }
    // In the order they were stored, whatever order they are given in.
    let first = ALL
        .iter()
        .find(|id| want.contains(**id))
        .map(|id| id.to_string());
    let given: Vec<String> = ALL
        .iter()
        .rev()
        .map(|id| id.to_string())
        .chain(["missing".into()])
        .collect();
    let got = store
        .first_matching(query(text), given)
        .await
        .expect("first_matching");
    if got != first {
        failures.push(format!(
            "{text}: first_matching gave {got:?}, not {first:?}"
        ));
    }
    // A few of them, not next to each other: the others must not count.
    let some: Vec<String> = ALL.iter().step_by(2).map(|id| id.to_string()).collect();
    let first_of_some = some.iter().find(|id| want.contains(id.as_str())).cloned();
    let got = store
        .first_matching(query(text), some.clone())
        .await
        .expect("first_matching");
    if got != first_of_some {
        failures.push(format!(
            "{text}: first_matching({some:?}) gave {got:?}, not {first_of_some:?}"
        ));
    }
    failures
}

/// `before:` and `after:` split by arrival time (strictly before, strictly
/// after), written in any time zone.
pub async fn search_date_ranges(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    let split = 1_700_000_000_000;
    for (id, at) in [("early", split - 1), ("late", split + 1)] {
        let raw = simple_raw(id);
        store
            .insert(prepared(id, at, &["rcpt@example.com"], &raw))
            .await
            .expect("insert");
    }
    let utc = rfc3339_millis(split);
    let plus_two = rfc3339_millis(split + 2 * 3_600_000).replace('Z', "+02:00");
    for at in [&utc, &plus_two] {
        let one = |id: &str| BTreeSet::from([id.to_string()]);
        assert_eq!(
            matching(&store, &format!("after:{at}")).await,
            one("late"),
            "{at}"
        );
        assert_eq!(
            matching(&store, &format!("before:{at}")).await,
            one("early"),
            "{at}"
        );
        assert_eq!(
            matching(&store, &format!("-after:{at}")).await,
            one("early"),
            "{at}"
        );
        let between = format!("after:{} before:{at}", rfc3339_millis(split - 60_000));
        assert_eq!(matching(&store, &between).await, one("early"), "{between}");
    }
}

/// A search page counts the mailbox and the matches, read and unread, and
/// pages through the matches newest first.
pub async fn search_paging_and_counts(backend: &impl Backend) {
    let (store, _) = open(backend).await;
    let mut matching_ids = Vec::new();
    let now = now_millis();
    for i in 0..25 {
        let id = format!("p{i:02}");
        let raw = simple_raw(&format!("page {i}"));
        store
            .insert(prepared(&id, now + i, &["rcpt@example.com"], &raw))
            .await
            .expect("insert");
        matching_ids.push(id);
        if i % 5 == 0 {
            let raw = simple_raw(&format!("other {i}"));
            let id = format!("o{i:02}");
            store
                .insert(prepared(&id, now + i, &["rcpt@example.com"], &raw))
                .await
                .expect("insert");
        }
    }
    let first = Selection::Ids(vec![matching_ids[0].clone()]);
    store.set_read(first, true).await.expect("set_read");
    let newest_first: Vec<String> = matching_ids.iter().rev().cloned().collect();
    // A field filter, and words alone (which a backend may count apart).
    for text in ["subject:page", "page"] {
        let mut seen = Vec::new();
        for (start, limit, len) in [
            (0, 10, 10),
            (10, 10, 10),
            (20, 10, 5),
            (25, 10, 0),
            (3, 1, 1),
            (21, 3, 3),
        ] {
            let page = store
                .search(query(text), start, limit)
                .await
                .expect("search");
            assert_eq!((page.total, page.unread), (30, 29), "{text} start={start}");
            assert_eq!(
                (page.matched, page.matched_unread),
                (25, 24),
                "{text} start={start}"
            );
            let got = ids(&page);
            assert_eq!(got.len(), len, "{text} start={start}");
            let start = start as usize;
            assert_eq!(
                got,
                newest_first[start.min(25)..(start + len).min(25)],
                "{text} start={start}"
            );
            if limit == 10 {
                seen.extend(got);
            }
        }
        assert_eq!(
            seen, newest_first,
            "{text}: the pages cover every match once"
        );
    }
    // Every window of a word, a field filter and a flag condition, however
    // deep (a backend may read a page past the middle from the oldest end).
    let unread_first: Vec<String> = newest_first[..24].to_vec();
    for (text, expected) in [
        ("page", &newest_first),
        ("subject:page", &newest_first),
        ("subject:page is:unread", &unread_first),
    ] {
        let n = expected.len();
        for start in 0..(n as u64 + 2) {
            for limit in [1, 3, 10] {
                let page = store
                    .search(query(text), start, limit)
                    .await
                    .expect("search");
                let (from, to) = (
                    (start as usize).min(n),
                    (start + limit).min(n as u64) as usize,
                );
                assert_eq!(
                    ids(&page),
                    expected[from..to],
                    "{text} start={start} limit={limit}"
                );
                assert_eq!(page.matched, n as u64, "{text} start={start}");
            }
        }
    }
    let none = store
        .search(query("subject:nothing-like-this"), 0, 10)
        .await
        .expect("search");
    assert_eq!((none.matched, none.total), (0, 30));
}
