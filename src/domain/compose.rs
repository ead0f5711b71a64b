//! Builds an RFC 5322 message from parts, for `POST /api/v1/send`. The
//! result goes through the same ingest path as mail received over SMTP.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::domain::timefmt;

/// A mailbox: an address and an optional display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    /// Set for inline parts referenced from the HTML as `cid:...`.
    pub content_id: Option<String>,
    pub content: Vec<u8>,
}

/// What to build. Like Mailpit's, the message keeps its Bcc recipients in
/// a `Bcc` header (it is stored, never delivered as it is) and the sender
/// in `Return-Path`.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Plain addresses.
    pub bcc: Vec<String>,
    pub reply_to: Vec<Mailbox>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub tags: Vec<String>,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ComposeError {
    #[error("From is required")]
    NoFrom,
    #[error("{0:?} is not a valid email address")]
    BadAddress(String),
    #[error("header {0:?} must not contain line breaks")]
    LineBreak(String),
    #[error("{0:?} is not a valid header name")]
    BadHeaderName(String),
    #[error("header {0:?} is set from its own field and cannot be given in Headers")]
    ReservedHeader(String),
}

/// Headers a draft sets from its own fields.
const RESERVED: &[&str] = &[
    "to",
    "from",
    "cc",
    "bcc",
    "reply-to",
    "return-path",
    "date",
    "subject",
    "content-type",
    "mime-version",
    "x-tags",
    "message-id",
    "content-transfer-encoding",
];

impl Draft {
    /// The message bytes. `id` makes the Message-ID and MIME boundaries unique.
    pub fn build(&self, id: &str, now_ms: i64) -> Result<Vec<u8>, ComposeError> {
        let from = self.from.as_ref().ok_or(ComposeError::NoFrom)?;
        let mut out = String::new();
        header(
            &mut out,
            "Return-Path",
            &format!("<{}>", address(&from.email)?),
        )?;
        header(&mut out, "From", &mailboxes(std::slice::from_ref(from))?)?;
        for (name, list) in [
            ("To", &self.to),
            ("Cc", &self.cc),
            ("Reply-To", &self.reply_to),
        ] {
            if !list.is_empty() {
                header(&mut out, name, &mailboxes(list)?)?;
            }
        }
        if !self.bcc.is_empty() {
            let bcc = self
                .bcc
                .iter()
                .map(|a| address(a))
                .collect::<Result<Vec<_>, _>>()?;
            header(&mut out, "Bcc", &bcc.join(", "))?;
        }
        header(&mut out, "Subject", &encode_word(&self.subject))?;
        header(&mut out, "Date", &timefmt::rfc2822(now_ms))?;
        header(&mut out, "Message-ID", &format!("<{id}@letterbox>"))?;
        header(&mut out, "MIME-Version", "1.0")?;
        if !self.tags.is_empty() {
            header(&mut out, "X-Tags", &self.tags.join(", "))?;
        }
        for (name, value) in &self.headers {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
                return Err(ComposeError::BadHeaderName(name.clone()));
            }
            if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(ComposeError::ReservedHeader(name.clone()));
            }
            header(&mut out, name, &encode_word(value))?;
        }
        let (inline, attached): (Vec<_>, Vec<_>) = self
            .attachments
            .iter()
            // Inline parts sit beside the HTML that refers to them; without
            // HTML they are plain attachments.
            .partition(|a| a.content_id.is_some() && !self.html.is_empty());
        let body = self.body(id, &inline);
        let body = if attached.is_empty() {
            body
        } else {
            let mut parts = vec![body];
            parts.extend(attached.iter().map(|a| attachment_part(a, "attachment")));
            multipart("mixed", &format!("{id}-mixed"), &parts)
        };
        out.push_str(&body);
        Ok(out.into_bytes())
    }

    /// The text/HTML body, with inline parts beside the HTML.
    fn body(&self, id: &str, inline: &[&Attachment]) -> String {
        let text = (!self.text.is_empty() || self.html.is_empty())
            .then(|| text_part("text/plain", &self.text));
        let html = (!self.html.is_empty()).then(|| text_part("text/html", &self.html));
        let html = match html {
            Some(html) if !inline.is_empty() => {
                let mut parts = vec![html];
                parts.extend(inline.iter().map(|a| attachment_part(a, "inline")));
                Some(multipart("related", &format!("{id}-related"), &parts))
            }
            other => other,
        };
        match (text, html) {
            (Some(text), Some(html)) => {
                multipart("alternative", &format!("{id}-alt"), &[text, html])
            }
            (Some(only), None) | (None, Some(only)) => only,
            (None, None) => unreachable!("a body always has text or HTML"),
        }
    }
}

