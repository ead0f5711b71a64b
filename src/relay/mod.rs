//! Releasing stored mail through an upstream SMTP server ("this one mail
//! should really go out, to me").
//!
//! A release is a row in the store's persistent queue, reached through
//! [`crate::app`]; the [`worker`] delivers queued rows one at a time with the [`client`],
//! retrying temporary failures with exponential backoff until the
//! configured lifetime runs out. Nothing here runs on the ingest path or
//! in a request: an unreachable relay only ever delays the queue.

pub mod client;
pub mod settings;
mod worker;

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::smtp::address::Mailbox;
use crate::store::{StoreError, StoredMessage};
use crate::tls;
pub use settings::{AllowedRecipients, RelayConfigError, RelaySettings, TlsMode};

/// Why a release was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("no recipients given: {{\"To\": [\"someone@example.com\"]}}")]
    NoRecipients,
    #[error("{0:?} is not an email address")]
    BadAddress(String),
    #[error("{0} is not allowed by --relay-allowed-recipients {1:?}")]
    NotAllowed(String, String),
    #[error("message {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The running relay: settings, the queue (in [`App`]) and the worker's
/// wake-up.
pub struct Relay {
    settings: RelaySettings,
    app: App,
    upstream: client::Upstream,
    /// Poked when a release is queued, so the worker never polls.
    wake: Notify,
}

impl Relay {
    /// Starts the queue worker (and the auto-relay of `--relay-matching`)
    /// on `tasks`; both stop when `shutdown` is cancelled.
    pub fn start(
        settings: RelaySettings,
        hostname: &str,
        app: App,
        shutdown: &CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<Arc<Relay>, tls::TlsError> {
        let tls_config = if settings.tls_insecure {
            tls::accepting_any_client()?
        } else {
            tls::verifying_client(settings.tls_ca.as_deref())?
        };
        let upstream = client::Upstream::new(&settings, Arc::new(tls_config), hostname);
        let relay = Arc::new(Relay {
            settings,
            app,
            upstream,
            wake: Notify::new(),
        });
        if let Some((_, query)) = &relay.settings.matching {
            // Subscribed before start returns, so no message that arrives
            // after "ready" is missed.
            let incoming = relay.app.subscribe();
            tasks.spawn(worker::auto_relay(
                relay.clone(),
                query.clone(),
                incoming,
                shutdown.clone(),
            ));
        }
        tasks.spawn(worker::run(relay.clone(), shutdown.clone()));
        Ok(relay)
    }

    pub fn settings(&self) -> &RelaySettings {
        &self.settings
    }

    /// Queues `message` for delivery to `to` (addresses, or `Name <addr>`).
    pub async fn release(
        &self,
        message: &StoredMessage,
        to: &[String],
    ) -> Result<Vec<String>, ReleaseError> {
        let recipients = to
            .iter()
            .map(|r| bare_address(r).ok_or_else(|| ReleaseError::BadAddress(r.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        if recipients.is_empty() {
            return Err(ReleaseError::NoRecipients);
        }
        if let Some(allowed) = &self.settings.allowed
            && let Some(refused) = recipients.iter().find(|r| !allowed.allows(r))
        {
            return Err(ReleaseError::NotAllowed(
                refused.clone(),
                allowed.pattern.clone(),
            ));
        }
        self.queue(message, recipients.clone()).await?;
        Ok(recipients)
    }

    async fn queue(
        &self,
        message: &StoredMessage,
        recipients: Vec<String>,
    ) -> Result<(), ReleaseError> {
        let id = message.summary.id.clone();
        let from = self
            .settings
            .from
            .clone()
            .unwrap_or_else(|| message.envelope.mail_from.clone());
        if !self.app.queue_release(id.clone(), from, recipients).await? {
            return Err(ReleaseError::NotFound(id));
        }
        self.wake.notify_one();
        Ok(())
    }
}

/// The address in `someone@example.com` or `Some One <someone@example.com>`,
/// in the one form that is checked by the allowlist and written to the
/// relay ([`Mailbox`]); `None` if it is not one that can be sent safely.
pub fn bare_address(text: &str) -> Option<String> {
    let text = text.trim();
    let address = match (text.rfind('<'), text.ends_with('>')) {
        (Some(start), true) => &text[start + 1..text.len() - 1],
        _ => text,
    };
    Mailbox::parse(address).ok().map(Mailbox::into_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            bare_address(" me@example.com ").as_deref(),
            Some("me@example.com")
        );
        assert_eq!(
            bare_address("Me <me@example.com>").as_deref(),
            Some("me@example.com")
        );
        assert_eq!(bare_address("me"), None);
        assert_eq!(bare_address("me@"), None);
        assert_eq!(bare_address("a b@example.com"), None);
        assert_eq!(bare_address("a@example.com>\r\nRCPT TO:<b@x"), None);
        assert_eq!(
            bare_address(r#"<"a b"@example.com>"#).as_deref(),
            Some(r#""a b"@example.com"#)
        );
    }
}
