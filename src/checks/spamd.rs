//! The spam score: a message handed to SpamAssassin's `spamd` over its own
//! protocol (SPAMC/1.5, the one `spamc` speaks), answered with the score,
//! the threshold verdict and every rule that fired.
//!
//! `spamd` is the user's, named by `--spamassassin HOST:PORT`: an API
//! caller never chooses where this connects. What it answers is input from
//! another program: the reply is read up to a size limit, within a time
//! limit, and a reply that cannot be understood is an error, not a guess.

use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A check not answered by then is reported as failed.
pub const TIME_LIMIT: Duration = Duration::from_secs(30);
/// The most of `spamd`'s reply that is read: a report is a few KB.
const MAX_REPLY: u64 = 1 << 20;

/// The result in Mailpit's `sa-check` shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SpamCheck {
    /// Why there is no score (empty when there is one).
    pub error: String,
    pub is_spam: bool,
    pub score: f64,
    pub rules: Vec<SpamRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SpamRule {
    pub name: String,
    pub score: f64,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SpamdError {
    #[error("spamd at {addr} could not be reached: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("spamd did not answer within {} seconds", TIME_LIMIT.as_secs())]
    Timeout,
    #[error("talking to spamd: {0}")]
    Io(#[from] std::io::Error),
    #[error("spamd answered {0:?}")]
    Refused(String),
    #[error("spamd's answer could not be read: {0}")]
    Malformed(&'static str),
}

impl SpamCheck {
    /// The result that reports `error` instead of a score, as Mailpit does.
    pub fn failed(error: &SpamdError) -> SpamCheck {
        SpamCheck {
            error: error.to_string(),
            is_spam: false,
            score: 0.0,
            rules: Vec::new(),
        }
    }
}

/// Where `spamd` listens, as `--spamassassin` gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spamd {
    /// `host:port`; the host may be a name (a compose service).
    pub addr: String,
}

impl Spamd {
    /// Scores `raw` (the message as received).
    pub async fn check(&self, raw: &[u8]) -> Result<SpamCheck, SpamdError> {
        tokio::time::timeout(TIME_LIMIT, self.exchange(raw))
            .await
            .map_err(|_| SpamdError::Timeout)?
    }

    async fn exchange(&self, raw: &[u8]) -> Result<SpamCheck, SpamdError> {
        let mut stream =
            TcpStream::connect(&self.addr)
                .await
                .map_err(|source| SpamdError::Connect {
                    addr: self.addr.clone(),
                    source,
                })?;
        let head = format!("REPORT SPAMC/1.5\r\nContent-length: {}\r\n\r\n", raw.len());
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(raw).await?;
        // spamd reads the body by its length; closing our side as spamc
        // does tells an older spamd that nothing more is coming.
        stream.shutdown().await?;
        let mut reply = Vec::new();
        stream.take(MAX_REPLY).read_to_end(&mut reply).await?;
        parse_reply(&String::from_utf8_lossy(&reply))
    }
}

/// Reads a `REPORT` reply: the status line, the `Spam:` header, then the
/// report text whose table lists the rules.
pub fn parse_reply(reply: &str) -> Result<SpamCheck, SpamdError> {
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .or_else(|| reply.split_once("\n\n"))
        .unwrap_or((reply, ""));
    let mut lines = head.lines();
    let status = lines.next().ok_or(SpamdError::Malformed("empty reply"))?;
    let mut words = status.split_whitespace();
    if !words.next().is_some_and(|w| w.starts_with("SPAMD/")) {
        return Err(SpamdError::Malformed("no SPAMD status line"));
    }
    if words.next() != Some("0") {
        return Err(SpamdError::Refused(status.trim().to_string()));
    }
    let spam = lines
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim().eq_ignore_ascii_case("spam").then_some(value)
        })
        .ok_or(SpamdError::Malformed("no Spam header"))?;
    // `True ; 15.2 / 5.0`
    let (verdict, scores) = spam
        .split_once(';')
        .ok_or(SpamdError::Malformed("a Spam header without a score"))?;
    let score = scores
        .split('/')
        .next()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .ok_or(SpamdError::Malformed("a score that is not a number"))?;
    let is_spam = matches!(verdict.trim().to_ascii_lowercase().as_str(), "true" | "yes");
    Ok(SpamCheck {
        error: String::new(),
        is_spam,
        score,
        rules: report_rules(body),
    })
}

