//! `letterbox ingest`: real files (mbox in both line-ending styles with
//! `From ` quoting, a Maildir, a directory tree of .eml files, malformed
//! files among them) imported by the real binary, then read back through
//! the API of a Letterbox started on the same store.

mod common;

use std::path::Path;

use common::{Finished, Letterbox, TempDir, corpus_files, letterbox_command, run_with_input};
use serde_json::Value;

/// Runs `letterbox ingest ARGS` to its end.
fn ingest(args: &[&str]) -> Finished {
    let args: Vec<&str> = std::iter::once("ingest")
        .chain(args.iter().copied())
        .collect();
    run_with_input(&mut letterbox_command(&args), b"")
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// An LF mbox: quoted `From ` lines (one and two `>`), a `From ` line after
/// text (no separator), a `.` line, and an empty message in the middle.
const LF_MBOX: &str = "From alice@example.com Sat Jan  3 01:05:34 1996
From: Alice <alice@example.com>
To: bob+lfbox@example.com
Subject: lf one
Date: Mon, 01 Jan 2001 00:00:00 +0000

>From the start of a line
>>From deeper
a line with
From in the middle after text
.dot line

From bob@example.com Thu Jan  4 10:00:00 1996
Subject: lf two
To: carol@example.com

body

From broken@example.com Thu Jan  4 10:00:01 1996

From dave@example.com Thu Jan  4 10:00:02 1996
Subject: lf three
To: dave@example.com

last

";

const LF_ONE: &str = "From: Alice <alice@example.com>
To: bob+lfbox@example.com
Subject: lf one
Date: Mon, 01 Jan 2001 00:00:00 +0000

From the start of a line
>From deeper
a line with
From in the middle after text
.dot line
";

fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

const CRLF_MBOX: &str = "From erin@example.com Fri Jan  5 09:00:00 1996
Subject: crlf one
To: erin@example.com

>From quoted

From frank@example.com Fri Jan  5 09:00:01 1996
Subject: crlf two
To: frank@example.com

second
";

/// Every message, oldest first (the list is newest first).
async fn oldest_first(lb: &Letterbox) -> Vec<Value> {
    let list = lb.get_ok("/api/v1/messages?limit=1000").await;
    let mut messages = list["messages"].as_array().unwrap().clone();
    messages.reverse();
    messages
}

fn subjects(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["Subject"].as_str().unwrap())
        .collect()
}

fn by_subject<'a>(messages: &'a [Value], subject: &str) -> &'a Value {
    messages
        .iter()
        .find(|m| m["Subject"] == subject)
        .unwrap_or_else(|| panic!("no message {subject:?}"))
}

