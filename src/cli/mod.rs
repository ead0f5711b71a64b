//! The helper commands that talk to a running Letterbox: `healthcheck` for
//! container health checks and `sendmail` for apps that hand mail to a
//! sendmail binary. Both are small blocking clients: no runtime needed.

pub mod healthcheck;
pub mod http;
pub mod sendmail;
pub mod smtp_client;

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Connecting failed: `what` (resolving, connecting to) went wrong with
/// `addr`.
#[derive(Debug, thiserror::Error)]
#[error("{what} {addr}: {source}")]
pub struct ConnectError {
    what: &'static str,
    addr: String,
    source: io::Error,
}

/// A TCP connection to `addr` (`host:port`), with `timeout` for connecting
/// and for every read and write after.
pub fn connect(addr: &str, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let fail = |what| {
        let addr = addr.to_string();
        move |source| ConnectError { what, addr, source }
    };
    let target = addr
        .to_socket_addrs()
        .map_err(fail("resolving"))?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
        .map_err(fail("resolving"))?;
    let stream = TcpStream::connect_timeout(&target, timeout).map_err(fail("connecting to"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(fail("connecting to"))?;
    Ok(stream)
}
