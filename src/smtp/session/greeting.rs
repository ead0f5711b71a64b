//! EHLO and HELO, RSET and QUIT, and the commands whose reply is always
//! the same.

use smtp_proto::Request;

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

    /// RSET: the transaction, and its transcript, are dropped.
    pub(super) fn rset(&mut self) -> Step {
        self.txn = None;
        self.end_transcript();
        self.reply(Reply::new(250, "2.0.0", "Ok"))
    }

    /// QUIT: nothing after it is read.
    pub(super) fn quit(&mut self) -> Step {
        self.close_with(Reply::new(221, "2.0.0", "Bye"))
    }

    /// NOOP, VRFY, HELP, and the commands Letterbox does not serve.
    pub(super) fn fixed_reply(&mut self, request: &Request<String>) -> Step {
        let reply = match request {
            Request::Lhlo { .. } => Reply::new(500, "5.5.1", "LHLO is for LMTP; use EHLO"),
            Request::Noop { .. } => Reply::new(250, "2.0.0", "Ok"),
            Request::Vrfy { .. } => Reply::new(
                252,
                "2.5.0",
                "Cannot VRFY user, but will accept message and attempt delivery",
            ),
            Request::Expn { .. } => Reply::new(502, "5.5.1", "EXPN not implemented"),
            Request::Help { .. } => Reply::new(
                214,
                "2.0.0",
                "Letterbox catches all mail. Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP STARTTLS AUTH QUIT",
            ),
            _ => Reply::new(502, "5.5.1", "Command not implemented"),
        };
        self.reply(reply)
    }
}
