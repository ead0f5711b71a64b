//! Consulting the failure policy, and carrying out what it injects.

use super::{Phase, Session, Step};
use crate::smtp::policy::{Context, Outcome, Source, Stage};

impl Session {
    /// Asks the policy about `stage`: the failure to inject, if any (not
    /// yet logged: pass it to [`Self::emit`]). A delay a chaos rule asks
    /// for is logged and remembered for [`Self::delayed`].
    pub(super) fn consult(&mut self, stage: Stage, context: &Context) -> Option<Step> {
        let verdict = self.policy.at(stage, context);
        if let Some(delay) = verdict.delay {
            self.log(format!(
                "(reply delayed {} ms by a chaos rule at {stage})",
                delay.as_millis()
            ));
            self.recent_injected = true;
            self.pending_delay = Some((stage, delay));
        }
        verdict.injection.map(Step::Inject)
    }

    /// Logs a step's reply in the transcript, an injected one marked as
    /// such. An injected `421`, a refused greeting and a dropped connection
    /// end the session.
    pub(super) fn emit(&mut self, step: Step) -> Step {
        match &step {
            Step::Reply(reply) => self.log_reply(reply),
            Step::Inject(injection) => {
                let by = match injection.source {
                    Source::Rule => "a chaos rule",
                    Source::Address => "the address",
                };
                let stage = injection.stage;
                self.recent_injected = true;
                let closes = match &injection.outcome {
                    Outcome::Reply(reply) => {
                        self.log(format!("(failure injected at {stage} by {by})"));
                        self.log_reply(reply);
                        reply.code == 421 || stage == Stage::Connect
                    }
                    Outcome::Disconnect => {
                        self.log(format!("(connection dropped at {stage} by {by})"));
                        true
                    }
                };
                if closes {
                    self.txn = None;
                    self.phase = Phase::Closed;
                }
            }
            _ => {}
        }
        step
    }
}
