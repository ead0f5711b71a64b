//! Parsing a received message once: the summary fields the list and API
//! need, the text for the search index, and an index of every MIME part with
//! its byte range in the raw message, so that later views decode only the
//! part they show instead of re-parsing the whole message.
//!
//! Parsing never fails: whatever mailparse cannot make sense of is recorded
//! in [`ParsedMessage::problems`] and the raw bytes stay the source of truth.

use std::borrow::Cow;

use mailparse::{MailAddr, MailHeader, MailHeaderMap, ParsedMail, body::Body};
use serde::{Deserialize, Serialize};

mod attached;
mod headers;
mod text;

pub use attached::{
    AttachedMessage, MAX_ATTACHED_SIZE, find_attached_part, is_attached_message, open_attached,
};
use headers::{MAX_MAILPARSE_WORDS, defuse_encoded_words, many_encoded_words};
pub use headers::{first_value, header_block, header_value, top_headers, without_header};
pub use text::{html_to_text, snippet};

/// Parts indexed per message; a message with more keeps the first ones and
/// says so in its problems.
pub const MAX_PARTS: usize = 10_000;
/// How deep `message/rfc822` attachments are opened.
const MAX_NESTED_MESSAGES: usize = 8;

/// A mailbox as Mailpit's JSON writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Address")]
    pub address: String,
}

/// What a part is for, decided once at ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartRole {
    /// `multipart/*`
    Container,
    /// An opened `message/rfc822` part.
    Message,
    /// The message's text body.
    Text,
    /// The message's HTML body.
    Html,
    /// Shown with the body (for example a `cid:` image).
    Inline,
    Attachment,
}

/// One node of the MIME tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// `1`, `2.1`, ... as in IMAP; a multipart root is `0`, the multipart
    /// body of an opened `message/rfc822` part `N` is `N.0`.
    pub part_id: String,
    pub parent_id: Option<String>,
    pub role: PartRole,
    pub content_type: String,
    pub charset: Option<String>,
    pub transfer_encoding: String,
    pub disposition: Option<String>,
    pub filename: Option<String>,
    pub content_id: Option<String>,
    /// Decoded size in bytes (exact for all but base64, where it is computed
    /// from the encoded length).
    pub size: u64,
    /// Byte offsets into the raw message: the part's header block starts at
    /// `header_start`, its (still encoded) body spans `body_start..body_end`.
    pub header_start: u64,
    pub body_start: u64,
    pub body_end: u64,
}

/// Text for the full-text index. A plain search word looks where Mailpit's
/// does: the people and the subject (see [`ParsedMessage::people_text`]),
/// `body` and `attachments`. Headers and the HTML source are indexed for
/// the explicit `header:` and `html:` filters only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchText {
    /// The text body and the HTML body's rendered text.
    pub body: String,
    /// Attachment and inline part file names, one a line.
    pub attachments: String,
    /// Every header: its name as written and its decoded value, in order.
    pub headers: Vec<(String, String)>,
    /// The HTML body's source.
    pub html: String,
    /// The `Return-Path:` header, searched as an address.
    pub return_path: String,
}

#[derive(Debug, Clone, Default)]
pub struct ParsedMessage {
    pub subject: String,
    pub from: Option<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub reply_to: Vec<Address>,
    /// Without angle brackets.
    pub message_id: String,
    /// The `Date:` header as Unix seconds, if it parses.
    pub date: Option<i64>,
    pub snippet: String,
    pub attachments: u32,
    pub inline: u32,
    pub parts: Vec<Part>,
    pub search: SearchText,
    /// What could not be parsed; empty for a well-formed message.
    pub problems: Vec<String>,
    /// From the `X-Tags` header and plus-addresses (`user+tag@...`).
    pub tags: Vec<String>,
}

