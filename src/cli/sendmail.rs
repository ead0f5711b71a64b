//! `letterbox sendmail`: a drop-in for `/usr/sbin/sendmail`, so apps that
//! hand mail to a sendmail binary (PHP's `mail()`, cron, git send-email)
//! deliver to Letterbox. It speaks the sendmail command line, not clap's:
//! the usual flags are honoured or ignored as Postfix's sendmail does.

use std::io::{self, Read, Write};
use std::time::Duration;

use crate::client::smtp::{SmtpClient, SmtpError};
use crate::domain::message::without_header;

/// SMTP replies from Letterbox come within this time, or something is wrong.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Where to deliver, and sendmail's own command line.
#[derive(Debug, Clone)]
pub struct SendmailOptions {
    /// Letterbox's SMTP address, unless `args` name another.
    pub smtp_addr: String,
    /// Sendmail flags and recipients: -t, -i, -oi, -f SENDER, -bs, ...
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read a message on stdin and deliver it (`-bm`, the default).
    Deliver,
    /// Speak SMTP on stdin and stdout (`-bs`), relayed to Letterbox.
    SmtpOnStdio,
    /// `-bp`: there is no queue; say so.
    ListQueue,
    /// Queue runs and alias rebuilds (`-q`, `-bi`): nothing to do.
    Nothing,
}

/// A parsed sendmail command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub mode: Mode,
    /// Envelope sender from `-f` or `-r`.
    pub sender: Option<String>,
    /// `-t`: recipients also come from the To, Cc and Bcc headers.
    pub recipients_from_headers: bool,
    /// Without `-i`/`-oi` a line holding only `.` ends the message.
    pub dot_ends_message: bool,
    pub recipients: Vec<String>,
    /// `--smtp-addr` given after the sendmail flags.
    pub smtp_addr: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendmailError {
    #[error("{0}")]
    Usage(String),
    #[error("reading the message from standard input: {0}")]
    Input(io::Error),
    #[error("no recipients: give addresses as arguments, or -t to read them from the headers")]
    NoRecipients,
    #[error("delivering to Letterbox: {0}")]
    Delivery(#[from] SmtpError),
    #[error("relaying SMTP: {0}")]
    Relay(io::Error),
}

impl SendmailError {
    /// sysexits.h codes, as sendmail uses them: callers such as PHP only
    /// look at success or failure, but mail tools tell temporary from
    /// permanent failures this way.
    pub fn exit_code(&self) -> u8 {
        match self {
            SendmailError::Usage(_) => 64,                              // EX_USAGE
            SendmailError::NoRecipients => 65,                          // EX_DATAERR
            SendmailError::Input(_) => 74,                              // EX_IOERR
            SendmailError::Delivery(err) if err.is_permanent() => 69,   // EX_UNAVAILABLE
            SendmailError::Delivery(_) | SendmailError::Relay(_) => 75, // EX_TEMPFAIL
        }
    }
}

/// Sendmail options that take a value, as a separate argument or attached
/// (`-f sender` or `-fsender`).
const WITH_VALUE: &[char] = &['B', 'C', 'F', 'L', 'N', 'O', 'R', 'V', 'X', 'f', 'h', 'r'];

/// Parses sendmail's command line (without the program name).
pub fn parse(args: &[String]) -> Result<Invocation, SendmailError> {
    let mut invocation = Invocation {
        mode: Mode::Deliver,
        sender: None,
        recipients_from_headers: false,
        dot_ends_message: true,
        recipients: Vec::new(),
        smtp_addr: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            invocation.recipients.extend(args.by_ref().cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            invocation.smtp_addr = Some(match long.split_once('=') {
                Some(("smtp-addr", value)) => value.to_string(),
                None if long == "smtp-addr" => args.next().cloned().ok_or_else(|| {
                    SendmailError::Usage("option --smtp-addr needs a value".into())
                })?,
                _ => return Err(SendmailError::Usage(format!("unknown option {arg}"))),
            });
            continue;
        }
        let Some(flag) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            invocation.recipients.push(arg.clone());
            continue;
        };
        let letter = flag.chars().next().expect("the flag is not empty");
        let attached = &flag[letter.len_utf8()..];
        let value = if WITH_VALUE.contains(&letter) {
            Some(if attached.is_empty() {
                args.next().cloned().ok_or_else(|| {
                    SendmailError::Usage(format!("option -{letter} needs a value"))
                })?
            } else {
                attached.to_string()
            })
        } else {
            None
        };
        match (letter, attached) {
            ('t', "") => invocation.recipients_from_headers = true,
            ('i', "") => invocation.dot_ends_message = false,
            ('o', "i") => invocation.dot_ends_message = false,
            ('f' | 'r', _) => invocation.sender = value,
            ('b', "m") => invocation.mode = Mode::Deliver,
            ('b', "s") => invocation.mode = Mode::SmtpOnStdio,
            ('b', "p") => invocation.mode = Mode::ListQueue,
            ('b', "i") | ('q', _) | ('I', "") => invocation.mode = Mode::Nothing,
            ('b', other) => {
                return Err(SendmailError::Usage(format!(
                    "mode -b{other} is not supported (use -bm or -bs)"
                )));
            }
            // Everything else (-odi, -oem, -v, -U, -F name, -N never, ...)
            // tunes delivery that Letterbox does not do.
            _ => {}
        }
    }
    Ok(invocation)
}

