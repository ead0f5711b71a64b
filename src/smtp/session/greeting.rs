//! EHLO and HELO.

use super::{Session, Step};
use crate::smtp::policy::{Context, Stage};
use crate::smtp::reply::Reply;

impl Session {
    pub(super) fn hello(&mut self, host: String, esmtp: bool) -> Step {
        if let Some(step) = self.consult(Stage::Helo, &Context::default()) {
            return self.emit(step);
        }
        self.txn = None;
        self.helo = Some(host);
        self.esmtp = esmtp;
        if !esmtp {
            let text = format!("{} Hello", self.config.hostname);
            return self.reply(Reply::bare(250, vec![text]));
        }
        let mut lines = vec![
            format!("{} Hello", self.config.hostname),
            "PIPELINING".to_string(),
            format!("SIZE {}", self.config.max_message_size),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "CHUNKING".to_string(),
        ];
        if self.config.starttls && !self.tls {
            lines.push("STARTTLS".to_string());
        }
        lines.push("AUTH PLAIN LOGIN CRAM-MD5".to_string());
        lines.push("HELP".to_string());
        self.reply(Reply::bare(250, lines))
    }
}
