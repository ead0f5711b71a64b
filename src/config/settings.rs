//! The serving arguments checked and turned, once, into the plain
//! [`Settings`] that [`crate::server::start`] takes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::serve::DurabilityArg;
use super::{ConfigError, ServeArgs, SmtpTls};
use crate::domain::chaos::Rules;
use crate::server::Settings;
use crate::smtp::auth::AuthPolicy;
use crate::smtp::{SmtpCertificate, SmtpSettings};
use crate::store::{Durability, Location, StoreConfig};
use crate::web::auth::{UiAuth, parse_htpasswd};
use crate::web::host::HostPolicy;
use crate::web::origin::OriginPolicy;
use crate::web::{WebOptions, WebSettings};

impl ServeArgs {
    /// The plain settings a Letterbox starts with. Every mistake the
    /// arguments alone can show is found here, before anything is opened
    /// or bound.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let certificate = self.smtp_certificate()?;
        let data_budget = self.smtp_data_budget()?;
        let web = WebSettings {
            listen: self.http,
            tls_files: self
                .ui_tls_files()
                .map(|(cert, key)| (cert.to_path_buf(), key.to_path_buf())),
            metrics: self.metrics,
            options: WebOptions {
                webroot: self.webroot.clone(),
                auth: self.ui_auth()?.map(Arc::new),
                origins: Arc::new(self.origin_policy()?),
                hosts: Arc::new(HostPolicy::for_listener(self.http, &self.allowed_hosts)),
            },
        };
        let smtp = SmtpSettings {
            listen: self.smtp,
            listen_tls: self.smtps,
            certificate,
            require_tls: self.smtp_require_tls,
            auth: self.auth_policy()?,
            max_message_size: self.max_message_size,
            max_recipients: self.smtp_max_recipients,
            idle_timeout: self.smtp_idle_timeout,
            max_connections: self.smtp_max_connections,
            max_connections_per_ip: self.smtp_max_connections_per_ip(),
            data_budget,
            min_data_rate: self.smtp_min_data_rate,
            chaos: self.chaos_rules()?,
        };
        let store = StoreConfig {
            location: self.store_location()?,
            max_messages: self.max_messages,
            max_age: self.max_age,
            durability: self.durability(),
        };
        Ok(Settings {
            hostname: self.hostname.clone(),
            smtp,
            web,
            store,
            relay: self.relay.settings()?,
            webhook: self.webhook.settings()?,
            inbox_rules: self.inbox_rules.clone(),
            link_check_allow_internal: self.link_check_allow_internal,
            spamassassin: self.spamassassin.clone(),
            pop3: self.pop3_settings()?,
            auth: self.auth.settings()?,
        })
    }
}

impl ServeArgs {
    /// What an acknowledged message survives (`--durability`).
    pub fn durability(&self) -> Durability {
        match self.durability {
            DurabilityArg::Crash => Durability::ProcessCrash,
            DurabilityArg::PowerLoss => Durability::PowerLoss,
        }
    }

    /// Where the store lives.
    pub fn store_location(&self) -> Result<Location, ConfigError> {
        match self.db.as_deref() {
            Some(":memory:") => Ok(Location::Temporary),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Location::Postgres(url.to_string()))
            }
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
    pub fn smtp_certificate(&self) -> Result<Option<SmtpCertificate>, ConfigError> {
        let certificate = match (self.tls_files(), self.smtp_tls) {
            (Some((cert, key)), _) => Some(SmtpCertificate::Files {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            }),
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
    pub fn chaos_rules(&self) -> Result<Rules, ConfigError> {
        let text = self.chaos.as_deref().unwrap_or("");
        Ok(Rules::parse(text)?)
    }

    /// Which cross-origin callers the API lets in.
    pub fn origin_policy(&self) -> Result<OriginPolicy, ConfigError> {
        OriginPolicy::new(&self.api_cors).map_err(ConfigError::Cors)
    }
}

pub(super) fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })
}

pub(super) fn parse_credentials<'a>(
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
    use super::super::parse;
    use super::*;

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
    fn durability_is_crash_unless_power_loss_is_asked() {
        let durability = |args: &[&str]| {
            let args = ["letterbox", "--db", ":memory:"].iter().chain(args);
            parse(args.copied())
                .unwrap()
                .settings()
                .unwrap()
                .store
                .durability
        };
        assert_eq!(durability(&[]), Durability::ProcessCrash);
        assert_eq!(
            durability(&["--durability", "power-loss"]),
            Durability::PowerLoss
        );
        assert!(parse(["letterbox", "--durability", "disk"]).is_err());
    }

    #[test]
    fn memory_db() {
        let config = parse(["letterbox", "--db", ":memory:"]).unwrap();
        assert_eq!(config.store_location().unwrap(), Location::Temporary);
    }
}