/// Runs `letterbox sendmail`; on success returns what to print (usually
/// nothing).
pub async fn run(args: &SendmailOptions) -> Result<Option<String>, SendmailError> {
    let invocation = parse(&args.args)?;
    let smtp_addr = invocation.smtp_addr.as_deref().unwrap_or(&args.smtp_addr);
    match invocation.mode {
        Mode::Nothing => Ok(None),
        Mode::ListQueue => Ok(Some("Mail queue is empty".into())),
        Mode::SmtpOnStdio => relay_stdio(smtp_addr).map(|()| None),
        Mode::Deliver => {
            let mut input = Vec::new();
            io::stdin()
                .lock()
                .read_to_end(&mut input)
                .map_err(SendmailError::Input)?;
            deliver(&invocation, input, smtp_addr).await.map(|_| None)
        }
    }
}

/// Delivers one message read from stdin; returns Letterbox's reply.
pub async fn deliver(
    invocation: &Invocation,
    input: Vec<u8>,
    smtp_addr: &str,
) -> Result<String, SendmailError> {
    let mut message = input;
    if invocation.dot_ends_message {
        truncate_at_dot_line(&mut message);
    }
    let mut recipients = invocation.recipients.clone();
    if invocation.recipients_from_headers {
        recipients.extend(header_addresses(&message, &["To", "Cc", "Bcc"]));
        // Like sendmail: Bcc recipients get the message, the header goes.
        message = without_header(&message, "Bcc");
    }
    let mut seen = std::collections::HashSet::new();
    recipients.retain(|r| seen.insert(r.to_ascii_lowercase()));
    if recipients.is_empty() {
        return Err(SendmailError::NoRecipients);
    }
    let sender = invocation
        .sender
        .clone()
        .or_else(|| header_addresses(&message, &["From"]).into_iter().next())
        .unwrap_or_else(login_address);
    let mut client = SmtpClient::connect(smtp_addr, smtp_addr, TIMEOUT).await?;
    client.greeting().await?;
    client.hello(&hostname()).await?;
    let reply = client.send(&sender, &recipients, &message).await?;
    client.quit().await;
    Ok(reply.to_string())
}

/// Drops everything from the first line that holds only `.` (sendmail's
/// end of input without `-i`).
fn truncate_at_dot_line(message: &mut Vec<u8>) {
    let mut start = 0;
    for line in message.split_inclusive(|&b| b == b'\n') {
        if matches!(line, b"." | b".\n" | b".\r\n") {
            message.truncate(start);
            return;
        }
        start += line.len();
    }
}

/// The header block: everything before the first empty line.
fn header_block(message: &[u8]) -> &[u8] {
    let mut end = 0;
    for line in message.split_inclusive(|&b| b == b'\n') {
        if matches!(line, b"\n" | b"\r\n") {
            break;
        }
        end += line.len();
    }
    &message[..end]
}

/// Every address in the named headers, in order.
fn header_addresses(message: &[u8], names: &[&str]) -> Vec<String> {
    let Ok((headers, _)) = mailparse::parse_headers(header_block(message)) else {
        return Vec::new();
    };
    let mut addresses = Vec::new();
    for header in headers.iter() {
        if !names
            .iter()
            .any(|n| header.get_key_ref().eq_ignore_ascii_case(n))
        {
            continue;
        }
        let Ok(list) = mailparse::addrparse_header(header) else {
            continue;
        };
        for addr in list.iter() {
            match addr {
                mailparse::MailAddr::Single(single) => addresses.push(single.addr.clone()),
                mailparse::MailAddr::Group(group) => {
                    addresses.extend(group.addrs.iter().map(|s| s.addr.clone()));
                }
            }
        }
    }
    addresses
}

