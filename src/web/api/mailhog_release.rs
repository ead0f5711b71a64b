//! MailHog's `POST /api/v1/messages/{ID}/release`
//! (`{"Host", "Port", "Email", "Username", "Password", "Mechanism", "Save"}`):
//! sends a stored message on to `Email`.
//!
//! An API caller must never choose where Letterbox connects, so the target
//! must be one of two places Letterbox's own configuration names: its own
//! SMTP listener (the message is stored again, for `Email`, without a
//! connection), or the relay set with `--relay-host` (the release is
//! queued there, with the relay's own credentials). Anything else is a 400
//! that names those settings.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::domain::Envelope;
use crate::web::params::go_json_body;
use crate::web::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReleaseConfig {
    host: String,
    /// MailHog's is a string; numbers are taken too.
    port: serde_json::Value,
    email: String,
}

/// Every field of MailHog's `ReleaseConfig`; `Username`, `Password`,
/// `Mechanism` and `Save` are read and not used (see the module notes).
const FIELD_NAMES: &[&str] = &[
    "Host",
    "Port",
    "Email",
    "Username",
    "Password",
    "Mechanism",
    "Save",
];

const EXPECTED: &str =
    r#"expected {"Host": "localhost", "Port": "1025", "Email": "someone@example.com"}"#;

/// Where a release goes.
enum Target {
    OwnListener,
    Relay(std::sync::Arc<crate::relay::Relay>),
}

fn port_of(value: &serde_json::Value) -> Option<u16> {
    match value {
        serde_json::Value::String(text) => text.trim().parse().ok(),
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
}

/// Whether `resolved` reaches one of `listeners`.
fn is_listener(resolved: &[SocketAddr], listeners: &[SocketAddr]) -> bool {
    resolved.iter().any(|r| {
        listeners.iter().any(|l| {
            r.port() == l.port()
                && (r.ip() == l.ip() || (l.ip().is_unspecified() && r.ip().is_loopback()))
        })
    })
}

async fn target(state: &AppState, host: &str, port: u16) -> Result<Target, ApiError> {
    if let Some(relay) = &state.relay {
        let settings = relay.settings();
        if settings.host.eq_ignore_ascii_case(host) && settings.port == port {
            return Ok(Target::Relay(relay.clone()));
        }
    }
    // Resolving the name is the only lookup the caller's input causes;
    // nothing connects to what it resolves to.
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map(Iterator::collect)
        .unwrap_or_default();
    if is_listener(&resolved, &state.smtp_addrs) {
        return Ok(Target::OwnListener);
    }
    let own: Vec<String> = state.smtp_addrs.iter().map(|a| a.to_string()).collect();
    let relay = state
        .relay
        .as_ref()
        .map_or("none is set".to_string(), |r| r.settings().server.clone());
    Err(ApiError::bad_request(format!(
        "release to {host}:{port} refused: a release may only go to Letterbox's own SMTP \
         listener (--smtp: {}) or to the relay (--relay-host: {relay})",
        own.join(", ")
    )))
}

pub async fn release(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let config: ReleaseConfig = go_json_body(&body, EXPECTED, FIELD_NAMES, &[])?;
    let port = port_of(&config.port).ok_or_else(|| {
        ApiError::bad_request(format!("Port {} is not a port number", config.port))
    })?;
    let email = crate::relay::bare_address(&config.email).ok_or_else(|| {
        ApiError::bad_request(format!("Email {:?} is not an address", config.email))
    })?;
    let target = target(&state, config.host.trim(), port).await?;
    let message = state
        .app
        .message(id.clone())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("message {id} not found")))?;
    match target {
        Target::Relay(relay) => {
            relay.release(&message, &[email]).await?;
        }
        Target::OwnListener => {
            let raw = state
                .app
                .raw(id.clone())
                .await?
                .ok_or_else(|| ApiError::not_found(format!("message {id} not found")))?;
            let envelope = Envelope {
                mail_from: message.envelope.mail_from.clone(),
                rcpt_to: vec![email],
                ..Envelope::default()
            };
            // Stored before the answer, as MailHog's SMTP send is finished
            // before it answers.
            state.app.accept(envelope, raw).await?;
        }
    }
    // MailHog answers with an empty 200 (its client JSON-parses any body).
    Ok(().into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_own_listeners_match() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let own = [a("127.0.0.1:1025")];
        assert!(is_listener(&[a("[::1]:1025"), a("127.0.0.1:1025")], &own));
        assert!(!is_listener(&[a("127.0.0.1:25")], &own));
        assert!(!is_listener(&[a("10.0.0.1:1025")], &own));
        let any = [a("0.0.0.0:1025")];
        assert!(is_listener(&[a("127.0.0.1:1025")], &any));
        assert!(!is_listener(&[a("192.0.2.1:1025")], &any));
    }

    #[test]
    fn ports_as_strings_or_numbers() {
        assert_eq!(port_of(&serde_json::json!("1025")), Some(1025));
        assert_eq!(port_of(&serde_json::json!(25)), Some(25));
        assert_eq!(port_of(&serde_json::json!("x")), None);
        assert_eq!(port_of(&serde_json::json!(70000)), None);
    }
}
