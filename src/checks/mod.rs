//! "Will this mail work out there?": checks on a stored message that go
//! beyond what it contains. The HTML compatibility check ([`html`], with
//! caniemail's data), the link check ([`links`]), the spam score
//! ([`spamd`]), DKIM/SPF/DMARC/ARC ([`auth`]) and image thumbnails ([`thumbnail`]). No HTTP serving here: the API's handlers are in
//! `web::api::checks`.

mod address;
pub mod auth;
pub mod caniemail;
pub mod css;
mod fetch;
pub mod html;
pub mod links;
pub mod markup;
pub mod spamd;
pub mod thumbnail;

use std::sync::Arc;

pub use fetch::FetchError;

/// The state the checks keep between requests.
pub struct Checks {
    pub links: links::LinkChecker,
    pub thumbnails: thumbnail::Thumbnailer,
    /// The spam score's spamd; `None`: no spam check.
    pub spamd: Option<spamd::Spamd>,
    /// DKIM/SPF/DMARC/ARC.
    pub auth: auth::AuthChecker,
}

#[derive(Debug, thiserror::Error)]
pub enum ChecksError {
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Auth(#[from] auth::AuthSetupError),
}

impl Checks {
    /// `allow_internal_links`: `--link-check-allow-internal`;
    /// `spamassassin`: `--spamassassin HOST:PORT`; `auth`: the DKIM/SPF
    /// records and addresses; `hostname` names Letterbox in
    /// `Authentication-Results`.
    pub fn new(
        allow_internal_links: bool,
        spamassassin: Option<String>,
        auth: &auth::AuthSettings,
        hostname: &str,
    ) -> Result<Checks, ChecksError> {
        let tls = Arc::new(crate::tls::verifying_client(None)?);
        Ok(Checks {
            links: links::LinkChecker::new(tls, allow_internal_links),
            thumbnails: thumbnail::Thumbnailer::default(),
            spamd: spamassassin.map(|addr| spamd::Spamd { addr }),
            auth: auth::AuthChecker::new(auth, hostname)?,
        })
    }
}
