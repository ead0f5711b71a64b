//! `GET /api/v1/search/mbox?query=…`: the matches of a search (every
//! message without one) as an mboxrd download, oldest first. The body is
//! written as it is read, a page of IDs and one message at a time, so
//! 100,000 messages take no more memory than a few.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use tokio::sync::mpsc;

use crate::app::App;
use crate::app::inboxes::scope_query;
use crate::domain::archive;
use crate::domain::search;
use crate::web::lookup::inbox_param;
use crate::web::params::{Params, search_query};
use crate::web::{ApiError, AppState};

/// Message IDs read at a time.
const PAGE: u64 = 200;
/// Messages queued ahead of the client.
const QUEUED: usize = 8;

pub async fn download(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let query = search_query(&params)?;
    let inbox = inbox_param(&state, &params).await?;
    let query = scope_query(query, inbox.as_ref()).unwrap_or_default();
    let (tx, mut rx) = mpsc::channel::<std::io::Result<Bytes>>(QUEUED);
    tokio::spawn(write_mbox(state.app.clone(), query, tx));
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/mbox"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"letterbox.mbox\""),
    );
    Ok(response)
}

/// Sends every match as an mbox entry; stops when the client is gone. A
/// store failure after the status went out can only cut the body short.
async fn write_mbox(app: App, query: search::Query, tx: mpsc::Sender<std::io::Result<Bytes>>) {
    let mut after = None;
    loop {
        let ids = match app.ids_after(query.clone(), after, PAGE).await {
            Ok(ids) => ids,
            Err(err) => {
                let _ = tx.send(Err(std::io::Error::other(err.to_string()))).await;
                return;
            }
        };
        let Some(last) = ids.last().cloned() else {
            return;
        };
        for id in ids {
            let (message, raw) = match app.message_with_raw(id).await {
                Ok(Some(found)) => found,
                Ok(None) => continue, // deleted since its ID was read
                Err(err) => {
                    let _ = tx.send(Err(std::io::Error::other(err.to_string()))).await;
                    return;
                }
            };
            let entry =
                archive::mboxrd_entry(&message.envelope.mail_from, message.received_at_ms, &raw);
            if tx.send(Ok(Bytes::from(entry))).await.is_err() {
                return;
            }
        }
        after = Some(last);
    }
}