#[tokio::test]
async fn mbox_maildir_and_eml_trees_go_in_and_malformed_files_are_named() {
    let dir = TempDir::new("import");
    let root = dir.path();
    write(&root.join("lf.mbox"), LF_MBOX.as_bytes());
    write(&root.join("crlf.mbox"), crlf(CRLF_MBOX).as_bytes());
    write(
        &root.join("notanmbox.mbox"),
        b"Subject: no separator\n\nhi\n",
    );
    let seen = "Subject: maildir seen\r\nTo: g@example.com\r\n\r\nseen\r\n";
    write(
        &root.join("md/cur/1700000000.M1P1.host:2,S"),
        seen.as_bytes(),
    );
    let replied = "Subject: maildir replied\nTo: g@example.com\n\nnot seen\n";
    write(
        &root.join("md/cur/1700000001.M2P1.host:2,R"),
        replied.as_bytes(),
    );
    let new = "Subject: maildir new\nTo: g@example.com\n\nnew\n";
    write(&root.join("md/new/1700000002.M3P1.host"), new.as_bytes());
    write(
        &root.join("md/tmp/1700000003.M4P1.host"),
        b"Subject: half delivered\n\n",
    );
    let a = crlf("Subject: tree a\nTo: h@example.com\n\na\n");
    write(&root.join("tree/a.eml"), a.as_bytes());
    write(&root.join("tree/broken.eml"), b"this is not mail\n");
    write(&root.join("tree/notes.txt"), b"some notes\n");
    let b = "Subject: tree b\nTo: h@example.com\nX-Tags: imported\n\nb\n";
    write(&root.join("tree/sub/b.eml"), b.as_bytes());

    let db = dir.file("store.db");
    let paths = ["lf.mbox", "crlf.mbox", "notanmbox.mbox", "md", "tree"].map(|p| dir.file(p));
    let mut args = vec!["--db", &db];
    args.extend(paths.iter().map(String::as_str));
    let done = ingest(&args);
    assert!(done.status.success(), "ingest failed: {}", done.stderr);
    let empty_line = LF_MBOX
        .lines()
        .position(|l| l.starts_with("From broken"))
        .unwrap()
        + 1;
    let summary = &done.stdout;
    assert!(summary.contains("imported 10 messages"), "{summary}");
    assert!(summary.contains("skipped 4"), "{summary}");
    for skipped in [
        format!("lf.mbox:{empty_line}: not a message: empty"),
        "notanmbox.mbox: line 1: not an mbox".to_string(),
        "broken.eml: not a message: no header fields".to_string(),
        "notes.txt: not an .eml file".to_string(),
    ] {
        assert!(summary.contains(&skipped), "{skipped:?} not in {summary}");
    }
    // Not a terminal: no progress line.
    assert!(!done.stderr.contains('\r'), "{}", done.stderr);

    let lb = Letterbox::with_args(&["--db", &db]);
    let messages = oldest_first(&lb).await;
    assert_eq!(
        subjects(&messages),
        [
            "lf one",
            "lf two",
            "lf three",
            "crlf one",
            "crlf two",
            "maildir seen",
            "maildir replied",
            "maildir new",
            "tree a",
            "tree b"
        ],
        "stored in the order read"
    );
    let raw_of = async |subject: &str| {
        let id = by_subject(&messages, subject)["ID"]
            .as_str()
            .unwrap()
            .to_string();
        lb.raw(&id).await
    };
    assert_eq!(raw_of("lf one").await, LF_ONE.as_bytes());
    assert_eq!(
        raw_of("lf three").await,
        b"Subject: lf three\nTo: dave@example.com\n\nlast\n"
    );
    let crlf_one = crlf("Subject: crlf one\nTo: erin@example.com\n\nFrom quoted\n");
    assert_eq!(raw_of("crlf one").await, crlf_one.as_bytes());
    // The last message of a file keeps its last line: no blank line followed.
    let crlf_two = crlf("Subject: crlf two\nTo: frank@example.com\n\nsecond\n");
    assert_eq!(raw_of("crlf two").await, crlf_two.as_bytes());
    assert_eq!(raw_of("maildir seen").await, seen.as_bytes());
    assert_eq!(raw_of("tree a").await, a.as_bytes());
    assert_eq!(raw_of("tree b").await, b.as_bytes());

    let read = |subject: &str| by_subject(&messages, subject)["Read"].as_bool().unwrap();
    assert!(read("maildir seen"));
    assert!(!read("maildir replied") && !read("maildir new") && !read("lf one"));
    // Tags as SMTP ingest finds them: plus-addresses and X-Tags.
    assert_eq!(
        by_subject(&messages, "lf one")["Tags"],
        serde_json::json!(["lfbox"])
    );
    assert_eq!(
        by_subject(&messages, "tree b")["Tags"],
        serde_json::json!(["imported"])
    );
    // Searchable like any message: the index was written.
    let found = lb.get_ok("/api/v1/search?query=deeper").await;
    assert_eq!(found["messages_count"], 1);
    let one = lb
        .message(by_subject(&messages, "lf one")["ID"].as_str().unwrap())
        .await;
    assert_eq!(one["From"]["Address"], "alice@example.com");
}

