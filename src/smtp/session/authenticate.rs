//! AUTH, through [`crate::smtp::auth`].

use super::{Phase, Session, Step};
use crate::smtp::auth::{self, Mechanism};
use crate::smtp::policy::{Context, Stage};
use crate::smtp::reply::Reply;

impl Session {
    pub(super) fn auth(&mut self, mechanism: u64, initial: String) -> Step {
        if self.helo.is_none() || !self.esmtp {
            return self.reply(Reply::new(
                503,
                "5.5.1",
                "Bad sequence of commands: send EHLO first",
            ));
        }
        if self.auth_user.is_some() {
            return self.reply(Reply::new(503, "5.5.1", "Already authenticated"));
        }
        if self.txn.is_some() {
            return self.reply(Reply::new(
                503,
                "5.5.1",
                "AUTH not allowed during a mail transaction",
            ));
        }
        if self.config.require_tls && !self.tls {
            return self.reply(Reply::new(
                530,
                "5.7.0",
                "Must issue a STARTTLS command first",
            ));
        }
        if let Some(step) = self.consult(Stage::Auth, &Context::default()) {
            return self.emit(step);
        }
        let Some(mechanism) = Mechanism::from_smtp_proto(mechanism) else {
            return self.reply(Reply::new(504, "5.5.4", "Unrecognized authentication type"));
        };
        let challenge = format!("<{}@{}>", self.nonce, self.config.hostname);
        let step = auth::start(mechanism, &initial, &challenge, &self.config.auth);
        self.auth_step(step)
    }

    pub(super) fn auth_step(&mut self, step: auth::Step) -> Step {
        self.phase = Phase::Command;
        match step {
            auth::Step::Challenge(exchange, challenge) => {
                self.phase = Phase::Auth(exchange);
                self.reply(Reply::bare(334, vec![challenge]))
            }
            auth::Step::Success { user } => {
                self.auth_user = Some(user);
                self.reply(Reply::new(235, "2.7.0", "Authentication successful"))
            }
            auth::Step::Failure { .. } => self.reply(Reply::new(
                535,
                "5.7.8",
                "Authentication credentials invalid",
            )),
            auth::Step::Cancelled => {
                self.reply(Reply::new(501, "5.7.0", "Authentication cancelled"))
            }
            auth::Step::Malformed(why) => self.reply(Reply::new(501, "5.5.2", why)),
        }
    }
}
