//! Commands that show the other end is not an SMTP client. A web page can
//! make the browser send `POST / HTTP/1.1` and a body of SMTP commands to
//! the SMTP port (browsers do not block 1025); Postfix's
//! `smtpd_forbidden_commands` ends such a connection at the first line,
//! and so does Letterbox, before anything in the body is read as SMTP.

/// Unrecognized commands in a row after which the connection is closed:
/// whatever is talking is not an SMTP client.
pub const MAX_UNKNOWN_COMMANDS: usize = 5;

/// HTTP methods: no SMTP command shares a name with one.
const HTTP_METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "HEAD", "CONNECT", "OPTIONS", "DELETE", "PATCH", "TRACE",
];

/// True for an HTTP request line (`POST / HTTP/1.1`) or a header line
/// (`Host: 127.0.0.1:1025`). No SMTP command has a colon straight after
/// its first word (`MAIL FROM:` has a space before the word with it).
pub fn looks_like_http(line: &str) -> bool {
    let first = line.split([' ', '\t']).next().unwrap_or("");
    if HTTP_METHODS.iter().any(|m| first.eq_ignore_ascii_case(m)) {
        return true;
    }
    // `... HTTP/1.1` at the end: bytes, as the line may hold any UTF-8.
    let tail = line.trim_end().as_bytes();
    if tail.len() > 9 && tail[tail.len() - 9..][..6].eq_ignore_ascii_case(b" HTTP/") {
        return true;
    }
    first.len() > 1
        && first.ends_with(':')
        && first[..first.len() - 1]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_lines_are_recognised() {
        for line in [
            "POST / HTTP/1.1",
            "GET /favicon.ico HTTP/1.1",
            "get / HTTP/1.0",
            "OPTIONS * HTTP/1.1",
            "CONNECT 127.0.0.1:1025 HTTP/1.1",
            "Host: 127.0.0.1:1025",
            "User-Agent: Mozilla/5.0",
            "Content-Type: text/plain;charset=UTF-8",
            "PRI * HTTP/2.0",
            "DELETE",
        ] {
            assert!(looks_like_http(line), "{line}");
        }
    }

    #[test]
    fn smtp_commands_are_not_http() {
        for line in [
            "EHLO client.example",
            "HELO x",
            "MAIL FROM:<a@b>",
            "RCPT TO:<a@b>",
            "mail from:<a@b>",
            "DATA",
            "BDAT 10 LAST",
            "AUTH PLAIN AGEAYg==",
            "NOOP",
            "QUIT",
            "HELP",
            "VRFY postmaster",
            "STARTTLS",
            "RSET",
        ] {
            assert!(!looks_like_http(line), "{line}");
        }
    }
}
