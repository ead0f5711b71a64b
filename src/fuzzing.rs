//! Bodies of the fuzz targets in `fuzz/`, kept in the library so that a
//! stable test (`tests/fuzz_seeds.rs`) runs the same code over the seed
//! corpus and pseudo-random input without nightly. Each function panics
//! when an invariant breaks; that panic is what the fuzzer reports.

use std::sync::Arc;

use crate::domain::extract;
use crate::domain::message::{self, PartRole};
use crate::smtp;
use crate::smtp::auth::AuthPolicy;
use crate::smtp::{Session, SessionConfig, Step};

/// Steps one `advance` loop may take before the session is stuck: far more
/// than any input of fuzzing size needs.
const MAX_STEPS: usize = 1 << 20;

/// Drives the SMTP state machine with an arbitrary byte stream.
///
/// The first byte picks the configuration (credentials required, TLS
/// required, a small size limit) and how the stream is cut into reads; the
/// rest is what the client sends. Messages are alternately stored and
/// refused with `451`. Checks: every reply is well-formed wire text, a
/// message never exceeds the size limit, the session never stalls.
pub fn smtp_session(data: &[u8]) {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let config = SessionConfig {
        max_message_size: if control & 1 != 0 { 64 } else { 4096 },
        max_recipients: 3,
        auth: if control & 2 != 0 {
            AuthPolicy::Credentials([("user".to_string(), "pass".to_string())].into())
        } else {
            AuthPolicy::AcceptAny
        },
        require_tls: control & 4 != 0,
        ..SessionConfig::default()
    };
    let max_size = config.max_message_size;
    let chunk = usize::from(control >> 3) + 1;
    let mut session = Session::new(Arc::new(config), None, false, "nonce".into());
    let mut first = Some(session.greeting());
    let mut delivered = 0usize;
    for piece in input.chunks(chunk) {
        session.feed(piece);
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < MAX_STEPS, "the session does not wait for input");
            match first.take().unwrap_or_else(|| session.advance()) {
                Step::Reply(reply) => check_reply(&reply),
                Step::Inject(injection) => match injection.outcome {
                    smtp::policy::Outcome::Reply(reply) => check_reply(&reply),
                    smtp::policy::Outcome::Disconnect => return,
                },
                Step::Pause { .. } => {}
                Step::Deliver(delivery) => {
                    assert!(
                        delivery.data.len() <= max_size,
                        "a message of {} bytes passed a limit of {max_size}",
                        delivery.data.len()
                    );
                    delivered += 1;
                    let outcome = if delivered.is_multiple_of(2) {
                        Ok("01HZZZZZZZZZZZZZZZZZZZZZZZ".to_string())
                    } else {
                        Err(smtp::reply::Reply::new(451, "4.3.0", "storage failure"))
                    };
                    check_reply(&session.delivered(outcome));
                }
                Step::StartTls => session.tls_started(),
                Step::NeedInput => break,
                Step::Close => return,
            }
        }
    }
}

/// A reply must be lines of `NNN-text` / `NNN text` with a valid code, each
/// ended by CRLF, and no line break smuggled into the text (a client must
/// not be able to inject reply lines).
fn check_reply(reply: &smtp::reply::Reply) {
    assert!((200..600).contains(&reply.code), "reply code {reply:?}");
    let mut wire = Vec::new();
    reply.write_to(&mut wire);
    let text = String::from_utf8(wire).expect("replies are UTF-8");
    let body = text.strip_suffix("\r\n").expect("a reply ends in CRLF");
    let lines: Vec<&str> = body.split("\r\n").collect();
    for (i, line) in lines.iter().enumerate() {
        assert!(!line.contains(['\r', '\n']), "line break in reply {text:?}");
        let code = line.get(..3).unwrap_or_default();
        assert_eq!(code, reply.code.to_string(), "reply {text:?}");
        let sep = if i + 1 == lines.len() { " " } else { "-" };
        assert!(
            line.len() == 3 || line.get(3..4) == Some(sep),
            "separator in {text:?}"
        );
    }
}

/// Parses arbitrary bytes as a message and reads every view of it: summary,
/// part index, each part's text and bytes, the HTML as text, links and
/// codes. Checks that every indexed byte range lies inside the message.
pub fn ingest_parse(raw: &[u8]) {
    let parsed = message::parse(raw);
    assert!(
        parsed.parts.len() <= message::MAX_PARTS,
        "part index too big"
    );
    let len = raw.len() as u64;
    let mut html = String::new();
    for part in &parsed.parts {
        assert!(
            part.header_start <= part.body_start
                && part.body_start <= part.body_end
                && part.body_end <= len,
            "part {} range {}..{}..{} outside a {len}-byte message",
            part.part_id,
            part.header_start,
            part.body_start,
            part.body_end
        );
        if part.role == PartRole::Container {
            continue;
        }
        let text = message::part_text(raw, part);
        let _ = message::part_bytes(raw, part);
        if part.role == PartRole::Html {
            html = text;
        }
    }
    let text = message::html_to_text(&html);
    let _ = message::snippet(&text);
    let _ = extract::links(&html, &parsed.search.body);
    let _ = extract::codes(&html, &parsed.search.body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_session_passes_the_checks() {
        let mut input = vec![0u8];
        input.extend_from_slice(
            b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: s\r\n\r\nhi\r\n.\r\n\
              MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3 LAST\r\nabcQUIT\r\n",
        );
        smtp_session(&input);
    }

    #[test]
    #[should_panic(expected = "line break in reply")]
    fn a_reply_with_a_line_break_fails_the_check() {
        check_reply(&smtp::reply::Reply::new(250, "2.0.0", "a\rb"));
    }

    #[test]
    fn a_multipart_message_passes_the_checks() {
        ingest_parse(
            b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\
              Content-Type: text/plain\r\n\r\nplain\r\n--b\r\nContent-Type: text/html\r\n\r\n\
              <a href=\"https://example.com\">x</a>\r\n--b--\r\n",
        );
    }
}