/// The rules in the report's table:
///
/// ```text
///  pts rule name              description
/// ---- ---------------------- --------------------------------------------------
///  1.2 MISSING_HEADERS        Missing To: header
/// -0.0 NO_RELAYS              Informational: message was not relayed via
///                             SMTP
/// ```
///
/// A description may go on in indented lines below its rule.
fn report_rules(report: &str) -> Vec<SpamRule> {
    let mut rules: Vec<SpamRule> = Vec::new();
    let mut in_table = false;
    for line in report.lines() {
        if !in_table {
            in_table = line.starts_with("----");
            continue;
        }
        if line.trim().is_empty() {
            break;
        }
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        match first.parse::<f64>() {
            // A rule's line starts at most one space in; a description
            // goes on far to the right.
            Ok(score) if !line.starts_with("  ") => {
                let name = fields.next().unwrap_or_default().to_string();
                let description = fields.collect::<Vec<_>>().join(" ");
                rules.push(SpamRule {
                    name,
                    score,
                    description,
                });
            }
            _ => {
                if let Some(rule) = rules.last_mut() {
                    if !rule.description.is_empty() {
                        rule.description.push(' ');
                    }
                    rule.description.push_str(line.trim());
                }
            }
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    const REPORT: &str = "SPAMD/1.1 0 EX_OK\r\nContent-length: 600\r\nSpam: True ; 6.1 / 5.0\r\n\r\n\
Spam detection software, running on the system \"ci\",\n\
has identified this incoming email as possible spam.\n\
\n\
Content analysis details:   (6.1 points, 5.0 required)\n\
\n\
 pts rule name              description\n\
---- ---------------------- --------------------------------------------------\n\
-0.0 NO_RELAYS              Informational: message was not relayed via\n\
                            SMTP\n\
 1.2 MISSING_HEADERS        Missing To: header\n\
 3.5 BAYES_99               BODY: Bayes spam probability is 99 to 100%\n\
                            [score: 1.0000]\n\
\n";

    #[test]
    fn a_report_gives_the_verdict_score_and_rules() {
        let check = parse_reply(REPORT).unwrap();
        assert!(check.is_spam);
        assert_eq!(check.score, 6.1);
        assert_eq!(check.error, "");
        let names: Vec<_> = check.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["NO_RELAYS", "MISSING_HEADERS", "BAYES_99"]);
        assert_eq!(check.rules[0].score, -0.0);
        assert_eq!(
            check.rules[0].description,
            "Informational: message was not relayed via SMTP"
        );
        assert_eq!(
            check.rules[2].description,
            "BODY: Bayes spam probability is 99 to 100% [score: 1.0000]"
        );
    }

    #[test]
    fn ham_without_rules_and_bare_newlines() {
        let check = parse_reply("SPAMD/1.1 0 EX_OK\nSpam: False ; -0.1 / 5.0\n\n").unwrap();
        assert!(!check.is_spam);
        assert_eq!(check.score, -0.1);
        assert!(check.rules.is_empty());
    }

    #[test]
    fn refusals_and_garbage_are_errors() {
        let err = parse_reply("SPAMD/1.0 76 Bad header line: x\r\n\r\n").unwrap_err();
        assert!(
            matches!(err, SpamdError::Refused(ref s) if s.contains("76")),
            "{err}"
        );
        for garbage in ["", "HTTP/1.1 200 OK\r\n\r\n", "SPAMD/1.1 0 EX_OK\r\n\r\n"] {
            assert!(
                matches!(parse_reply(garbage), Err(SpamdError::Malformed(_))),
                "{garbage:?}"
            );
        }
        let err = parse_reply("SPAMD/1.1 0 EX_OK\r\nSpam: True ; lots / 5\r\n\r\n").unwrap_err();
        assert!(matches!(err, SpamdError::Malformed(_)), "{err}");
    }

    #[tokio::test]
    async fn the_request_is_spamc_s_and_the_reply_is_read_to_the_end() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            socket.read_to_end(&mut request).await.unwrap();
            socket.write_all(REPORT.as_bytes()).await.unwrap();
            String::from_utf8(request).unwrap()
        });
        let check = Spamd { addr }
            .check(b"Subject: hi\r\n\r\nbody\r\n")
            .await
            .unwrap();
        assert_eq!(check.rules.len(), 3);
        let request = server.await.unwrap();
        assert_eq!(
            request,
            "REPORT SPAMC/1.5\r\nContent-length: 21\r\n\r\nSubject: hi\r\n\r\nbody\r\n"
        );
    }

    #[tokio::test]
    async fn nothing_listening_is_a_connect_error_naming_the_address() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let err = Spamd { addr: addr.clone() }.check(b"x").await.unwrap_err();
        assert!(matches!(err, SpamdError::Connect { .. }), "{err}");
        assert!(err.to_string().contains(&addr), "{err}");
    }
}
