//! The listener: a dedicated connection that `LISTEN`s for the changes
//! other nodes commit and publishes them into this node's events, loading
//! what a subscriber needs (a new message's summary). After the connection
//! drops it connects again, catches up on the messages stored meanwhile,
//! so `wait` and the UI still hear of them, and tells its subscribers to
//! `resync` for the other changes it may have missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::notify::{self, CHANNEL, Note};
use super::pool::Pool;
use super::read;
use crate::events::{Event, Events};
use crate::store::StoreError;

/// What the listener shares with the store.
pub struct Shared {
    pub pool: Arc<Pool>,
    pub events: Events,
    pub node: String,
    /// The highest rowid of a message this node has announced.
    pub announced: AtomicI64,
}

/// Listens until `stop`. `ready` hears once the first `LISTEN` is in
/// place (or the first attempt failed).
pub async fn run(
    shared: Arc<Shared>,
    stop: CancellationToken,
    ready: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
) {
    let mut ready = Some(ready);
    let mut first = true;
    loop {
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = listen_once(&shared, &stop, &mut ready, first) => outcome,
        };
        if let Err(err) = outcome {
            if let Some(ready) = ready.take() {
                let _ = ready.send(Err(err));
                return;
            }
            warn!(%err, "listening for other nodes' changes failed; trying again");
        }
        first = false;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// One connection's life: `LISTEN`, catch up unless `first`, then publish
/// what arrives until the connection ends.
async fn listen_once(
    shared: &Shared,
    stop: &CancellationToken,
    ready: &mut Option<tokio::sync::oneshot::Sender<Result<(), StoreError>>>,
    first: bool,
) -> Result<(), StoreError> {
    let (client, mut connection) = shared.pool.config().connect(shared.pool.tls()).await?;
    let (tx, mut notes) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(n) = message
                && tx.send(n.payload().to_string()).is_err()
            {
                return;
            }
        }
    });
    let _stop_driver = AbortOnDrop(driver);
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    if !first {
        catch_up(shared).await?;
        // Deletes, read flags and tags changed meanwhile left no trace
        // to catch up on: subscribers fetch what they show again.
        shared.events.publish(Event::Resync);
        info!("listening for other nodes' changes again");
    }
    if let Some(ready) = ready.take() {
        let _ = ready.send(Ok(()));
    }
    loop {
        let payload = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            payload = notes.recv() => payload,
        };
        let Some(payload) = payload else {
            return Err(StoreError::Unavailable(
                "the listening connection closed".into(),
            ));
        };
        // Whatever else has arrived goes with it: new messages noted one
        // after another are loaded in one query.
        let mut batch = vec![payload];
        while let Ok(more) = notes.try_recv() {
            batch.push(more);
        }
        let mut new_ids = Vec::new();
        for sent in batch.iter().filter_map(|p| notify::parse(p)) {
            if sent.node == shared.node {
                continue;
            }
            match sent.note {
                Note::New { ids } => new_ids.extend(ids),
                note => {
                    flush_new(shared, &mut new_ids).await;
                    publish(shared, note);
                }
            }
        }
        flush_new(shared, &mut new_ids).await;
    }
}

/// Loads and announces the new messages noted so far.
async fn flush_new(shared: &Shared, ids: &mut Vec<String>) {
    if ids.is_empty() {
        return;
    }
    let loaded = async {
        let conn = shared.pool.get().await?;
        read::summaries_by_id(&*conn, ids).await
    };
    match loaded.await {
        Ok((summaries, rowids)) => announce_new(shared, summaries, &rowids),
        Err(err) => warn!(%err, "loading messages another node stored failed"),
    }
    ids.clear();
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Publishes the messages other nodes stored while this one was not
/// listening.
async fn catch_up(shared: &Shared) -> Result<(), StoreError> {
    let conn = shared.pool.get().await?;
    let after = shared.announced.load(Ordering::Acquire);
    let (summaries, rowids) = read::stored_elsewhere_after(&*conn, after, &shared.node).await?;
    announce_new(shared, summaries, &rowids);
    Ok(())
}

fn announce_new(shared: &Shared, summaries: Vec<crate::domain::Summary>, rowids: &[i64]) {
    for summary in summaries {
        shared.events.publish(Event::New(summary.into()));
    }
    if let Some(&max) = rowids.iter().max() {
        shared.announced.fetch_max(max, Ordering::AcqRel);
    }
}

/// Turns another node's note (other than a new message) into this
/// node's event.
fn publish(shared: &Shared, note: Note) {
    let event = match note {
        Note::New { .. } => return,
        Note::Deleted { ids } => Event::Deleted(ids.into()),
        Note::Cleared => Event::Cleared,
        Note::Read { ids, read } => Event::ReadChanged {
            ids: ids.into(),
            read,
        },
        Note::Tags { changed } => Event::TagsChanged(changed.into()),
        Note::Relay { id } => Event::RelayChanged(id),
        Note::Chaos { rules } => Event::ChaosChanged(rules.map(Into::into)),
    };
    shared.events.publish(event);
}
