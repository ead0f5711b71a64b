//! Receivers for message content: the dot-terminated `DATA` stream and
//! counted `BDAT` chunks. Both cap what they keep at the size limit but keep
//! consuming, so an oversized message is refused with a reply instead of a
//! broken connection.

/// Reads the `DATA` stream: undoes dot-stuffing and finds the end of data.
///
/// The end of data is recognised as the common MTAs do after the 2023
/// SMTP smuggling fixes, so that what Letterbox stores (and relays) as one
/// message is one message to every other server too:
///
/// - `.` alone on a line, ended by CRLF, after a line ended by CRLF (or as
///   the first line): `<CRLF>.<CRLF>`.
/// - For clients that end every line with a bare LF: while no line of this
///   message has ended with CRLF, `.` alone on a line ends it however that
///   line ends (`<LF>.<LF>`, `<LF>.<CRLF>`). A server relaying for others
///   speaks CRLF from its first line, so it cannot get here.
///
/// Any other line of a lone dot (`<LF>.<CRLF>`, `<CRLF>.<LF>` or
/// `<LF>.<LF>` in a message that has CRLF lines) is message content, kept
/// as sent. (A bare CR ends no line here.) Lines end at LF; a CR before it is kept, so CRLF input round-trips
/// byte for byte.
#[derive(Debug)]
pub struct DataReceiver {
    /// True when the next byte starts a new line.
    at_line_start: bool,
    /// The line before the current one ended with CRLF (or there was none).
    after_crlf: bool,
    /// A line of this message ended with CRLF: only `<CRLF>.<CRLF>` ends it.
    seen_crlf: bool,
    /// The current line's last byte so far is a CR (it may end a read).
    pending_cr: bool,
    /// The current line so far is just `.` (possibly followed by CR).
    dot_line: DotLine,
    limit: usize,
    /// False once content is no longer kept (over the data budget): it is
    /// still read, to find the end.
    keep: bool,
    received: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DotLine {
    No,
    Dot,
    DotCr,
}

/// What a call to [`DataReceiver::ingest`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum DataProgress {
    /// All input consumed, the terminator not seen yet.
    NeedMore,
    /// The terminator was found after `consumed` bytes of the input.
    Done { consumed: usize },
}

impl DataReceiver {
    pub fn new(limit: usize) -> Self {
        DataReceiver {
            at_line_start: true,
            after_crlf: true,
            seen_crlf: false,
            pending_cr: false,
            dot_line: DotLine::No,
            limit,
            keep: true,
            received: 0,
        }
    }

    /// Total unstuffed bytes seen, including any past the limit.
    pub fn received(&self) -> usize {
        self.received
    }

    pub fn over_limit(&self) -> bool {
        self.received > self.limit
    }

    /// Reads the rest without keeping it.
    pub fn stop_keeping(&mut self) {
        self.keep = false;
    }

