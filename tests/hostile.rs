//! Hostile input: generated torture messages (deep nesting, 10,000 parts, a
//! 1 MB header, every charset label, broken base64 and quoted-printable,
//! boundaries that are prefixes of each other, ...) and the shared corpus
//! are stored, listed, and every view of them answers: the API message,
//! headers, raw, parts, links and codes, `/view/{ID}.html|.txt`, each tab
//! of the UI message page, and MailHog's JSON. Times and the server's peak
//! memory are printed; the only bound asserted is a generous timeout per
//! message.

mod common;

use std::time::{Duration, Instant};

use common::{Letterbox, expected_stored};
use serde_json::Value;

/// Generous: a message that needs this long is broken, not slow.
const PER_MESSAGE: Duration = Duration::from_secs(120);

/// Parts fetched one by one per message; a message with more has an evenly
/// spread sample fetched (the MIME parts tab still lists all of them).
const PARTS_FETCHED: usize = 60;

const TABS: [&str; 7] = [
    "html", "text", "headers", "parts", "raw", "envelope", "checks",
];

fn nested_multipart(depth: usize) -> Vec<u8> {
    let mut out = String::from("Subject: nested multipart\r\n");
    for level in 0..depth {
        out.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n"
        ));
    }
    out.push_str("Content-Type: text/plain\r\n\r\ninnermost\r\n");
    for level in (0..depth).rev() {
        out.push_str(&format!("--b{level}--\r\n"));
    }
    out.into_bytes()
}

fn nested_messages(depth: usize) -> Vec<u8> {
    let mut out = String::new();
    for level in 0..depth {
        out.push_str(&format!(
            "Subject: level {level}\r\nContent-Type: message/rfc822\r\n\r\n"
        ));
    }
    out.push_str("Subject: innermost\r\n\r\nthe end\r\n");
    out.into_bytes()
}

fn many_parts(n: usize) -> Vec<u8> {
    let mut out = String::from(
        "Subject: many parts\r\nContent-Type: multipart/mixed; boundary=\"p\"\r\n\r\n",
    );
    for i in 0..n {
        if i % 2 == 0 {
            out.push_str(&format!(
                "--p\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n"
            ));
        } else {
            out.push_str(&format!(
                "--p\r\nContent-Type: application/octet-stream; name=\"f{i}.bin\"\r\n\
                 Content-Disposition: attachment; filename=\"f{i}.bin\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n"
            ));
        }
    }
    out.push_str("--p--\r\n");
    out.into_bytes()
}

fn big_header(bytes: usize) -> Vec<u8> {
    let mut out = String::from("Subject: a 1 MB header\r\nX-Big: start");
    while out.len() < bytes {
        out.push_str("\r\n folded-continuation-of-a-very-long-header-value-0123456789-abcdefghij");
    }
    out.push_str("\r\nTo: ");
    for i in 0..2000 {
        out.push_str(&format!("\"R{i}\" <r{i}@example.com>,\r\n "));
    }
    out.push_str("last@example.com\r\n\r\nbody\r\n");
    out.into_bytes()
}

/// WHATWG encoding labels plus names that are unknown, empty or odd.
const CHARSETS: &[&str] = &[
    "utf-8",
    "utf8",
    "unicode-1-1-utf-8",
    "us-ascii",
    "ascii",
    "ibm866",
    "866",
    "cp866",
    "iso-8859-1",
    "latin1",
    "iso-8859-2",
    "iso-8859-3",
    "iso-8859-4",
    "iso-8859-5",
    "iso-8859-6",
    "iso-8859-7",
    "iso-8859-8",
    "iso-8859-8-i",
    "iso-8859-10",
    "iso-8859-13",
    "iso-8859-14",
    "iso-8859-15",
    "iso-8859-16",
    "koi8-r",
    "koi8-u",
    "macintosh",
    "x-mac-cyrillic",
    "windows-874",
    "windows-1250",
    "windows-1251",
    "windows-1252",
    "cp1252",
    "windows-1253",
    "windows-1254",
    "windows-1255",
    "windows-1256",
    "windows-1257",
    "windows-1258",
    "x-user-defined",
    "gbk",
    "gb2312",
    "gb18030",
    "big5",
    "big5-hkscs",
    "euc-jp",
    "iso-2022-jp",
    "shift_jis",
    "sjis",
    "euc-kr",
    "ks_c_5601-1987",
    "iso-2022-kr",
    "hz-gb-2312",
    "replacement",
    "utf-16",
    "utf-16be",
    "utf-16le",
    "utf-32",
    "utf-7",
    "x-unknown-charset",
    "",
    "\"utf-8\"",
    "UTF-8 ",
    "utf-8\t; x=y",
    "ébène",
    "../../etc/passwd",
];

