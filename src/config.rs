//! Command line and environment: one `Config`, every flag also readable
//! from a `LETTERBOX_*` variable, plus the checks that turn it into the
//! settings the modules take.

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::cli;
use crate::domain::units::{parse_duration, parse_size};
use crate::smtp::auth::AuthPolicy;
use crate::store::Location;
use crate::web::auth::{UiAuth, UiAuthError, parse_htpasswd};
use crate::web::origin::OriginPolicy;

mod mailpit;

/// The command line: serving is the default; the other commands are
/// helpers that talk to a running Letterbox.
#[derive(Debug, Parser)]
#[command(
    name = "letterbox",
    version,
    about = "A mail catcher for developers: SMTP in, SQLite store, web UI and JSON API.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the mail catcher (what `letterbox` alone does).
    Serve(Box<Config>),
    /// Wait for a matching message to arrive at a running Letterbox; print
    /// it as JSON and exit 0, or exit 1 on timeout.
    Wait(cli::wait::WaitArgs),
    /// Exit 0 when the Letterbox on this machine is ready (for container
    /// health checks).
    Healthcheck(cli::healthcheck::Args),
    /// A drop-in for /usr/sbin/sendmail: read a message on stdin and hand it
    /// to Letterbox over SMTP. Also what a link named `sendmail` runs.
    Sendmail(cli::sendmail::Args),
}

impl Cli {
    /// Parses the process's command line, reading Mailpit's `MP_*`
    /// variables as fallbacks. Usage errors print clap's message and exit;
    /// a bad `MP_*` value is returned.
    pub fn parse_process() -> Result<Cli, ConfigError> {
        let args = cli::sendmail::alias_args(std::env::args_os().collect());
        let matches = Cli::command().get_matches_from(args);
        Cli::from_matches(&matches, &|name| std::env::var(name).ok())
    }