/// Parses `raw`. Never panics on hostile input and never fails.
pub fn parse(raw: &[u8]) -> ParsedMessage {
    let mut out = ParsedMessage::default();
    let defused = defuse_encoded_words(raw);
    if matches!(defused, Cow::Owned(_)) {
        out.problems.push(format!(
            "A line with more than {MAX_MAILPARSE_WORDS} encoded-word starts (=?) was read with them as plain text"
        ));
    }
    // Part offsets are offsets into `raw` too: the defused copy has the
    // same length, offsets are computed from the slices' addresses, and
    // `header_block` is a slice of it.
    let raw: &[u8] = &defused;
    let message = header_block(raw);
    match mailparse::parse_mail(message) {
        Ok(mail) => {
            summarize_headers(&mail.headers, &mut out);
            let mut walker = Walker {
                raw,
                out: &mut out,
                text: None,
                html: None,
            };
            walker.message(&mail, "", None, 0);
            let (text, html) = (walker.text.take(), walker.html.take());
            let html_text = html.as_deref().map(html_to_text);
            out.snippet = snippet(text.as_deref().or(html_text.as_deref()).unwrap_or(""));
            // A word the reader sees in either view finds the message.
            out.search.body = [text, html_text]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("\n");
            // The source is indexed for `html:`, which finds link targets
            // and attributes such as data-testid.
            out.search.html = html.unwrap_or_default();
        }
        Err(err) => {
            out.problems
                .push(format!("MIME structure could not be parsed: {err}"));
            // Fall back to the header block alone, so the list still shows
            // who sent what.
            if let Ok((headers, _)) = mailparse::parse_headers(message) {
                summarize_headers(&headers, &mut out);
            }
        }
    }
    out
}

