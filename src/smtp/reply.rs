//! SMTP replies: a reply code, an enhanced status code (RFC 3463) and text.

use std::fmt::Write as _;

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
        let mut text = String::new();
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            let _ = write!(text, "{}{}", self.code, sep);
            if let Some(status) = self.status {
                text.push_str(status);
                if !line.is_empty() {
                    text.push(' ');
                }
            }
            text.push_str(line);
            text.push_str("\r\n");
        }
        if self.lines.is_empty() {
            let _ = write!(text, "{} {}\r\n", self.code, self.status.unwrap_or(""));
        }
        out.extend_from_slice(text.as_bytes());
    }

    /// The reply as one line for the session transcript.
    pub fn summary(&self) -> String {
        let mut out = Vec::new();
        self.write_to(&mut out);
        String::from_utf8_lossy(&out)
            .trim_end()
            .replace("\r\n", " | ")
    }
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
}