    /// Like [`Cli::parse_process`] over given arguments and `MP_*` lookup.
    pub fn try_parse_with(
        args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Cli, ParseError> {
        let matches = Cli::command().try_get_matches_from(args)?;
        Ok(Cli::from_matches(&matches, env)?)
    }

    fn from_matches(
        matches: &ArgMatches,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Cli, ConfigError> {
        let mut cli =
            Cli::from_arg_matches(matches).map_err(|e| ConfigError::Args(e.to_string()))?;
        match &mut cli.command {
            None => mailpit::apply(&mut cli.serve, matches, env)?,
            Some(Command::Serve(config)) => {
                let sub = matches
                    .subcommand_matches("serve")
                    .expect("the serve command was parsed from these matches");
                mailpit::apply(config, sub, env)?;
            }
            Some(_) => {}
        }
        Ok(cli)
    }

    /// What to run; options given without a command mean `serve`.
    pub fn into_command(self) -> Command {
        self.command
            .unwrap_or_else(|| Command::Serve(Box::new(self.serve)))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Clap(#[from] clap::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Settings for serving.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// SMTP listen address (plain, with STARTTLS).
    #[arg(long, env = "LETTERBOX_SMTP", default_value = "127.0.0.1:1025")]
    pub smtp: SocketAddr,

    /// HTTP listen address for the web UI and the API.
    #[arg(long, env = "LETTERBOX_HTTP", default_value = "127.0.0.1:8025")]
    pub http: SocketAddr,

    /// Optional implicit-TLS SMTP listen address (SMTPS), e.g. 127.0.0.1:1465.
    #[arg(long, env = "LETTERBOX_SMTPS")]
    pub smtps: Option<SocketAddr>,

    /// Database file. Default: letterbox.db in the user's data directory.
    /// `:memory:` keeps a throw-away store that is removed on exit.
    #[arg(long, env = "LETTERBOX_DB")]
    pub db: Option<String>,

    /// Keep at most this many messages; the oldest are pruned. 0 = unlimited.
    #[arg(long, env = "LETTERBOX_MAX_MESSAGES", default_value_t = 10_000)]
    pub max_messages: u64,

    /// Largest message accepted, in bytes (suffixes K, M, G, KiB, MiB, GiB allowed).
    #[arg(long, env = "LETTERBOX_MAX_MESSAGE_SIZE", default_value = "50MiB", value_parser = parse_size)]
    pub max_message_size: u64,

    /// Most recipients accepted per message.
    #[arg(long, env = "LETTERBOX_SMTP_MAX_RECIPIENTS", default_value_t = 1000)]
    pub smtp_max_recipients: usize,

    /// Close SMTP connections idle this long (e.g. 300s, 5m); a command
    /// must also be complete within this long of the previous reply.
    #[arg(long, env = "LETTERBOX_SMTP_IDLE_TIMEOUT", default_value = "5m", value_parser = parse_duration)]
    pub smtp_idle_timeout: Duration,

    /// Most simultaneous SMTP connections; more are turned away with 421.
    #[arg(long, env = "LETTERBOX_SMTP_MAX_CONNECTIONS", default_value_t = 1000)]
    pub smtp_max_connections: usize,

    /// Most simultaneous SMTP connections from one client address; more
    /// are turned away with 421 4.7.0. Default: a quarter of
    /// --smtp-max-connections.
    #[arg(long, env = "LETTERBOX_SMTP_MAX_CONNECTIONS_PER_IP")]
    pub smtp_max_connections_per_ip: Option<usize>,

    /// Message content all SMTP connections together may hold in memory
    /// before it is stored; past it new transactions get 452 4.3.1.
    /// Default: 256MiB, or --max-message-size if that is larger.
    #[arg(long, env = "LETTERBOX_SMTP_DATA_BUDGET", value_parser = parse_size)]
    pub smtp_data_budget: Option<u64>,

    /// Least rate, in bytes a second, at which message content (DATA or
    /// BDAT) must arrive once the idle timeout's worth of grace is used
    /// up; slower clients are closed with 421 4.4.2. 0 turns it off.
    #[arg(long, env = "LETTERBOX_SMTP_MIN_DATA_RATE", default_value = "1K", value_parser = parse_size)]
    pub smtp_min_data_rate: u64,

    /// PEM certificate (chain) for STARTTLS and SMTPS. Without one (or
    /// --smtp-tls self-signed) STARTTLS is not offered.
    #[arg(long, env = "LETTERBOX_SMTP_TLS_CERT", requires = "smtp_tls_key")]
    pub smtp_tls_cert: Option<PathBuf>,

    /// PEM private key for --smtp-tls-cert.
    #[arg(long, env = "LETTERBOX_SMTP_TLS_KEY", requires = "smtp_tls_cert")]
    pub smtp_tls_key: Option<PathBuf>,

    /// `self-signed`: offer STARTTLS (and SMTPS) with a certificate made
    /// at start, for localhost and --hostname. Clients that upgrade to TLS
    /// whenever it is offered then need to accept that certificate.
    #[arg(
        long,
        env = "LETTERBOX_SMTP_TLS",
        value_enum,
        conflicts_with = "smtp_tls_cert"
    )]
    pub smtp_tls: Option<SmtpTls>,

    /// Refuse MAIL and AUTH until the client has started TLS (needs a
    /// certificate, or --smtp-tls self-signed).
    #[arg(long, env = "LETTERBOX_SMTP_REQUIRE_TLS")]
    pub smtp_require_tls: bool,

    /// Accepted SMTP credentials, `user:pass,user2:pass2`. When set (or with
    /// --smtp-auth-file) login is required; when unset any login is accepted.
    #[arg(long, env = "LETTERBOX_SMTP_AUTH", hide_env_values = true)]
    pub smtp_auth: Option<String>,

    /// File of accepted SMTP credentials, one `user:pass` per line.
    #[arg(long, env = "LETTERBOX_SMTP_AUTH_FILE")]
    pub smtp_auth_file: Option<PathBuf>,

    /// Host name used in the SMTP greeting and the self-signed certificate.
    #[arg(long, env = "LETTERBOX_HOSTNAME", default_value = "letterbox")]
    pub hostname: String,

    /// Prune messages received longer ago than this (e.g. 12h, 7d).
    #[arg(long, env = "LETTERBOX_MAX_AGE", value_parser = parse_duration)]
    pub max_age: Option<Duration>,

    /// Also serve /metrics (Prometheus) on this address, without UI auth.
    #[arg(long, env = "LETTERBOX_METRICS")]
    pub metrics: Option<SocketAddr>,

    /// Basic-auth logins for the web UI and API, `user:pass` entries
    /// separated by commas or spaces. Health probes stay open.
    #[arg(long, env = "LETTERBOX_UI_AUTH", hide_env_values = true)]
    pub ui_auth: Option<String>,

    /// htpasswd file of web UI and API logins (bcrypt entries, as made by
    /// `htpasswd -B`).
    #[arg(long, env = "LETTERBOX_UI_AUTH_FILE")]
    pub ui_auth_file: Option<PathBuf>,

    /// PEM certificate (chain) to serve the web UI and API over HTTPS.
    #[arg(long, env = "LETTERBOX_UI_TLS_CERT", requires = "ui_tls_key")]
    pub ui_tls_cert: Option<PathBuf>,

    /// PEM private key for --ui-tls-cert.
    #[arg(long, env = "LETTERBOX_UI_TLS_KEY", requires = "ui_tls_cert")]
    pub ui_tls_key: Option<PathBuf>,

    /// Path prefix to serve the web UI and API under, for a reverse proxy
    /// (e.g. /mail/).
    #[arg(long, env = "LETTERBOX_WEBROOT", default_value = "/", value_parser = parse_webroot)]
    pub webroot: String,

    /// Origins allowed to call the API from a browser (CORS), comma
    /// separated, or `*`. Other origins cannot change anything or open the
    /// WebSocket.
    #[arg(long, env = "LETTERBOX_API_CORS", value_delimiter = ',')]
    pub api_cors: Vec<String>,

    /// Host names served besides localhost and loopback addresses while the
    /// HTTP listener is on loopback (comma separated). Other names are
    /// refused there, so a web page cannot rebind its own name to
    /// 127.0.0.1 and read the mail.
    #[arg(long, env = "LETTERBOX_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Failure injection rules at start, e.g. `rcpt=451@50%,data=delay:2s`
    /// (see the README); changeable at runtime through /api/v1/chaos.
    #[arg(long, env = "LETTERBOX_CHAOS")]
    pub chaos: Option<String>,

    /// An inbox rule NAME=QUERY (repeatable; in the environment, rules
    /// separated by `;`): messages matching the search QUERY go to inbox
    /// NAME, e.g. `billing=to:@billing.example.com`. An SMTP AUTH login
    /// names the inbox before any rule; the first matching rule wins; other
    /// mail goes to the inbox `default`.
    #[arg(
        long = "inbox",
        env = "LETTERBOX_INBOX",
        value_name = "NAME=QUERY",
        value_delimiter = ';',
        value_parser = parse_inbox_rule
    )]
    pub inbox_rules: Vec<crate::domain::inbox::Rule>,