    fn push(&mut self, body: &mut Vec<u8>, bytes: &[u8]) {
        if self.keep {
            let room = self.limit.saturating_sub(body.len());
            body.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        self.received += bytes.len();
    }

    /// Consumes input, appending the message bytes to `body`.
    pub fn ingest(&mut self, input: &[u8], body: &mut Vec<u8>) -> DataProgress {
        let mut i = 0;
        while i < input.len() {
            match self.dot_line {
                DotLine::Dot => {
                    match input[i] {
                        b'\n' if !self.seen_crlf => {
                            return DataProgress::Done { consumed: i + 1 };
                        }
                        b'\n' => {
                            // `<CRLF>.<LF>`, or `<LF>.<LF>` after CRLF lines: content.
                            self.push(body, b".\n");
                            self.end_line(false);
                            i += 1;
                        }
                        b'\r' => {
                            self.dot_line = DotLine::DotCr;
                            i += 1;
                        }
                        _ => {
                            // A stuffed line: the leading dot is dropped.
                            self.dot_line = DotLine::No;
                            self.at_line_start = false;
                        }
                    }
                    continue;
                }
                DotLine::DotCr => {
                    if input[i] == b'\n' {
                        if self.after_crlf || !self.seen_crlf {
                            return DataProgress::Done { consumed: i + 1 };
                        }
                        // `<LF>.<CRLF>` after CRLF lines: content.
                        self.push(body, b".\r\n");
                        self.end_line(true);
                        i += 1;
                        continue;
                    }
                    // A stuffed line starting with a CR: the dot is dropped.
                    self.push(body, b"\r");
                    self.dot_line = DotLine::No;
                    self.at_line_start = false;
                    continue;
                }
                DotLine::No => {}
            }
            if self.at_line_start && input[i] == b'.' {
                self.dot_line = DotLine::Dot;
                i += 1;
                continue;
            }
            // Copy up to and including the next LF in one go.
            let rest = &input[i..];
            let (piece, ended) = match memchr::memchr(b'\n', rest) {
                Some(pos) => (&rest[..=pos], true),
                None => (rest, false),
            };
            // A CR that ends one read and the LF that starts the next make
            // a CRLF too.
            let crlf = ended
                && match piece.len() {
                    1 => self.pending_cr,
                    n => piece[n - 2] == b'\r',
                };
            self.push(body, piece);
            if ended {
                self.end_line(crlf);
            } else {
                self.at_line_start = false;
                self.pending_cr = piece.last() == Some(&b'\r');
            }
            i += piece.len();
        }
        DataProgress::NeedMore
    }

    fn end_line(&mut self, crlf: bool) {
        self.seen_crlf |= crlf;
        self.dot_line = DotLine::No;
        self.at_line_start = true;
        self.after_crlf = crlf;
        self.pending_cr = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> (Vec<u8>, Option<usize>) {
        let mut rx = DataReceiver::new(1 << 20);
        let mut body = Vec::new();
        for (n, chunk) in chunks.iter().enumerate() {
            if let DataProgress::Done { consumed } = rx.ingest(chunk, &mut body) {
                assert_eq!(n, chunks.len() - 1, "terminator found early");
                return (body, Some(consumed));
            }
        }
        (body, None)
    }

    #[test]
    fn crlf_message_round_trips() {
        let (body, done) = run(&[b"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n"]);
        assert_eq!(body, b"Subject: x\r\n\r\nhello\r\n");
        assert_eq!(done, Some(24));
    }

    #[test]
    fn dot_stuffing_is_undone() {
        let (body, _) = run(&[b"..leading\r\n.\r\n"]);
        assert_eq!(body, b".leading\r\n");
        let (body, _) = run(&[b"a\r\n...\r\n.\r\n"]);
        assert_eq!(body, b"a\r\n..\r\n");
    }

    #[test]
    fn terminator_split_across_reads() {
        let (body, done) = run(&[b"line\r", b"\n", b".", b"\r", b"\n"]);
        assert_eq!(body, b"line\r\n");
        assert_eq!(done, Some(1));
    }

    #[test]
    fn bare_lf_terminator_is_accepted() {
        let (body, done) = run(&[b"a\nb\n.\n"]);
        assert_eq!(body, b"a\nb\n");
        assert_eq!(done, Some(6));
    }

    /// Every way a lone dot can be written after a line, in a message of
    /// CRLF lines and in one of bare-LF lines: whether it ends the data,
    /// and what is kept when it does not.
    #[test]
    fn smuggling_terminators() {
        let crlf_message = |dot: &[u8]| {
            [
                b"Subject: x\r\n\r\nfirst".as_slice(),
                dot,
                b"MAIL FROM:<evil@x>\r\n",
            ]
            .concat()
        };
        // Only <CRLF>.<CRLF> ends a message that has CRs in it.
        let (body, done) = run(&[&crlf_message(b"\r\n.\r\n")]);
        assert_eq!(
            (body.as_slice(), done),
            (b"Subject: x\r\n\r\nfirst\r\n".as_slice(), Some(24))
        );
        for (dot, kept) in [
            (b"\n.\r\n".as_slice(), b"\n.\r\n".as_slice()),
            (b"\r\n.\n", b"\r\n.\n"),
            (b"\n.\n", b"\n.\n"),
            (b"\r.\r", b"\r.\r"),
            (b"\r.\r\n", b"\r.\r\n"),
        ] {
            let input = crlf_message(dot);
            let (body, done) = run(&[&input]);
            assert_eq!(
                done,
                None,
                "{:?} ended the data",
                String::from_utf8_lossy(dot)
            );
            let mut expected = b"Subject: x\r\n\r\nfirst".to_vec();
            expected.extend_from_slice(kept);
            expected.extend_from_slice(b"MAIL FROM:<evil@x>\r\n");
            assert_eq!(
                String::from_utf8_lossy(&body),
                String::from_utf8_lossy(&expected)
            );
        }
        // A message of bare-LF lines ends at a lone dot however it ends (a
        // bare CR ends no line); once it has a CRLF line, at <CRLF>.<CRLF>.
        assert_eq!(run(&[b"a\rb\n.\n"]).1, Some(6));
        assert_eq!(run(&[b"a\nb\n.\n"]).1, Some(6));
        assert_eq!(run(&[b"a\nb\r\n.\r\n"]).1, Some(8));
        assert_eq!(run(&[b"a\nb\n.\r\n"]).1, Some(7));
        assert_eq!(run(&[b"a\r\nb\n.\r\n"]).1, None);
        assert_eq!(run(&[b"a\nb\r\n.\n"]).1, None);
        // The first line: either way.
        assert_eq!(run(&[b".\n"]).1, Some(2));
        assert_eq!(run(&[b".\r\n"]).1, Some(3));
    }

    #[test]
    fn a_crlf_split_across_reads_still_counts() {
        let (body, done) = run(&[b"line\r", b"\n.\r\n"]);
        assert_eq!((body.as_slice(), done), (b"line\r\n".as_slice(), Some(4)));
        let (_, done) = run(&[b"a\r", b"\n", b".", b"\n"]);
        assert_eq!(done, None, "<CRLF>.<LF> is content");
    }

    #[test]
    fn content_is_read_but_not_kept_once_told() {
        let mut rx = DataReceiver::new(1 << 20);
        let mut body = Vec::new();
        rx.ingest(b"kept\r\n", &mut body);
        rx.stop_keeping();
        assert!(matches!(
            rx.ingest(b"dropped\r\n.\r\n", &mut body),
            DataProgress::Done { .. }
        ));
        assert_eq!(body, b"kept\r\n");
        assert_eq!(rx.received(), 15);
    }

    #[test]
    fn dot_cr_without_lf_is_data() {
        let (body, _) = run(&[b".\rx\r\n.\r\n"]);
        assert_eq!(body, b"\rx\r\n");
    }

    #[test]
    fn dot_inside_line_is_kept() {
        let (body, _) = run(&[b"a.b\r\n.x\r\n.\r\n"]);
        assert_eq!(body, b"a.b\r\nx\r\n");
    }

    #[test]
    fn empty_message() {
        let (body, done) = run(&[b".\r\n"]);
        assert!(body.is_empty());
        assert_eq!(done, Some(3));
    }

    #[test]
    fn over_limit_is_counted_not_kept() {
        let mut rx = DataReceiver::new(4);
        let mut body = Vec::new();
        assert_eq!(
            rx.ingest(b"0123456789\r\n", &mut body),
            DataProgress::NeedMore
        );
        assert_eq!(body, b"0123");
        assert!(rx.over_limit());
        assert_eq!(rx.received(), 12);
        assert!(matches!(
            rx.ingest(b".\r\n", &mut body),
            DataProgress::Done { .. }
        ));
    }
}