/// One message per charset label: a text part, an HTML part and a subject
/// as encoded words, all claiming that charset over the same 8-bit bytes.
fn charset_message(charset: &str) -> Vec<u8> {
    let body: &[u8] = b"caf\xc3\xa9 \xe9\xe8 \x80\x81\xfe\xff \x1b$B$3$s\x1b(B +AGEA-\r\n";
    let mut out = format!(
        "Subject: =?{charset}?B?Y2Fmw6kg6Q==?= =?{charset}?Q?caf=E9?=\r\n\
         Content-Type: multipart/alternative; boundary=\"c\"\r\n\r\n\
         --c\r\nContent-Type: text/plain; charset=\"{charset}\"\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(body);
    out.extend_from_slice(
        format!(
            "--c\r\nContent-Type: text/html; charset={charset}\r\n\
             Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>caf=E9 =80=FF</p>\r\n--c--\r\n"
        )
        .as_bytes(),
    );
    out
}

fn broken_encodings() -> Vec<u8> {
    b"Subject: =?utf-8?B?!!!not base64?= =?bogus?Q?x=ZZ?= =?utf-8?X?y?= =?utf-8?B?w6\r\n\
From: =?utf-8?Q?=FF=FE?= <@>\r\n\
To: \"unterminated <a@b\r\n\
Date: not a date at all\r\n\
Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n\
--x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n\
SGVsbG8*&^%$#@!gd29y=bGQ=\r\n====\r\nA\r\n\
--x\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
<p>=ZZ =4 =\r\n=0D=0A=00 trailing=\r\n\
--x\r\nContent-Type: image/png; name=\"x.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
iVBORw0KGgo=AAAA=BBBB\r\n\
--x\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n\
begin 644 x\r\n#86)C\r\n`\r\nend\r\n\
--x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'=', 5000))
        .chain(b"\r\n".iter().copied())
        .collect()
}

fn boundary_prefixes() -> Vec<u8> {
    b"Subject: boundary prefixes\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
preamble --b not a boundary\r\n\
--b\r\nContent-Type: multipart/alternative; boundary=\"bb\"\r\n\r\n\
--bb\r\nContent-Type: text/plain\r\n\r\n--b is inside the text\r\n--bbb\r\n\
--bb\r\nContent-Type: multipart/related; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/html\r\n\r\n<p>same boundary as the outer one</p>\r\n\
--bb--\r\n\
--b\r\nContent-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\nempty boundary\r\n----\r\n\
--b\r\nContent-Type: multipart/mixed\r\n\r\nno boundary parameter\r\n\
--b\r\nContent-Type: multipart/mixed; boundary=\"never closed\"\r\n\r\n\
--never closed\r\nContent-Type: text/plain\r\n\r\nunterminated\r\n"
        .to_vec()
}

