//! `letterbox wait`: blocks until a matching message arrives, for shell
//! scripts in CI. Prints the message JSON and exits 0, or exits 1 on
//! timeout (2 on any other error).

use std::time::Duration;

use crate::client::http::{self as client, ClientError};

/// What to wait for, and where.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// Search query the message must match (Letterbox's search syntax).
    pub query: String,
    pub timeout: Duration,
    /// Only messages after this message ID or RFC 3339 time.
    pub after: Option<String>,
    /// The whole message (text, HTML, attachments), not the summary.
    pub full: bool,
    /// Letterbox's web address.
    pub http: String,
}

/// How a wait ended.
#[derive(Debug)]
pub enum Outcome {
    /// The message JSON.
    Found(String),
    /// The server's explanation.
    TimedOut(String),
}

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("Letterbox answered {status}: {body}")]
    Refused { status: u16, body: String },
}

pub async fn run(args: &WaitOptions) -> Result<Outcome, WaitError> {
    let mut path = format!(
        "/api/v1/wait?query={}&timeout={}ms",
        client::encode(&args.query),
        args.timeout.as_millis()
    );
    if let Some(after) = &args.after {
        path.push_str(&format!("&after={}", client::encode(after)));
    }
    if args.full {
        path.push_str("&full=1");
    }
    // The server answers by the timeout; allow for a slow network on top.
    let response = client::get(&args.http, &path, args.timeout + Duration::from_secs(10)).await?;
    let body = String::from_utf8_lossy(&response.body).into_owned();
    match response.status {
        200 => Ok(Outcome::Found(body)),
        408 => Ok(Outcome::TimedOut(body)),
        status => Err(WaitError::Refused { status, body }),
    }
}
