//! The relay's settings, checked and ready to use: where to relay, how,
//! to whom; and the start-time check that the relay is not ourselves.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use regex_automata::dfa::{dense, regex::Regex};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;

use crate::domain::search::Query;

/// How long a release is retried before it is given up.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The wait before the second attempt; it doubles after each failure.
pub const DEFAULT_RETRY_INITIAL: Duration = Duration::from_secs(30);
/// The longest wait between two attempts.
pub const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// Largest compiled `--relay-allowed-recipients` automaton: a pattern that
/// needs more is refused at start rather than eating memory.
const REGEX_SIZE_LIMIT: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    None,
    StartTls,
    /// Implicit TLS from the first byte.
    Tls,
}

impl TlsMode {
    pub fn parse(text: &str) -> Result<TlsMode, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" | "" => Ok(TlsMode::None),
            "starttls" => Ok(TlsMode::StartTls),
            "tls" => Ok(TlsMode::Tls),
            other => Err(format!("{other:?} is not none, starttls or tls")),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::StartTls => "starttls",
            TlsMode::Tls => "tls",
        }
    }
}

/// A relay setting that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum RelayConfigError {
    #[error("--relay-allowed-recipients {pattern:?}: {problem}")]
    Regex { pattern: String, problem: String },
    #[error(
        "--relay-host {0} is this Letterbox's own SMTP listener: with --relay-matching every relayed message would be relayed again"
    )]
    RelaysToItself(String),
}

/// Which recipients may be relayed to.
#[derive(Debug, Clone)]
pub struct AllowedRecipients {
    pub pattern: String,
    regex: Regex,
}

impl AllowedRecipients {
    pub fn new(pattern: &str) -> Result<AllowedRecipients, RelayConfigError> {
        // Byte-oriented and ASCII case-folding: addresses are matched as
        // written, and a Unicode-aware automaton would be large for no gain.
        let regex = Regex::builder()
            .syntax(
                syntax::Config::new()
                    .unicode(false)
                    .utf8(false)
                    .case_insensitive(true),
            )
            .thompson(thompson::Config::new().utf8(false))
            .dense(
                dense::Config::new()
                    .dfa_size_limit(Some(REGEX_SIZE_LIMIT))
                    .determinize_size_limit(Some(REGEX_SIZE_LIMIT)),
            )
            .build(pattern)
            .map_err(|e| RelayConfigError::Regex {
                pattern: pattern.to_string(),
                problem: e.to_string().replace('\n', " "),
            })?;
        Ok(AllowedRecipients {
            pattern: pattern.to_string(),
            regex,
        })
    }

    pub fn allows(&self, address: &str) -> bool {
        self.regex.is_match(address.as_bytes())
    }
}

/// The relay, checked and ready to use.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// `host:port`, as given (for messages and the UI).
    pub server: String,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub tls_insecure: bool,
    /// Authorities trusted besides the public ones (a PEM file).
    pub tls_ca: Option<PathBuf>,
    pub login: Option<(String, String)>,
    pub from: Option<String>,
    pub allowed: Option<AllowedRecipients>,
    pub matching: Option<(String, Query)>,
    pub lifetime: Duration,
    pub retry_initial: Duration,
}

impl RelaySettings {
    /// Refuses an auto-relay into one of our own SMTP listeners, which
    /// would feed every relayed message back in to be relayed again,
    /// forever. The relay host is resolved, and each of its addresses is
    /// compared with what each listener accepts (`0.0.0.0` and `[::]`
    /// accept on every address of this machine). A host that does not
    /// resolve now is left to the queue's retries.
    pub fn check_not_self(&self, listeners: &[SocketAddr]) -> Result<(), RelayConfigError> {
        if self.matching.is_none() {
            return Ok(());
        }
        let Ok(targets) = (self.host.as_str(), self.port).to_socket_addrs() else {
            return Ok(());
        };
        for target in targets {
            if listeners.iter().any(|&listener| reaches(target, listener)) {
                return Err(RelayConfigError::RelaysToItself(self.server.clone()));
            }
        }
        Ok(())
    }
}

/// Whether connecting to `target` reaches a listener bound to `listener`.
fn reaches(target: SocketAddr, listener: SocketAddr) -> bool {
    if target.port() != listener.port() {
        return false;
    }
    let (to, at) = (target.ip().to_canonical(), listener.ip().to_canonical());
    // Connecting to 0.0.0.0 or [::] reaches this machine's loopback.
    if to == at || (to.is_unspecified() && at.is_loopback()) {
        return true;
    }
    at.is_unspecified() && (to.is_unspecified() || to.is_loopback() || is_this_machine(to))
}

/// An address of this machine: one a socket can be bound to.
fn is_this_machine(ip: IpAddr) -> bool {
    std::net::UdpSocket::bind((ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_is_case_insensitive_and_unanchored() {
        let allowed = AllowedRecipients::new(r"@example\.com$").unwrap();
        assert!(allowed.allows("me@example.com"));
        assert!(allowed.allows("Me@EXAMPLE.com"));
        assert!(!allowed.allows("me@example.com.evil"));
        assert!(!allowed.allows("me@other.org"));
        assert!(AllowedRecipients::new("(unclosed").is_err());
    }
}
