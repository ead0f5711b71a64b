//! `GET /api/events`: the WebSocket that pushes store changes to browsers,
//! in Mailpit's envelope `{"Type": "...", "Data": ...}`:
//!
//! - `new`: a message summary;
//! - `delete`: `{"ID": "..."}`, one per deleted message;
//! - `update`: `{"ID": "...", "Read": bool}`, one per message marked read
//!   or unread;
//! - `truncate`: every message was deleted;
//! - `prune`: many messages changed at once (a large delete or read
//!   change, tags changed, or this client fell behind): reload the list, as
//!   Mailpit's own UI does;
//! - `stats`: `{"Total", "Unread", "Version"}`, at most a few per second,
//!   after changes.
//!
//! Only same-origin pages may connect. Each connection reads the store's
//! broadcast on its own, so a slow client only ever delays itself: it lags,
//! is told to reload, and a client that stops reading is dropped.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, sleep_until, timeout};

use crate::events::Event;
use crate::web::AppState;

/// Keeps idle connections alive through proxies.
const PING_EVERY: Duration = Duration::from_secs(30);
/// Shortest gap between two `stats` events on one connection.
const STATS_EVERY: Duration = Duration::from_millis(250);
/// A client that has not taken a frame for this long is disconnected (it
/// reconnects and reloads).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// A change to more messages than this is sent as one `prune`.
const MAX_PER_MESSAGE_EVENTS: usize = 200;

pub async fn events(
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    State(state): State<AppState>,
) -> Response {
    if !same_origin(&headers) {
        return (
            StatusCode::FORBIDDEN,
            "cross-origin WebSocket connections are refused",
        )
            .into_response();
    }
    ws.on_upgrade(move |socket| push(socket, state))
}

/// True when the request carries no `Origin` (not a browser, so no page can
/// have made it) or its `Origin` names the host the request was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

fn frame(kind: &str, data: Value) -> Message {
    Message::Text(json!({ "Type": kind, "Data": data }).to_string().into())
}

/// The frames one store event becomes.
fn frames_for(event: &Event) -> Vec<Message> {
    let prune = || vec![frame("prune", Value::Null)];
    match event {
        Event::New(summary) => vec![frame("new", json!(&**summary))],
        Event::Deleted(ids) | Event::ReadChanged { ids, .. }
            if ids.len() > MAX_PER_MESSAGE_EVENTS =>
        {
            prune()
        }
        Event::Deleted(ids) => ids
            .iter()
            .map(|id| frame("delete", json!({ "ID": id })))
            .collect(),
        Event::ReadChanged { ids, read } => ids
            .iter()
            .map(|id| frame("update", json!({ "ID": id, "Read": read })))
            .collect(),
        // The event does not carry the new tags.
        Event::TagsChanged { .. } => prune(),
        Event::Cleared => vec![frame("truncate", Value::Null)],
    }
}

async fn stats_frame(state: &AppState) -> Option<Message> {
    let counts = state.store.counts().await.ok()?;
    Some(frame(
        "stats",
        json!({
            "Total": counts.total,
            "Unread": counts.unread,
            "Version": env!("CARGO_PKG_VERSION"),
        }),
    ))
}

async fn push(mut socket: WebSocket, state: AppState) {
    let mut events = state.events.subscribe();
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut stats_due: Option<Instant> = None;
    let mut last_stats = Instant::now() - STATS_EVERY;
    loop {
        let mut changed = true;
        let frames = tokio::select! {
            event = events.recv() => match event {
                Ok(event) => frames_for(&event),
                Err(RecvError::Lagged(_)) => vec![frame("prune", Value::Null)],
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                // Frames from the client carry nothing; pongs are handled by
                // axum.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => continue,
            },
            _ = ping.tick() => {
                changed = false;
                vec![Message::Ping(Default::default())]
            }
            _ = sleep_until(stats_due.unwrap_or_else(Instant::now)), if stats_due.is_some() => {
                changed = false;
                stats_due = None;
                last_stats = Instant::now();
                stats_frame(&state).await.into_iter().collect()
            }
        };
        if changed && stats_due.is_none() {
            stats_due = Some((last_stats + STATS_EVERY).max(Instant::now()));
        }
        for frame in frames {
            match timeout(SEND_TIMEOUT, socket.send(frame)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        headers
    }

    #[test]
    fn origins() {
        assert!(same_origin(&headers("127.0.0.1:8025", None)));
        assert!(same_origin(&headers(
            "127.0.0.1:8025",
            Some("http://127.0.0.1:8025")
        )));
        assert!(same_origin(&headers(
            "Mail.test",
            Some("https://mail.test")
        )));
        assert!(!same_origin(&headers(
            "127.0.0.1:8025",
            Some("http://evil.example")
        )));
        assert!(!same_origin(&headers(
            "127.0.0.1:8025",
            Some("http://127.0.0.1:8026")
        )));
        assert!(!same_origin(&headers("127.0.0.1:8025", Some("null"))));
        assert!(!same_origin(&headers(
            "127.0.0.1:8025",
            Some("http://127.0.0.1:8025.evil.example")
        )));
    }

    #[test]
    fn large_deletes_become_one_prune() {
        let few: Vec<String> = (0..3).map(|i| i.to_string()).collect();
        assert_eq!(frames_for(&Event::Deleted(few.into())).len(), 3);
        let many: Vec<String> = (0..=MAX_PER_MESSAGE_EVENTS)
            .map(|i| i.to_string())
            .collect();
        let frames = frames_for(&Event::Deleted(many.into()));
        assert_eq!(frames.len(), 1);
        let Message::Text(text) = &frames[0] else {
            panic!("a text frame")
        };
        let value: Value = serde_json::from_str(text.as_str()).unwrap();
        assert_eq!(value, json!({ "Type": "prune", "Data": null }));
    }
}
