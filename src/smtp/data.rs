//! Receivers for message content: the dot-terminated `DATA` stream and
//! counted `BDAT` chunks. Both cap what they keep at the size limit but keep
//! consuming, so an oversized message is refused with a reply instead of a
//! broken connection.

/// Reads the `DATA` stream: undoes dot-stuffing and finds the lone `.` line.
///
/// Lines end at LF; a CR before it is kept as data. This makes the receiver
/// tolerant of clients that send bare LF line endings (`\n.\n` ends the
/// message too) while CRLF input round-trips byte for byte.
#[derive(Debug)]
pub struct DataReceiver {
    /// True when the next byte starts a new line.
    at_line_start: bool,
    /// The current line so far is just `.` (possibly followed by CR).
    dot_line: DotLine,
    limit: usize,
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
            dot_line: DotLine::No,
            limit,
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

    fn push(&mut self, body: &mut Vec<u8>, bytes: &[u8]) {
        let room = self.limit.saturating_sub(body.len());
        body.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.received += bytes.len();
    }

    /// Consumes input, appending the message bytes to `body`.
    pub fn ingest(&mut self, input: &[u8], body: &mut Vec<u8>) -> DataProgress {
        let mut i = 0;
        while i < input.len() {
            match self.dot_line {
                DotLine::Dot | DotLine::DotCr => {
                    let b = input[i];
                    if b == b'\n' {
                        return DataProgress::Done { consumed: i + 1 };
                    }
                    if b == b'\r' && self.dot_line == DotLine::Dot {
                        self.dot_line = DotLine::DotCr;
                        i += 1;
                        continue;
                    }
                    // A stuffed line: the leading dot is dropped, the rest kept.
                    if self.dot_line == DotLine::DotCr {
                        self.push(body, b"\r");
                    }
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
            match memchr::memchr(b'\n', rest) {
                Some(pos) => {
                    self.push(body, &rest[..=pos]);
                    self.at_line_start = true;
                    i += pos + 1;
                }
                None => {
                    self.push(body, rest);
                    self.at_line_start = false;
                    i = input.len();
                }
            }
        }
        DataProgress::NeedMore
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