fn header(out: &mut String, name: &str, value: &str) -> Result<(), ComposeError> {
    if value.contains(['\r', '\n']) {
        return Err(ComposeError::LineBreak(name.to_string()));
    }
    out.push_str(name);
    out.push_str(": ");
    out.push_str(value);
    out.push_str("\r\n");
    Ok(())
}

/// An address that can stand in a header as it is.
fn address(email: &str) -> Result<&str, ComposeError> {
    let valid = email.contains('@')
        && !email.contains(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | ',' | '"'));
    if valid {
        Ok(email)
    } else {
        Err(ComposeError::BadAddress(email.to_string()))
    }
}

fn mailboxes(list: &[Mailbox]) -> Result<String, ComposeError> {
    let mut out = Vec::new();
    for m in list {
        address(&m.email)?;
        if m.name.is_empty() {
            out.push(format!("<{}>", m.email));
        } else if m.name.is_ascii() {
            let name = m.name.replace('\\', "\\\\").replace('"', "\\\"");
            out.push(format!("\"{name}\" <{}>", m.email));
        } else {
            out.push(format!("{} <{}>", encode_word(&m.name), m.email));
        }
    }
    Ok(out.join(", "))
}

/// RFC 2047 encoding for non-ASCII header text.
fn encode_word(text: &str) -> String {
    if text.is_ascii() {
        return text.to_string();
    }
    // Encoded words are at most 75 characters: split the text on character
    // boundaries into chunks of at most 45 bytes (60 in base64).
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", B64.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", B64.encode(&chunk)));
    }
    words.join(" ")
}

/// Base64 with 76-character lines.
fn base64_lines(bytes: &[u8]) -> String {
    let encoded = B64.encode(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 38);
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push_str("\r\n");
    }
    out
}

fn text_part(content_type: &str, text: &str) -> String {
    // 7bit only when the text already is what the wire carries (CRLF line
    // ends, short ASCII lines): base64 gives back exactly the text sent,
    // bare `\n`s included, where Mailpit's clients compare it.
    let crlf_only = text.split("\r\n").all(|l| !l.contains(['\r', '\n']));
    let plain = crlf_only && text.is_ascii() && text.split("\r\n").all(|l| l.len() < 998);
    if plain {
        format!(
            "Content-Type: {content_type}; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{text}"
        )
    } else {
        format!(
            "Content-Type: {content_type}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}",
            base64_lines(text.as_bytes())
        )
    }
}

fn attachment_part(a: &Attachment, disposition: &str) -> String {
    let name = a.filename.replace(['"', '\\', '\r', '\n'], "_");
    let name = if name.is_ascii() {
        format!("\"{name}\"")
    } else {
        format!("\"{}\"", encode_word(&name))
    };
    let mut out = format!(
        "Content-Type: {}; name={name}\r\nContent-Disposition: {disposition}; filename={name}\r\nContent-Transfer-Encoding: base64\r\n",
        a.content_type
    );
    if let Some(cid) = &a.content_id {
        out.push_str(&format!(
            "Content-ID: <{}>\r\n",
            cid.trim_matches(['<', '>'])
        ));
    }
    out.push_str("\r\n");
    out.push_str(&base64_lines(&a.content));
    out
}