    /// Let the link check (`/api/v1/message/{ID}/link-check`) request
    /// loopback, private and link-local addresses (refused by default, so a
    /// link in a message cannot probe the network Letterbox runs in).
    #[arg(long, env = "LETTERBOX_LINK_CHECK_ALLOW_INTERNAL")]
    pub link_check_allow_internal: bool,

    #[command(flatten)]
    pub relay: crate::relay::RelayArgs,
}

/// Where the SMTP listeners' certificate comes from, besides PEM files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SmtpTls {
    /// Made at start, for localhost and --hostname.
    SelfSigned,
}

/// The certificate for STARTTLS and SMTPS, if there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpCertificate<'a> {
    Files(&'a Path, &'a Path),
    SelfSigned,
}

fn parse_inbox_rule(text: &str) -> Result<crate::domain::inbox::Rule, String> {
    crate::domain::inbox::Rule::parse(text).map_err(|e| e.to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{origin}: credential {entry:?} is not of the form user:password")]
    Credential { origin: String, entry: String },
    #[error("no data directory known for this system (HOME is not set); pass --db")]
    NoDataDir,
    #[error("{0}")]
    Args(String),
    #[error("{name}={value:?}: {problem}")]
    Mailpit {
        name: &'static str,
        value: String,
        problem: String,
    },
    #[error(transparent)]
    UiAuth(#[from] UiAuthError),
    #[error("--api-cors: {0}")]
    Cors(String),
    #[error("--chaos: {0}")]
    Chaos(#[from] crate::domain::chaos::RuleError),
    #[error(
        "{0} needs a certificate: give --smtp-tls-cert and --smtp-tls-key, or --smtp-tls self-signed"
    )]
    NoSmtpCertificate(&'static str),
    #[error(
        "--smtp-data-budget {budget} is smaller than --max-message-size {message}: no message that size could be received"
    )]
    DataBudget { budget: u64, message: u64 },
}

