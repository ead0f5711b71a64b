//! The TRANSACTION state: STAT, LIST, UIDL, RETR, TOP, DELE, RSET and
//! NOOP over the snapshot taken at login (RFC 1939 §5, §7). Messages are
//! read from the store one at a time and sent a buffer-full at a time.

use std::io;

use tracing::warn;

use super::{Session, State, count_of};
use crate::pop3::command::Command;
use crate::pop3::conn::Conn;
use crate::pop3::maildrop::{Entry, Maildrop};
use crate::pop3::wire::{Encoder, TERMINATOR, octets};

/// How much of a message is encoded before it is written out.
const SEND_BUFFER: usize = 64 * 1024;

impl Session<'_> {
    pub(super) async fn transaction(
        &mut self,
        command: Command,
        conn: &mut Conn,
    ) -> io::Result<()> {
        let State::Transaction { maildrop, .. } = &mut self.state else {
            unreachable!("dispatched in the TRANSACTION state");
        };
        match command {
            Command::Stat => {
                let (count, octets) = maildrop.stat();
                conn.ok(&format!("{count} {octets}"));
            }
            Command::List(None) => {
                let (count, octets) = maildrop.stat();
                conn.ok(&format!("{} ({octets} octets)", count_of(count)));
                listing(maildrop, conn, |e| e.size.to_string());
            }
            Command::List(Some(number)) => match maildrop.get(number) {
                Ok(entry) => conn.ok(&format!("{number} {}", entry.size)),
                Err(err) => conn.err(&err.to_string()),
            },
            Command::Uidl(None) => {
                conn.ok("unique-ids follow");
                listing(maildrop, conn, |e| e.id.clone());
            }
            Command::Uidl(Some(number)) => match maildrop.get(number) {
                Ok(entry) => conn.ok(&format!("{number} {}", entry.id)),
                Err(err) => conn.err(&err.to_string()),
            },
            Command::Retr(number) => {
                let entry = maildrop.get(number).cloned();
                self.send(entry, number, None, conn).await?;
            }
            Command::Top(number, lines) => {
                let entry = maildrop.get(number).cloned();
                self.send(entry, number, Some(lines), conn).await?;
            }
            Command::Dele(number) => match maildrop.mark(number) {
                Ok(()) => conn.ok(&format!("message {number} marked to be deleted on QUIT")),
                Err(err) => conn.err(&err.to_string()),
            },
            Command::Rset => {
                maildrop.reset();
                let (count, octets) = maildrop.stat();
                conn.ok(&format!(
                    "no message marked; {} ({octets} octets)",
                    count_of(count)
                ));
            }
            Command::Noop => conn.ok(""),
            Command::User(_) | Command::Pass(_) | Command::Auth { .. } => {
                conn.err("already logged in");
            }
            Command::Stls => conn.err("STLS only before logging in"),
            Command::Capa | Command::Quit => unreachable!("answered in every state"),
        }
        Ok(())
    }

    /// RETR (`top` is `None`) or TOP: the message from the store, encoded
    /// a buffer-full at a time.
    async fn send(
        &self,
        entry: Result<Entry, crate::pop3::maildrop::MaildropError>,
        number: u64,
        top: Option<u64>,
        conn: &mut Conn,
    ) -> io::Result<()> {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                conn.err(&err.to_string());
                return Ok(());
            }
        };
        let raw = match self.server.app.raw(entry.id.clone()).await {
            Ok(Some(raw)) => raw,
            Ok(None) => {
                conn.err(&format!(
                    "message {number} was deleted in Letterbox after this session began"
                ));
                return Ok(());
            }
            Err(err) => {
                warn!(peer = %self.peer, %err, "reading a message for POP3 failed");
                conn.err("[SYS/TEMP] the message cannot be read now, try again later");
                return Ok(());
            }
        };
        match top {
            None => conn.ok(&format!("{} octets", octets(&raw))),
            Some(_) => conn.ok("top of message follows"),
        }
        let mut encoder = Encoder::new(&raw, top);
        loop {
            let done = encoder.fill(conn.buffer(), SEND_BUFFER);
            if done {
                break;
            }
            conn.flush().await?;
        }
        conn.buffer().extend_from_slice(TERMINATOR);
        Ok(())
    }
}

/// The lines of a multi-line LIST or UIDL: `number value`, then the end.
fn listing(maildrop: &Maildrop, conn: &mut Conn, value: impl Fn(&Entry) -> String) {
    let out = conn.buffer();
    for (number, entry) in maildrop.listing() {
        out.extend_from_slice(format!("{number} {}\r\n", value(entry)).as_bytes());
    }
    out.extend_from_slice(TERMINATOR);
}
