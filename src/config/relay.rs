//! The relay flags (`--relay-*`, `LETTERBOX_RELAY_*`) over an optional
//! `--relay-config` file, checked once and turned into the relay's
//! [`RelaySettings`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::domain::search::Query;
use crate::domain::units::parse_duration;
use crate::relay::settings::{DEFAULT_LIFETIME, DEFAULT_RETRY_INITIAL};
use crate::relay::{AllowedRecipients, RelayConfigError, RelaySettings, TlsMode};

/// The relay flags, flattened into [`super::ServeArgs`].
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RelayArgs {
    /// Upstream SMTP server that released messages are sent through,
    /// HOST:PORT. Without one nothing is ever relayed.
    #[arg(long, env = "LETTERBOX_RELAY_HOST")]
    pub relay_host: Option<String>,

    /// TLS to the relay: none, starttls or tls (implicit, as on port 465).
    /// Default none.
    #[arg(long, env = "LETTERBOX_RELAY_TLS", value_parser = TlsMode::parse)]
    pub relay_tls: Option<TlsMode>,

    /// Accept any certificate from the relay (a self-signed test relay).
    #[arg(long, env = "LETTERBOX_RELAY_TLS_INSECURE")]
    pub relay_tls_insecure: bool,

    /// PEM file of certificate authorities to trust for the relay besides
    /// the public ones: a company CA, or a test relay's own certificate.
    #[arg(long, env = "LETTERBOX_RELAY_TLS_CA")]
    pub relay_tls_ca: Option<PathBuf>,

    /// Login at the relay (AUTH PLAIN, or LOGIN if only that is offered).
    #[arg(long, env = "LETTERBOX_RELAY_USER")]
    pub relay_user: Option<String>,

    /// Password for --relay-user.
    #[arg(long, env = "LETTERBOX_RELAY_PASSWORD", hide_env_values = true)]
    pub relay_password: Option<String>,

    /// Envelope sender for relayed mail. Default: the message's own MAIL FROM.
    #[arg(long, env = "LETTERBOX_RELAY_FROM")]
    pub relay_from: Option<String>,

    /// Only relay to recipients matching this regular expression (matched
    /// case-insensitively against the bare address).
    #[arg(long, env = "LETTERBOX_RELAY_ALLOWED_RECIPIENTS")]
    pub relay_allowed_recipients: Option<String>,

    /// Relay every incoming message that matches this search query to its
    /// envelope recipients (those allowed).
    #[arg(long, env = "LETTERBOX_RELAY_MATCHING")]
    pub relay_matching: Option<String>,

    /// Relay every incoming message to its envelope recipients (those
    /// allowed): --relay-matching with a query that matches everything.
    #[arg(long, env = "LETTERBOX_RELAY_ALL", conflicts_with = "relay_matching")]
    pub relay_all: bool,

    /// Give up on a release that has not gone out after this long (e.g. 1h,
    /// 3d). Default 24h.
    #[arg(long, env = "LETTERBOX_RELAY_LIFETIME", value_parser = parse_duration)]
    pub relay_lifetime: Option<Duration>,

    /// Wait this long before the first retry; the wait doubles after each
    /// failure, up to 30 minutes. Default 30s.
    #[arg(long, env = "LETTERBOX_RELAY_RETRY_INITIAL", value_parser = parse_duration)]
    pub relay_retry_initial: Option<Duration>,

    /// File of relay settings, one `key = value` a line, keys named as the
    /// flags without `--relay-` (host, tls, user, ...). Flags win.
    #[arg(long, env = "LETTERBOX_RELAY_CONFIG")]
    pub relay_config: Option<PathBuf>,
}

