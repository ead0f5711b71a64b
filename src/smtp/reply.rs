//! SMTP replies: a reply code, an enhanced status code (RFC 3463) and text.

/// One SMTP reply, possibly spanning several lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// Enhanced status code such as `2.0.0`. RFC 2034 leaves it out of the
    /// greeting and of the HELO/EHLO replies, so those carry `None`.
    pub status: Option<&'static str>,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, status: &'static str, text: impl Into<String>) -> Self {
        Reply {
            code,
            status: Some(status),
            lines: vec![text.into()],
        }
    }

    /// A reply without an enhanced status code (greeting, HELO/EHLO).
    pub fn bare(code: u16, lines: Vec<String>) -> Self {
        Reply {
            code,
            status: None,
            lines,
        }
    }

    /// The reply for a message that was committed to the store.
    pub fn queued(id: &str) -> Self {
        Reply::new(250, "2.0.0", format!("Ok: queued as {id}"))
    }

    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    /// Writes the reply in wire format (`250-...` continuation lines, CRLF).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.write_lines(|piece| out.extend_from_slice(piece.as_bytes()), "\r\n");
    }

    /// Writes each line as `code status text`, lines ended by `end`: the
    /// wire format and the transcript's one-line form share it, written
    /// straight into their buffers (a reply is formatted for every
    /// command of every message).
    fn write_lines(&self, mut out: impl FnMut(&str), end: &str) {
        let mut code = [0u8; 5];
        let code = format_code(self.code, &mut code);
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            out(code);
            out(if i == last { " " } else { "-" });
            if let Some(status) = self.status {
                out(status);
                if !line.is_empty() {
                    out(" ");
                }
            }
            out(line);
            out(end);
        }
        if self.lines.is_empty() {
            out(code);
            out(" ");
            out(self.status.unwrap_or(""));
            out(end);
        }
    }

    /// The reply as one line for the session transcript.
    pub fn summary(&self) -> String {
        let mut text = String::with_capacity(64);
        self.write_lines(|piece| text.push_str(piece), " | ");
        // The last line carries no separator after it.
        if let Some(stripped) = text.strip_suffix(" | ") {
            text.truncate(stripped.len());
        }
        text.truncate(text.trim_end().len());
        text
    }
}

/// `code` in decimal (SMTP codes have three digits).
fn format_code(code: u16, buf: &mut [u8; 5]) -> &str {
    let mut n = code;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).expect("ASCII digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(r: &Reply) -> String {
        let mut out = Vec::new();
        r.write_to(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn single_line_carries_enhanced_status() {
        assert_eq!(
            wire(&Reply::queued("01ABC")),
            "250 2.0.0 Ok: queued as 01ABC\r\n"
        );
    }

    #[test]
    fn multi_line_uses_dash_continuations() {
        let r = Reply::bare(
            250,
            vec!["host".into(), "PIPELINING".into(), "SIZE 10".into()],
        );
        assert_eq!(wire(&r), "250-host\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
    }

    #[test]
    fn empty_challenge_line() {
        let r = Reply::bare(334, vec![String::new()]);
        assert_eq!(wire(&r), "334 \r\n");
    }

    #[test]
    fn the_transcript_line_joins_the_lines() {
        let r = Reply::bare(250, vec!["host".into(), "SIZE 10".into()]);
        assert_eq!(r.summary(), "250-host | 250 SIZE 10");
        assert_eq!(
            Reply::queued("01ABC").summary(),
            "250 2.0.0 Ok: queued as 01ABC"
        );
        assert_eq!(Reply::bare(334, vec![String::new()]).summary(), "334");
        assert_eq!(Reply::bare(421, Vec::new()).summary(), "421");
    }
}
