//! What every listener does the same way: accept until shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// The next connection, or `None` once `shutdown` is cancelled. A failed
/// accept (usually EMFILE: out of file descriptors) is logged and retried
/// after a pause instead of spinning.
pub async fn next_connection(
    listener: &TcpListener,
    shutdown: &CancellationToken,
    what: &str,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return None,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok(connection) => return Some(connection),
            Err(err) => {
                warn!(%err, "accepting {what} connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
