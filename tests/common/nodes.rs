//! Letterbox nodes on a test PostgreSQL database (see `postgres`), and
//! their event streams.

use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::postgres::{Databases, server_url};
use super::{Letterbox, requires};

/// A fresh database's URL, or `None` (after saying so) when there is no
/// server to test on.
pub async fn database(test: &str, databases: &Databases) -> Option<String> {
    if server_url().is_none() {
        requires::skip(
            test,
            "LETTERBOX_TEST_POSTGRES is not set",
            "set it to a postgres:// URL of a role that may create databases (.ci/run starts one)",
        );
        return None;
    }
    Some(databases.create().await)
}

/// A node on the database at `url`.
pub fn node(url: &str) -> Letterbox {
    Letterbox::with_args(&["--db", url])
}

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A node's WebSocket event stream, with Letterbox's additions.
pub async fn events_of(lb: &Letterbox) -> Socket {
    let url = lb
        .url("/api/events?additions=1")
        .replacen("http://", "ws://", 1);
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the WebSocket connects");
    socket
}
