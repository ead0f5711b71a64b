//! A minimal blocking SMTP client for `letterbox sendmail`: one message to
//! one server, no TLS (the server is Letterbox, usually on loopback).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SmtpClientError {
    #[error("{what} {addr}: {source}")]
    Io {
        what: &'static str,
        addr: String,
        source: io::Error,
    },
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("the server refused {command}: {code} {text}")]
    Refused {
        command: String,
        code: u16,
        text: String,
    },
    #[error("the server's answer is not SMTP: {0:?}")]
    BadReply(String),
}

impl SmtpClientError {
    /// A temporary failure (try again later) rather than a permanent one.
    pub fn is_temporary(&self) -> bool {
        !matches!(
            self,
            SmtpClientError::Refused {
                code: 500..=599,
                ..
            }
        )
    }
}

/// One reply: its code and its text lines joined with spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReply {
    pub code: u16,
    pub text: String,
}

pub struct SmtpClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    addr: String,
    /// EHLO keywords, upper case (`8BITMIME`, `SMTPUTF8`, ...).
    extensions: Vec<String>,
}

impl SmtpClient {
    /// Connects and reads the `220` greeting.
    pub fn connect(addr: &str, timeout: Duration) -> Result<SmtpClient, SmtpClientError> {
        let stream = connect(addr, timeout)?;
        let writer = stream.try_clone().map_err(|source| SmtpClientError::Io {
            what: "connecting to",
            addr: addr.to_string(),
            source,
        })?;
        let mut client = SmtpClient {
            reader: BufReader::new(stream),
            writer,
            addr: addr.to_string(),
            extensions: Vec::new(),
        };
        client.expect("the connection", 220)?;
        Ok(client)
    }

    /// `EHLO`, falling back to `HELO` for servers without ESMTP.
    pub fn hello(&mut self, name: &str) -> Result<(), SmtpClientError> {
        let reply = self.command(&format!("EHLO {name}"))?;
        if reply.code == 250 {
            self.extensions = reply
                .text
                .split('\n')
                .skip(1)
                .filter_map(|line| line.split_whitespace().next())
                .map(str::to_ascii_uppercase)
                .collect();
            return Ok(());
        }
        self.command_expecting(&format!("HELO {name}"), 250)
            .map(drop)
    }

    pub fn supports(&self, extension: &str) -> bool {
        self.extensions.iter().any(|e| e == extension)
    }

    /// Sends one message; returns the server's text for the accepted
    /// message (Letterbox's names the ID).
    pub fn send(
        &mut self,
        from: &str,
        recipients: &[String],
        data: &[u8],
    ) -> Result<String, SmtpClientError> {
        let mut mail = format!("MAIL FROM:<{from}>");
        if !data.is_ascii() && self.supports("8BITMIME") {
            mail.push_str(" BODY=8BITMIME");
        }
        let international = !from.is_ascii() || recipients.iter().any(|r| !r.is_ascii());
        if international && self.supports("SMTPUTF8") {
            mail.push_str(" SMTPUTF8");
        }
        self.command_expecting(&mail, 250)?;
        for rcpt in recipients {
            self.command_expecting(&format!("RCPT TO:<{rcpt}>"), 250)?;
        }
        self.command_expecting("DATA", 354)?;
        self.write(&data_payload(data))?;
        Ok(self.expect("the message", 250)?.text)
    }

    /// `QUIT`; the reply does not matter once the message is accepted.
    pub fn quit(mut self) {
        let _ = self.command("QUIT");
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), SmtpClientError> {
        self.writer
            .write_all(bytes)
            .and_then(|()| self.writer.flush())
            .map_err(|source| SmtpClientError::Io {
                what: "sending to",
                addr: self.addr.clone(),
                source,
            })
    }

    fn command(&mut self, line: &str) -> Result<ServerReply, SmtpClientError> {
        self.write(format!("{line}\r\n").as_bytes())?;
        self.read_reply()
    }

    fn command_expecting(&mut self, line: &str, code: u16) -> Result<ServerReply, SmtpClientError> {
        self.write(format!("{line}\r\n").as_bytes())?;
        self.expect(line, code)
    }

