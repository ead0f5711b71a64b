//! "Will this mail work out there?": checks on a stored message that go
//! beyond what it contains. The HTML compatibility check ([`html`], with
//! caniemail's data), the link check ([`links`]), the spam score
//! ([`spamd`]) and image thumbnails ([`thumbnail`]). No HTTP serving here: the API's handlers are in
//! `web::api::checks`.

mod address;
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
}

impl Checks {
    /// `allow_internal_links`: `--link-check-allow-internal`;
    /// `spamassassin`: `--spamassassin HOST:PORT`.
    pub fn new(
        allow_internal_links: bool,
        spamassassin: Option<String>,
    ) -> Result<Checks, crate::tls::TlsError> {
        let tls = Arc::new(crate::tls::verifying_client(None)?);
        Ok(Checks {
            links: links::LinkChecker::new(tls, allow_internal_links),
            thumbnails: thumbnail::Thumbnailer::default(),
            spamd: spamassassin.map(|addr| spamd::Spamd { addr }),
        })
    }
}