/// A relay setting that cannot work, found before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum RelayArgsError {
    #[error("reading --relay-config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("--relay-config {path} line {line}: {problem}")]
    File {
        path: String,
        line: usize,
        problem: String,
    },
    #[error("--relay-host {0:?}: {1}")]
    Host(String, &'static str),
    #[error("--relay-matching {query:?}: {problem}")]
    Matching { query: String, problem: String },
    #[error(
        "--relay-tls-ca and --relay-tls-insecure are both set: trust that authority, or any certificate"
    )]
    CaAndInsecure,
    #[error("--relay-all and --relay-matching {0:?} are both set: choose one")]
    AllAndMatching(String),
    #[error("{0} is set but no --relay-host: nothing could be relayed")]
    NoHost(&'static str),
    #[error("--relay-user needs --relay-password (and the other way round)")]
    HalfLogin,
    #[error("--relay-from {0:?} cannot be sent as an envelope sender: {1}")]
    From(String, crate::smtp::address::AddressError),
    #[error(transparent)]
    Relay(#[from] RelayConfigError),
}

/// The values a `--relay-config` file may set.
#[derive(Debug, Default)]
struct FileValues {
    host: Option<String>,
    tls: Option<TlsMode>,
    tls_insecure: Option<bool>,
    tls_ca: Option<PathBuf>,
    user: Option<String>,
    password: Option<String>,
    from: Option<String>,
    allowed_recipients: Option<String>,
    matching: Option<String>,
    all: Option<bool>,
    lifetime: Option<Duration>,
    retry_initial: Option<Duration>,
}

fn parse_file(path: &Path) -> Result<FileValues, RelayArgsError> {
    let text = std::fs::read_to_string(path).map_err(|source| RelayArgsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_file_text(&text).map_err(|(line, problem)| RelayArgsError::File {
        path: path.display().to_string(),
        line,
        problem,
    })
}

fn parse_file_text(text: &str) -> Result<FileValues, (usize, String)> {
    let mut values = FileValues::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |problem: String| (n + 1, problem);
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| fail("not of the form key = value".into()))?;
        let key = key.trim().to_ascii_lowercase().replace('_', "-");
        let key = key.strip_prefix("relay-").unwrap_or(&key);
        let value = value.trim().to_string();
        let bool_value = |v: &str| match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Ok(true),
            "false" | "no" | "0" | "off" => Ok(false),
            _ => Err(fail(format!("{key}: {v:?} is not true or false"))),
        };
        let duration = |v: &str| parse_duration(v).map_err(|e| fail(format!("{key}: {e}")));
        match key {
            "host" => values.host = Some(value),
            "tls" => values.tls = Some(TlsMode::parse(&value).map_err(fail)?),
            "tls-insecure" => values.tls_insecure = Some(bool_value(&value)?),
            "tls-ca" => values.tls_ca = Some(PathBuf::from(value)),
            "user" => values.user = Some(value),
            "password" => values.password = Some(value),
            "from" => values.from = Some(value),
            "allowed-recipients" => values.allowed_recipients = Some(value),
            "matching" => values.matching = Some(value),
            "all" => values.all = Some(bool_value(&value)?),
            "lifetime" => values.lifetime = Some(duration(&value)?),
            "retry-initial" => values.retry_initial = Some(duration(&value)?),
            other => return Err(fail(format!("unknown key {other:?}"))),
        }
    }
    Ok(values)
}

/// Splits `host:port` (`[v6]:port`); the port defaults to 465 for implicit
/// TLS and 25 otherwise.
fn split_server(server: &str, tls: TlsMode) -> Result<(String, u16), RelayArgsError> {
    let bad = |why| RelayArgsError::Host(server.to_string(), why);
    let default_port = if tls == TlsMode::Tls { 465 } else { 25 };
    let (host, port) = if let Some(rest) = server.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(bad("not HOST:PORT")),
        }
    } else {
        match server.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            Some(_) => return Err(bad("an IPv6 address needs brackets: [::1]:25")),
            None => (server, None),
        }
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(bad("not HOST:PORT"));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?,
        None => default_port,
    };
    Ok((host.to_string(), port))
}

