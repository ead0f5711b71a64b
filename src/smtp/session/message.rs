//! DATA, BDAT and the finished message.

use super::{Delivery, Phase, Session, Step};
use crate::domain::Envelope;
use crate::smtp::address::recipients_in_headers;
use crate::smtp::data::DataReceiver;
use crate::smtp::policy::{Context, Injection, Outcome, Stage};
use crate::smtp::reply::Reply;

impl Session {
    pub(super) fn data(&mut self) -> Step {
        match &self.txn {
            None => self.reply(Reply::new(
                503,
                "5.5.1",
                "Bad sequence of commands: need MAIL and RCPT before DATA",
            )),
            Some(txn) if txn.rcpt_to.is_empty() && txn.rcpt_given => {
                self.reply(Reply::new(554, "5.5.1", "No valid recipients"))
            }
            Some(txn) if txn.chunked => self.reply(Reply::new(
                503,
                "5.5.1",
                "Bad sequence of commands: DATA after BDAT",
            )),
            Some(_) => {
                // A failure here ends the transaction.
                let txn = self.txn.take().expect("matched above");
                let context = Context {
                    accepted: &txn.rcpt_to,
                    ..Context::default()
                };
                if let Some(step) = self.consult(Stage::Data, &context) {
                    return self.emit(step);
                }
                if txn.rcpt_to.is_empty() {
                    // MailHog accepts this, and BusyBox's `sendmail` without
                    // -t relies on it: the recipients come from the headers.
                    self.log(
                        "(no recipients given: they are read from the To, Cc and Bcc headers)"
                            .into(),
                    );
                }
                self.txn = Some(txn);
                self.phase = Phase::Data(DataReceiver::new(self.config.max_message_size));
                self.reply(Reply::new(354, "2.0.0", "End data with <CR><LF>.<CR><LF>"))
            }
        }
    }

    pub(super) fn bdat(&mut self, size: usize, last: bool) -> Step {
        let first_chunk = self
            .txn
            .as_ref()
            .is_some_and(|t| !t.rcpt_to.is_empty() && !t.chunked);
        let failure = if first_chunk {
            let txn = self.txn.take().expect("a first chunk has a transaction");
            let context = Context {
                accepted: &txn.rcpt_to,
                ..Context::default()
            };
            let failure = self.consult(Stage::Data, &context);
            self.txn = Some(txn);
            failure
        } else {
            None
        };
        if let Some(Step::Inject(Injection {
            outcome: Outcome::Disconnect,
            ..
        })) = &failure
        {
            // Dropped at once, the chunk unread.
            return self.emit(failure.expect("matched"));
        }
        let refusal = match self.txn.as_mut() {
            Some(_) if failure.is_some() => {
                self.txn = None;
                failure
            }
            Some(txn) if !txn.rcpt_to.is_empty() => {
                txn.chunked = true;
                None
            }
            _ => Some(Step::Reply(Reply::new(
                503,
                "5.5.1",
                "Bad sequence of commands: BDAT needs MAIL and RCPT first",
            ))),
        };
        self.log_client(format!("({size} octets of message content)"));
        self.phase = Phase::Bdat {
            remaining: size,
            last,
            refusal,
        };
        // The chunk is read (and replied to) by `advance_input`.
        self.advance_input()
    }

    pub(super) fn finish_message(&mut self) -> Step {
        let mut txn = self
            .txn
            .take()
            .expect("a finished message has a transaction");
        if txn.received > self.config.max_message_size {
            self.log_client(format!("({} octets of message content)", txn.received));
            let reply = Reply::new(
                552,
                "5.3.4",
                format!(
                    "Message size exceeds fixed maximum message size of {} bytes",
                    self.config.max_message_size
                ),
            );
            self.end_transcript();
            return Step::Reply(reply);
        }
        if !txn.chunked {
            self.log_client(format!("({} octets of message content)", txn.received));
        }
        if txn.over_budget {
            let reply = Reply::new(
                452,
                "4.3.1",
                "Insufficient system storage: too much mail in flight, try again later",
            );
            self.log_reply(&reply);
            self.end_transcript();
            return Step::Reply(reply);
        }
        let context = Context {
            accepted: &txn.rcpt_to,
            ..Context::default()
        };
        if let Some(step) = self.consult(Stage::AfterData, &context) {
            // Received in full, then refused (or dropped): nothing is stored.
            let step = self.emit(step);
            self.end_transcript();
            return step;
        }
        if txn.rcpt_to.is_empty() {
            txn.rcpt_to = recipients_in_headers(&txn.body, self.config.max_recipients);
        }
        self.phase = Phase::Delivering;
        self.delivering = txn.held.take();
        let mut transcript = self.prelude.clone();
        transcript.append(&mut self.carried);
        transcript.extend(self.recent.iter().cloned());
        let envelope = Envelope {
            mail_from: txn.mail_from,
            rcpt_to: txn.rcpt_to,
            helo: self.helo.clone(),
            client_addr: self.client_addr.map(|a| a.to_string()),
            tls: self.tls,
            auth_user: self.auth_user.clone(),
            smtputf8: txn.smtputf8,
            body_8bitmime: txn.body_8bitmime,
            transcript,
        };
        Step::Deliver(Box::new(Delivery {
            envelope,
            data: txn.body,
        }))
    }
}