#[tokio::test]
async fn keep_dates_takes_the_date_header_or_the_separator() {
    let dir = TempDir::new("import-dates");
    write(&dir.path().join("lf.mbox"), LF_MBOX.as_bytes());
    let db = dir.file("store.db");
    let done = ingest(&["--db", &db, "--keep-dates", &dir.file("lf.mbox")]);
    assert!(done.status.success(), "{}", done.stderr);
    let lb = Letterbox::with_args(&["--db", &db]);
    let messages = oldest_first(&lb).await;
    let created = |subject: &str| {
        by_subject(&messages, subject)["Created"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        created("lf one").starts_with("2001-01-01T00:00:00"),
        "{}",
        created("lf one")
    );
    assert!(
        created("lf two").starts_with("1996-01-04T10:00:00"),
        "{}",
        created("lf two")
    );
    assert!(created("lf three").starts_with("1996-01-04T10:00:02"));

    // Without the flag a message is received now.
    let db = dir.file("now.db");
    assert!(
        ingest(&["--db", &db, &dir.file("lf.mbox")])
            .status
            .success()
    );
    let lb = Letterbox::with_args(&["--db", &db]);
    let messages = oldest_first(&lb).await;
    assert!(!created_in(&messages, "lf one").starts_with("2001"));
}

fn created_in(messages: &[Value], subject: &str) -> String {
    by_subject(messages, subject)["Created"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn mboxo_leaves_double_quoted_lines_alone() {
    let dir = TempDir::new("import-mboxo");
    write(&dir.path().join("o.mbox"), LF_MBOX.as_bytes());
    let db = dir.file("store.db");
    let done = ingest(&["--db", &db, "--mbox-format", "mboxo", &dir.file("o.mbox")]);
    assert!(done.status.success(), "{}", done.stderr);
    let lb = Letterbox::with_args(&["--db", &db]);
    let messages = oldest_first(&lb).await;
    let id = by_subject(&messages, "lf one")["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let raw = String::from_utf8(lb.raw(&id).await).unwrap();
    assert!(
        raw.contains("\nFrom the start of a line\n>>From deeper\n"),
        "{raw}"
    );
}

#[tokio::test]
async fn over_smtp_into_a_running_letterbox() {
    let dir = TempDir::new("import-smtp");
    write(&dir.path().join("lf.mbox"), LF_MBOX.as_bytes());
    let lb = Letterbox::start();
    let addr = lb.smtp_addr.to_string();
    let done = ingest(&["--smtp", &addr, &dir.file("lf.mbox")]);
    assert!(done.status.success(), "{}", done.stderr);
    assert!(
        done.stdout.contains("imported 3 messages"),
        "{}",
        done.stdout
    );
    lb.wait_for_total(3).await;
    let messages = oldest_first(&lb).await;
    assert_eq!(subjects(&messages), ["lf one", "lf two", "lf three"]);
    // SMTP carries lines as CRLF, and the message as sent is what is stored.
    let id = by_subject(&messages, "lf one")["ID"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(lb.raw(&id).await, crlf(LF_ONE).as_bytes());

    // A server that is not there is an error that names it.
    let done = ingest(&["--smtp", "127.0.0.1:1", &dir.file("lf.mbox")]);
    assert!(!done.status.success());
    assert!(done.stderr.contains("127.0.0.1:1"), "{}", done.stderr);
}

#[tokio::test]
async fn the_corpus_goes_in_in_one_go_byte_for_byte() {
    let Some(files) = corpus_files("the_corpus_goes_in_in_one_go_byte_for_byte") else {
        return;
    };
    let dir = TempDir::new("import-corpus");
    let db = dir.file("store.db");
    let corpus = common::corpus_dir();
    let done = ingest(&["--db", &db, corpus.to_str().unwrap()]);
    assert!(done.status.success(), "{}", done.stderr);
    let imported = format!("imported {} messages", files.len());
    assert!(done.stdout.contains(&imported), "{}", done.stdout);
    // Only what is not mail (the README, the licences) is skipped.
    for line in done.stdout.lines().filter(|l| l.contains("skipped /")) {
        assert!(
            !line.contains(".eml: "),
            "a corpus message was skipped: {line}"
        );
    }
    let lb = Letterbox::with_args(&["--db", &db]);
    let messages = oldest_first(&lb).await;
    assert_eq!(messages.len(), files.len());
    for (message, file) in messages.iter().zip(&files) {
        let raw = lb.raw(message["ID"].as_str().unwrap()).await;
        assert!(
            raw == std::fs::read(file).unwrap(),
            "{} is not stored byte for byte",
            file.display()
        );
    }
}
