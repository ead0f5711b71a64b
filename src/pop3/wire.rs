//! A message on its way out in a RETR or TOP reply: every line ends in
//! CRLF (a line that ended in a bare LF gets its CR), a line that starts
//! with `.` gets a second one (byte-stuffing, RFC 1939 §3), and TOP stops
//! after the header, the blank line and the asked-for body lines.
//!
//! The encoder fills a buffer a piece at a time, so sending a message
//! costs a buffer's worth of memory beside the message, whatever its
//! size or line lengths.

/// The line that ends a multi-line reply.
pub const TERMINATOR: &[u8] = b".\r\n";

/// Encodes one message, a buffer-full at a time.
pub struct Encoder<'a> {
    rest: &'a [u8],
    /// Within the current line: where its content ends (before CR LF or
    /// LF) and where the next line starts; `None` at a line's start.
    line: Option<(usize, usize)>,
    /// Content of the current line already written.
    written: usize,
    in_body: bool,
    /// TOP: body lines still to send.
    body_lines: Option<u64>,
}

impl<'a> Encoder<'a> {
    /// The whole message (RETR), or its header and `top` body lines.
    pub fn new(raw: &'a [u8], top: Option<u64>) -> Encoder<'a> {
        Encoder {
            rest: raw,
            line: None,
            written: 0,
            in_body: false,
            body_lines: top,
        }
    }

    /// Appends encoded bytes to `out` until it holds at least `up_to`
    /// bytes or the message is done; true once it is done (the
    /// [`TERMINATOR`] is the caller's to add).
    pub fn fill(&mut self, out: &mut Vec<u8>, up_to: usize) -> bool {
        while out.len() < up_to {
            let (content_end, next) = match self.line {
                Some(line) => line,
                None => {
                    if self.rest.is_empty() || !self.begin_line(out) {
                        return true;
                    }
                    self.line.expect("begin_line sets the line")
                }
            };
            let room = up_to - out.len();
            let take = room.min(content_end - self.written);
            out.extend_from_slice(&self.rest[self.written..self.written + take]);
            self.written += take;
            if self.written == content_end {
                out.extend_from_slice(b"\r\n");
                self.rest = &self.rest[next..];
                self.line = None;
                self.written = 0;
            }
        }
        self.rest.is_empty() && self.line.is_none()
    }

    /// Starts the next line: false when TOP has sent all it should.
    fn begin_line(&mut self, out: &mut Vec<u8>) -> bool {
        let (content_end, next) = match memchr::memchr(b'\n', self.rest) {
            Some(lf) if lf > 0 && self.rest[lf - 1] == b'\r' => (lf - 1, lf + 1),
            Some(lf) => (lf, lf + 1),
            None => (self.rest.len(), self.rest.len()),
        };
        if self.in_body {
            match &mut self.body_lines {
                Some(0) => return false,
                Some(left) => *left -= 1,
                None => {}
            }
        } else if content_end == 0 {
            // The blank line that ends the header is sent with it.
            self.in_body = true;
        }
        if self.rest.first() == Some(&b'.') {
            out.push(b'.');
        }
        self.line = Some((content_end, next));
        true
    }
}

/// Octets the message is sent as, before byte-stuffing (what a RETR
/// reply announces): its own, plus a CR for each line ending in a bare
/// LF, plus CRLF after a last line that has none.
pub fn octets(raw: &[u8]) -> u64 {
    let lines = memchr::memchr_iter(b'\n', raw);
    let bare = lines.filter(|&lf| lf == 0 || raw[lf - 1] != b'\r').count();
    let unended = match raw.last() {
        None | Some(b'\n') => 0,
        Some(_) => 2,
    };
    (raw.len() + bare + unended) as u64
}

/// The whole encoding at once, for tests and small messages.
pub fn encode(raw: &[u8], top: Option<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    Encoder::new(raw, top).fill(&mut out, usize::MAX);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] =
        b"Subject: hi\r\nFrom: a@b\r\n\r\nline 1\r\n.line 2\r\n..\r\n.\r\nend\r\n";

    #[test]
    fn crlf_messages_are_sent_as_stored_plus_stuffing() {
        assert_eq!(
            encode(MESSAGE, None),
            b"Subject: hi\r\nFrom: a@b\r\n\r\nline 1\r\n..line 2\r\n...\r\n..\r\nend\r\n"
        );
    }

    #[test]
    fn bare_lf_lines_get_their_cr_and_a_last_line_its_crlf() {
        assert_eq!(
            encode(b"A: 1\n\nbody\nlast", None),
            b"A: 1\r\n\r\nbody\r\nlast\r\n"
        );
        assert_eq!(encode(b"", None), b"");
        // A CR that ends no line stays.
        assert_eq!(encode(b"a\rb\r\n", None), b"a\rb\r\n");
    }

    #[test]
    fn octets_are_those_sent_before_stuffing() {
        // Without lines starting with '.', nothing is stuffed.
        for raw in [
            &b"A: 1\r\n\r\nb\r\n"[..],
            b"A: 1\n\nbody\nlast",
            b"",
            b"\n\n",
            b"x\r",
        ] {
            assert_eq!(octets(raw), encode(raw, None).len() as u64, "{raw:?}");
        }
        assert_eq!(octets(MESSAGE), MESSAGE.len() as u64);
    }

    #[test]
    fn top_sends_the_header_and_so_many_body_lines() {
        assert_eq!(
            encode(MESSAGE, Some(0)),
            b"Subject: hi\r\nFrom: a@b\r\n\r\n"
        );
        assert_eq!(
            encode(MESSAGE, Some(2)),
            b"Subject: hi\r\nFrom: a@b\r\n\r\nline 1\r\n..line 2\r\n"
        );
        assert_eq!(encode(MESSAGE, Some(100)), encode(MESSAGE, None));
        // A message that is all header.
        assert_eq!(encode(b"A: 1\r\nB: 2", Some(0)), b"A: 1\r\nB: 2\r\n");
    }

    #[test]
    fn any_buffer_size_gives_the_same_bytes() {
        let expected = encode(MESSAGE, Some(3));
        for size in 1..20 {
            let mut encoder = Encoder::new(MESSAGE, Some(3));
            let (mut all, mut out) = (Vec::new(), Vec::new());
            loop {
                let done = encoder.fill(&mut out, size);
                assert!(out.len() <= size + 3, "a fill stays near its size");
                all.append(&mut out);
                if done {
                    break;
                }
            }
            assert_eq!(all, expected, "buffer of {size}");
        }
    }
}
