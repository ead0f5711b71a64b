//! Accepts POP3 connections (plain with STLS, or implicit TLS) and runs a
//! [`Session`] over each, within the connection limit.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use super::conn::{Conn, Stream};
use super::logins::Logins;
use super::session::{Flow, Maildrops, Session};
use crate::app::App;
use crate::net;

/// Everything a connection needs, shared by all of them.
pub struct Pop3Server {
    pub app: App,
    pub logins: Arc<Logins>,
    /// `None` without a certificate: no STLS, and no POP3S listener.
    pub tls: Option<TlsAcceptor>,
    /// Named in the greeting.
    pub hostname: String,
    pub max_messages: usize,
    /// Commands one session may send: enough to fetch and delete a full
    /// maildrop several times over.
    pub max_commands: usize,
    pub idle_timeout: Duration,
    pub connections: Arc<Semaphore>,
    pub maildrops: Arc<Maildrops>,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
}

impl Pop3Server {
    /// The commands a session may send for a maildrop of `max_messages`.
    pub fn commands_for(max_messages: usize) -> usize {
        max_messages.saturating_mul(8).max(1000)
    }
}

/// Accepts connections until shutdown. With `implicit_tls` every
/// connection starts with a TLS handshake (POP3S, port 995 style).
pub async fn serve(listener: TcpListener, server: Arc<Pop3Server>, implicit_tls: bool) {
    while let Some((stream, peer)) =
        net::next_connection(&listener, &server.shutdown, "a POP3").await
    {
        let task_server = server.clone();
        server.tasks.spawn(async move {
            if let Err(err) = connection(stream, peer, &task_server, implicit_tls).await {
                debug!(%peer, %err, "POP3 connection ended with an error");
            }
        });
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    server: &Pop3Server,
    implicit_tls: bool,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let timeout = server.idle_timeout;
    let Ok(_permit) = server.connections.clone().try_acquire_owned() else {
        let mut conn = Conn::new(stream, timeout);
        conn.err("[SYS/TEMP] too many POP3 connections, try again later");
        return conn.flush().await;
    };
    let mut session = Session::new(server, peer, implicit_tls);
    if implicit_tls {
        let mut conn = Conn::new(handshake(server, Box::new(stream)).await?, timeout);
        session.greet(&mut conn);
        session.run(&mut conn).await?;
        return Ok(());
    }
    let mut conn = Conn::new(stream, timeout);
    session.greet(&mut conn);
    if session.run(&mut conn).await? == Flow::StartTls {
        let mut conn = Conn::new(handshake(server, conn.into_stream()).await?, timeout);
        session.tls_started();
        // A second STLS is refused by the session: TLS is on.
        session.run(&mut conn).await?;
    }
    Ok(())
}

async fn handshake(
    server: &Pop3Server,
    stream: Box<dyn Stream>,
) -> io::Result<tokio_rustls::server::TlsStream<Box<dyn Stream>>> {
    // The session offers STLS only with a certificate, and POP3S is not
    // started without one.
    let Some(tls) = &server.tls else {
        return Err(io::Error::other("TLS asked for without a certificate"));
    };
    tokio::time::timeout(server.idle_timeout, tls.accept(stream))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
}
