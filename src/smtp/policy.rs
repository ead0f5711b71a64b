//! The one place that decides whether a session stage fails on purpose:
//! the chaos rules in force ([`crate::domain::chaos`]) and failures asked
//! for by address, consulted by the session at each [`Stage`] through
//! [`Policy::at`].
//!
//! Failure by address: mail to `fail-451@example.test` gets `451` at RCPT,
//! with no configuration, so a test can check how an app handles a
//! refusing server. Grammar (case-insensitive local part):
//! `fail-CODE[-STAGE]`, CODE a reply code from 400 to 599, STAGE one of
//! - `rcpt` (the default for a recipient): the RCPT command is refused;
//! - `data`: RCPT is accepted, DATA (or the first BDAT) is refused;
//! - `after-data`: the whole message is received, then refused;
//! - `mail` (the default, and the only stage, for a sender in MAIL FROM):
//!   the MAIL command is refused.
//!
//! `421` also closes the connection, as that code means (the session
//! carries that out). Anything else (`fail-fast@...`, `fail-200@...`) is an
//! ordinary address.

use std::time::Duration;

use super::reply::Reply;
pub use crate::domain::chaos::Stage;
use crate::domain::chaos::{Chaos, Dice};

/// Where an injected failure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// A chaos rule.
    Rule,
    /// A `fail-CODE@` address.
    Address,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Rule => "rule",
            Source::Address => "address",
        }
    }
}

/// An injected failure the listener carries out (and counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injection {
    pub stage: Stage,
    pub source: Source,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send this failure reply.
    Reply(Reply),
    /// Close the connection without a reply.
    Disconnect,
}

impl Injection {
    /// The `outcome` label of the metric: the reply code or `disconnect`.
    pub fn outcome_label(&self) -> String {
        match &self.outcome {
            Outcome::Reply(reply) => reply.code.to_string(),
            Outcome::Disconnect => "disconnect".into(),
        }
    }
}

/// The addresses of the transaction a stage is reached in.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// At MAIL: the sender just given.
    pub sender: Option<&'a str>,
    /// At RCPT: the recipient just given.
    pub recipient: Option<&'a str>,
    /// At DATA and after it: the recipients accepted.
    pub accepted: &'a [String],
}

/// What the policy says about one stage.
#[derive(Debug, Default)]
pub struct Verdict {
    /// A chaos rule slows the stage's reply down by this much.
    pub delay: Option<Duration>,
    /// The stage fails: with this reply, or by dropping the connection.
    pub injection: Option<Injection>,
}

/// One session's view of the failure rules: the shared chaos rules (read
/// afresh at every stage, as the API may change them) and its own dice.
#[derive(Debug)]
pub struct Policy {
    chaos: Chaos,
    dice: Dice,
}

impl Policy {
    /// `salt` seeds the session's dice.
    pub fn new(chaos: Chaos, salt: &str) -> Policy {
        Policy {
            chaos,
            dice: Dice::seeded(salt),
        }
    }

    /// Bytes a second a new connection is limited to, if a link rule makes
    /// it slow (rolled once, with the greeting).
    pub fn link_speed(&mut self) -> Option<u64> {
        self.chaos.rules().link().roll(&mut self.dice)
    }

    /// Whether `stage` is delayed or fails: a chaos rule first, then a
    /// failure an address in `context` asks for at this stage.
    pub fn at(&mut self, stage: Stage, context: &Context) -> Verdict {
        let mut verdict = self.rule_at(stage);
        if verdict.injection.is_none() {
            verdict.injection = address_failure(stage, context).map(|f| f.injection());
        }
        verdict
    }

    fn rule_at(&mut self, stage: Stage) -> Verdict {
        let rules = self.chaos.rules();
        let trigger = rules.get(stage);
        if !trigger.is_active() {
            return Verdict::default();
        }
        let delay = (!trigger.delay.is_zero()).then_some(trigger.delay);
        if !self.dice.fires(trigger.probability) {
            return Verdict {
                delay,
                injection: None,
            };
        }
        let outcome = if trigger.disconnect {
            Outcome::Disconnect
        } else {
            Outcome::Reply(rule_reply(stage, trigger.error_code))
        };
        Verdict {
            delay,
            injection: Some(Injection {
                stage,
                source: Source::Rule,
                outcome,
            }),
        }
    }
}

/// The failure an address of `context` asks for at `stage`. A recipient
/// asking for one at DATA or after it is accepted at RCPT; the first such
/// recipient decides the later stages.
fn address_failure(stage: Stage, context: &Context) -> Option<AddressFailure> {
    match stage {
        Stage::Mail => AddressFailure::parse(context.sender?, Stage::Mail)
            .filter(|failure| failure.stage == Stage::Mail),
        Stage::Rcpt => AddressFailure::parse(context.recipient?, Stage::Rcpt)
            .filter(|failure| !failure.is_after_rcpt()),
        Stage::Data | Stage::AfterData => context
            .accepted
            .iter()
            .filter_map(|rcpt| AddressFailure::parse(rcpt, Stage::Rcpt))
            .find(AddressFailure::is_after_rcpt)
            .filter(|failure| failure.stage == stage),
        Stage::Connect | Stage::Helo | Stage::Auth => None,
    }
}

/// A failure asked for by a `fail-CODE[-STAGE]@` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressFailure {
    pub stage: Stage,
    pub code: u16,
    /// The address that asked for it, for the reply text.
    pub address: String,
}

