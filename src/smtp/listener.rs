//! Accepts SMTP connections and drives a [`Session`] over each one.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::limits::{ClientSlots, MinDataRate};
use super::policy::{Injection, Outcome};
use super::reply::Reply;
use super::session::{Session, SessionConfig, Step};
use crate::app::stats::RejectReason;
use crate::app::{App, IngestError};
use crate::net;

/// Everything a connection needs, shared by all of them.
pub struct SmtpServer {
    pub session: Arc<SessionConfig>,
    /// `None` without a certificate: no STARTTLS, and no SMTPS listener.
    pub tls: Option<TlsAcceptor>,
    pub ingest: App,
    pub idle_timeout: Duration,
    pub connections: Arc<Semaphore>,
    /// Connections per client address.
    pub client_slots: Arc<ClientSlots>,
    /// The least rate message content must arrive at.
    pub min_data_rate: Option<MinDataRate>,
    /// Cancelled when the server shuts down: listeners stop accepting and
    /// idle sessions are closed with `421`.
    pub shutdown: CancellationToken,
    /// Every connection task, so shutdown can wait for them to finish.
    pub tasks: TaskTracker,
}

/// How serving one stream ended: the connection is done, or it goes on
/// over TLS.
enum SessionEnd {
    Closed,
    StartTls,
}

/// Accepts connections until shutdown. With `implicit_tls` every connection
/// starts with a TLS handshake (SMTPS, port 465 style).
pub async fn serve(listener: TcpListener, server: Arc<SmtpServer>, implicit_tls: bool) {
    while let Some((stream, peer)) =
        net::next_connection(&listener, &server.shutdown, "an SMTP").await
    {
        let task_server = server.clone();
        server.tasks.spawn(async move {
            if let Err(err) = connection(stream, peer, &task_server, implicit_tls).await {
                debug!(%peer, %err, "SMTP connection ended with an error");
            }
        });
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    server: &SmtpServer,
    implicit_tls: bool,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let Ok(_permit) = server.connections.clone().try_acquire_owned() else {
        let reply = Reply::new(421, "4.7.0", "Too many connections, try again later");
        count_rejection(server, &reply);
        return write_reply(&mut stream, &reply).await;
    };
    let Some(_slot) = server.client_slots.take(peer.ip()) else {
        let reply = Reply::new(
            421,
            "4.7.0",
            "Too many connections from your address, try again later",
        );
        server
            .ingest
            .stats()
            .message_rejected(RejectReason::TooManyFromAddress);
        return write_reply(&mut stream, &reply).await;
    };
    server.ingest.stats().smtp_session_opened();
    let _active = SessionGuard(&server.ingest);
    let nonce = ulid::Ulid::new().to_string();
    let mut session = Session::new(server.session.clone(), Some(peer), implicit_tls, nonce);
    let greeting = session.greeting();
    if let Some(speed) = session.link_speed() {
        info!(%peer, speed, "SMTP connection slowed by a chaos rule");
        server.ingest.stats().chaos_injected("rule", "link", "slow");
    }

    if implicit_tls {
        let mut tls = handshake(server, stream).await?;
        drive(&mut tls, &mut session, server, peer, Some(greeting)).await?;
        return Ok(());
    }
    match drive(&mut stream, &mut session, server, peer, Some(greeting)).await? {
        SessionEnd::Closed => Ok(()),
        SessionEnd::StartTls => {
            let mut tls = handshake(server, stream).await?;
            session.tls_started();
            drive(&mut tls, &mut session, server, peer, None)
                .await
                .map(|_| ())
        }
    }
}

struct SessionGuard<'a>(&'a App);

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        self.0.stats().smtp_session_closed();
    }
}

async fn handshake(
    server: &SmtpServer,
    stream: TcpStream,
) -> io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
    // The session offers STARTTLS only with a certificate, and SMTPS is
    // not started without one.
    let Some(tls) = &server.tls else {
        return Err(io::Error::other("TLS asked for without a certificate"));
    };
    tokio::time::timeout(server.idle_timeout, tls.accept(stream))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
}