impl Config {
    /// Where the store lives.
    pub fn store_location(&self) -> Result<Location, ConfigError> {
        match self.db.as_deref() {
            Some(":memory:") => Ok(Location::Temporary),
            Some(path) => Ok(Location::File(PathBuf::from(path))),
            None => Ok(Location::File(default_data_dir()?.join("letterbox.db"))),
        }
    }

    /// The SMTP AUTH policy from `--smtp-auth` and `--smtp-auth-file`.
    pub fn auth_policy(&self) -> Result<AuthPolicy, ConfigError> {
        let mut users = HashMap::new();
        if let Some(list) = &self.smtp_auth {
            parse_credentials(list.split(','), "--smtp-auth", &mut users)?;
        }
        if let Some(path) = &self.smtp_auth_file {
            let text = read_file(path)?;
            parse_credentials(text.lines(), &path.display().to_string(), &mut users)?;
        }
        Ok(
            if self.smtp_auth.is_none() && self.smtp_auth_file.is_none() {
                AuthPolicy::AcceptAny
            } else {
                AuthPolicy::Credentials(users)
            },
        )
    }

    pub fn tls_files(&self) -> Option<(&Path, &Path)> {
        Some((
            self.smtp_tls_cert.as_deref()?,
            self.smtp_tls_key.as_deref()?,
        ))
    }

    /// The certificate STARTTLS and SMTPS use; `None` means plain SMTP
    /// only, as Mailpit and MailHog do by default (a client that upgrades
    /// whenever STARTTLS is offered would refuse a self-signed one).
    /// Settings that cannot work without one are refused.
    pub fn smtp_certificate(&self) -> Result<Option<SmtpCertificate<'_>>, ConfigError> {
        let certificate = match (self.tls_files(), self.smtp_tls) {
            (Some((cert, key)), _) => Some(SmtpCertificate::Files(cert, key)),
            (None, Some(SmtpTls::SelfSigned)) => Some(SmtpCertificate::SelfSigned),
            (None, None) => None,
        };
        if certificate.is_none() {
            if self.smtp_require_tls {
                return Err(ConfigError::NoSmtpCertificate("--smtp-require-tls"));
            }
            if self.smtps.is_some() {
                return Err(ConfigError::NoSmtpCertificate("--smtps"));
            }
        }
        Ok(certificate)
    }

    /// Certificate and key for HTTPS on the web listener, if configured.
    pub fn ui_tls_files(&self) -> Option<(&Path, &Path)> {
        Some((self.ui_tls_cert.as_deref()?, self.ui_tls_key.as_deref()?))
    }

    /// Simultaneous SMTP connections one client address may have: one
    /// client cannot take every slot.
    pub fn smtp_max_connections_per_ip(&self) -> usize {
        self.smtp_max_connections_per_ip
            .unwrap_or((self.smtp_max_connections / 4).max(1))
    }

    /// Bytes of message content all SMTP sessions may hold in memory.
    pub fn smtp_data_budget(&self) -> Result<u64, ConfigError> {
        match self.smtp_data_budget {
            Some(budget) if budget < self.max_message_size => Err(ConfigError::DataBudget {
                budget,
                message: self.max_message_size,
            }),
            Some(budget) => Ok(budget),
            None => Ok(self.max_message_size.max(256 << 20)),
        }
    }

    /// The web UI and API logins from `--ui-auth` and `--ui-auth-file`;
    /// `None` when the UI is open.
    pub fn ui_auth(&self) -> Result<Option<UiAuth>, ConfigError> {
        if self.ui_auth.is_none() && self.ui_auth_file.is_none() {
            return Ok(None);
        }
        let mut plain = HashMap::new();
        if let Some(list) = &self.ui_auth {
            let entries = list.split(|c: char| c == ',' || c.is_whitespace());
            parse_credentials(entries, "--ui-auth", &mut plain)?;
        }
        let hashed = match &self.ui_auth_file {
            Some(path) => parse_htpasswd(&read_file(path)?, &path.display().to_string())?,
            None => HashMap::new(),
        };
        Ok(Some(UiAuth::new(plain, hashed)))
    }

    /// The chaos rules to start with from `--chaos`.
    pub fn chaos_rules(&self) -> Result<crate::domain::chaos::Rules, ConfigError> {
        let text = self.chaos.as_deref().unwrap_or("");
        Ok(crate::domain::chaos::Rules::parse(text)?)
    }

    /// Which cross-origin callers the API lets in.
    pub fn origin_policy(&self) -> Result<OriginPolicy, ConfigError> {
        OriginPolicy::new(&self.api_cors).map_err(ConfigError::Cors)
    }

    /// The serving configuration from `LETTERBOX_*` (and `MP_*`) variables
    /// alone, as `letterbox` started in this environment would use it.
    pub fn from_env() -> Result<Config, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        match Cli::try_parse_with(["letterbox"], &env) {
            Ok(cli) => match cli.into_command() {
                Command::Serve(config) => Ok(*config),
                _ => unreachable!("no arguments mean serve"),
            },
            Err(ParseError::Config(err)) => Err(err),
            Err(ParseError::Clap(err)) => Err(ConfigError::Args(err.to_string())),
        }
    }
}

