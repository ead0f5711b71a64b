//! `GET /api/v1/events`: a Server-Sent Events stream of store changes, for
//! tools that cannot speak WebSocket. Each SSE event's name is the type
//! and its data the JSON payload described in `web::push`, with Letterbox's
//! additions (this is Letterbox's own route).

use std::convert::Infallible;

use axum::extract::{Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use crate::web::lookup::inbox_param;
use crate::web::params::Params;
use crate::web::{ApiError, AppState, push};

/// `?inbox=NAME` leaves out new messages of other inboxes.
pub async fn events(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let inbox = inbox_param(&state, &params).await?.map(|i| i.into_string());
    let receiver = state.app.subscribe();
    // Each store event can become several SSE events: keep a queue.
    let queue: Vec<(&'static str, serde_json::Value)> = Vec::new();
    let state = (receiver, queue, inbox);
    let stream = stream::unfold(state, |(mut receiver, mut queue, inbox)| async move {
        loop {
            if let Some((kind, data)) = queue.pop() {
                let event = SseEvent::default().event(kind).data(data.to_string());
                return Some((Ok(event), (receiver, queue, inbox)));
            }
            match receiver.recv().await {
                Ok(event) if !push::concerns(&event, inbox.as_deref()) => {}
                Ok(event) => {
                    queue = push::messages(&event, true);
                    queue.reverse();
                }
                Err(RecvError::Lagged(_)) => queue = vec![push::resync(true)],
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