fn summarize_headers(headers: &[MailHeader<'_>], out: &mut ParsedMessage) {
    out.subject = first_value(headers, "Subject").unwrap_or_default();
    out.from = headers
        .get_first_header("From")
        .and_then(|h| addresses(h).into_iter().next());
    out.to = all_addresses(headers, "To");
    out.cc = all_addresses(headers, "Cc");
    out.bcc = all_addresses(headers, "Bcc");
    out.reply_to = all_addresses(headers, "Reply-To");
    out.message_id = first_value(headers, "Message-ID")
        .map(|v| {
            v.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
        .unwrap_or_default();
    out.search.return_path = first_value(headers, "Return-Path").unwrap_or_default();
    out.date = first_value(headers, "Date").and_then(|v| mailparse::dateparse(&v).ok());
    let mut tags = Vec::new();
    for value in headers.get_all_values("X-Tags") {
        tags.extend(value.split(',').filter_map(clean_tag));
    }
    let all = [&out.to, &out.cc, &out.bcc]
        .into_iter()
        .flatten()
        .chain(out.from.as_ref());
    tags.extend(all.filter_map(|a| plus_tag(&a.address)));
    add_tags(&mut out.tags, tags);
    out.search.headers = headers
        .iter()
        .map(|header| (header.get_key(), header_value(header)))
        .collect();
}

impl ParsedMessage {
    /// Names and addresses in From, To, Cc, Bcc, Reply-To and Return-Path,
    /// and the subject: what a plain search word looks in besides the text
    /// and the attachment names.
    pub fn people_text(&self) -> String {
        let mut text = String::new();
        let mailboxes = self
            .from
            .iter()
            .chain(&self.to)
            .chain(&self.cc)
            .chain(&self.bcc)
            .chain(&self.reply_to);
        for a in mailboxes {
            text.push_str(&a.name);
            text.push(' ');
            text.push_str(&a.address);
            text.push('\n');
        }
        text.push_str(&self.search.return_path);
        text.push('\n');
        text.push_str(&self.subject);
        text
    }
}

/// A tag as stored: letters, digits, space and `-_.@`, 1 to 100 characters;
/// anything else is dropped. `None` if nothing is left.
pub fn clean_tag(raw: &str) -> Option<String> {
    let tag: String = raw
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '@'))
        .take(100)
        .collect();
    let tag = tag.trim();
    (!tag.is_empty()).then(|| tag.to_string())
}

/// The tag in a plus-address: `user+signup@example.com` -> `signup`.
pub fn plus_tag(address: &str) -> Option<String> {
    let local = address.rsplit_once('@')?.0;
    clean_tag(local.split_once('+')?.1)
}

/// Appends tags not yet present (compared case-insensitively).
pub fn add_tags(tags: &mut Vec<String>, new: impl IntoIterator<Item = String>) {
    for tag in new {
        if !tags.iter().any(|t| t.eq_ignore_ascii_case(&tag)) {
            tags.push(tag);
        }
    }
}

fn all_addresses(headers: &[MailHeader<'_>], name: &str) -> Vec<Address> {
    headers
        .get_all_headers(name)
        .into_iter()
        .flat_map(addresses)
        .collect()
}

/// The mailboxes in an address header; groups are flattened. A header that
/// does not parse is kept whole as one address so nothing disappears.
fn addresses(header: &MailHeader<'_>) -> Vec<Address> {
    let parsed = if many_encoded_words(header) {
        Err(())
    } else {
        mailparse::addrparse_header(header).map_err(drop)
    };
    match parsed {
        Ok(list) => list
            .iter()
            .flat_map(|addr| match addr {
                MailAddr::Single(info) => vec![info.clone()],
                MailAddr::Group(group) => group.addrs.clone(),
            })
            .map(|info| Address {
                name: info.display_name.unwrap_or_default(),
                address: info.addr,
            })
            .collect(),
        Err(()) => {
            let value = header_value(header);
            if value.is_empty() {
                Vec::new()
            } else {
                vec![Address {
                    name: String::new(),
                    address: value.to_string(),
                }]
            }
        }
    }
}

struct Walker<'r, 'o> {
    raw: &'r [u8],
    out: &'o mut ParsedMessage,
    text: Option<String>,
    html: Option<String>,
}

impl Walker<'_, '_> {
    fn offset(&self, slice: &[u8]) -> u64 {
        // Every slice mailparse hands out borrows from `raw`.
        (slice.as_ptr() as usize).saturating_sub(self.raw.as_ptr() as usize) as u64
    }

    fn room(&mut self) -> bool {
        if self.out.parts.len() < MAX_PARTS {
            return true;
        }
        if !self
            .out
            .problems
            .iter()
            .any(|p| p.starts_with("Part index truncated"))
        {
            self.out
                .problems
                .push(format!("Part index truncated at {MAX_PARTS} parts"));
        }
        false
    }

    /// Indexes a message (the root or an opened `message/rfc822`) whose
    /// parts are numbered under `prefix`.
    fn message(&mut self, mail: &ParsedMail<'_>, prefix: &str, parent: Option<&str>, depth: usize) {
        if mail.ctype.mimetype.starts_with("multipart/") {
            let id = format!("{prefix}0");
            self.part(mail, &id, parent, depth);
            for (i, sub) in subparts(mail).iter().enumerate() {
                self.node(sub, &format!("{prefix}{}", i + 1), Some(&id), depth);
            }
        } else {
            self.node(mail, &format!("{prefix}1"), parent, depth);
        }
    }

    /// Indexes a part numbered `id` and everything below it.
    fn node(&mut self, mail: &ParsedMail<'_>, id: &str, parent: Option<&str>, depth: usize) {
        if !self.room() {
            return;
        }
        let role = self.part(mail, id, parent, depth);
        match role {
            PartRole::Container => {
                for (i, sub) in subparts(mail).iter().enumerate() {
                    self.node(sub, &format!("{id}.{}", i + 1), Some(id), depth);
                }
            }
            PartRole::Message => {
                let body = mail.get_body_encoded();
                let raw = match &body {
                    Body::SevenBit(b) | Body::EightBit(b) => b.get_raw(),
                    Body::Binary(b) => b.get_raw(),
                    Body::Base64(_) | Body::QuotedPrintable(_) => return,
                };
                match mailparse::parse_mail(raw) {
                    Ok(nested) => self.message(&nested, &format!("{id}."), Some(id), depth + 1),
                    Err(err) => self
                        .out
                        .problems
                        .push(format!("Attached message {id} could not be parsed: {err}")),
                }
            }
            _ => {}
        }
    }

    /// Records one part and returns its role.
    fn part(
        &mut self,
        mail: &ParsedMail<'_>,
        id: &str,
        parent: Option<&str>,
        depth: usize,
    ) -> PartRole {
        let mimetype = mail.ctype.mimetype.clone();
        let encoding = mail
            .headers
            .get_first_value("Content-Transfer-Encoding")
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "7bit".into());
        let disposition_header = mail.headers.get_first_value("Content-Disposition");
        let disposition = mail.get_content_disposition();
        let disposition_name = disposition_header
            .as_ref()
            .map(|_| match disposition.disposition {
                mailparse::DispositionType::Inline => "inline".to_string(),
                mailparse::DispositionType::Attachment => "attachment".to_string(),
                mailparse::DispositionType::FormData => "form-data".to_string(),
                mailparse::DispositionType::Extension(ref ext) => ext.to_ascii_lowercase(),
            });
        let filename = disposition
            .params
            .get("filename")
            .or_else(|| mail.ctype.params.get("name"))
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty());
        let content_id = mail
            .headers
            .get_first_value("Content-ID")
            .map(|v| {
                v.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
            .filter(|v| !v.is_empty());
        let charset = mail
            .ctype
            .params
            .get("charset")
            .map(|c| c.trim().to_ascii_lowercase());

        let encoded = encoded_body(mail);
        let header_start = self.offset(mail.raw_bytes);
        let body_start = self.offset(encoded);
        let is_container = mimetype.starts_with("multipart/");
        let body_end = if is_container {
            header_start + mail.raw_bytes.len() as u64
        } else {
            body_start + encoded.len() as u64
        };

        let is_attachment_disposition = disposition_name.as_deref() == Some("attachment");
        let is_text = mimetype == "text/plain" || mimetype == "text/html";
        let role = if is_container {
            PartRole::Container
        } else if (mimetype == "message/rfc822" || mimetype == "message/global")
            && depth < MAX_NESTED_MESSAGES
            && !is_attachment_disposition
        {
            PartRole::Message
        } else if is_text && !is_attachment_disposition && filename.is_none() {
            let slot = if mimetype == "text/plain" {
                &self.text
            } else {
                &self.html
            };
            if slot.is_none() && depth == 0 {
                let decoded = decode_text(mail, &mut self.out.problems, id);
                if mimetype == "text/plain" {
                    self.text = Some(decoded);
                    PartRole::Text
                } else {
                    self.html = Some(decoded);
                    PartRole::Html
                }
            } else {
                PartRole::Inline
            }
        } else if is_attachment_disposition
            || (content_id.is_none() && disposition_name.as_deref() != Some("inline"))
        {
            PartRole::Attachment
        } else {
            PartRole::Inline
        };

        let size = if is_container {
            0
        } else {
            decoded_size(&encoding, encoded, mail)
        };
        match role {
            PartRole::Attachment => self.out.attachments += 1,
            PartRole::Inline => self.out.inline += 1,
            _ => {}
        }
        if matches!(role, PartRole::Attachment | PartRole::Inline)
            && let Some(name) = &filename
        {
            self.out.search.attachments.push_str(name);
            self.out.search.attachments.push('\n');
        }
        self.out.parts.push(Part {
            part_id: id.to_string(),
            parent_id: parent.map(str::to_string),
            role,
            content_type: mimetype,
            charset,
            transfer_encoding: encoding,
            disposition: disposition_name,
            filename,
            content_id,
            size,
            header_start,
            body_start,
            body_end,
        });
        role
    }
}

/// The parts of a multipart. A multipart whose closing delimiter never
/// came, but that ends with a delimiter line, gets from mailparse an empty
/// part after it: that part is not in the message, so it is left out.
fn subparts<'a>(mail: &'a ParsedMail<'a>) -> &'a [ParsedMail<'a>] {
    let parts = mail.subparts.as_slice();
    let Some((last, before)) = parts.split_last() else {
        return parts;
    };
    let blank = last.raw_bytes.iter().all(u8::is_ascii_whitespace);
    let closed = mail.ctype.params.get("boundary").is_some_and(|b| {
        memchr::memmem::find(mail.raw_bytes, format!("--{b}--").as_bytes()).is_some()
    });
    if blank && !closed { before } else { parts }
}

/// A part's body as it stands in the message, transfer encoding not undone.
fn encoded_body<'a>(mail: &'a ParsedMail<'a>) -> &'a [u8] {
    match mail.get_body_encoded() {
        Body::Base64(b) | Body::QuotedPrintable(b) => b.get_raw(),
        Body::SevenBit(b) | Body::EightBit(b) => b.get_raw(),
        Body::Binary(b) => b.get_raw(),
    }
}

/// The text of a part: transfer encoding undone and charset decoded, or,
/// when that fails, the encoded body as it is.
fn text_of(mail: &ParsedMail<'_>) -> Result<String, (mailparse::MailParseError, String)> {
    mail.get_body().map_err(|err| {
        (
            err,
            String::from_utf8_lossy(encoded_body(mail)).into_owned(),
        )
    })
}

fn decode_text(mail: &ParsedMail<'_>, problems: &mut Vec<String>, id: &str) -> String {
    text_of(mail).unwrap_or_else(|(err, encoded)| {
        problems.push(format!("Part {id} could not be decoded: {err}"));
        encoded
    })
}

/// Parses only the bytes of one indexed leaf part (headers and body) and
/// hands the result to `read`; `None` if the index does not fit `raw`.
fn with_part<T>(
    raw: &[u8],
    part: &Part,
    read: impl FnOnce(Result<ParsedMail<'_>, &[u8]>) -> T,
) -> Option<T> {
    let end = (part.body_end as usize).min(raw.len());
    let bytes = raw.get(part.header_start as usize..end)?;
    let body = raw.get(part.body_start as usize..end).unwrap_or_default();
    let bytes = defuse_encoded_words(bytes);
    Some(read(mailparse::parse_mail(&bytes).map_err(|_| body)))
}

/// The decoded text of an indexed part, read without parsing the rest of
/// the message. A body that does not decode is shown as it was encoded.
pub fn part_text(raw: &[u8], part: &Part) -> String {
    with_part(raw, part, |mail| match mail {
        Ok(mail) => text_of(&mail).unwrap_or_else(|(_, encoded)| encoded),
        Err(body) => String::from_utf8_lossy(body).into_owned(),
    })
    .unwrap_or_default()
}

/// The decoded bytes of an indexed part (base64 and quoted-printable
/// undone; the enclosed message of a `message/rfc822` part). A body that
/// does not decode is served as it was encoded rather than not at all.
pub fn part_bytes(raw: &[u8], part: &Part) -> Vec<u8> {
    with_part(raw, part, |mail| match mail {
        Ok(mail) => mail
            .get_body_raw()
            .unwrap_or_else(|_| encoded_body(&mail).to_vec()),
        Err(body) => body.to_vec(),
    })
    .unwrap_or_default()
}

fn decoded_size(encoding: &str, encoded: &[u8], mail: &ParsedMail<'_>) -> u64 {
    match encoding {
        // Counting beats decoding a large attachment just to learn its size.
        "base64" => {
            let mut chars = 0u64;
            let mut padding = 0u64;
            for &b in encoded {
                match b {
                    b'=' => padding += 1,
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => chars += 1,
                    _ => {}
                }
            }
            ((chars + padding) / 4 * 3).saturating_sub(padding.min(2))
                + match (chars + padding) % 4 {
                    2 => 1,
                    3 => 2,
                    _ => 0,
                }
        }
        "quoted-printable" => mail
            .get_body_raw()
            .map(|b| b.len() as u64)
            .unwrap_or(encoded.len() as u64),
        _ => encoded.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &[u8] = b"From: \"Ann Example\" <ann@example.com>\r\n\
To: bob@example.com, Team: carol@example.com, dan@example.com;\r\n\
Subject: =?UTF-8?B?SGVsbG8g8J+Ngw==?=\r\n\
Message-ID: <abc@example.com>\r\n\
Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n\
Content-Type: multipart/mixed; boundary=outer\r\n\
\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=inner\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hi Bob,   your code is 123456.\r\n\
--inner\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><head><style>p{}</style></head><p>Hi <b>Bob</b> &amp; co</p></html>\r\n\
--inner--\r\n\
--outer\r\n\
Content-Type: application/pdf; name=report.pdf\r\n\
Content-Disposition: attachment; filename=report.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
SGVsbG8gd29ybGQ=\r\n\
--outer--\r\n";

    #[test]
    fn summary_fields() {
        let m = parse(MIXED);
        assert_eq!(m.subject, "Hello 🍃");
        assert_eq!(
            m.from,
            Some(Address {
                name: "Ann Example".into(),
                address: "ann@example.com".into()
            })
        );
        let to: Vec<_> = m.to.iter().map(|a| a.address.as_str()).collect();
        assert_eq!(
            to,
            ["bob@example.com", "carol@example.com", "dan@example.com"]
        );
        assert_eq!(m.message_id, "abc@example.com");
        assert_eq!(m.date, Some(1_795_341_600));
        assert_eq!(m.snippet, "Hi Bob, your code is 123456.");
        assert_eq!(m.attachments, 1);
        assert_eq!(m.inline, 0);
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        assert!(m.search.html.contains("<b>Bob</b> &amp; co"));
        assert_eq!(m.search.attachments, "report.pdf\n");
    }

    #[test]
    fn part_index_with_byte_ranges() {
        let m = parse(MIXED);
        let ids: Vec<_> = m
            .parts
            .iter()
            .map(|p| (p.part_id.as_str(), p.role))
            .collect();
        assert_eq!(
            ids,
            [
                ("0", PartRole::Container),
                ("1", PartRole::Container),
                ("1.1", PartRole::Text),
                ("1.2", PartRole::Html),
                ("2", PartRole::Attachment),
            ]
        );
        let pdf = &m.parts[4];
        assert_eq!(pdf.filename.as_deref(), Some("report.pdf"));
        assert_eq!(pdf.size, 11);
        assert_eq!(
            &MIXED[pdf.body_start as usize..pdf.body_end as usize],
            b"SGVsbG8gd29ybGQ="
        );
        assert_eq!(pdf.parent_id.as_deref(), Some("0"));
        let text = &m.parts[2];
        assert!(MIXED[text.header_start as usize..].starts_with(b"Content-Type: text/plain"));
    }

    #[test]
    fn tags_from_x_tags_and_plus_addresses() {
        let m = parse(b"From: a@x\r\nTo: bob+Signup@example.com, c+signup@x\r\nX-Tags: alpha, <b>beta</b>,  \r\n\r\nhi");
        assert_eq!(m.tags, ["alpha", "bbetab", "Signup"]);
        assert_eq!(plus_tag("no-plus@example.com"), None);
        assert_eq!(clean_tag(" ok tag! "), Some("ok tag".into()));
    }

    #[test]
    fn decoded_bytes_come_from_the_part_alone() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nhi\r\n--b\r\n\
Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
AAEC/w==\r\n--b--\r\n";
        let parsed = parse(raw);
        let bin = parsed.parts.iter().find(|p| p.part_id == "2").unwrap();
        assert_eq!(part_bytes(raw, bin), [0, 1, 2, 255]);
    }

    #[test]
    fn part_text_falls_back_to_the_encoded_body() {
        let raw = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!not base64!!\r\n";
        let m = parse(raw);
        assert_eq!(part_text(raw, &m.parts[0]), "!!not base64!!\r\n");
    }

    #[test]
    fn single_part_message_is_part_one() {
        let m = parse(b"Subject: hi\r\n\r\nbody\r\n");
        assert_eq!(m.parts.len(), 1);
        assert_eq!(m.parts[0].part_id, "1");
        assert_eq!(m.parts[0].role, PartRole::Text);
        assert_eq!(m.snippet, "body");
    }

    #[test]
    fn nested_message_is_indexed_under_its_part() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nouter\r\n--b\r\n\
Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\
Content-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\
Content-Type: text/plain\r\n\r\ninner text\r\n--c--\r\n--b--\r\n";
        let m = parse(raw);
        let ids: Vec<_> = m.parts.iter().map(|p| p.part_id.as_str()).collect();
        assert_eq!(ids, ["0", "1", "2", "2.0", "2.1"]);
        assert_eq!(m.parts[1].role, PartRole::Text);
        assert_eq!(m.parts[2].role, PartRole::Message);
        // The inner text is not the message's body.
        assert_eq!(m.parts[4].role, PartRole::Inline);
        assert_eq!(m.snippet, "outer");
    }

    #[test]
    fn garbage_never_fails() {
        for raw in [
            &b""[..],
            b"\0\0\0",
            b"no colon line\r\n\r\n",
            b"Content-Type: multipart/mixed\r\n\r\n--",
        ] {
            let _ = parse(raw);
        }
    }

    #[test]
    fn deep_nesting_keeps_headers() {
        let mut raw = b"Subject: deep\r\n".to_vec();
        for i in 0..5000 {
            raw.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n")
                    .as_bytes(),
            );
        }
        let m = parse(&raw);
        assert_eq!(m.subject, "deep");
        assert!(
            !m.problems.is_empty(),
            "{} parts, no problem recorded",
            m.parts.len()
        );
    }

    #[test]
    fn headers_are_read_after_a_byte_order_mark_or_blank_lines() {
        for raw in [
            &b"\xEF\xBB\xBFSubject: Wow\r\n\r\nbody"[..],
            b"    \t \nSubject: Wow\r\n\r\nbody",
            b"\xEF\xBB\xBF  \r\n \r\nSubject: Wow\r\n\r\nbody",
        ] {
            let m = parse(raw);
            assert_eq!(m.subject, "Wow", "{raw:?}");
            assert_eq!(m.snippet, "body");
            let body = &m.parts[0];
            assert_eq!(
                &raw[body.body_start as usize..body.body_end as usize],
                b"body"
            );
        }
        // An empty first line still ends an empty header block.
        assert_eq!(parse(b"\r\nSubject: Wow\r\n").subject, "");
    }

    #[test]
    fn header_values_lose_folding_whitespace_and_unknown_charsets() {
        let raw = b"X-Google-Smtp-Source:\r\n AGRy\r\n\tmore \r\n\
Subject: =?NONE?B?VEVTVA=?= =?x-unknown?Q?a=41_b?= and =?bogus\r\n\r\n";
        let headers = top_headers(raw).unwrap();
        assert_eq!(header_value(&headers[0]), "AGRy more");
        assert_eq!(header_value(&headers[1]), "TESTaA b and =?bogus");
        assert_eq!(parse(raw).subject, "TESTaA b and =?bogus");
    }

    #[test]
    fn a_long_header_of_unclosed_encoded_words_is_read_in_linear_time() {
        // Each `=?` used to look for its `?=` to the end of the value.
        let value = "=?x?B?".repeat(100_000);
        let raw = format!("Subject: {value}\r\nTo: {value}\r\nX-Long: {value}\r\n\r\n");
        let headers = top_headers(raw.as_bytes()).unwrap();
        assert_eq!(header_value(&headers[0]), value);
        // The whole message is read with those lines defused.
        let m = parse(raw.as_bytes());
        assert_eq!(m.subject, value.replace("=?", "=_"));
        assert_eq!(m.to.len(), 1);
    }

    #[test]
    fn a_part_header_of_encoded_words_is_parsed_in_linear_time() {
        // mailparse reads a part's Content-Type inside parse_mail; 20,000
        // `=?` in it took minutes.
        let words = "=?a?b?".repeat(20_000);
        let raw = format!(
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain; x-junk=\"{words}\"\r\n\r\nhello\r\n--b--\r\n"
        );
        let m = parse(raw.as_bytes());
        let text = m.parts.iter().find(|p| p.part_id == "1").unwrap();
        assert_eq!(part_text(raw.as_bytes(), text), "hello");
        assert_eq!(m.snippet, "hello");
        assert!(m.problems.iter().any(|p| p.contains("encoded-word starts")));
        // Ordinary mail is read as it is.
        assert!(parse(MIXED).problems.is_empty());
    }

    #[test]
    fn an_unterminated_multipart_gets_no_invented_part() {
        let parts = |raw: &[u8]| -> Vec<String> {
            parse(raw).parts.into_iter().map(|p| p.part_id).collect()
        };
        let open = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nhi\r\n--b\r\n";
        assert_eq!(parts(open), ["0", "1"]);
        assert_eq!(parts(&[&open[..], b"\r\n\r\n"].concat()), ["0", "1"]);
        // A closed multipart keeps an empty part it really has.
        let closed = [&open[..], b"\r\n--b--\r\n"].concat();
        assert_eq!(parts(&closed), ["0", "1", "2"]);
    }

    #[test]
    fn envelope_recipients_no_header_names_are_bcc() {
        let mut m = parse(
            b"To: Ann <ann@example.com>\r\nCc: cc@example.com\r\nBcc: b@example.com\r\n\r\nhi",
        );
        m.add_envelope_bcc(&[
            "ANN@example.com".into(),
            "cc@example.com".into(),
            "b@example.com".into(),
            "hidden@example.com".into(),
        ]);
        let bcc: Vec<_> = m.bcc.iter().map(|a| a.address.as_str()).collect();
        assert_eq!(bcc, ["b@example.com", "hidden@example.com"]);
        assert!(m.people_text().contains("hidden@example.com"));
    }

    #[test]
    fn snippet_is_capped() {
        let long = "word ".repeat(100);
        let s = snippet(&long);
        assert!(s.ends_with("..."));
        assert_eq!(s.chars().count(), 203);
    }

    #[test]
    fn entities_decode() {
        assert_eq!(html_to_text("a&lt;b&#62;c&#x41;&bogus;"), "a<b>cA&bogus;");
    }

    #[test]
    fn an_ampersand_before_multi_byte_text_does_not_panic() {
        // Regression (fuzzing): the entity window ended inside `é`.
        assert_eq!(html_to_text("&abcdefghij\u{e9}x;"), "&abcdefghij\u{e9}x;");
        assert_eq!(
            html_to_text("&\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"),
            "&\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"
        );
    }
}
