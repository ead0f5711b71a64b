//! The POP3 flags (`--pop3` and its company) and the checks that turn
//! them into [`Pop3Settings`]. POP3 hands out the caught mail, so it runs
//! only with logins, as Mailpit's does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::settings::{parse_credentials, read_file};
use super::{ConfigError, ServeArgs};
use crate::domain::units::parse_duration;
use crate::pop3::logins::Logins;
use crate::pop3::{Pop3Certificate, Pop3Settings};

/// Most simultaneous POP3 connections: a mail client opens one or two.
const MAX_CONNECTIONS: usize = 100;

#[derive(Debug, Clone, Args)]
pub struct Pop3Args {
    /// POP3 listen address, e.g. 127.0.0.1:1110 (STLS offered when there
    /// is a certificate). Needs --pop3-auth or --pop3-auth-file.
    #[arg(
        id = "pop3_listen",
        long = "pop3",
        env = "LETTERBOX_POP3",
        value_name = "ADDR"
    )]
    pub listen: Option<SocketAddr>,

    /// Implicit-TLS POP3 listen address (POP3S), e.g. 127.0.0.1:1995.
    #[arg(
        id = "pop3s",
        long = "pop3s",
        env = "LETTERBOX_POP3S",
        value_name = "ADDR"
    )]
    pub listen_tls: Option<SocketAddr>,

    /// POP3 logins, `user:pass` entries separated by commas or spaces.
    /// A login reads the inbox of its name if there is one, else all mail.
    #[arg(
        id = "pop3_auth",
        long = "pop3-auth",
        env = "LETTERBOX_POP3_AUTH",
        hide_env_values = true
    )]
    pub auth: Option<String>,

    /// File of POP3 logins, one `user:pass` a line as for
    /// --smtp-auth-file; a password may be a bcrypt hash (`htpasswd -B`).
    #[arg(
        id = "pop3_auth_file",
        long = "pop3-auth-file",
        env = "LETTERBOX_POP3_AUTH_FILE"
    )]
    pub auth_file: Option<PathBuf>,

    /// PEM certificate (chain) for STLS and POP3S. Default: the SMTP
    /// certificate (--smtp-tls-cert, or --smtp-tls self-signed).
    #[arg(
        id = "pop3_tls_cert",
        long = "pop3-tls-cert",
        env = "LETTERBOX_POP3_TLS_CERT",
        requires = "pop3_tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --pop3-tls-cert.
    #[arg(
        id = "pop3_tls_key",
        long = "pop3-tls-key",
        env = "LETTERBOX_POP3_TLS_KEY",
        requires = "pop3_tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// The most messages one POP3 login sees: the newest this many.
    #[arg(
        id = "pop3_max_messages",
        long = "pop3-max-messages",
        env = "LETTERBOX_POP3_MAX_MESSAGES",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_messages: u32,

    /// Close POP3 sessions idle this long (RFC 1939 asks for at least 10
    /// minutes); a command must also arrive in full within it.
    #[arg(
        id = "pop3_idle_timeout",
        long = "pop3-idle-timeout",
        env = "LETTERBOX_POP3_IDLE_TIMEOUT",
        default_value = "10m",
        value_parser = parse_duration
    )]
    pub idle_timeout: Duration,
}

impl Pop3Args {
    fn listening(&self) -> bool {
        self.listen.is_some() || self.listen_tls.is_some()
    }
}

