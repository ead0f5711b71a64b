//! Mail kept in files: mbox (mboxrd and mboxo), Maildir file names, the
//! index of a dump, and what a file's message must at least look like.
//! Pure: the caller reads and writes the files, a line or a message at a
//! time, so memory holds one message however large the mailbox is.

use serde::{Deserialize, Serialize};

use crate::domain::Envelope;
use crate::domain::message::{self, ParsedMessage};
use crate::domain::timefmt;

/// How an mbox quotes body lines that look like a `From ` separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MboxFormat {
    /// Every line matching `>*From ` got one more `>`; reading removes one
    /// from every line matching `>+From `. Reversible; what Letterbox writes.
    #[default]
    Rd,
    /// Only `From ` lines got a `>`; reading removes it from `>From ` lines
    /// and leaves `>>From ` alone (the original `>From ` cannot be told apart).
    O,
}

/// One message cut from an mbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MboxMessage {
    /// The message with its quoting undone and the separator's blank line
    /// removed.
    pub raw: Vec<u8>,
    /// The 1-based line of its `From ` separator in the file.
    pub line: u64,
    /// The separator's sender (`MAILER-DAEMON`, an address, or `-`).
    pub sender: String,
    /// The separator's date, as Unix milliseconds (read as UTC).
    pub date_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MboxError {
    #[error("line {line}: not an mbox (the first line is not a \"From \" separator)")]
    NoSeparator { line: u64 },
}

/// Cuts an mbox into messages. Feed it every line, line ending included,
/// with [`MboxSplitter::push_line`], then call [`MboxSplitter::finish`].
#[derive(Debug, Default)]
pub struct MboxSplitter {
    format: MboxFormat,
    current: Option<MboxMessage>,
    /// Where the last line of `current.raw` starts.
    last_line_start: usize,
    previous_blank: bool,
    line: u64,
}

fn is_blank(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

impl MboxSplitter {
    pub fn new(format: MboxFormat) -> MboxSplitter {
        MboxSplitter {
            format,
            ..MboxSplitter::default()
        }
    }

    /// Takes the next line; returns the message that a separator ended.
    /// Blank lines before the first separator are skipped; anything else
    /// there means the file is not an mbox.
    pub fn push_line(&mut self, line: &[u8]) -> Result<Option<MboxMessage>, MboxError> {
        self.line += 1;
        let separator =
            line.starts_with(b"From ") && (self.current.is_none() || self.previous_blank);
        if separator {
            let ended = self.take(true);
            self.current = Some(separator_message(line, self.line));
            self.previous_blank = false;
            return Ok(ended);
        }
        let Some(current) = &mut self.current else {
            if is_blank(line) {
                return Ok(None);
            }
            return Err(MboxError::NoSeparator { line: self.line });
        };
        self.last_line_start = current.raw.len();
        let quoted = line.iter().take_while(|&&b| b == b'>').count();
        let unquote = match self.format {
            MboxFormat::Rd => quoted >= 1,
            MboxFormat::O => quoted == 1,
        } && line[quoted..].starts_with(b"From ");
        current
            .raw
            .extend_from_slice(if unquote { &line[1..] } else { line });
        self.previous_blank = is_blank(line);
        Ok(None)
    }

    /// The last message, once the file has ended.
    pub fn finish(&mut self) -> Option<MboxMessage> {
        self.take(self.previous_blank)
    }

    /// The current message, without its last line when that is the blank
    /// line a writer puts before the next separator.
    fn take(&mut self, strip_blank: bool) -> Option<MboxMessage> {
        let mut message = self.current.take()?;
        if strip_blank && self.previous_blank {
            message.raw.truncate(self.last_line_start);
        }
        self.last_line_start = 0;
        Some(message)
    }
}

fn separator_message(line: &[u8], number: u64) -> MboxMessage {
    let text = String::from_utf8_lossy(&line[5..]);
    let text = text.trim();
    let (sender, date) = text.split_once([' ', '\t']).unwrap_or((text, ""));
    MboxMessage {
        raw: Vec::new(),
        line: number,
        sender: sender.to_string(),
        date_ms: parse_asctime(date),
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The date of a `From ` line: C's `asctime` form, `Sat Jan  3 01:05:34
/// 1996`, with a time zone name or offset some writers put before or after
/// the year ignored. Read as UTC.
pub fn parse_asctime(text: &str) -> Option<i64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let month_at = words.iter().position(|w| MONTHS.contains(w))?;
    let month = MONTHS.iter().position(|m| *m == words[month_at])? as u32 + 1;
    let day: u32 = words.get(month_at + 1)?.parse().ok()?;
    let clock = words.get(month_at + 2)?;
    let year = words[month_at + 3..]
        .iter()
        .find(|w| w.len() == 4 && w.bytes().all(|b| b.is_ascii_digit()))?;
    let mut hms = clock.split(':');
    let (h, m) = (hms.next()?, hms.next()?);
    let s = hms.next().unwrap_or("00");
    let iso = format!("{year}-{month:02}-{day:02}T{h:0>2}:{m}:{s}Z");
    timefmt::parse_datetime_millis(&iso)
}

/// The `From ` line Letterbox writes before a message: the envelope
/// sender (`MAILER-DAEMON` when there is none) and the received time.
pub fn separator_line(sender: &str, received_ms: i64) -> String {
    let sender: String = sender
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let sender = if sender.is_empty() {
        "MAILER-DAEMON"
    } else {
        &sender
    };
    // rfc2822 gives `Thu, 01 Jan 1970 00:00:00 +0000`.
    let date = timefmt::rfc2822(received_ms);
    let words: Vec<&str> = date.split_whitespace().collect();
    let (weekday, day, month, year, clock) = (
        words[0].trim_end_matches(','),
        words[1].trim_start_matches('0'),
        words[2],
        words[3],
        words[4],
    );
    format!("From {sender} {weekday} {month} {day:>2} {clock} {year}\n")
}

/// One message as an mboxrd entry: the separator, the message with every
/// `>*From ` line quoted once more, a line ending if it had none, and the
/// blank line that ends an entry (in the message's own line ending style,
/// so reading it back removes exactly that).
pub fn mboxrd_entry(sender: &str, received_ms: i64, raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 64 + 80);
    out.extend_from_slice(separator_line(sender, received_ms).as_bytes());
    for line in raw.split_inclusive(|&b| b == b'\n') {
        let quoted = line.iter().take_while(|&&b| b == b'>').count();
        if line[quoted..].starts_with(b"From ") {
            out.push(b'>');
        }
        out.extend_from_slice(line);
    }
    let crlf = raw.ends_with(b"\r\n");
    if !raw.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    out
}

/// Whether a Maildir file name's flags (`...:2,FRS`) say it was seen.
pub fn maildir_seen(file_name: &str) -> bool {
    file_name
        .rsplit_once(":2,")
        .is_some_and(|(_, flags)| flags.contains('S'))
}

/// Why a file's content cannot be a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAMessage {
    #[error("empty")]
    Empty,
    #[error("no header fields at the start")]
    NoHeaders,
}

