//! The authentication check's flags: DKIM keys and SPF/DMARC policies
//! given offline, the address SPF is evaluated for, and whether DNS may be
//! asked at all.

use std::net::IpAddr;
use std::path::PathBuf;

use super::ConfigError;
use crate::checks::auth::AuthSettings;
use crate::checks::auth::zone::{dkim_key_record, parse_zone};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuthArgs {
    /// A DKIM public key for the authentication check, as
    /// `SELECTOR._domainkey.DOMAIN=PATH` (repeatable; in the environment
    /// separated by `;`). PATH holds the DNS TXT value
    /// (`v=DKIM1; k=rsa; p=...`) or a PEM public key (RSA or Ed25519).
    #[arg(
        long = "dkim-key",
        env = "LETTERBOX_DKIM_KEY",
        value_name = "NAME=PATH",
        value_delimiter = ';'
    )]
    pub dkim_keys: Vec<String>,

    /// A zone file of records for the authentication check (repeatable):
    /// lines `name TXT "value"` (DKIM keys, SPF and DMARC policies),
    /// `name A IP`, `name AAAA IP`, `name MX 10 HOST`, `REVERSE-NAME PTR HOST`.
    #[arg(long = "auth-zone", env = "LETTERBOX_AUTH_ZONE", value_name = "FILE")]
    pub auth_zones: Vec<PathBuf>,

    /// The address SPF is evaluated for: the one the app will send from in
    /// production. Default: the SMTP client's address.
    #[arg(long, env = "LETTERBOX_SPF_IP", value_name = "IP")]
    pub spf_ip: Option<IpAddr>,

    /// Let the authentication check ask DNS for keys and policies not
    /// given with --dkim-key or --auth-zone. Off: no DNS request is ever
    /// made for a message.
    #[arg(long, env = "LETTERBOX_AUTH_DNS")]
    pub auth_dns: bool,
}

impl AuthArgs {
    /// Reads the key and zone files.
    pub fn settings(&self) -> Result<AuthSettings, ConfigError> {
        let mut records = Vec::new();
        for entry in &self.dkim_keys {
            let (name, path) = entry.split_once('=').ok_or_else(|| {
                ConfigError::Args(format!(
                    "--dkim-key {entry:?} is not SELECTOR._domainkey.DOMAIN=PATH"
                ))
            })?;
            if !name.contains("._domainkey.") {
                return Err(ConfigError::Args(format!(
                    "--dkim-key {name:?} is not a key's name (SELECTOR._domainkey.DOMAIN)"
                )));
            }
            let text = read(path.as_ref())?;
            records.push(
                dkim_key_record(name, &text)
                    .map_err(|e| ConfigError::Args(format!("--dkim-key {path}: {e}")))?,
            );
        }
        for path in &self.auth_zones {
            let text = read(path)?;
            records.extend(
                parse_zone(&text).map_err(|e| {
                    ConfigError::Args(format!("--auth-zone {}: {e}", path.display()))
                })?,
            );
        }
        Ok(AuthSettings {
            records,
            spf_ip: self.spf_ip,
            dns: self.auth_dns,
        })
    }
}

fn read(path: &std::path::Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })
}