impl ServeArgs {
    /// The POP3 settings; `None` when no POP3 listener is asked for.
    pub fn pop3_settings(&self) -> Result<Option<Pop3Settings>, ConfigError> {
        let pop3 = &self.pop3;
        let logins = self.pop3_logins()?;
        if !pop3.listening() {
            if logins.is_some() {
                return Err(ConfigError::Pop3(
                    "--pop3-auth and --pop3-auth-file need --pop3 ADDR or --pop3s ADDR to listen on"
                        .into(),
                ));
            }
            return Ok(None);
        }
        let Some(logins) = logins else {
            return Err(ConfigError::Pop3(
                "POP3 hands out the caught mail, so it needs logins: give --pop3-auth user:password or --pop3-auth-file FILE".into(),
            ));
        };
        let certificate = match (&pop3.tls_cert, &pop3.tls_key) {
            (Some(cert), Some(key)) => Some(Pop3Certificate::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => self
                .smtp_certificate()?
                .map(|_| Pop3Certificate::SameAsSmtp),
        };
        if pop3.listen_tls.is_some() && certificate.is_none() {
            return Err(ConfigError::Pop3(
                "--pop3s needs a certificate: give --pop3-tls-cert and --pop3-tls-key, or the SMTP one (--smtp-tls-cert and --smtp-tls-key, or --smtp-tls self-signed)".into(),
            ));
        }
        Ok(Some(Pop3Settings {
            listen: pop3.listen,
            listen_tls: pop3.listen_tls,
            certificate,
            logins: Arc::new(logins),
            max_messages: pop3.max_messages as usize,
            idle_timeout: pop3.idle_timeout,
            max_connections: MAX_CONNECTIONS,
        }))
    }

    /// The logins from `--pop3-auth` and `--pop3-auth-file`, in the form
    /// the SMTP logins take; `None` when neither is given.
    fn pop3_logins(&self) -> Result<Option<Logins>, ConfigError> {
        let pop3 = &self.pop3;
        if pop3.auth.is_none() && pop3.auth_file.is_none() {
            return Ok(None);
        }
        let mut users = HashMap::new();
        if let Some(list) = &pop3.auth {
            let entries = list.split(|c: char| c == ',' || c.is_whitespace());
            parse_credentials(entries, "--pop3-auth", &mut users)?;
        }
        if let Some(path) = &pop3.auth_file {
            let text = read_file(path)?;
            parse_credentials(text.lines(), &path.display().to_string(), &mut users)?;
        }
        if users.is_empty() {
            return Err(ConfigError::Pop3(
                "--pop3-auth and --pop3-auth-file hold no login (user:password)".into(),
            ));
        }
        Ok(Some(Logins::new(users)))
    }
}

/// Mailpit's POP3 port, used when its variables set logins but no address.
const MAILPIT_PORT: u16 = 1110;

/// What Mailpit's POP3 variables mean beyond their flags: logins alone
/// start POP3 (on port 1110, on the SMTP listener's interface), and a
/// certificate makes the POP3 port speak implicit TLS (Mailpit offers no
/// STLS). `applied` names the `MP_*` variables that were used.
pub(super) fn mailpit_pop3(serve: &mut ServeArgs, applied: &[&str]) {
    let pop3 = &mut serve.pop3;
    let logins = ["MP_POP3_AUTH", "MP_POP3_AUTH_FILE"];
    if logins.iter().any(|n| applied.contains(n)) && !pop3.listening() {
        pop3.listen = Some(SocketAddr::new(serve.smtp.ip(), MAILPIT_PORT));
    }
    if applied.contains(&"MP_POP3_TLS_CERT") && pop3.listen_tls.is_none() {
        pop3.listen_tls = pop3.listen.take();
    }
}

/// `MP_POP3_TLS_CERT` and `_KEY`: files (Mailpit's generated `sans:`
/// certificate is the SMTP one's to ask for, which POP3 then shares).
pub(super) fn mailpit_tls_file(value: &str) -> Result<PathBuf, String> {
    if value.starts_with("sans:") {
        return Err(
            "give PEM files; for a generated certificate set MP_SMTP_TLS_CERT=sans:..., which POP3 shares".into(),
        );
    }
    Ok(PathBuf::from(value))
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn settings(args: &[&str]) -> Result<Option<Pop3Settings>, ConfigError> {
        let args = std::iter::once("letterbox").chain(args.iter().copied());
        parse(args).unwrap().pop3_settings()
    }

    #[test]
    fn off_unless_asked_for() {
        assert!(settings(&[]).unwrap().is_none());
    }

    #[test]
    fn logins_are_required_and_read() {
        let err = settings(&["--pop3", "127.0.0.1:1110"]).unwrap_err();
        assert!(err.to_string().contains("needs logins"), "{err}");
        let pop3 = settings(&["--pop3", "127.0.0.1:1110", "--pop3-auth", "a:1 b:2"])
            .unwrap()
            .unwrap();
        assert!(pop3.logins.check("a", "1") && pop3.logins.check("b", "2"));
        assert_eq!(pop3.certificate, None);
        assert_eq!(pop3.max_messages, 1000);
        let err = settings(&["--pop3-auth", "a:1"]).unwrap_err();
        assert!(err.to_string().contains("need --pop3 ADDR"), "{err}");
        let err = settings(&["--pop3", "127.0.0.1:1110", "--pop3-auth", " , "]).unwrap_err();
        assert!(err.to_string().contains("no login"), "{err}");
    }

    #[test]
    fn the_smtp_certificate_serves_unless_pop3_has_its_own() {
        let base = ["--pop3", "127.0.0.1:1110", "--pop3-auth", "a:1"];
        let with = |extra: &[&str]| {
            let args: Vec<&str> = base.iter().chain(extra).copied().collect();
            settings(&args)
        };
        let same = with(&["--smtp-tls", "self-signed"]).unwrap().unwrap();
        assert_eq!(same.certificate, Some(Pop3Certificate::SameAsSmtp));
        let own = with(&["--pop3-tls-cert", "c.pem", "--pop3-tls-key", "k.pem"])
            .unwrap()
            .unwrap();
        assert_eq!(
            own.certificate,
            Some(Pop3Certificate::Files {
                cert: "c.pem".into(),
                key: "k.pem".into()
            })
        );
        let err = with(&["--pop3s", "127.0.0.1:1995"]).unwrap_err();
        assert!(
            err.to_string().contains("--pop3s needs a certificate"),
            "{err}"
        );
    }

    fn with_mailpit_env(args: &[&str], env: &[(&str, &str)]) -> ServeArgs {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| env.get(name).cloned();
        let args = std::iter::once("letterbox").chain(args.iter().copied());
        match super::super::Cli::try_parse_with(args, &lookup)
            .unwrap()
            .into_command()
        {
            super::super::Command::Serve(serve) => *serve,
            other => panic!("not a serve command: {other:?}"),
        }
    }

    #[test]
    fn mailpit_logins_start_pop3_on_its_port() {
        let serve = with_mailpit_env(
            &["--smtp", "0.0.0.0:1025"],
            &[("MP_POP3_AUTH", "u1:p1 u2:p2")],
        );
        let pop3 = serve.pop3_settings().unwrap().unwrap();
        assert_eq!(pop3.listen, Some("0.0.0.0:1110".parse().unwrap()));
        assert!(pop3.logins.check("u2", "p2"));
        // A flag wins over the variable.
        let serve = with_mailpit_env(
            &["--pop3", "127.0.0.1:2110"],
            &[
                ("MP_POP3_AUTH", "u:p"),
                ("MP_POP3_BIND_ADDR", "127.0.0.1:3110"),
            ],
        );
        assert_eq!(serve.pop3.listen, Some("127.0.0.1:2110".parse().unwrap()));
    }

    #[test]
    fn a_mailpit_certificate_means_implicit_tls() {
        let serve = with_mailpit_env(
            &[],
            &[
                ("MP_POP3_AUTH", "u:p"),
                ("MP_POP3_BIND_ADDR", ":1995"),
                ("MP_POP3_TLS_CERT", "c.pem"),
                ("MP_POP3_TLS_KEY", "k.pem"),
            ],
        );
        assert_eq!(serve.pop3.listen, None);
        assert_eq!(serve.pop3.listen_tls, Some("0.0.0.0:1995".parse().unwrap()));
        let err = super::super::Cli::try_parse_with(["letterbox"], &|name: &str| {
            (name == "MP_POP3_TLS_CERT").then(|| "c.pem".to_string())
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("MP_POP3_TLS_CERT and MP_POP3_TLS_KEY"),
            "{err}"
        );
    }
}
