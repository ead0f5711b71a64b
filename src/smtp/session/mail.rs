//! MAIL and RCPT.

use super::{Session, Step, Transaction};
use crate::smtp::address::Mailbox;
use crate::smtp::policy::{Context, Stage};
use crate::smtp::reply::Reply;

impl Session {
    pub(super) fn mail(&mut self, from: smtp_proto::MailFrom<String>, line: &str) -> Step {
        if self.helo.is_none() {
            return self.reply(Reply::new(
                503,
                "5.5.1",
                "Bad sequence of commands: send EHLO or HELO first",
            ));
        }
        if self.txn.is_some() {
            return self.reply(Reply::new(
                503,
                "5.5.1",
                "Bad sequence of commands: nested MAIL command",
            ));
        }
        if self.config.require_tls && !self.tls {
            return self.reply(Reply::new(
                530,
                "5.7.0",
                "Must issue a STARTTLS command first",
            ));
        }
        if self.config.auth.required() && self.auth_user.is_none() {
            return self.reply(Reply::new(530, "5.7.0", "Authentication required"));
        }
        const SUPPORTED: u64 =
            smtp_proto::MAIL_BODY_7BIT | smtp_proto::MAIL_BODY_8BITMIME | smtp_proto::MAIL_SMTPUTF8;
        let unsupported = from.flags & !SUPPORTED != 0
            || from.trans_id.is_some()
            || from.env_id.is_some()
            || from.solicit.is_some()
            || from.mtrk.is_some()
            || from.by != 0
            || from.hold_for != 0
            || from.hold_until != 0
            || from.mt_priority != 0;
        if unsupported {
            return self.reply(Reply::new(555, "5.5.4", "MAIL parameter not supported"));
        }
        let declared = declared_size(line).unwrap_or(from.size);
        if declared > self.config.max_message_size {
            return self.reply(Reply::new(
                552,
                "5.3.4",
                format!(
                    "Message size exceeds fixed maximum message size of {} bytes",
                    self.config.max_message_size
                ),
            ));
        }
        if self.config.data_budget.is_exhausted() {
            return self.reply(Reply::new(
                452,
                "4.3.1",
                "Insufficient system storage: too much mail in flight, try again later",
            ));
        }
        let mail_from = if from.address.is_empty() {
            String::new()
        } else {
            match Mailbox::from_parsed(&from.address) {
                Ok(mailbox) => mailbox.into_string(),
                Err(err) => {
                    return self.reply(Reply::new(
                        553,
                        "5.1.7",
                        format!("Sender address cannot be used: {err}"),
                    ));
                }
            }
        };
        let context = Context {
            sender: Some(&mail_from),
            ..Context::default()
        };
        if let Some(step) = self.consult(Stage::Mail, &context) {
            return self.emit(step);
        }
        self.transactions += 1;
        self.txn = Some(Transaction {
            mail_from,
            held: Some(self.config.data_budget.hold()),
            smtputf8: from.flags & smtp_proto::MAIL_SMTPUTF8 != 0,
            body_8bitmime: from.flags & smtp_proto::MAIL_BODY_8BITMIME != 0,
            ..Transaction::default()
        });
        self.reply(Reply::new(250, "2.1.0", "Ok"))
    }

    pub(super) fn rcpt(&mut self, mut to: smtp_proto::RcptTo<String>, line: &str) -> Step {
        let max = self.config.max_recipients;
        let Some(txn) = self.txn.as_mut() else {
            return self.reply(Reply::new(
                503,
                "5.5.1",
                "Bad sequence of commands: need MAIL before RCPT",
            ));
        };
        txn.rcpt_given = true;
        if to.flags != 0 || to.orcpt.is_some() || to.rrvs != 0 {
            return self.reply(Reply::new(555, "5.5.4", "RCPT parameter not supported"));
        }
        if to.address.is_empty() && is_postmaster(line) {
            // RFC 5321 4.5.1: `<Postmaster>` without a domain must be accepted;
            // smtp-proto hands it over as an empty address.
            to.address = "Postmaster".into();
        }
        if to.address.is_empty() {
            return self.reply(Reply::new(501, "5.1.3", "Empty recipient address"));
        }
        // What is stored, checked by the relay allowlist and sent on is
        // this one serialized form.
        let address = match Mailbox::from_parsed(&to.address) {
            Ok(mailbox) => mailbox.into_string(),
            Err(err) => {
                return self.reply(Reply::new(
                    553,
                    "5.1.3",
                    format!("Recipient address cannot be used: {err}"),
                ));
            }
        };
        if txn.rcpt_to.len() >= max {
            return self.reply(Reply::new(
                452,
                "4.5.3",
                format!("Too many recipients (at most {max})"),
            ));
        }
        let context = Context {
            recipient: Some(&address),
            ..Context::default()
        };
        if let Some(step) = self.consult(Stage::Rcpt, &context) {
            return self.emit(step);
        }
        // A recipient asking for a failure at DATA or after it is accepted
        // here; the policy finds it among the accepted ones at that stage.
        let txn = self.txn.as_mut().expect("checked above");
        txn.rcpt_to.push(address);
        self.reply(Reply::new(250, "2.1.5", "Ok"))
    }
}

/// The `SIZE=` a MAIL command declares, read from the line itself:
/// smtp-proto 0.2.5 wraps values of more than 20 digits into small numbers.
/// Too large for `usize` counts as `usize::MAX`.
pub(super) fn declared_size(line: &str) -> Option<usize> {
    let upper = line.to_ascii_uppercase();
    let at = upper
        .split_whitespace()
        .find_map(|word| word.strip_prefix("SIZE="))?;
    let digits: String = at.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    Some(digits.parse().unwrap_or(usize::MAX))
}

fn is_postmaster(line: &str) -> bool {
    line.to_ascii_lowercase().contains("<postmaster>")
}
