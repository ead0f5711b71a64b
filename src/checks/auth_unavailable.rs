//! The authentication check's names in a build without the `auth-check`
//! feature (the static binary, kept small: mail-auth is about 3 MB). No
//! [`AuthChecker`] can exist, so [`checker`] gives `None` and the API, the
//! search and the Checks tab say [`crate::checks::AUTH_CHECK_MISSING`]; the flags
//! are refused (`config::auth`).

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::domain::Envelope;

/// Whether this build has the check.
pub const BUILT: bool = false;

/// As in the real module; only the default (nothing asked) is accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSettings {
    pub records: Vec<zone::DnsRecord>,
    pub spf_ip: Option<IpAddr>,
    pub dns: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{}", crate::checks::AUTH_CHECK_MISSING)]
pub struct AuthSetupError;

/// `None`, or refused when `settings` ask for anything.
pub fn checker(
    settings: &AuthSettings,
    _hostname: &str,
) -> Result<Option<AuthChecker>, AuthSetupError> {
    if *settings == AuthSettings::default() {
        Ok(None)
    } else {
        Err(AuthSetupError)
    }
}

/// Uninhabited: this build never checks a message.
pub enum AuthChecker {}

impl AuthChecker {
    pub async fn check(&self, _id: &str, _raw: &[u8], _envelope: &Envelope) -> Arc<AuthCheck> {
        match *self {}
    }
}

/// What [`AuthChecker::check`] would answer; never made in this build.
#[derive(Debug, Serialize)]
pub struct AuthCheck {
    pub notes: Vec<String>,
}

pub mod search {
    use super::AuthChecker;
    use crate::app::App;
    use crate::domain::search::{AuthTerm, Query};
    use crate::store::{Page, StoreError};

    pub async fn search(
        _app: &App,
        checker: &AuthChecker,
        _query: Query,
        _terms: &[AuthTerm],
        _start: u64,
        _limit: u64,
    ) -> Result<(Page, Option<String>), StoreError> {
        match *checker {}
    }
}

pub mod zone {
    /// Uninhabited: no record can be given to this build.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum DnsRecord {}

    #[derive(Debug, thiserror::Error)]
    #[error("{}", crate::checks::AUTH_CHECK_MISSING)]
    pub struct ZoneError;

    pub fn parse_zone(_text: &str) -> Result<Vec<DnsRecord>, ZoneError> {
        Err(ZoneError)
    }

    pub fn dkim_key_record(_name: &str, _file: &str) -> Result<DnsRecord, ZoneError> {
        Err(ZoneError)
    }
}
