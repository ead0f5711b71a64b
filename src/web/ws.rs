//! `GET /api/events`: the WebSocket that pushes store changes to browsers,
//! each a Mailpit envelope `{"Type": "...", "Data": ...}` with the types
//! and payloads of [`crate::web::push`], plus `stats`
//! (`{"Total", "Unread", "Version"}`, a quarter of a second after each
//! change). `?inbox=NAME` leaves out new messages of other inboxes.
//! `?additions=1` (the web UI's) asks for Letterbox's additions: `Inboxes`
//! in `stats` (as `GET /api/v1/inboxes` answers), the chaos rules on
//! connecting, and the events and fields `web::push` lists.
//!
//! Only same-origin pages (and origins `--api-cors` lists) may connect.
//! The socket ends when the server shuts down. Each connection reads the store's
//! broadcast on its own, so a slow client only ever delays itself: when it
//! falls behind it is told to `resync`, and a client that stops reading
//! altogether is dropped (it reconnects and reloads).

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, sleep_until, timeout};

use crate::events::Event;
use crate::web::additions;
use crate::web::lookup::inbox_param;
use crate::web::{AppState, push};

/// Keeps idle connections alive through proxies.
const PING_EVERY: Duration = Duration::from_secs(30);
/// How long after a change its `stats` event follows. Changes within it
/// share one `stats`, counted when it is sent, as Mailpit's debounce does:
/// a client that makes a change right after another sees counts that
/// include its own.
const STATS_DELAY: Duration = Duration::from_millis(250);
/// A client that has not taken a frame for this long is disconnected (it
/// reconnects and reloads).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The upgrade. Cross-origin pages never get here: `web::origin::guard`
/// refuses their upgrades (unless `--api-cors` lists them) for every route.
pub async fn events(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let inbox = match inbox_param(&state, &params).await {
        Ok(inbox) => inbox.map(|i| i.into_string()),
        Err(err) => return err.into_response(),
    };
    let additions = additions::requested(&params);
    ws.on_upgrade(move |socket| serve_socket(socket, state, inbox, additions))
}

fn frame((kind, data): (&str, Value)) -> Message {
    Message::Text(json!({ "Type": kind, "Data": data }).to_string().into())
}

async fn stats_frame(state: &AppState, additions: bool) -> Option<Message> {
    let counts = state.app.counts().await.ok()?;
    let mut stats = json!({
        "Total": counts.total,
        "Unread": counts.unread,
        "Version": env!("CARGO_PKG_VERSION"),
    });
    if additions {
        stats["Inboxes"] = json!(state.app.inboxes().await.ok()?);
    }
    Some(frame(("stats", stats)))
}

async fn serve_socket(
    mut socket: WebSocket,
    state: AppState,
    inbox: Option<String>,
    additions: bool,
) {
    // Counted in `letterbox_websocket_clients` while this lives.
    let _client = state.app.stats().websocket_client();
    let mut events = state.app.subscribe();
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut stats_due: Option<Instant> = None;
    // The chaos rules as they are now, so that a page reconnecting after a
    // change it missed shows the right banner.
    let chaos = Event::ChaosChanged(state.chaos.rules().active_text());
    let frames = push::messages(&chaos, additions).into_iter().map(frame);
    if !send_all(&mut socket, frames).await {
        return;
    }
    loop {
        let mut changed = true;
        let frames = tokio::select! {
            event = events.recv() => match event {
                // Nothing to send, but the counts in `stats` changed.
                Ok(event) if !push::concerns(&event, inbox.as_deref()) => Vec::new(),
                Ok(event) => push::messages(&event, additions).into_iter().map(frame).collect(),
                Err(RecvError::Lagged(_)) => vec![frame(push::resync(additions))],
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
                stats_frame(&state, additions).await.into_iter().collect()
            }
        };
        if changed && stats_due.is_none() {
            stats_due = Some(Instant::now() + STATS_DELAY);
        }
        if !send_all(&mut socket, frames).await {
            return;
        }
    }
}

/// Sends `frames` in order; false once the client is gone or too slow to
/// take one within [`SEND_TIMEOUT`].
async fn send_all(socket: &mut WebSocket, frames: impl IntoIterator<Item = Message>) -> bool {
    for frame in frames {
        if !matches!(timeout(SEND_TIMEOUT, socket.send(frame)).await, Ok(Ok(()))) {
            return false;
        }
    }
    true
}