fn multipart(subtype: &str, boundary: &str, parts: &[String]) -> String {
    let mut out = format!("Content-Type: multipart/{subtype}; boundary=\"{boundary}\"\r\n\r\n");
    for part in parts {
        // The line break before a delimiter belongs to the delimiter
        // (RFC 2046), so a part's own content ends unchanged.
        out.push_str(&format!("--{boundary}\r\n{part}\r\n"));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::{PartRole, parse};

    fn mailbox(name: &str, email: &str) -> Mailbox {
        Mailbox {
            name: name.into(),
            email: email.into(),
        }
    }

    fn draft() -> Draft {
        Draft {
            from: Some(mailbox("Ann Smith", "ann@example.com")),
            to: vec![
                mailbox("", "bob@example.com"),
                mailbox("Zoë", "zoe@example.com"),
            ],
            subject: "Héllo".into(),
            text: "Hi Bob\nline two".into(),
            html: "<p>Hi <img src=\"cid:logo\"></p>".into(),
            tags: vec!["welcome".into()],
            headers: vec![("X-Campaign".into(), "spring".into())],
            attachments: vec![
                Attachment {
                    filename: "logo.png".into(),
                    content_type: "image/png".into(),
                    content_id: Some("logo".into()),
                    content: vec![0x89, b'P', b'N', b'G'],
                },
                Attachment {
                    filename: "report.pdf".into(),
                    content_type: "application/pdf".into(),
                    content_id: None,
                    content: b"%PDF-1.4".to_vec(),
                },
            ],
            ..Draft::default()
        }
    }

    #[test]
    fn builds_a_message_our_parser_reads_back() {
        let raw = draft().build("01TEST", 0).unwrap();
        let m = parse(&raw);
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        assert_eq!(m.subject, "Héllo");
        assert_eq!(m.from.unwrap().name, "Ann Smith");
        assert_eq!(m.to[1].name, "Zoë");
        assert_eq!(m.message_id, "01TEST@letterbox");
        assert_eq!(m.tags, ["welcome"]);
        assert_eq!(m.attachments, 1);
        assert_eq!(m.inline, 1);
        let roles: Vec<_> = m.parts.iter().map(|p| p.role).collect();
        assert!(roles.contains(&PartRole::Text) && roles.contains(&PartRole::Html));
        assert_eq!(m.snippet, "Hi Bob line two");
        let text = String::from_utf8(raw).unwrap();
        assert!(text.contains("X-Campaign: spring\r\n"));
        assert!(text.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"));
        assert!(text.starts_with("Return-Path: <ann@example.com>\r\n"));
        assert!(
            !text.contains("Bcc:"),
            "no Bcc header without Bcc recipients"
        );
    }

    #[test]
    fn bcc_recipients_are_kept_in_a_header() {
        let mut d = draft();
        d.bcc = vec!["hidden@example.com".into(), "other@example.com".into()];
        let text = String::from_utf8(d.build("x", 0).unwrap()).unwrap();
        assert!(text.contains("\r\nBcc: hidden@example.com, other@example.com\r\n"));
        d.bcc = vec!["a@b>, evil@x".into()];
        assert!(matches!(d.build("x", 0), Err(ComposeError::BadAddress(_))));
    }

    #[test]
    fn bodies_decode_to_exactly_what_was_sent() {
        let html = "<div>\n  <p>two\nlines</p></div>";
        let raw = Draft {
            from: Some(mailbox("", "a@b.c")),
            text: "crlf\r\nonly".into(),
            html: html.into(),
            ..Draft::default()
        }
        .build("x", 0)
        .unwrap();
        let m = parse(&raw);
        let body = |role| {
            let part = m.parts.iter().find(|p| p.role == role).unwrap();
            crate::domain::message::part_text(&raw, part)
        };
        assert_eq!(body(PartRole::Html), html);
        assert_eq!(body(PartRole::Text), "crlf\r\nonly");
    }

    #[test]
    fn refuses_injection_and_reserved_headers() {
        let mut d = draft();
        d.subject = "hi\r\nBcc: evil@example.com".into();
        assert_eq!(
            d.build("x", 0),
            Err(ComposeError::LineBreak("Subject".into()))
        );
        let mut d = draft();
        d.headers = vec![("Subject".into(), "x".into())];
        assert_eq!(
            d.build("x", 0),
            Err(ComposeError::ReservedHeader("Subject".into()))
        );
        let mut d = draft();
        d.headers = vec![("Bad Name".into(), "x".into())];
        assert!(matches!(
            d.build("x", 0),
            Err(ComposeError::BadHeaderName(_))
        ));
        let mut d = draft();
        d.to = vec![mailbox("", "a@b>, evil@x")];
        assert!(matches!(d.build("x", 0), Err(ComposeError::BadAddress(_))));
        let mut d = draft();
        d.from = None;
        assert_eq!(d.build("x", 0), Err(ComposeError::NoFrom));
    }

    #[test]
    fn long_non_ascii_subjects_are_split_into_encoded_words() {
        let subject = "é".repeat(100);
        let encoded = encode_word(&subject);
        assert!(encoded.split(' ').all(|w| w.len() <= 75));
        let raw = Draft {
            from: Some(mailbox("", "a@b.c")),
            subject: subject.clone(),
            ..Draft::default()
        }
        .build("x", 0)
        .unwrap();
        assert_eq!(parse(&raw).subject, subject);
    }
}
