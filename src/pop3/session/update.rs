//! QUIT: from TRANSACTION the session enters UPDATE (RFC 1939 §6) and the
//! messages marked with DELE are deleted through the app, which counts
//! them and tells the web UI; from AUTHORIZATION it just ends.

use tracing::{info, warn};

use super::{Session, State, count_of};
use crate::pop3::conn::Conn;
use crate::store::Selection;

impl Session<'_> {
    pub(super) async fn quit(&mut self, conn: &mut Conn) {
        let State::Transaction { user, maildrop, .. } = &self.state else {
            conn.ok("bye");
            return;
        };
        let marked = maildrop.marked();
        if marked.is_empty() {
            conn.ok("bye, nothing deleted");
            return;
        }
        let asked = marked.len();
        match self.server.app.delete(Selection::Ids(marked)).await {
            Ok(deleted) => {
                info!(peer = %self.peer, %user, deleted, "POP3 session deleted messages");
                // Messages deleted meanwhile by someone else are gone too.
                conn.ok(&format!("bye, {} deleted", count_of(asked)));
            }
            Err(err) => {
                warn!(peer = %self.peer, %err, "deleting POP3-marked messages failed");
                conn.err("[SYS/TEMP] the marked messages could not be deleted");
            }
        }
    }
}