fn odd_shapes() -> Vec<(String, Vec<u8>)> {
    let mut lone_cr = b"Subject: CR only\rContent-Type: text/plain\r\rbody\r".to_vec();
    lone_cr.extend_from_slice(b"\r\n");
    vec![
        ("empty".into(), b"\r\n".to_vec()),
        ("headers only".into(), b"Subject: no body\r\n".to_vec()),
        ("no header".into(), b"just a body line\r\nand another\r\n".to_vec()),
        ("lone CR".into(), lone_cr),
        (
            "NUL and 8-bit headers".into(),
            b"Subject: a\0b \xff\xfe\r\nX-\0: \x80\r\nNot a header line\r\n\r\nbody\0\r\n".to_vec(),
        ),
        (
            "script everywhere".into(),
            b"Subject: <script>alert(1)</script>\r\n\
From: \"<img src=x onerror=alert(1)>\" <a@example.com>\r\n\
Content-Type: multipart/mixed; boundary=\"s\"\r\n\r\n\
--s\r\nContent-Type: text/html\r\n\r\n<script>alert(1)</script><img src=x onerror=alert(2)>\r\n\
--s\r\nContent-Type: text/html; name=\"../../x.html\"\r\n\
Content-Disposition: attachment; filename=\"../../\\\"x\r\n.html\"\r\n\r\n<script>alert(3)</script>\r\n\
--s\r\nContent-Type: image/svg+xml; name=\"a.svg\"\r\n\r\n<svg onload=\"alert(4)\"/>\r\n--s--\r\n"
                .to_vec(),
        ),
        (
            // Regression: a panic in html_to_text, found by fuzzing.
            "entity before multi-byte text".into(),
            "Subject: entity\r\nContent-Type: text/html; charset=utf-8\r\n\r\n&abcdefghij\u{e9}x; &\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\r\n"
                .as_bytes()
                .to_vec(),
        ),
        (
            "huge declared sizes".into(),
            b"Subject: sizes\r\nContent-Type: multipart/mixed; boundary=\"z\"\r\n\r\n\
--z\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 99999999999999999999\r\n\r\nx\r\n--z--\r\n"
                .to_vec(),
        ),
    ]
}

fn torture_messages() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("nested multipart x100".to_string(), nested_multipart(100)),
        ("nested multipart x2000".to_string(), nested_multipart(2000)),
        (
            "nested message/rfc822 x500".to_string(),
            nested_messages(500),
        ),
        ("10,000 parts".to_string(), many_parts(10_000)),
        ("10,010 parts".to_string(), many_parts(10_010)),
        ("1 MB header".to_string(), big_header(1024 * 1024)),
        ("broken base64/QP".to_string(), broken_encodings()),
        ("boundary prefixes".to_string(), boundary_prefixes()),
    ];
    out.extend(odd_shapes());
    for charset in CHARSETS {
        out.push((format!("charset {charset:?}"), charset_message(charset)));
    }
    out
}

/// GET that must not be a server error; the status and the body.
async fn fetch(lb: &Letterbox, path: &str, errors: &mut Vec<String>) -> (u16, Vec<u8>) {
    let response = lb.get(path).await;
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    if status >= 500 {
        errors.push(format!(
            "{path}: {status} {}",
            String::from_utf8_lossy(&body)
        ));
    }
    (status, body)
}

fn json(path: &str, body: &[u8], errors: &mut Vec<String>) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| {
        errors.push(format!("{path}: not JSON ({e})"));
        Value::Null
    })
}