impl AddressFailure {
    /// The failure an address asks for; `default` is the stage when the
    /// address names none.
    pub fn parse(address: &str, default: Stage) -> Option<AddressFailure> {
        let local = address
            .rsplit_once('@')
            .map_or(address, |(l, _)| l)
            .to_ascii_lowercase();
        let rest = local.strip_prefix("fail-")?;
        let (code, stage) = rest
            .split_once('-')
            .map_or((rest, None), |(c, s)| (c, Some(s)));
        let code: u16 = code.parse().ok().filter(|c| (400..600).contains(c))?;
        let stage = match stage {
            None => default,
            Some("mail") => Stage::Mail,
            Some("rcpt") => Stage::Rcpt,
            Some("data") => Stage::Data,
            Some("after-data") => Stage::AfterData,
            Some(_) => return None,
        };
        Some(AddressFailure {
            stage,
            code,
            address: address.to_string(),
        })
    }

    /// Asked for at DATA or after it, so the recipient itself is accepted.
    fn is_after_rcpt(&self) -> bool {
        matches!(self.stage, Stage::Data | Stage::AfterData)
    }

    pub fn reply(&self) -> Reply {
        Reply::new(
            self.code,
            enhanced_status(self.code),
            format!("Failure injected for {} (Letterbox)", self.address),
        )
    }

    /// What the listener carries out.
    pub fn injection(&self) -> Injection {
        Injection {
            stage: self.stage,
            source: Source::Address,
            outcome: Outcome::Reply(self.reply()),
        }
    }
}

/// The failure reply a rule gives at a stage.
pub fn rule_reply(stage: Stage, code: u16) -> Reply {
    Reply::new(
        code,
        enhanced_status(code),
        format!("Failure injected at {stage} by a chaos rule (Letterbox)"),
    )
}

/// The enhanced status code clients expect with each reply code.
fn enhanced_status(code: u16) -> &'static str {
    match code {
        421 => "4.3.2",
        450 => "4.2.1",
        451 => "4.3.0",
        452 => "4.3.1",
        454 => "4.7.0",
        550 => "5.1.1",
        551 => "5.1.6",
        552 => "5.3.4",
        553 => "5.1.3",
        554 => "5.7.1",
        535 => "5.7.8",
        c if c < 500 => "4.0.0",
        _ => "5.0.0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::chaos::Rules;

    #[test]
    fn grammar() {
        let parse = |a| AddressFailure::parse(a, Stage::Rcpt).map(|i| (i.code, i.stage));
        assert_eq!(parse("fail-550@example.test"), Some((550, Stage::Rcpt)));
        assert_eq!(parse("FAIL-451-data@x"), Some((451, Stage::Data)));
        assert_eq!(
            parse("fail-554-after-data@x"),
            Some((554, Stage::AfterData))
        );
        assert_eq!(parse("fail-452-rcpt@x"), Some((452, Stage::Rcpt)));
        for ordinary in [
            "fail-fast@x",
            "fail-200@x",
            "fail-600@x",
            "fail-550-later@x",
            "xfail-550@x",
            "user@fail-550.test",
        ] {
            assert_eq!(parse(ordinary), None, "{ordinary}");
        }
    }

    #[test]
    fn replies_carry_matching_enhanced_codes() {
        let failure = AddressFailure::parse("fail-451@x", Stage::Rcpt).unwrap();
        let reply = failure.reply();
        assert_eq!((reply.code, reply.status), (451, Some("4.3.0")));
    }

    fn code(verdict: Verdict) -> Option<u16> {
        match verdict.injection?.outcome {
            Outcome::Reply(reply) => Some(reply.code),
            Outcome::Disconnect => Some(0),
        }
    }

    #[test]
    fn the_first_recipient_failing_after_rcpt_decides_data_and_after_data() {
        let mut policy = Policy::new(Chaos::default(), "test");
        let accepted = [
            "ok@x".to_string(),
            "fail-452-after-data@x".into(),
            "fail-550-data@x".into(),
        ];
        let context = Context {
            accepted: &accepted,
            ..Context::default()
        };
        assert_eq!(code(policy.at(Stage::Data, &context)), None);
        assert_eq!(code(policy.at(Stage::AfterData, &context)), Some(452));
        let rcpt = |address| Context {
            recipient: Some(address),
            ..Context::default()
        };
        assert_eq!(code(policy.at(Stage::Rcpt, &rcpt("fail-550-data@x"))), None);
        assert_eq!(code(policy.at(Stage::Rcpt, &rcpt("fail-550@x"))), Some(550));
        let sender = Context {
            sender: Some("fail-451-rcpt@x"),
            ..Context::default()
        };
        assert_eq!(code(policy.at(Stage::Mail, &sender)), None);
    }

    #[test]
    fn a_rule_comes_before_an_address_and_delays_either_way() {
        let chaos = Chaos::new(Rules::parse("rcpt=421+delay:1s,mail=delay:2s").unwrap());
        let mut policy = Policy::new(chaos, "test");
        let verdict = policy.at(
            Stage::Rcpt,
            &Context {
                recipient: Some("fail-550@x"),
                ..Context::default()
            },
        );
        assert_eq!(verdict.delay, Some(Duration::from_secs(1)));
        assert_eq!(code(verdict), Some(421));
        let verdict = policy.at(Stage::Mail, &Context::default());
        assert_eq!(verdict.delay, Some(Duration::from_secs(2)));
        assert!(verdict.injection.is_none());
    }
}