impl RelayArgs {
    /// The relay configured by flags over the file; `None` when no relay
    /// host is set anywhere.
    pub fn settings(&self) -> Result<Option<RelaySettings>, RelayArgsError> {
        let file = match &self.relay_config {
            Some(path) => parse_file(path)?,
            None => FileValues::default(),
        };
        let pick = |flag: &Option<String>, file: Option<String>| flag.clone().or(file);
        let host = pick(&self.relay_host, file.host);
        let user = pick(&self.relay_user, file.user);
        let password = pick(&self.relay_password, file.password);
        let allowed = pick(&self.relay_allowed_recipients, file.allowed_recipients);
        let matching = pick(&self.relay_matching, file.matching);
        let all = self.relay_all || file.all.unwrap_or(false);
        if let Some(query) = matching.as_ref().filter(|_| all) {
            return Err(RelayArgsError::AllAndMatching(query.clone()));
        }
        let Some(server) = host.filter(|h| !h.trim().is_empty()) else {
            // Settings that mean nothing without a relay are a mistake worth
            // hearing about at start.
            return match () {
                _ if all => Err(RelayArgsError::NoHost("--relay-all")),
                _ if matching.is_some() => Err(RelayArgsError::NoHost("--relay-matching")),
                _ if allowed.is_some() => Err(RelayArgsError::NoHost("--relay-allowed-recipients")),
                _ if user.is_some() => Err(RelayArgsError::NoHost("--relay-user")),
                _ => Ok(None),
            };
        };
        let server = server.trim().to_string();
        let tls = self.relay_tls.or(file.tls).unwrap_or(TlsMode::None);
        let (host, port) = split_server(&server, tls)?;
        let tls_insecure = self.relay_tls_insecure || file.tls_insecure.unwrap_or(false);
        let tls_ca = self.relay_tls_ca.clone().or(file.tls_ca);
        if tls_insecure && tls_ca.is_some() {
            return Err(RelayArgsError::CaAndInsecure);
        }
        let login = match (user, password) {
            (Some(user), Some(password)) => Some((user, password)),
            (None, None) => None,
            _ => return Err(RelayArgsError::HalfLogin),
        };
        let from = pick(&self.relay_from, file.from);
        if let Some(from) = &from
            && let Err(err) = crate::smtp::address::Mailbox::parse(from)
        {
            return Err(RelayArgsError::From(from.clone(), err));
        }
        let allowed = allowed
            .filter(|p| !p.is_empty())
            .map(|p| AllowedRecipients::new(&p))
            .transpose()?;
        let matching = match matching.filter(|q| !q.trim().is_empty()) {
            // The empty query matches every message.
            None if all => Some(("(every message)".to_string(), Query::default())),
            Some(text) => {
                let query = Query::parse(&text).map_err(|e| RelayArgsError::Matching {
                    query: text.clone(),
                    problem: e.to_string(),
                })?;
                Some((text, query))
            }
            None => None,
        };
        Ok(Some(RelaySettings {
            server,
            host,
            port,
            tls,
            tls_insecure,
            tls_ca,
            login,
            from,
            allowed,
            matching,
            lifetime: self
                .relay_lifetime
                .or(file.lifetime)
                .unwrap_or(DEFAULT_LIFETIME),
            retry_initial: self
                .relay_retry_initial
                .or(file.retry_initial)
                .unwrap_or(DEFAULT_RETRY_INITIAL),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    #[test]
    fn a_relay_to_an_own_listener_is_found_by_address() {
        let auto = |host: &str| {
            RelayArgs {
                relay_host: Some(host.into()),
                relay_all: true,
                ..RelayArgs::default()
            }
            .settings()
            .unwrap()
            .unwrap()
        };
        let loopback: SocketAddr = "127.0.0.1:2525".parse().unwrap();
        let everywhere: SocketAddr = "0.0.0.0:2525".parse().unwrap();
        let v6_everywhere: SocketAddr = "[::]:2525".parse().unwrap();
        for host in [
            "127.0.0.1:2525",
            "127.1:2525",
            "0.0.0.0:2525",
            "localhost:2525",
        ] {
            assert!(
                auto(host).check_not_self(&[loopback]).is_err(),
                "{host} reaches 127.0.0.1"
            );
        }
        for host in ["127.0.0.2:2525", "127.1:2525", "0.0.0.0:2525", "[::1]:2525"] {
            assert!(
                auto(host)
                    .check_not_self(&[everywhere, v6_everywhere])
                    .is_err(),
                "{host} reaches 0.0.0.0 or [::]"
            );
        }
        // Another port, or an address the listener is not on, is fine.
        assert!(auto("127.0.0.1:2526").check_not_self(&[loopback]).is_ok());
        assert!(auto("127.0.0.2:2525").check_not_self(&[loopback]).is_ok());
        assert!(auto("192.0.2.1:2525").check_not_self(&[everywhere]).is_ok());
        // Without an auto-relay, nothing loops.
        let manual = RelayArgs {
            relay_host: Some("127.0.0.1:2525".into()),
            ..RelayArgs::default()
        };
        assert!(
            manual
                .settings()
                .unwrap()
                .unwrap()
                .check_not_self(&[loopback])
                .is_ok()
        );
    }

    #[test]
    fn servers() {
        let split = |s| split_server(s, TlsMode::None);
        assert_eq!(split("mx.example:587").unwrap(), ("mx.example".into(), 587));
        assert_eq!(split("mx.example").unwrap(), ("mx.example".into(), 25));
        assert_eq!(split("[::1]:2525").unwrap(), ("::1".into(), 2525));
        assert_eq!(
            split_server("mx", TlsMode::Tls).unwrap(),
            ("mx".into(), 465)
        );
        assert!(split("mx:0").is_err());
        assert!(split("mx:port").is_err());
        assert!(split("::1:25").is_err());
        assert!(split(":25").is_err());
    }

    #[test]
    fn file_keys_mirror_the_flags() {
        let values = parse_file_text(
            "# relay\nhost = mx:2525\nrelay-tls = starttls\nTLS_INSECURE = yes\n\
             password = a=b\nretry-initial = 5s\n",
        )
        .unwrap();
        assert_eq!(values.host.as_deref(), Some("mx:2525"));
        assert_eq!(values.tls, Some(TlsMode::StartTls));
        assert_eq!(values.tls_insecure, Some(true));
        assert_eq!(values.password.as_deref(), Some("a=b"));
        assert_eq!(values.retry_initial, Some(Duration::from_secs(5)));
        assert_eq!(parse_file_text("\nport = 25").unwrap_err().0, 2);
        assert!(parse_file_text("host").is_err());
        assert!(parse_file_text("tls = maybe").is_err());
    }

    #[test]
    fn flags_win_over_the_file_and_options_need_a_host() {
        let dir = std::env::temp_dir().join(format!("letterbox-relay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("relay.conf");
        std::fs::write(&file, "host = file.example:25\nfrom = file@example.com\n").unwrap();
        let args = RelayArgs {
            relay_host: Some("flag.example:2525".into()),
            relay_config: Some(file.clone()),
            ..RelayArgs::default()
        };
        let settings = args.settings().unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            (settings.host.as_str(), settings.port),
            ("flag.example", 2525)
        );
        assert_eq!(settings.from.as_deref(), Some("file@example.com"));
        assert_eq!(settings.lifetime, DEFAULT_LIFETIME);

        assert!(RelayArgs::default().settings().unwrap().is_none());
        let orphan = RelayArgs {
            relay_matching: Some("subject:x".into()),
            ..RelayArgs::default()
        };
        assert!(matches!(orphan.settings(), Err(RelayArgsError::NoHost(_))));
    }

    #[test]
    fn an_authority_and_trusting_anything_exclude_each_other() {
        let args = RelayArgs {
            relay_host: Some("mx:25".into()),
            relay_tls_ca: Some("/etc/relay-ca.pem".into()),
            ..RelayArgs::default()
        };
        assert_eq!(
            args.settings().unwrap().unwrap().tls_ca.as_deref(),
            Some(Path::new("/etc/relay-ca.pem"))
        );
        let both = RelayArgs {
            relay_tls_insecure: true,
            ..args
        };
        assert!(matches!(
            both.settings(),
            Err(RelayArgsError::CaAndInsecure)
        ));
        assert_eq!(
            parse_file_text("tls-ca = /a.pem").unwrap().tls_ca,
            Some(PathBuf::from("/a.pem"))
        );
    }

    #[test]
    fn relay_all_is_a_query_that_matches_everything() {
        let all = RelayArgs {
            relay_host: Some("mx:25".into()),
            relay_all: true,
            ..RelayArgs::default()
        };
        let (_, query) = all.settings().unwrap().unwrap().matching.unwrap();
        assert!(query.is_empty());
        // From a file too, and never together with --relay-matching.
        assert_eq!(parse_file_text("all = yes").unwrap().all, Some(true));
        let both = RelayArgs {
            relay_matching: Some("subject:x".into()),
            ..all.clone()
        };
        assert!(matches!(
            both.settings(),
            Err(RelayArgsError::AllAndMatching(_))
        ));
        let orphan = RelayArgs {
            relay_host: None,
            ..all
        };
        assert!(matches!(
            orphan.settings(),
            Err(RelayArgsError::NoHost("--relay-all"))
        ));
    }
}
