//! Webhooks: every new message announced to one HTTP receiver, the
//! operator's choice (`--webhook-url`), never an API caller's.
//!
//! Ingest queues a delivery in the transaction that stores the message;
//! the [`worker`] posts due deliveries one at a time, no faster than the
//! configured rate, and retries failures with exponential backoff until
//! the delivery's time is up. Deliveries wait in the store, so they survive
//! a restart. Delivery is at least once: a receiver that answered too late
//! gets the same delivery again, with the same `Letterbox-Delivery` header.

pub mod signature;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::client::http::Url;
use crate::tls;

/// How long a delivery is retried, from the message's arrival.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(3600);
/// How long one attempt may take, connecting included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deliveries started per second at most.
pub const DEFAULT_RATE: f64 = 10.0;
/// The wait before the second attempt; it doubles after each failure.
pub const RETRY_INITIAL: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
pub const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(300);

/// Where and how webhooks are sent.
#[derive(Clone)]
pub struct WebhookSettings {
    pub url: Url,
    /// Signs each request (`Letterbox-Signature`) when given.
    pub secret: Option<String>,
    /// Sent as `Mailpit-Label` and `Letterbox-Label`, as Mailpit's `--label`.
    pub label: Option<String>,
    /// Deliveries started per second at most; `None` for no limit.
    pub rate: Option<f64>,
    /// Give a delivery up once its next attempt would be later than this
    /// after the message arrived.
    pub retry_for: Duration,
    pub timeout: Duration,
}

/// The secret is left out: settings may be printed.
impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &self.url.origin())
            .field("secret", &self.secret.as_ref().map(|_| "(hidden)"))
            .field("label", &self.label)
            .field("rate", &self.rate)
            .field("retry_for", &self.retry_for)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The running webhook sender.
pub struct Webhook {
    settings: WebhookSettings,
    app: App,
    /// Trust for `https` receivers: the public authorities.
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
}

impl Webhook {
    /// Starts the worker on `tasks`; it stops when `shutdown` is cancelled.
    /// `app` must queue deliveries ([`App::with_webhook`]).
    pub fn start(
        settings: WebhookSettings,
        app: App,
        shutdown: &CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<Arc<Webhook>, tls::TlsError> {
        let tls = match settings.url.https {
            true => Some(Arc::new(tls::verifying_client(None)?)),
            false => None,
        };
        // Subscribed before start returns, so no message stored after
        // "ready" waits for the idle check.
        let incoming = app.subscribe();
        let webhook = Arc::new(Webhook { settings, app, tls });
        tasks.spawn(worker::run(webhook.clone(), incoming, shutdown.clone()));
        Ok(webhook)
    }

    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_settings_hide_the_secret_and_the_path() {
        let settings = WebhookSettings {
            url: Url::parse("https://hooks.example/T0/B0/t0ken").unwrap(),
            secret: Some("whsec_s3cret".into()),
            label: None,
            rate: None,
            retry_for: DEFAULT_RETRY_FOR,
            timeout: DEFAULT_TIMEOUT,
        };
        let printed = format!("{settings:?}");
        assert!(printed.contains("https://hooks.example"), "{printed}");
        assert!(
            !printed.contains("s3cret") && !printed.contains("t0ken"),
            "{printed}"
        );
    }
}
