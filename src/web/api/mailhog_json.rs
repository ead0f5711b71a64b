//! MailHog's JSON shapes, borrowed from a message's raw bytes, and the
//! streamed v2 list: a page embeds whole messages (raw source, bodies,
//! parts), so it is written one message at a time, each serialized
//! straight into the response as the client takes it. A request holds at
//! most one message (at most `--max-message-size`) and a few chunks,
//! whatever the page size and however large what is stored.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;

use axum::body::{Body, Bytes};
use serde::Serialize;
use tokio::sync::mpsc;

use super::messages::canonical_key;
use crate::domain::message::PartRole;
use crate::store::{StoreError, StoredMessage};
use crate::web::AppState;

/// Bytes gathered before a chunk goes out.
const CHUNK: usize = 64 * 1024;
/// Chunks that may wait for a slow client.
const CHUNKS_QUEUED: usize = 4;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MailPath<'a> {
    relays: Option<Vec<String>>,
    mailbox: &'a str,
    domain: &'a str,
    params: &'a str,
}

impl<'a> MailPath<'a> {
    fn new(address: &'a str) -> Self {
        let (mailbox, domain) = address.rsplit_once('@').unwrap_or((address, ""));
        MailPath {
            relays: None,
            mailbox,
            domain,
            params: "",
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Content<'a> {
    headers: BTreeMap<String, Vec<String>>,
    /// Still transfer-encoded, as MailHog sends it.
    body: Cow<'a, str>,
    size: usize,
    #[serde(rename = "MIME")]
    mime: Option<MimeBody<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MimeBody<'a> {
    parts: Vec<Content<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Smtp<'a> {
    from: &'a str,
    to: &'a [String],
    data: Cow<'a, str>,
    helo: &'a str,
}

/// MailHog's `Message`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Message<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    from: MailPath<'a>,
    to: Vec<MailPath<'a>>,
    content: Content<'a>,
    created: &'a str,
    #[serde(rename = "MIME")]
    mime: Option<MimeBody<'a>>,
    raw: Smtp<'a>,
}

/// Header block and body of `raw[header_start..body_end]` as MailHog shows
/// a part (or the whole message). Text is borrowed where it is UTF-8.
fn content(raw: &[u8], header_start: usize, body_start: usize, body_end: usize) -> Content<'_> {
    let clamp = |i: usize| i.min(raw.len());
    let (header_start, body_start, body_end) =
        (clamp(header_start), clamp(body_start), clamp(body_end));
    let mut headers = BTreeMap::<String, Vec<String>>::new();
    if let Ok((parsed, _)) =
        mailparse::parse_headers(&raw[header_start..body_start.max(header_start)])
    {
        for h in parsed {
            headers
                .entry(canonical_key(h.get_key().trim()))
                .or_default()
                .push(
                    String::from_utf8_lossy(h.get_value_raw())
                        .trim()
                        .to_string(),
                );
        }
    }
    Content {
        headers,
        body: String::from_utf8_lossy(&raw[body_start.min(body_end)..body_end]),
        size: body_end.saturating_sub(header_start),
        mime: None,
    }
}

/// A stored message in MailHog's shape. `MIME.Parts` lists every leaf
/// part in document order (see `mailhog`).
pub fn to_json<'a>(message: &'a StoredMessage, raw: &'a [u8]) -> Message<'a> {
    // MailHog keeps a message without the line break before the `.` that
    // ended its DATA (clients compare bodies with that in mind); the
    // stored bytes keep it, as every MTA does.
    let raw = raw
        .strip_suffix(b"\r\n")
        .or_else(|| raw.strip_suffix(b"\n"))
        .unwrap_or(raw);
    let body_start = mailparse::parse_headers(raw).map_or(raw.len(), |(_, end)| end);
    let leaves: Vec<Content> = message
        .parts
        .iter()
        .filter(|p| !matches!(p.role, PartRole::Container | PartRole::Message))
        .map(|p| {
            content(
                raw,
                p.header_start as usize,
                p.body_start as usize,
                p.body_end as usize,
            )
        })
        .collect();
    let multipart = message.parts.iter().any(|p| p.role == PartRole::Container);
    let envelope = &message.envelope;
    Message {
        id: &message.summary.id,
        from: MailPath::new(&envelope.mail_from),
        to: envelope.rcpt_to.iter().map(|r| MailPath::new(r)).collect(),
        content: content(raw, 0, body_start, raw.len()),
        created: &message.summary.created,
        mime: multipart.then_some(MimeBody { parts: leaves }),
        raw: Smtp {
            from: &envelope.mail_from,
            to: &envelope.rcpt_to,
            data: String::from_utf8_lossy(raw),
            helo: envelope.helo.as_deref().unwrap_or_default(),
        },
    }
}

/// Gathers written bytes into chunks and hands each to the response;
/// fails once the client is gone, which ends the serialization.
struct ChunkWriter {
    buffer: Vec<u8>,
    chunks: mpsc::Sender<std::io::Result<Bytes>>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.chunks
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// MailHog's v2 list, `{"total", "start", "items": [...], "count"}`, for
/// the messages `ids` (a page, newest first; `total` the matches in all).
/// `count` comes last: it counts the items written, and a message deleted
/// while the list is written is left out.
pub fn stream_items(state: AppState, total: u64, start: u64, ids: Vec<String>) -> Body {
    let (tx, mut rx) = mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_QUEUED);
    tokio::spawn(async move {
        let head = format!(r#"{{"total":{total},"start":{start},"items":["#);
        if tx.send(Ok(Bytes::from(head))).await.is_err() {
            return;
        }
        // The status is sent: a failure can only cut the response short.
        let fail = |err: StoreError| std::io::Error::other(err.to_string());
        let mut count = 0u64;
        for id in ids {
            let loaded = match state.app.message_with_raw(id).await {
                Ok(loaded) => loaded,
                Err(err) => {
                    let _ = tx.send(Err(fail(err))).await;
                    return;
                }
            };
            let Some((message, raw)) = loaded else {
                continue; // deleted meanwhile
            };
            let separator = if count == 0 { "" } else { "," };
            let chunks = tx.clone();
            let written = tokio::task::spawn_blocking(move || {
                let mut writer = ChunkWriter {
                    buffer: Vec::with_capacity(CHUNK),
                    chunks,
                };
                writer.write_all(separator.as_bytes())?;
                serde_json::to_writer(&mut writer, &to_json(&message, &raw))?;
                writer.flush()
            })
            .await;
            if !matches!(written, Ok(Ok(()))) {
                return;
            }
            count += 1;
        }
        let tail = format!(r#"],"count":{count}}}"#);
        let _ = tx.send(Ok(Bytes::from(tail))).await;
    });
    Body::from_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}