/// The least a message must have to be imported: some bytes and a header
/// field at the start (after the blank lines, byte-order mark or mbox
/// `From ` line some exporters write). Anything more is the parser's to cope with, as it
/// does for mail received over SMTP.
pub fn check_message(raw: &[u8]) -> Result<(), NotAMessage> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(NotAMessage::Empty);
    }
    let block = message::header_block(raw);
    let mut lines = block.split(|&b| b == b'\n');
    let mut first = lines.next().unwrap_or_default();
    // Files saved from a mailbox often start with its `From ` line.
    if first.starts_with(b"From ") {
        first = lines.next().unwrap_or_default();
    }
    let name_len = first
        .iter()
        .take_while(|&&b| b.is_ascii_graphic() && b != b':')
        .count();
    let after = first[name_len..]
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t'));
    if name_len == 0 || after != Some(&b':') {
        return Err(NotAMessage::NoHeaders);
    }
    Ok(())
}

/// The envelope of a message that came from a file rather than SMTP: the
/// sender from the mbox separator when it is an address, else the From
/// header; the recipients from To, Cc and Bcc, as `sendmail -t` reads them.
pub fn envelope_from_headers(parsed: &ParsedMessage, sender: Option<&str>) -> Envelope {
    let mail_from = sender
        .filter(|s| s.contains('@'))
        .map(str::to_string)
        .or_else(|| parsed.from.as_ref().map(|a| a.address.clone()))
        .unwrap_or_default();
    let mut rcpt_to: Vec<String> = Vec::new();
    for address in parsed.to.iter().chain(&parsed.cc).chain(&parsed.bcc) {
        if !address.address.is_empty() && !rcpt_to.contains(&address.address) {
            rcpt_to.push(address.address.clone());
        }
    }
    Envelope {
        mail_from,
        rcpt_to,
        ..Envelope::default()
    }
}

/// The index file of a dump directory.
pub const DUMP_INDEX: &str = "index.json";

