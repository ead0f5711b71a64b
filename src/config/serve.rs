//! The serving flags: every one also readable from a `LETTERBOX_*`
//! variable (and some from Mailpit's `MP_*`, see [`super::mailpit`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::pop3::Pop3Args;
use super::relay::RelayArgs;
use super::webhook::WebhookArgs;
use crate::domain::inbox::Rule;
use crate::domain::units::{parse_duration, parse_size};

/// The flags for serving (`letterbox` or `letterbox serve`).
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
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
    /// `:memory:` keeps a throw-away store that is removed on exit; a
    /// `postgres://user:pass@host/dbname` URL a store several nodes share.
    #[arg(long, env = "LETTERBOX_DB")]
    pub db: Option<String>,

    /// Keep at most this many messages; the oldest are pruned. 0 = unlimited.
    #[arg(long, env = "LETTERBOX_MAX_MESSAGES", default_value_t = 10_000)]
    pub max_messages: u64,

    /// What a `250` survives. `crash`: Letterbox being killed (every
    /// commit reaches the operating system before the reply; a power loss
    /// or an OS crash can take the last ones). `power-loss`: that too,
    /// every commit waiting for the disk (fsync), at a cost in ingest rate.
    #[arg(long, env = "LETTERBOX_DURABILITY", value_enum, default_value_t = DurabilityArg::Crash)]
    pub durability: DurabilityArg,

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
    pub inbox_rules: Vec<Rule>,

    /// Let the link check (`/api/v1/message/{ID}/link-check`) request
    /// loopback, private and link-local addresses (refused by default, so a
    /// link in a message cannot probe the network Letterbox runs in).
    #[arg(long, env = "LETTERBOX_LINK_CHECK_ALLOW_INTERNAL")]
    pub link_check_allow_internal: bool,

    /// SpamAssassin's spamd (`HOST:PORT`) that scores messages on request
    /// (`/api/v1/message/{ID}/sa-check`); without it there is no spam check.
    #[arg(
        long,
        visible_alias = "enable-spamassassin",
        env = "LETTERBOX_SPAMASSASSIN",
        value_name = "HOST:PORT",
        value_parser = parse_spamd
    )]
    pub spamassassin: Option<String>,

    #[command(flatten)]
    pub auth: super::auth::AuthArgs,

    #[command(flatten)]
    pub relay: RelayArgs,

    #[command(flatten)]
    pub pop3: Pop3Args,

    #[command(flatten)]
    pub webhook: WebhookArgs,
}

/// `--durability`: what an acknowledged message survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DurabilityArg {
    /// Letterbox being killed or crashing.
    Crash,
    /// A power loss or an operating-system crash as well.
    PowerLoss,
}

/// Where the SMTP listeners' certificate comes from, besides PEM files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SmtpTls {
    /// Made at start, for localhost and --hostname.
    SelfSigned,
}

fn parse_inbox_rule(text: &str) -> Result<Rule, String> {
    Rule::parse(text).map_err(|e| e.to_string())
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

/// `host:port` for spamd. Mailpit's other choice, `postmark`, sends the
/// message to a third party's service, which a mail catcher does not do.
pub fn parse_spamd(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("postmark") {
        return Err(
            "Postmark's spam API would send the message to a third party; run spamd and give its HOST:PORT".into(),
        );
    }
    match value.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(value.to_string())
        }
        _ => Err(format!("{value:?} is not HOST:PORT (e.g. 127.0.0.1:783)")),
    }
}
