//! Reading header fields as a person means them, leniently and in time
//! proportional to their size: where the header block starts, values
//! unfolded and trimmed, encoded words in unknown charsets, and lines that
//! would make mailparse's tokenizer quadratic.

use std::borrow::Cow;

use mailparse::{MailHeader, MailHeaderMap};

/// `raw`, or when a line of it holds more than [`MAX_MAILPARSE_WORDS`]
/// encoded-word starts, a copy of the same length in which that line's
/// `=?` are `=_`. mailparse's tokenizer spends time proportional to a
/// line's length on each `=?` in a header line (Content-Type,
/// Content-Disposition and address headers are tokenized inside
/// `parse_mail`), so a hostile line of them would hold a thread for
/// minutes.
pub(super) fn defuse_encoded_words(raw: &[u8]) -> Cow<'_, [u8]> {
    let starts = memchr::memmem::find_iter(raw, b"=?");
    if starts.clone().nth(MAX_MAILPARSE_WORDS).is_none() {
        return Cow::Borrowed(raw);
    }
    let mut copy: Option<Vec<u8>> = None;
    let mut line_start = 0;
    for line_end in memchr::memchr_iter(b'\n', raw).chain([raw.len()]) {
        let line = &raw[line_start..line_end];
        let mut in_line = memchr::memmem::find_iter(line, b"=?");
        if in_line.nth(MAX_MAILPARSE_WORDS).is_some() {
            let copy = copy.get_or_insert_with(|| raw.to_vec());
            for at in memchr::memmem::find_iter(line, b"=?") {
                copy[line_start + at + 1] = b'_';
            }
        }
        line_start = line_end + 1;
    }
    copy.map_or(Cow::Borrowed(raw), Cow::Owned)
}

/// `raw` from where its header block starts: a byte-order mark and lines
/// of only spaces and tabs before the first header are skipped (some
/// exporters and MUAs write them; a strict parser would see an empty
/// header block). An empty first line still means "no headers".
pub fn header_block(raw: &[u8]) -> &[u8] {
    let mut rest = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    loop {
        let blanks = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        let after = &rest[blanks..];
        let line_end = if after.starts_with(b"\r\n") {
            2
        } else if after.starts_with(b"\n") {
            1
        } else {
            return rest;
        };
        if blanks == 0 {
            return rest;
        }
        rest = &after[line_end..];
    }
}

/// The top-level header fields of `raw`, read as [`super::parse`] reads them.
pub fn top_headers(raw: &[u8]) -> Result<Vec<MailHeader<'_>>, mailparse::MailParseError> {
    mailparse::parse_headers(header_block(raw)).map(|(headers, _)| headers)
}

/// A header's value as a reader means it: unfolded, without the
/// whitespace folding left at its ends, encoded words decoded. An encoded
/// word in a charset nobody knows (`=?NONE?B?VEVTVA=?=`) is read as ASCII
/// rather than shown encoded.
pub fn header_value(header: &MailHeader<'_>) -> String {
    let value = if many_encoded_words(header) {
        unfold(&String::from_utf8_lossy(header.get_value_raw()))
    } else {
        header.get_value()
    };
    let value = value.trim();
    if value.contains("=?") {
        decode_unknown_words(value)
    } else {
        value.to_string()
    }
}

/// More `=?` than any real header holds. mailparse's tokenizer takes time
/// proportional to a line's length for each `=?` in it (minutes for a few
/// hundred kilobytes of them), so past this many a value is decoded here.
pub(super) const MAX_MAILPARSE_WORDS: usize = 256;

pub(super) fn many_encoded_words(header: &MailHeader<'_>) -> bool {
    memchr::memmem::find_iter(header.get_value_raw(), b"=?")
        .nth(MAX_MAILPARSE_WORDS)
        .is_some()
}

/// Line folding undone: each line break and the whitespace around it
/// become one space.
fn unfold(value: &str) -> String {
    value
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first `name` header's value, as [`header_value`] reads it.
pub fn first_value(headers: &[MailHeader<'_>], name: &str) -> Option<String> {
    headers.get_first_header(name).map(header_value)
}

/// Decodes the encoded words mailparse left encoded (their charset is
/// unknown), taking their bytes as ASCII; whitespace between two encoded
/// words goes, as RFC 2047 says.
fn decode_unknown_words(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let Some((decoded, len)) = encoded_word(&rest[start..]) else {
            out.push_str(&rest[..start + 2]);
            rest = &rest[start + 2..];
            after_word = false;
            continue;
        };
        let between = &rest[..start];
        if !(after_word && between.trim().is_empty()) {
            out.push_str(between);
        }
        out.push_str(&decoded);
        rest = &rest[start + len..];
        after_word = true;
    }
    out.push_str(rest);
    out
}

/// Longer than any encoded word a sender writes (75 is the limit).
const MAX_ENCODED_WORD: usize = 1024;

/// The text of the encoded word `=?charset?B|Q?data?=` at the start of
/// `text`, read as ASCII, and its length.
fn encoded_word(text: &str) -> Option<(String, usize)> {
    // A word is at most 75 characters (RFC 2047); looking further for its
    // end would make a long header of `=?` without `?=` quadratic.
    let mut window = text.len().min(MAX_ENCODED_WORD);
    while !text.is_char_boundary(window) {
        window -= 1;
    }
    let inner = &text[2..window];
    let (_charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let data = &inner[..end];
    if data.contains(char::is_whitespace) {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => {
            use base64::Engine;
            let engine = base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
                    .with_decode_allow_trailing_bits(true),
            );
            engine.decode(data.trim_end_matches('=')).ok()?
        }
        "Q" | "q" => quoted_printable_word(data),
        _ => return None,
    };
    // `data` is a slice of `text`: the word ends two bytes after it.
    let len = data.as_ptr() as usize - text.as_ptr() as usize + data.len() + 2;
    Some((String::from_utf8_lossy(&bytes).into_owned(), len))
}

/// RFC 2047 "Q" encoding: `_` is a space, `=XX` a byte.
fn quoted_printable_word(data: &str) -> Vec<u8> {
    let bytes = data.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = || std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok();
        match bytes[i] {
            b'_' => out.push(b' '),
            b'=' => {
                if let Some(b) = hex().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'=');
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The message without the named header (and its folded lines): how
/// `sendmail -t` and the relay drop `Bcc` before a message goes on.
pub fn without_header(message: &[u8], name: &str) -> Vec<u8> {
    // Everything before the first empty line.
    let headers_len: usize = message
        .split_inclusive(|&b| b == b'\n')
        .take_while(|line| !matches!(*line, b"\n" | b"\r\n"))
        .map(<[u8]>::len)
        .sum();
    let mut out = Vec::with_capacity(message.len());
    let mut dropping = false;
    for line in message[..headers_len].split_inclusive(|&b| b == b'\n') {
        let continuation = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if !continuation {
            dropping = line.len() > name.len()
                && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                && line[name.len()..].trim_ascii_start().starts_with(b":");
        }
        if !dropping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(&message[headers_len..]);
    out
}
