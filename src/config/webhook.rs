//! The webhook flags (`--webhook-*`, `LETTERBOX_WEBHOOK_*`) and `--label`,
//! checked once and turned into the webhook's [`WebhookSettings`].

use std::time::Duration;

use crate::client::http::Url;
use crate::domain::units::parse_duration;
use crate::webhook::{DEFAULT_RATE, DEFAULT_RETRY_FOR, DEFAULT_TIMEOUT, WebhookSettings};

/// The webhook flags, flattened into [`super::ServeArgs`].
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WebhookArgs {
    /// POST every new message's summary (JSON, Mailpit's shape) to this
    /// http:// or https:// URL. Deliveries are queued in the database and
    /// retried; redirects are not followed.
    #[arg(long, env = "LETTERBOX_WEBHOOK_URL")]
    pub webhook_url: Option<String>,

    /// Sign each webhook request with HMAC-SHA256 under this secret, in a
    /// `Letterbox-Signature: t=TIMESTAMP,v1=HEX` header (see the README).
    #[arg(long, env = "LETTERBOX_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// Webhook deliveries started per second at most (e.g. 10, 0.5); 0 for
    /// no limit. Default 10.
    #[arg(long, env = "LETTERBOX_WEBHOOK_RATE")]
    pub webhook_rate: Option<f64>,

    /// Retry a failed webhook delivery until this long after the message
    /// arrived (e.g. 30m, 1d), waiting 1 s, 2 s, 4 s, ... up to 5 minutes
    /// between attempts. Default 1h.
    #[arg(long, env = "LETTERBOX_WEBHOOK_RETRY_FOR", value_parser = parse_duration)]
    pub webhook_retry_for: Option<Duration>,

    /// How long one webhook attempt may take, connecting included, before
    /// it counts as failed. Default 5s.
    #[arg(long, env = "LETTERBOX_WEBHOOK_TIMEOUT", value_parser = parse_duration)]
    pub webhook_timeout: Option<Duration>,

    /// A name for this Letterbox, sent with webhooks as `Mailpit-Label` and
    /// `Letterbox-Label` (Mailpit's --label).
    #[arg(long, env = "LETTERBOX_LABEL")]
    pub label: Option<String>,
}

/// A webhook setting that cannot work, found before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum WebhookArgsError {
    #[error(
        "--webhook-url {0:?} is not an http:// or https:// URL (without credentials or spaces)"
    )]
    Url(String),
    #[error("--webhook-rate {0}: give deliveries a second, e.g. 10 or 0.5 (0: no limit)")]
    Rate(f64),
    #[error("--webhook-timeout must be more than 0")]
    Timeout,
    #[error("--label {0:?}: control characters cannot be sent in a header")]
    Label(String),
    #[error("{0} is set but no --webhook-url: nothing would be sent")]
    NoUrl(&'static str),
}

impl WebhookArgs {
    /// The webhook's settings; `None` without `--webhook-url`.
    pub fn settings(&self) -> Result<Option<WebhookSettings>, WebhookArgsError> {
        if let Some(label) = &self.label
            && label.chars().any(char::is_control)
        {
            return Err(WebhookArgsError::Label(label.clone()));
        }
        let Some(url) = &self.webhook_url else {
            let unused = [
                (self.webhook_secret.is_some(), "--webhook-secret"),
                (self.webhook_rate.is_some(), "--webhook-rate"),
                (self.webhook_retry_for.is_some(), "--webhook-retry-for"),
                (self.webhook_timeout.is_some(), "--webhook-timeout"),
            ];
            return match unused.iter().find(|(set, _)| *set) {
                Some((_, flag)) => Err(WebhookArgsError::NoUrl(flag)),
                None => Ok(None),
            };
        };
        let url = Url::parse(url.trim()).map_err(|_| WebhookArgsError::Url(url.clone()))?;
        let rate = match self.webhook_rate.unwrap_or(DEFAULT_RATE) {
            0.0 => None,
            rate if rate.is_finite() && rate >= 0.001 => Some(rate),
            rate => return Err(WebhookArgsError::Rate(rate)),
        };
        let timeout = self.webhook_timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(WebhookArgsError::Timeout);
        }
        Ok(Some(WebhookSettings {
            url,
            secret: self.webhook_secret.clone().filter(|s| !s.is_empty()),
            label: self.label.clone().filter(|l| !l.trim().is_empty()),
            rate,
            retry_for: self.webhook_retry_for.unwrap_or(DEFAULT_RETRY_FOR),
            timeout,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn settings(args: &[&str]) -> Result<Option<WebhookSettings>, WebhookArgsError> {
        let args = std::iter::once("letterbox").chain(args.iter().copied());
        parse(args).unwrap().webhook.settings()
    }

    #[test]
    fn defaults_and_limits() {
        assert!(settings(&[]).unwrap().is_none());
        let s = settings(&["--webhook-url", "http://127.0.0.1:9/hook"])
            .unwrap()
            .unwrap();
        assert_eq!(s.url.target, "/hook");
        assert_eq!(
            (s.rate, s.retry_for, s.timeout),
            (Some(DEFAULT_RATE), DEFAULT_RETRY_FOR, DEFAULT_TIMEOUT)
        );
        assert_eq!((s.secret, s.label), (None, None));
        let s = settings(&[
            "--webhook-url=https://hooks.example/in",
            "--webhook-rate=0",
            "--label=ci",
            "--webhook-secret=k",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.rate, s.label.as_deref(), s.secret.as_deref()),
            (None, Some("ci"), Some("k"))
        );
    }

    #[test]
    fn mistakes_are_refused() {
        for (args, problem) in [
            (&["--webhook-url", "hooks.example/in"][..], "not an http"),
            (
                &["--webhook-url=http://x/", "--webhook-rate=-1"],
                "give deliveries",
            ),
            (
                &["--webhook-url=http://x/", "--webhook-rate=NaN"],
                "give deliveries",
            ),
            (
                &["--webhook-url=http://x/", "--webhook-timeout=0s"],
                "more than 0",
            ),
            (&["--webhook-secret=k"], "no --webhook-url"),
            (&["--label=a\nb"], "control characters"),
        ] {
            let err = settings(args).unwrap_err().to_string();
            assert!(err.contains(problem), "{args:?}: {err}");
        }
    }
}