/// Reads every view of one stored message; returns what went wrong.
async fn check_views(lb: &Letterbox, id: &str, sent: &[u8]) -> Vec<String> {
    let mut errors = Vec::new();
    let e = &mut errors;
    let (status, raw) = fetch(lb, &format!("/api/v1/message/{id}/raw"), e).await;
    if status != 200 || raw != expected_stored(sent) {
        e.push(format!(
            "raw: {status}, {} bytes for {} sent",
            raw.len(),
            sent.len()
        ));
    }
    let path = format!("/api/v1/message/{id}");
    let (status, body) = fetch(lb, &path, e).await;
    let message = json(&path, &body, e);
    if status != 200 || message["ID"] != id {
        e.push(format!("{path}: {status}"));
    }
    for view in ["headers", "links", "codes"] {
        let path = format!("/api/v1/message/{id}/{view}");
        let (status, body) = fetch(lb, &path, e).await;
        json(&path, &body, e);
        if status != 200 {
            e.push(format!("{path}: {status}"));
        }
    }
    let parts: Vec<String> = ["Inline", "Attachments"]
        .iter()
        .flat_map(|k| message[k].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["PartID"].as_str().map(str::to_string))
        .collect();
    let stride = parts.len().div_ceil(PARTS_FETCHED).max(1);
    for part in parts.iter().step_by(stride) {
        let path = format!("/api/v1/message/{id}/part/{part}");
        let (status, _) = fetch(lb, &path, e).await;
        if status != 200 {
            e.push(format!("{path}: {status}"));
        }
    }
    for view in ["html", "txt"] {
        // 404 when the message has no such body; never a server error.
        let path = format!("/view/{id}.{view}");
        let (status, _) = fetch(lb, &path, e).await;
        if status != 200 && status != 404 {
            e.push(format!("{path}: {status}"));
        }
    }
    for tab in TABS {
        let path = format!("/message/{id}/{tab}");
        let (status, _) = fetch(lb, &path, e).await;
        if status != 200 {
            e.push(format!("{path}: {status}"));
        }
    }
    let path = format!("/api/v1/messages/{id}");
    let (status, body) = fetch(lb, &path, e).await;
    if status != 200 || json(&path, &body, e)["ID"] != id {
        e.push(format!("MailHog {path}: {status}"));
    }
    errors
}

fn peak_rss_kib(lb: &Letterbox) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", lb.pid())).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn store_and_check_all(lb: &Letterbox, messages: &[(String, Vec<u8>)]) {
    let mut failures = Vec::new();
    let mut ids = Vec::new();
    for (name, data) in messages {
        let started = Instant::now();
        let outcome = tokio::time::timeout(PER_MESSAGE, async {
            let id = lb
                .send_raw("hostile@example.com", &["victim@example.com"], data)
                .await;
            let stored = started.elapsed();
            let errors = check_views(lb, &id, data).await;
            (id, stored, errors)
        })
        .await;
        match outcome {
            Ok((id, stored, errors)) => {
                eprintln!(
                    "{name}: {} bytes stored in {stored:.2?}, all views in {:.2?}",
                    data.len(),
                    started.elapsed()
                );
                if !errors.is_empty() {
                    failures.push(format!("{name}: {errors:?}"));
                }
                ids.push(id);
            }
            Err(_) => failures.push(format!("{name}: not done within {PER_MESSAGE:?}")),
        }
    }
    // Listed, and the list and MailHog's list render with all of them.
    let list = lb.list().await;
    assert_eq!(list["total"], ids.len(), "listed total");
    let (status, mailhog) = lb.get_json("/api/v2/messages?limit=1000").await;
    assert_eq!(status, 200, "MailHog list");
    assert_eq!(mailhog["total"], ids.len(), "MailHog total");
    let inbox = lb.get("/").await;
    assert_eq!(inbox.status(), 200, "the inbox page");
    if let Some(kib) = peak_rss_kib(lb) {
        eprintln!("server peak RSS: {kib} KiB");
    }
    assert!(
        failures.is_empty(),
        "{} of {} messages failed:\n{}",
        failures.len(),
        messages.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torture_messages_are_stored_and_every_view_renders() {
    let lb = Letterbox::start();
    store_and_check_all(&lb, &torture_messages()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_of_the_shared_corpus_renders() {
    let Some(files) = common::corpus_files("every_view_of_the_shared_corpus_renders") else {
        return;
    };
    let messages: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|path| {
            let data = std::fs::read(&path).expect("reading a corpus file");
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            (name, data)
        })
        .collect();
    let lb = Letterbox::start();
    store_and_check_all(&lb, &messages).await;
}
