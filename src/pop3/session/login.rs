//! Opening a login's maildrop: which mail it holds (the inbox of the
//! login's name when that inbox exists, all mail otherwise), the snapshot
//! of it, and the lock that keeps a second session out (RFC 1939 §4).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tracing::{info, warn};

use super::{Session, State, count_of};
use crate::domain::search::Query;
use crate::pop3::conn::Conn;
use crate::pop3::logins::inbox_of;
use crate::pop3::maildrop::Maildrop;
use crate::store::StoreError;

/// The maildrops sessions have open.
#[derive(Debug, Default)]
pub struct Maildrops {
    open: Mutex<HashSet<String>>,
}

/// A maildrop held open; let go when dropped.
pub struct MaildropLock {
    maildrops: Arc<Maildrops>,
    key: String,
}

impl Maildrops {
    fn lock(self: &Arc<Self>, key: String) -> Option<MaildropLock> {
        let mut open = self.open.lock().expect("maildrop lock set");
        open.insert(key.clone()).then(|| MaildropLock {
            maildrops: self.clone(),
            key,
        })
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        let mut open = self.maildrops.open.lock().expect("maildrop lock set");
        open.remove(&self.key);
    }
}

impl Session<'_> {
    /// After a good login: snapshots the maildrop and enters TRANSACTION,
    /// or answers why not.
    pub(super) async fn open_maildrop(&mut self, user: String, conn: &mut Conn) {
        let app = &self.server.app;
        let inbox = inbox_of(&user);
        let inbox = match app.inbox_exists(&inbox).await {
            Ok(exists) => exists.then_some(inbox),
            Err(err) => return self.unavailable(conn, &err),
        };
        let (key, what) = match &inbox {
            Some(inbox) => (format!("inbox:{inbox}"), format!("inbox {inbox}")),
            None => ("all".to_string(), "all mail".to_string()),
        };
        let Some(lock) = self.server.maildrops.lock(key) else {
            conn.err(&format!(
                "[IN-USE] {what} is open in another POP3 session; try again when it quits"
            ));
            return;
        };
        let limit = self.server.max_messages as u64;
        let page = match &inbox {
            Some(inbox) => {
                let query = Query::default().in_inbox(inbox.as_str());
                app.search(query, 0, limit).await
            }
            None => app.list(0, limit).await,
        };
        let page = match page {
            Ok(page) => page,
            Err(err) => return self.unavailable(conn, &err),
        };
        // Newest first from the store; message 1 is the oldest.
        let messages = page.messages.into_iter().rev();
        let maildrop = Maildrop::new(messages.map(|m| (m.id, m.size)));
        let (count, octets) = maildrop.stat();
        info!(peer = %self.peer, %user, maildrop = %what, count, "POP3 login");
        conn.ok(&format!(
            "{user} has {} ({octets} octets) in {what}",
            count_of(count)
        ));
        self.state = State::Transaction {
            user,
            maildrop,
            _lock: lock,
        };
    }

    fn unavailable(&self, conn: &mut Conn, err: &StoreError) {
        warn!(peer = %self.peer, %err, "opening a POP3 maildrop failed");
        conn.err("[SYS/TEMP] the maildrop cannot be read now, try again later");
    }
}
