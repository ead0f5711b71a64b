//! Replies and the transcript kept with each message.

use super::{MAX_TRANSCRIPT_LINES, Phase, Session, Step};
use crate::smtp::reply::Reply;

/// Transcript lines carried over from transactions that ended without a
/// message, kept because they show an injected failure.
const MAX_CARRIED_LINES: usize = MAX_TRANSCRIPT_LINES;

impl Session {
    /// Sends `reply` and closes the session: nothing after it is read.
    pub(super) fn close_with(&mut self, reply: Reply) -> Step {
        self.txn = None;
        self.phase = Phase::Closed;
        self.reply(reply)
    }

    pub(super) fn reply(&mut self, reply: Reply) -> Step {
        self.log_reply(&reply);
        Step::Reply(reply)
    }

    /// The current transaction is over without a message: its transcript
    /// is dropped, unless it shows an injected failure, which the next
    /// message's transcript then carries.
    pub(super) fn end_transcript(&mut self) {
        if self.recent_injected && self.carried.len() < MAX_CARRIED_LINES {
            let room = MAX_CARRIED_LINES - self.carried.len();
            let take = self.recent.len().min(room);
            self.carried.extend(self.recent.drain(..take));
        }
        self.recent.clear();
        self.recent_injected = false;
    }

    pub(super) fn log_client(&mut self, line: String) {
        self.log(format!("C: {line}"));
    }

    pub(super) fn log_reply(&mut self, reply: &Reply) {
        self.log(format!("S: {}", reply.summary()));
    }

    pub(super) fn log(&mut self, line: String) {
        let log = if self.in_transaction_log {
            &mut self.recent
        } else {
            &mut self.prelude
        };
        match log.len() {
            n if n < MAX_TRANSCRIPT_LINES => log.push(line),
            n if n == MAX_TRANSCRIPT_LINES => log.push("(transcript truncated)".into()),
            _ => {}
        }
    }
}

/// The transcript form of a command line: AUTH payloads are redacted.
pub(super) fn redact_command(line: &str) -> String {
    let mut words = line.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(verb), Some(mech), Some(_)) if verb.eq_ignore_ascii_case("AUTH") => {
            format!("{verb} {mech} (credentials redacted)")
        }
        _ => line.to_string(),
    }
}