/// `--webroot`: a path that starts and ends with `/`.
pub fn parse_webroot(text: &str) -> Result<String, String> {
    let trimmed = text.trim().trim_matches('/');
    if trimmed
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '?' | '#' | '%' | '\\'))
    {
        return Err(format!("{text:?} is not a plain URL path such as /mail/"));
    }
    Ok(if trimmed.is_empty() {
        "/".to_string()
    } else {
        format!("/{trimmed}/")
    })
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn parse_credentials<'a>(
    entries: impl Iterator<Item = &'a str>,
    origin: &str,
    users: &mut HashMap<String, String>,
) -> Result<(), ConfigError> {
    for entry in entries.map(str::trim) {
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        let Some((user, pass)) = entry.split_once(':').filter(|(u, _)| !u.is_empty()) else {
            return Err(ConfigError::Credential {
                origin: origin.to_string(),
                entry: entry.chars().take(40).collect(),
            });
        };
        users.insert(user.to_string(), pass.to_string());
    }
    Ok(())
}

/// The per-user data directory (XDG on Unix, Application Support on macOS,
/// LOCALAPPDATA on Windows), with `letterbox` appended.
fn default_data_dir() -> Result<PathBuf, ConfigError> {
    let env = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = if cfg!(windows) {
        env("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        env("HOME").map(|h| h.join("Library/Application Support"))
    } else {
        env("XDG_DATA_HOME").or_else(|| env("HOME").map(|h| h.join(".local/share")))
    };
    base.map(|b| b.join("letterbox"))
        .ok_or(ConfigError::NoDataDir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<const N: usize>(args: [&str; N]) -> Result<Config, ParseError> {
        match Cli::try_parse_with(args, &|_| None)?.into_command() {
            Command::Serve(config) => Ok(*config),
            other => panic!("not a serve command: {other:?}"),
        }
    }

    #[test]
    fn serve_is_the_default_and_a_subcommand() {
        let top = parse(["letterbox", "--smtp", "127.0.0.1:2525"]).unwrap();
        let sub = parse(["letterbox", "serve", "--smtp", "127.0.0.1:2525"]).unwrap();
        assert_eq!(top.smtp, sub.smtp);
    }

    #[test]
    fn defaults_are_loopback() {
        let config = parse(["letterbox"]).unwrap();
        assert!(config.smtp.ip().is_loopback());
        assert!(config.http.ip().is_loopback());
        assert!(matches!(
            config.auth_policy().unwrap(),
            AuthPolicy::AcceptAny
        ));
    }

    #[test]
    fn credentials() {
        let config = parse(["letterbox", "--smtp-auth", "a:1, b:x:y"]).unwrap();
        let AuthPolicy::Credentials(users) = config.auth_policy().unwrap() else {
            panic!()
        };
        assert_eq!(users["a"], "1");
        assert_eq!(users["b"], "x:y");
        let bad = parse(["letterbox", "--smtp-auth", "nocolon"]).unwrap();
        assert!(bad.auth_policy().is_err());
    }

    #[test]
    fn memory_db() {
        let config = parse(["letterbox", "--db", ":memory:"]).unwrap();
        assert_eq!(config.store_location().unwrap(), Location::Temporary);
    }
}