async fn write_reply<S: AsyncWrite + Unpin>(stream: &mut S, reply: &Reply) -> io::Result<()> {
    let mut out = Vec::new();
    reply.write_to(&mut out);
    stream.write_all(&out).await?;
    stream.flush().await
}

/// Runs the session over one stream until it closes or asks for TLS,
/// starting with `first` (the greeting) if given.
async fn drive<S>(
    stream: &mut S,
    session: &mut Session,
    server: &SmtpServer,
    peer: SocketAddr,
    mut first: Option<Step>,
) -> io::Result<SessionEnd>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut out = Vec::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let pace = session.link_speed().map(|speed| Pace {
        bytes_per_second: speed,
        shutdown: &server.shutdown,
    });
    let pace = pace.as_ref();
    // When the last reply went out: a command must be complete within the
    // idle timeout of it, so a client trickling a byte at a time (or an
    // endless line) cannot hold a connection forever.
    let mut last_reply = Instant::now();
    // Which transaction's content began when, for the minimum rate (a
    // pipelined next message starts its own clock).
    let mut content_began: Option<(u64, Instant)> = None;
    loop {
        match first.take().unwrap_or_else(|| session.advance()) {
            Step::Reply(reply) => {
                last_reply = Instant::now();
                count_rejection(server, &reply);
                reply.write_to(&mut out);
            }
            Step::Inject(injection) => {
                count_injection(server, peer, &injection, &injection.outcome_label());
                match injection.outcome {
                    Outcome::Reply(reply) => {
                        last_reply = Instant::now();
                        reply.write_to(&mut out);
                    }
                    Outcome::Disconnect => {
                        // Replies to earlier pipelined commands still go out.
                        flush(stream, &mut out, pace).await?;
                        let _ = stream.shutdown().await;
                        return Ok(SessionEnd::Closed);
                    }
                }
            }
            Step::Pause { stage, delay } => {
                server
                    .ingest
                    .stats()
                    .chaos_injected("rule", stage.label(), "delay");
                flush(stream, &mut out, pace).await?;
                // Shutdown does not wait for a slow-server delay.
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = server.shutdown.cancelled() => {}
                }
            }
            Step::Deliver(delivery) => {
                let outcome = server.ingest.accept(delivery.envelope, delivery.data).await;
                let outcome = outcome.map_err(|err| match err {
                    IngestError::Store(err) => {
                        warn!(%err, "storing a message failed");
                        Reply::new(451, "4.3.0", "Temporary storage failure, try again later")
                    }
                    IngestError::ShuttingDown => {
                        Reply::new(421, "4.3.2", "Shutting down, try again later")
                    }
                });
                let reply = session.delivered(outcome);
                last_reply = Instant::now();
                count_rejection(server, &reply);
                reply.write_to(&mut out);
            }
            Step::StartTls => {
                flush(stream, &mut out, pace).await?;
                return Ok(SessionEnd::StartTls);
            }
            Step::Close => {
                flush(stream, &mut out, pace).await?;
                let _ = stream.shutdown().await;
                return Ok(SessionEnd::Closed);
            }
            Step::NeedInput => {
                flush(stream, &mut out, pace).await?;
                // A client in the middle of a transaction may finish it after
                // shutdown began; an idle one is told to come back later.
                let idle = !session.is_busy();
                let wait = if session.is_receiving_content() {
                    server.idle_timeout
                } else {
                    server.idle_timeout.saturating_sub(last_reply.elapsed())
                };
                // Message content must keep up the minimum rate, however
                // often single bytes arrive (unless a chaos rule slows this
                // link: then Letterbox itself reads slowly).
                let min_rate = server.min_data_rate.filter(|_| pace.is_none());
                let rate_left = match (session.content_received(), min_rate) {
                    (Some((transaction, received)), Some(rate)) => {
                        let began = match content_began {
                            Some((seen, began)) if seen == transaction => began,
                            _ => content_began.insert((transaction, Instant::now())).1,
                        };
                        Some(rate.allowed(received).saturating_sub(began.elapsed()))
                    }
                    _ => {
                        content_began = None;
                        None
                    }
                };
                let too_slow = rate_left.is_some_and(|left| left < wait);
                let wait = rate_left.map_or(wait, |left| left.min(wait));
                // A slow link lets a tenth of a second's worth in at a time.
                let room = pace.map_or(buf.len(), |p| p.chunk().min(buf.len()));
                let read = tokio::select! {
                    () = server.shutdown.cancelled(), if idle => None,
                    read = tokio::time::timeout(wait, stream.read(&mut buf[..room])) => Some(read),
                };
                let closing = match read {
                    None => Some(session.shutting_down()),
                    Some(Err(_)) if too_slow => {
                        let rate = server.min_data_rate.map_or(0, |r| r.bytes_per_second);
                        server
                            .ingest
                            .stats()
                            .message_rejected(RejectReason::DataTooSlow);
                        info!(%peer, rate, "SMTP message content arrived too slowly");
                        Some(session.too_slow(rate))
                    }
                    Some(Err(_)) => Some(session.timed_out()),
                    // The client went away; a half-received message is dropped.
                    Some(Ok(Ok(0))) => return Ok(SessionEnd::Closed),
                    Some(Ok(Ok(n))) => {
                        session.feed(&buf[..n]);
                        if let Some(pace) = pace {
                            pace.wait_for(n).await;
                        }
                        None
                    }
                    Some(Ok(Err(err))) => return Err(err),
                };
                if let Some(reply) = closing {
                    count_rejection(server, &reply);
                    reply.write_to(&mut out);
                    flush(stream, &mut out, pace).await?;
                    let _ = stream.shutdown().await;
                    return Ok(SessionEnd::Closed);
                }
            }
        }
    }
}

