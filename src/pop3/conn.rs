//! One connection's stream as the session sees it: whole lines in, with
//! a length limit and a deadline, and replies out through a buffer.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// Longest line accepted, CRLF included. RFC 2449 caps commands at 255
/// octets; an AUTH PLAIN response (RFC 5034) with long names and
/// passwords needs more.
pub const MAX_LINE: usize = 2048;

/// What reading a line gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line, without its CRLF (or bare LF).
    Complete(Vec<u8>),
    /// A line longer than [`MAX_LINE`]; it was read to its end and dropped.
    TooLong,
    /// The client closed the connection.
    Closed,
    /// No whole line arrived in time.
    TimedOut,
}

/// A connection's byte stream, plain or TLS: one type, so the session's
/// code exists once in the binary rather than once per stream type.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub struct Conn {
    stream: BufReader<Box<dyn Stream>>,
    out: Vec<u8>,
    /// A line must arrive within this long, and a write complete.
    timeout: Duration,
}

impl Conn {
    pub fn new(stream: impl Stream + 'static, timeout: Duration) -> Conn {
        Conn {
            stream: BufReader::new(Box::new(stream)),
            out: Vec::with_capacity(4096),
            timeout,
        }
    }

    /// The stream, for a TLS handshake. Bytes the client sent after the
    /// command that asked for TLS are dropped: they came in the clear
    /// and must not be read as if they had come over TLS.
    pub fn into_stream(self) -> Box<dyn Stream> {
        self.stream.into_inner()
    }

    /// `+OK text` (to the buffer).
    pub fn ok(&mut self, text: &str) {
        self.line(b"+OK", text);
    }

    /// `-ERR text` (to the buffer).
    pub fn err(&mut self, text: &str) {
        self.line(b"-ERR", text);
    }

    fn line(&mut self, status: &[u8], text: &str) {
        self.out.extend_from_slice(status);
        if !text.is_empty() {
            self.out.push(b' ');
            self.out.extend_from_slice(text.as_bytes());
        }
        self.out.extend_from_slice(b"\r\n");
    }

    /// Raw bytes to the buffer (the lines of a multi-line reply).
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Sends what is buffered, within the timeout: a client that stops
    /// reading does not hold the connection forever.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let write = async {
            self.stream.get_mut().write_all(&self.out).await?;
            self.stream.get_mut().flush().await
        };
        tokio::time::timeout(self.timeout, write)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading"))??;
        self.out.clear();
        Ok(())
    }

    /// Flushes, then reads the next line within the timeout.
    pub async fn read_line(&mut self) -> io::Result<Line> {
        self.flush().await?;
        match tokio::time::timeout(self.timeout, self.read_bounded()).await {
            Ok(line) => line,
            Err(_) => Ok(Line::TimedOut),
        }
    }

    async fn read_bounded(&mut self) -> io::Result<Line> {
        let mut line = Vec::new();
        let mut too_long = false;
        loop {
            let available = self.stream.fill_buf().await?;
            if available.is_empty() {
                return Ok(Line::Closed);
            }
            let (piece, used, ended) = match memchr::memchr(b'\n', available) {
                Some(lf) => (&available[..lf], lf + 1, true),
                None => (available, available.len(), false),
            };
            if line.len() + piece.len() + 1 > MAX_LINE {
                too_long = true;
            } else if !too_long {
                line.extend_from_slice(piece);
            }
            self.stream.consume(used);
            if ended {
                break;
            }
        }
        if too_long {
            return Ok(Line::TooLong);
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Line::Complete(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8]) -> Vec<Line> {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        client.write_all(input).await.unwrap();
        drop(client);
        let mut conn = Conn::new(server, Duration::from_secs(5));
        let mut lines = Vec::new();
        loop {
            let line = conn.read_line().await.unwrap();
            let closed = line == Line::Closed;
            lines.push(line);
            if closed {
                return lines;
            }
        }
    }

    #[tokio::test]
    async fn crlf_and_bare_lf_lines() {
        assert_eq!(
            lines(b"STAT\r\nLIST 1\nNOOP").await,
            [
                Line::Complete(b"STAT".to_vec()),
                Line::Complete(b"LIST 1".to_vec()),
                Line::Closed
            ]
        );
    }

    #[tokio::test]
    async fn a_long_line_is_dropped_and_the_next_read() {
        let mut input = vec![b'x'; MAX_LINE * 3];
        input.extend_from_slice(b"\r\nQUIT\r\n");
        assert_eq!(
            lines(&input).await,
            [
                Line::TooLong,
                Line::Complete(b"QUIT".to_vec()),
                Line::Closed
            ]
        );
    }

    #[tokio::test]
    async fn a_line_that_never_ends_times_out() {
        let (mut client, server) = tokio::io::duplex(1024);
        client.write_all(b"STA").await.unwrap();
        let mut conn = Conn::new(server, Duration::from_millis(50));
        assert_eq!(conn.read_line().await.unwrap(), Line::TimedOut);
        drop(client);
    }
}