/// `login@host`, the sender sendmail uses when neither `-f` nor a From
/// header gives one.
fn login_address() -> String {
    let login = ["LOGNAME", "USER"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "nobody".into());
    format!("{login}@{}", hostname())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// `-bs`: the caller speaks SMTP itself; relay its bytes to Letterbox and
/// Letterbox's replies back until Letterbox closes the connection.
fn relay_stdio(smtp_addr: &str) -> Result<(), SendmailError> {
    let server = connect(smtp_addr).map_err(|err| {
        SendmailError::Relay(io::Error::new(
            err.kind(),
            format!("connecting to {smtp_addr}: {err}"),
        ))
    })?;
    let mut to_server = server.try_clone().map_err(SendmailError::Relay)?;
    std::thread::spawn(move || {
        let _ = io::copy(&mut io::stdin().lock(), &mut to_server);
        let _ = to_server.shutdown(std::net::Shutdown::Write);
    });
    let mut from_server = server;
    let mut stdout = io::stdout().lock();
    let mut buf = [0u8; 8192];
    loop {
        let n = from_server.read(&mut buf).map_err(SendmailError::Relay)?;
        if n == 0 {
            return Ok(());
        }
        stdout.write_all(&buf[..n]).map_err(SendmailError::Relay)?;
        stdout.flush().map_err(SendmailError::Relay)?;
    }
}

/// A TCP connection to `addr` (`host:port`) for `-bs`, with a timeout for
/// connecting and for each write; replies can take as long as the caller
/// takes to type.
fn connect(addr: &str) -> io::Result<std::net::TcpStream> {
    use std::net::ToSocketAddrs;
    let target = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
    let stream = std::net::TcpStream::connect_timeout(&target, TIMEOUT)?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn php_style_flags() {
        let inv = parse(&args("-t -i")).unwrap();
        assert!(inv.recipients_from_headers);
        assert!(!inv.dot_ends_message);
        assert_eq!(inv.mode, Mode::Deliver);
        assert!(inv.recipients.is_empty());
    }

    #[test]
    fn senders_recipients_and_ignored_flags() {
        let inv = parse(&args(
            "-oi -fapp@example.com -F App -odi -oem -v a@example.com b@example.com",
        ))
        .unwrap();
        assert_eq!(inv.sender.as_deref(), Some("app@example.com"));
        assert!(!inv.dot_ends_message);
        assert_eq!(inv.recipients, ["a@example.com", "b@example.com"]);
        let inv = parse(&args("-r bounce@example.com -N never -- -odd@example.com")).unwrap();
        assert_eq!(inv.sender.as_deref(), Some("bounce@example.com"));
        assert_eq!(inv.recipients, ["-odd@example.com"]);
        let inv = parse(&args(
            "-t --smtp-addr mail:25 x@example.com --smtp-addr=mail:2525",
        ))
        .unwrap();
        assert_eq!(inv.smtp_addr.as_deref(), Some("mail:2525"));
        assert_eq!(inv.recipients, ["x@example.com"]);
        assert!(matches!(
            parse(&args("--verbose")),
            Err(SendmailError::Usage(_))
        ));
    }

    #[test]
    fn modes() {
        assert_eq!(parse(&args("-bs")).unwrap().mode, Mode::SmtpOnStdio);
        assert_eq!(parse(&args("-bp")).unwrap().mode, Mode::ListQueue);
        assert_eq!(parse(&args("-q")).unwrap().mode, Mode::Nothing);
        assert!(matches!(parse(&args("-bd")), Err(SendmailError::Usage(_))));
        assert!(matches!(parse(&args("-f")), Err(SendmailError::Usage(_))));
    }

    #[test]
    fn a_dot_line_ends_input_unless_i() {
        let mut message = b"Subject: x\n\nbody\n.\nnot part of it\n".to_vec();
        truncate_at_dot_line(&mut message);
        assert_eq!(message, b"Subject: x\n\nbody\n");
    }

    #[test]
    fn recipients_from_headers_and_bcc_removed() {
        let message = b"To: A <a@example.com>, b@example.com\nCc: team: c@example.com, d@example.com;\nBcc: hidden@example.com,\n  also-hidden@example.com\nSubject: hi\n\nBcc: in the body stays\n";
        assert_eq!(
            header_addresses(message, &["To", "Cc", "Bcc"]),
            [
                "a@example.com",
                "b@example.com",
                "c@example.com",
                "d@example.com",
                "hidden@example.com",
                "also-hidden@example.com"
            ]
        );
        assert_eq!(
            without_header(message, "Bcc"),
            b"To: A <a@example.com>, b@example.com\nCc: team: c@example.com, d@example.com;\nSubject: hi\n\nBcc: in the body stays\n"
        );
    }
}
