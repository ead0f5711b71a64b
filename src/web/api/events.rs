//! `GET /api/v1/events`: a Server-Sent Events stream of store changes, for
//! tools that cannot speak WebSocket. Each SSE event's name is the type
//! and its data the JSON payload described in `web::push`.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use crate::web::{AppState, push};

pub async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let receiver = state.events.subscribe();
    // Each store event can become several SSE events: keep a queue.
    let queue: Vec<(&'static str, serde_json::Value)> = Vec::new();
    let stream = stream::unfold((receiver, queue), |(mut receiver, mut queue)| async move {
        loop {
            if let Some((kind, data)) = queue.pop() {
                let event = SseEvent::default().event(kind).data(data.to_string());
                return Some((Ok(event), (receiver, queue)));
            }
            match receiver.recv().await {
                Ok(event) => {
                    queue = push::messages(&event);
                    queue.reverse();
                }
                Err(RecvError::Lagged(_)) => queue = vec![push::resync()],
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