/// Counts an injected failure in `letterbox_smtp_chaos_injected_total` and
/// logs it: a failure that ends the transaction is in no stored transcript.
fn count_injection(server: &SmtpServer, peer: SocketAddr, injection: &Injection, outcome: &str) {
    let (source, stage) = (injection.source.label(), injection.stage.label());
    info!(%peer, source, stage, outcome, "SMTP failure injected");
    server.ingest.stats().chaos_injected(source, stage, outcome);
}

/// Counts a reply that refuses mail in `letterbox_smtp_rejected_total`.
fn count_rejection(server: &SmtpServer, reply: &Reply) {
    if let Some(reason) = RejectReason::of_reply(reply.code, reply.status) {
        server.ingest.stats().message_rejected(reason);
    }
}

/// A connection slowed to a chaos rule's link speed: its bytes go both
/// ways in pieces of a tenth of a second's worth, each followed by the
/// time it takes at that speed.
struct Pace<'a> {
    bytes_per_second: u64,
    /// Shutdown does not wait for a slow link.
    shutdown: &'a CancellationToken,
}

impl Pace<'_> {
    fn chunk(&self) -> usize {
        (self.bytes_per_second / 10).clamp(1, 64 * 1024) as usize
    }

    async fn wait_for(&self, bytes: usize) {
        let time = Duration::from_secs_f64(bytes as f64 / self.bytes_per_second as f64);
        tokio::select! {
            () = tokio::time::sleep(time) => {}
            () = self.shutdown.cancelled() => {}
        }
    }
}

async fn flush<S: AsyncWrite + Unpin>(
    stream: &mut S,
    out: &mut Vec<u8>,
    pace: Option<&Pace<'_>>,
) -> io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    match pace {
        None => stream.write_all(out).await?,
        Some(pace) => {
            for piece in out.chunks(pace.chunk()) {
                stream.write_all(piece).await?;
                stream.flush().await?;
                pace.wait_for(piece.len()).await;
            }
        }
    }
    stream.flush().await?;
    out.clear();
    Ok(())
}