/// One message in a dump's index: what the `.eml` file does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpEntry {
    pub id: String,
    /// RFC 3339, milliseconds, UTC.
    pub received: String,
    pub read: bool,
    pub tags: Vec<String>,
    pub inbox: String,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    /// The `.eml` file, relative to the index.
    pub file: String,
    #[serde(default)]
    pub envelope: Envelope,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(format: MboxFormat, text: &[u8]) -> Result<Vec<MboxMessage>, MboxError> {
        let mut splitter = MboxSplitter::new(format);
        let mut out = Vec::new();
        for line in text.split_inclusive(|&b| b == b'\n') {
            out.extend(splitter.push_line(line)?);
        }
        out.extend(splitter.finish());
        Ok(out)
    }

    #[test]
    fn messages_are_cut_at_separators_after_blank_lines() {
        let text = b"From a@example.com Sat Jan  3 01:05:34 1996\nSubject: one\n\nbody\nFrom here\n\nFrom b@example.com Sun Jan  4 10:00:00 1996\nSubject: two\n\nbody\n\n";
        let messages = split(MboxFormat::Rd, text).unwrap();
        assert_eq!(messages.len(), 2);
        // "From here" follows a non-blank line: a (badly quoted) body line.
        assert_eq!(messages[0].raw, b"Subject: one\n\nbody\nFrom here\n");
        assert_eq!(messages[0].line, 1);
        assert_eq!(messages[0].sender, "a@example.com");
        assert_eq!(messages[0].date_ms, Some(820_631_134_000));
        assert_eq!(messages[1].raw, b"Subject: two\n\nbody\n");
        assert_eq!(messages[1].line, 7);
    }

    #[test]
    fn quoting_is_undone_per_variant() {
        let text =
            b"From x Sat Jan  3 01:05:34 1996\nS: q\n\n>From a\n>>From b\n>>>From c\n> From d\n";
        let rd = split(MboxFormat::Rd, text).unwrap();
        assert_eq!(rd[0].raw, b"S: q\n\nFrom a\n>From b\n>>From c\n> From d\n");
        let o = split(MboxFormat::O, text).unwrap();
        assert_eq!(o[0].raw, b"S: q\n\nFrom a\n>>From b\n>>>From c\n> From d\n");
    }

    #[test]
    fn crlf_messages_keep_their_line_endings() {
        let text = b"From x Sat Jan  3 01:05:34 1996\r\nS: a\r\n\r\nbody\r\n\r\nFrom y Sat Jan  3 01:05:35 1996\r\nS: b\r\n\r\n";
        let messages = split(MboxFormat::Rd, text).unwrap();
        assert_eq!(messages[0].raw, b"S: a\r\n\r\nbody\r\n");
        // The last message's blank line is the header/body separator here,
        // and also the writer's trailing blank line: one is removed.
        assert_eq!(messages[1].raw, b"S: b\r\n");
    }

    #[test]
    fn a_file_that_does_not_start_with_a_separator_is_refused() {
        assert_eq!(
            split(MboxFormat::Rd, b"\nSubject: x\n"),
            Err(MboxError::NoSeparator { line: 2 })
        );
    }

    #[test]
    fn written_entries_read_back_byte_for_byte() {
        let messages: [&[u8]; 4] = [
            b"Subject: a\r\n\r\nFrom the start\r\n>From quoted\r\n\r\n",
            b"Subject: b\n\n>>From deep\nFrom\n",
            b"Subject: c\r\n\r\nlast line",
            b"Subject: d\n\nFrom x\n\nFrom y Sat Jan  3 01:05:34 1996\n",
        ];
        let mut file = Vec::new();
        for (n, raw) in messages.iter().enumerate() {
            file.extend(mboxrd_entry("s@example.com", n as i64 * 1000, raw));
        }
        let read = split(MboxFormat::Rd, &file).unwrap();
        assert_eq!(read.len(), 4);
        assert_eq!(read[0].raw, messages[0]);
        assert_eq!(read[1].raw, messages[1]);
        // No final line ending: the entry gains one.
        assert_eq!(read[2].raw, b"Subject: c\r\n\r\nlast line\n");
        assert_eq!(read[3].raw, messages[3]);
        assert_eq!(read[1].date_ms, Some(1000));
    }

    #[test]
    fn separator_lines_are_asctime() {
        assert_eq!(
            separator_line("a b@x", 820_631_134_000),
            "From a_b@x Wed Jan  3 01:05:34 1996\n"
        );
        assert_eq!(
            separator_line("", 0),
            "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n"
        );
        assert_eq!(parse_asctime("Thu Jan  1 00:00:00 1970"), Some(0));
        assert_eq!(parse_asctime("Thu Jan 1 00:00 1970"), Some(0));
        assert_eq!(
            parse_asctime("Mon Dec 31 23:59:59 +0000 2001"),
            Some(1_009_843_199_000)
        );
        assert_eq!(parse_asctime("yesterday"), None);
    }

    #[test]
    fn maildir_flags() {
        assert!(maildir_seen("1700000000.M1P2.host:2,RS"));
        assert!(!maildir_seen("1700000000.M1P2.host:2,R"));
        assert!(!maildir_seen("1700000000.M1P2.host"));
    }

    #[test]
    fn what_a_message_must_look_like() {
        assert_eq!(check_message(b""), Err(NotAMessage::Empty));
        assert_eq!(check_message(b" \r\n"), Err(NotAMessage::Empty));
        assert_eq!(check_message(b"hello world\n"), Err(NotAMessage::NoHeaders));
        assert_eq!(check_message(b"\x89PNG\r\n"), Err(NotAMessage::NoHeaders));
        assert_eq!(check_message(b"Subject: x\n\nbody"), Ok(()));
        assert_eq!(check_message(b"  \nX-A : y\n"), Ok(()));
        assert_eq!(check_message(b"\xEF\xBB\xBFFrom: a@b\n"), Ok(()));
        assert_eq!(
            check_message(b"From a@b Sat Jan  3 01:05:34 1996\nTo: c\n"),
            Ok(())
        );
        assert_eq!(
            check_message(b"From a@b Sat Jan  3 01:05:34 1996\n\n"),
            Err(NotAMessage::NoHeaders)
        );
    }
}