    fn expect(&mut self, what: &str, code: u16) -> Result<ServerReply, SmtpClientError> {
        let reply = self.read_reply()?;
        if reply.code == code {
            return Ok(reply);
        }
        Err(SmtpClientError::Refused {
            command: what.to_string(),
            code: reply.code,
            text: reply.text.replace('\n', " "),
        })
    }

    /// Reads one (possibly multi-line) reply; lines are joined with `\n`.
    fn read_reply(&mut self) -> Result<ServerReply, SmtpClientError> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|source| SmtpClientError::Io {
                    what: "reading from",
                    addr: self.addr.clone(),
                    source,
                })?;
            if n == 0 {
                return Err(SmtpClientError::Io {
                    what: "reading from",
                    addr: self.addr.clone(),
                    source: io::ErrorKind::UnexpectedEof.into(),
                });
            }
            let line = line.trim_end_matches(['\r', '\n']);
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| SmtpClientError::BadReply(line.chars().take(80).collect()))?;
            lines.push(line.get(4..).unwrap_or("").to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(ServerReply {
                    code,
                    text: lines.join("\n"),
                });
            }
        }
    }
}

/// Connecting failed: `what` (resolving, connecting to) went wrong with
/// `addr`.
#[derive(Debug, thiserror::Error)]
#[error("{what} {addr}: {source}")]
pub struct ConnectError {
    what: &'static str,
    addr: String,
    source: io::Error,
}

/// A TCP connection to `addr` (`host:port`), with `timeout` for connecting
/// and for every read and write after.
pub fn connect(addr: &str, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let fail = |what| {
        let addr = addr.to_string();
        move |source| ConnectError { what, addr, source }
    };
    let target = addr
        .to_socket_addrs()
        .map_err(fail("resolving"))?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
        .map_err(fail("resolving"))?;
    let stream = TcpStream::connect_timeout(&target, timeout).map_err(fail("connecting to"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(fail("connecting to"))?;
    Ok(stream)
}

/// The DATA payload for a message: every line ending made CRLF (a bare LF
/// and a bare CR end a line too), lines that start with `.` dot-stuffed,
/// and the terminating `.` line. Whatever the stored bytes hold, the
/// receiver sees exactly one message (no smuggled end of data), with the
/// same lines it would have read from the bytes as stored.
pub fn data_payload(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32 + 5);
    let mut rest = data;
    while !rest.is_empty() {
        let (line, next) = match memchr::memchr2(b'\r', b'\n', rest) {
            Some(end) if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') => {
                (&rest[..end], end + 2)
            }
            Some(end) => (&rest[..end], end + 1),
            None => (rest, rest.len()),
        };
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        rest = &rest[next..];
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_crlf_and_dot_stuffed() {
        assert_eq!(
            data_payload(b"Subject: x\n\n.hidden\nlast"),
            b"Subject: x\r\n\r\n..hidden\r\nlast\r\n.\r\n"
        );
        assert_eq!(data_payload(b"a\r\nb\r\n"), b"a\r\nb\r\n.\r\n");
        assert_eq!(data_payload(b""), b".\r\n");
    }

    #[test]
    fn bare_cr_and_lone_dots_cannot_end_the_data_early() {
        // Lone dots stored as content (after a bare LF or before one) go
        // out stuffed; a bare CR ends a line, so `\r.\r` is a stuffed line.
        assert_eq!(
            data_payload(b"a\n.\r\nMAIL FROM:<x@y>\r\n"),
            b"a\r\n..\r\nMAIL FROM:<x@y>\r\n.\r\n"
        );
        assert_eq!(data_payload(b"a\r\n.\nb\r\n"), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(data_payload(b"a\r.\rb"), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(data_payload(b"a\n\n"), b"a\r\n\r\n.\r\n");
    }

    #[test]
    fn permanent_and_temporary_failures() {
        let refused = |code| SmtpClientError::Refused {
            command: "RCPT".into(),
            code,
            text: String::new(),
        };
        assert!(!refused(550).is_temporary());
        assert!(refused(451).is_temporary());
        assert!(SmtpClientError::BadReply(String::new()).is_temporary());
    }
}
