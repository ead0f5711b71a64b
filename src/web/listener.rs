//! Serves a router over plain HTTP or HTTPS until shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error};

use crate::net;

/// A client gets this long to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` (over TLS when `tls` is given) until
/// `shutdown` is cancelled, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
) {
    let stop = shutdown.clone().cancelled_owned();
    let result = match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
        Some(tls) => {
            let listener = TlsListener::start(listener, tls, shutdown);
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
    };
    if let Err(err) = result {
        error!(%err, "HTTP server stopped");
    }
}

/// HTTPS connections whose handshake is done. Handshakes run in tasks of
/// their own, so a slow client never holds up the next one.
struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl TlsListener {
    fn start(listener: TcpListener, tls: TlsAcceptor, shutdown: CancellationToken) -> TlsListener {
        let local_addr = listener
            .local_addr()
            .expect("a bound socket has an address");
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            while let Some((stream, peer)) =
                net::next_connection(&listener, &shutdown, "an HTTPS").await
            {
                let (tls, tx) = (tls.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(err)) => debug!(%peer, %err, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { ready, local_addr }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop has stopped (shutdown): no more connections.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
