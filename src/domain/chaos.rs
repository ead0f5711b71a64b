//! Chaos rules: failures, delays and dropped connections injected at an SMTP
//! stage with a given probability, so a test can check how an app copes
//! with a refusing, slow or flaky server.
//!
//! The rules live in a shared [`Chaos`] handle that sessions read at every
//! stage, so `PUT /api/v1/chaos` takes effect on open connections too.
//! Each stage has one [`Trigger`] in Mailpit's shape (`ErrorCode`,
//! `Probability`) plus two extensions: `Delay` before every reply at that
//! stage (a slow server), and `Disconnect` (drop the connection instead of
//! replying when the trigger fires).
//!
//! Besides the stages, a [`LinkSpeed`] rule makes a share of connections
//! slow: their bytes flow at a limited rate both ways (MailHog's Jim).
//!
//! The textual form (`--chaos`, `LETTERBOX_CHAOS`), see [`Rules::parse`]:
//!
//! ```text
//! rcpt=451@50%,connect=421@10%,data=delay:2s,mail=disconnect@5%,link=1KiB-10KiB@10%
//! ```

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The point of an SMTP session a failure is injected at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// The greeting, right after the connection opens.
    Connect,
    /// EHLO or HELO.
    Helo,
    /// AUTH.
    Auth,
    /// MAIL FROM (Mailpit's `Sender`).
    Mail,
    /// RCPT TO (Mailpit's `Recipient`).
    Rcpt,
    /// DATA, or the first BDAT chunk.
    Data,
    /// The end of the message, before it is stored.
    AfterData,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Connect,
        Stage::Helo,
        Stage::Auth,
        Stage::Mail,
        Stage::Rcpt,
        Stage::Data,
        Stage::AfterData,
    ];

    /// The name in rules, transcripts and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Helo => "helo",
            Stage::Auth => "auth",
            Stage::Mail => "mail",
            Stage::Rcpt => "rcpt",
            Stage::Data => "data",
            Stage::AfterData => "after-data",
        }
    }

    fn from_label(name: &str) -> Option<Stage> {
        let name = name.to_ascii_lowercase();
        Stage::ALL
            .into_iter()
            .find(|s| s.label() == name)
            .or(match name.as_str() {
                // Mailpit's trigger names.
                "sender" => Some(Stage::Mail),
                "recipient" => Some(Stage::Rcpt),
                "authentication" => Some(Stage::Auth),
                "ehlo" => Some(Stage::Helo),
                _ => None,
            })
    }

    fn index(self) -> usize {
        self as usize
    }

    /// The reply code a trigger at this stage uses unless told otherwise.
    pub fn default_code(self) -> u16 {
        match self {
            Stage::Connect | Stage::Helo => 421,
            Stage::Auth => 535,
            Stage::Mail | Stage::Rcpt | Stage::Data | Stage::AfterData => 451,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Longest delay a rule may ask for: longer would only look like a hang.
pub const MAX_DELAY: Duration = Duration::from_secs(300);

/// What happens at one stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trigger {
    /// The reply when the trigger fires, 400 to 599.
    pub error_code: u16,
    /// Percent chance (0 to 100) that the trigger fires at each pass
    /// through the stage; 100 always fires, 0 never.
    pub probability: f64,
    /// Wait before every reply at this stage, fired or not.
    pub delay: Duration,
    /// When the trigger fires, drop the connection instead of replying.
    pub disconnect: bool,
}

impl Trigger {
    /// A trigger that never fires and does not delay.
    pub fn off(stage: Stage) -> Trigger {
        Trigger {
            error_code: stage.default_code(),
            probability: 0.0,
            delay: Duration::ZERO,
            disconnect: false,
        }
    }

    pub fn is_active(&self) -> bool {
        self.probability > 0.0 || !self.delay.is_zero()
    }

    /// Checks the ranges; the message names the field as the API spells it.
    pub fn check(&self) -> Result<(), String> {
        if !(400..=599).contains(&self.error_code) {
            return Err(format!(
                "ErrorCode {} is not a failure reply code (400 to 599)",
                self.error_code
            ));
        }
        if !(0.0..=100.0).contains(&self.probability) {
            return Err(format!(
                "Probability {} is not a percentage (0 to 100)",
                self.probability
            ));
        }
        if self.delay > MAX_DELAY {
            return Err(format!(
                "Delay {} ms is longer than the {} s allowed",
                self.delay.as_millis(),
                MAX_DELAY.as_secs()
            ));
        }
        Ok(())
    }
}

/// The fastest a limited link may be: above it, limiting means nothing.
pub const MAX_LINK_SPEED: u64 = 1 << 30;

/// A slow network: with `probability` percent chance, a new connection's
/// bytes flow at a rate from `min` to `max` bytes a second, in both
/// directions, for as long as it lasts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkSpeed {
    pub probability: f64,
    pub min: u64,
    pub max: u64,
}

impl Default for LinkSpeed {
    fn default() -> Self {
        LinkSpeed {
            probability: 0.0,
            min: 1024,
            max: 10240,
        }
    }
}

impl LinkSpeed {
    pub fn is_active(&self) -> bool {
        self.probability > 0.0
    }

    /// Checks the ranges; the message names the fields as the API does.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=100.0).contains(&self.probability) {
            return Err(format!(
                "Probability {} is not a percentage (0 to 100)",
                self.probability
            ));
        }
        if self.min == 0 || self.min > self.max || self.max > MAX_LINK_SPEED {
            return Err(format!(
                "Min {} and Max {} must be bytes a second with 1 <= Min <= Max <= {MAX_LINK_SPEED}",
                self.min, self.max
            ));
        }
        Ok(())
    }

    /// The rate for a new connection, if this one is to be slow.
    pub fn roll(&self, dice: &mut Dice) -> Option<u64> {
        if !self.is_active() || !dice.fires(self.probability) {
            return None;
        }
        let span = self.max - self.min;
        Some(
            self.min
                + if span == 0 {
                    0
                } else {
                    dice.next() % (span + 1)
                },
        )
    }
}

/// A malformed chaos rule, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chaos rule {rule:?}: {problem}")]
pub struct RuleError {
    pub rule: String,
    pub problem: String,
}

/// One [`Trigger`] per stage, and the link speed.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    triggers: [Trigger; Stage::ALL.len()],
    link: LinkSpeed,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            triggers: Stage::ALL.map(Trigger::off),
            link: LinkSpeed::default(),
        }
    }
}

impl Rules {
    pub fn get(&self, stage: Stage) -> &Trigger {
        &self.triggers[stage.index()]
    }

    /// Sets one stage's trigger after checking it.
    pub fn set(&mut self, stage: Stage, trigger: Trigger) -> Result<(), String> {
        trigger.check()?;
        self.triggers[stage.index()] = trigger;
        Ok(())
    }

    pub fn link(&self) -> &LinkSpeed {
        &self.link
    }

    /// Sets the link speed after checking it.
    pub fn set_link(&mut self, link: LinkSpeed) -> Result<(), String> {
        link.check()?;
        self.link = link;
        Ok(())
    }

    /// True when some stage fails, drops or delays, or links are slowed.
    pub fn is_active(&self) -> bool {
        self.triggers.iter().any(Trigger::is_active) || self.link.is_active()
    }

    /// The textual form while any rule is active, as the web UI names them.
    pub fn active_text(&self) -> Option<std::sync::Arc<str>> {
        self.is_active().then(|| self.to_string().into())
    }

    /// Parses the textual form, rules separated by commas:
    ///
    /// ```text
    /// RULE   = STAGE "=" EFFECT *("+" EFFECT)
    /// STAGE  = connect | helo | auth | mail | rcpt | data | after-data
    /// EFFECT = (CODE | "disconnect") ["@" PERCENT ["%"]]   (100% if left out)
    ///        | "delay:" DURATION                           (e.g. 500ms, 2s)
    /// LINK   = "link=" SIZE ["-" SIZE] ["@" PERCENT ["%"]]  (bytes a second, e.g. 1KiB-10KiB@10%)
    /// ```
    ///
    /// Mailpit's `--chaos-triggers` form `Sender:451:50` is also read. An
    /// empty text is no rules.
    pub fn parse(text: &str) -> Result<Rules, RuleError> {
        let mut rules = Rules::default();
        let mut seen = Vec::new();
        let mut seen_link = false;
        for rule in text.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            let error = |problem: String| RuleError {
                rule: rule.to_string(),
                problem,
            };
            if let Some(speeds) = rule
                .split_once('=')
                .filter(|(name, _)| name.trim().eq_ignore_ascii_case("link"))
                .map(|(_, speeds)| speeds)
            {
                if seen_link {
                    return Err(error("link has a rule already".into()));
                }
                seen_link = true;
                let link = parse_link(speeds).map_err(error)?;
                rules.set_link(link).map_err(error)?;
                continue;
            }
            let (stage, trigger) = parse_rule(rule).map_err(error)?;
            if seen.contains(&stage) {
                return Err(error(format!("{stage} has a rule already")));
            }
            seen.push(stage);
            rules.set(stage, trigger).map_err(error)?;
        }
        Ok(rules)
    }
}

fn parse_rule(rule: &str) -> Result<(Stage, Trigger), String> {
    let stage_names = || {
        Stage::ALL
            .iter()
            .map(|s| s.label())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some((name, effects)) = rule.split_once('=') else {
        return parse_mailpit_rule(rule).ok_or_else(|| {
            "expected STAGE=EFFECT, e.g. rcpt=451@50% or data=delay:2s".to_string()
        });
    };
    let stage = Stage::from_label(name.trim())
        .ok_or_else(|| format!("unknown stage {:?} (one of {})", name.trim(), stage_names()))?;
    let mut trigger = Trigger::off(stage);
    let mut failure = false;
    for effect in effects.split('+').map(str::trim) {
        if let Some(duration) = effect.strip_prefix("delay:") {
            trigger.delay = super::units::parse_duration(duration)?;
            continue;
        }
        if failure {
            return Err(format!(
                "{effect:?}: one failure per stage (a code or disconnect)"
            ));
        }
        failure = true;
        let (what, percent) = effect.split_once('@').unwrap_or((effect, "100"));
        trigger.probability = parse_percent(percent)?;
        if what.eq_ignore_ascii_case("disconnect") {
            trigger.disconnect = true;
        } else {
            trigger.error_code = what.parse().map_err(|_| {
                format!("{what:?} is neither a reply code (400 to 599), disconnect nor delay:TIME")
            })?;
        }
    }
    Ok((stage, trigger))
}

/// `1KiB-10KiB@10%`: the rate's range (or one rate), and the chance.
fn parse_link(text: &str) -> Result<LinkSpeed, String> {
    let (speeds, percent) = text.split_once('@').unwrap_or((text, "100"));
    let size = |s: &str| {
        super::units::parse_size(s.trim())
            .map_err(|e| format!("{s:?} is not a speed in bytes a second ({e})"))
    };
    let (min, max) = match speeds.split_once('-') {
        Some((min, max)) => (size(min)?, size(max)?),
        None => {
            let speed = size(speeds)?;
            (speed, speed)
        }
    };
    Ok(LinkSpeed {
        probability: parse_percent(percent)?,
        min,
        max,
    })
}

fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%');
    number
        .parse::<f64>()
        .ok()
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or_else(|| format!("{text:?} is not a percentage from 0 to 100"))
}

/// Mailpit's `Sender:451:50`.
fn parse_mailpit_rule(rule: &str) -> Option<(Stage, Trigger)> {
    let mut parts = rule.split(':');
    let stage = Stage::from_label(parts.next()?.trim())?;
    let code = parts.next()?.trim().parse().ok()?;
    let probability = parse_percent(parts.next()?).ok()?;
    parts.next().is_none().then_some(())?;
    Some((
        stage,
        Trigger {
            error_code: code,
            probability,
            ..Trigger::off(stage)
        },
    ))
}

/// The active rules in the textual form ("none" if there are none), for
/// the log and the web UI.
impl fmt::Display for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for stage in Stage::ALL {
            let trigger = self.get(stage);
            if !trigger.is_active() {
                continue;
            }
            let sep = if first { "" } else { "," };
            first = false;
            write!(f, "{sep}{stage}=")?;
            let mut effects = Vec::new();
            if trigger.probability > 0.0 {
                let what = if trigger.disconnect {
                    "disconnect".to_string()
                } else {
                    trigger.error_code.to_string()
                };
                effects.push(format!("{what}@{}%", trigger.probability));
            }
            if !trigger.delay.is_zero() {
                effects.push(format!("delay:{}ms", trigger.delay.as_millis()));
            }
            f.write_str(&effects.join("+"))?;
        }
        if self.link.is_active() {
            let sep = if first { "" } else { "," };
            first = false;
            let LinkSpeed { min, max, .. } = self.link;
            let speeds = if min == max {
                min.to_string()
            } else {
                format!("{min}-{max}")
            };
            write!(f, "{sep}link={speeds}@{}%", self.link.probability)?;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// The rules in force, shared by the SMTP sessions and the API. Cloning
/// shares; a change is seen by the next stage any session reaches.
#[derive(Debug, Clone, Default)]
pub struct Chaos(Arc<RwLock<Arc<Rules>>>);

impl Chaos {
    pub fn new(rules: Rules) -> Chaos {
        Chaos(Arc::new(RwLock::new(Arc::new(rules))))
    }

    pub fn rules(&self) -> Arc<Rules> {
        // The lock guards a pointer swap only; a panic cannot leave it torn.
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, rules: Rules) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules);
    }
}

/// A small per-session random source for probabilities (xorshift64*):
/// statistical quality is all that matters here, not unpredictability.
#[derive(Debug, Clone)]
pub struct Dice(u64);

impl Dice {
    /// Seeded from the process's random hash keys and `salt`.
    pub fn seeded(salt: &str) -> Dice {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        salt.hash(&mut hasher);
        std::time::SystemTime::now().hash(&mut hasher);
        // xorshift must not start at zero.
        Dice(hasher.finish() | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with `percent` chance; 100 always, 0 never, without a draw.
    pub fn fires(&mut self, percent: f64) -> bool {
        if percent >= 100.0 {
            return true;
        }
        if percent <= 0.0 {
            return false;
        }
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        unit * 100.0 < percent
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn link_rules_parse_show_and_roll() {
        let rules = Rules::parse("link=1KiB-10KiB@10%,rcpt=451").unwrap();
        assert_eq!(
            *rules.link(),
            LinkSpeed {
                probability: 10.0,
                min: 1024,
                max: 10240
            }
        );
        assert_eq!(rules.to_string(), "rcpt=451@100%,link=1024-10240@10%");
        assert_eq!(Rules::parse(&rules.to_string()).unwrap(), rules);
        assert_eq!(
            Rules::parse("link=2000").unwrap().to_string(),
            "link=2000@100%"
        );
        for (bad, says) in [
            ("link=10K-1K", "Min 10240 and Max 1024"),
            ("link=fast", "not a speed"),
            ("link=0", "Min 0"),
            ("link=1K@200%", "percentage"),
            ("link=1K,link=2K", "link has a rule already"),
            ("link=1K@0%,link=2K", "link has a rule already"),
        ] {
            let err = Rules::parse(bad).unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
        // Every roll lands in the range; 0% never slows, 100% always does.
        let mut dice = Dice::seeded("link");
        let link = LinkSpeed {
            probability: 100.0,
            min: 10,
            max: 20,
        };
        for _ in 0..1000 {
            let speed = link.roll(&mut dice).unwrap();
            assert!((10..=20).contains(&speed), "{speed}");
        }
        let off = LinkSpeed {
            probability: 0.0,
            ..link
        };
        assert_eq!(off.roll(&mut dice), None);
    }

    use super::*;

    fn parse(text: &str) -> Rules {
        Rules::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn the_textual_grammar() {
        let rules = parse("rcpt=451@50%, connect=421@10, data=delay:2s, mail=disconnect");
        assert_eq!(
            *rules.get(Stage::Rcpt),
            Trigger {
                error_code: 451,
                probability: 50.0,
                ..Trigger::off(Stage::Rcpt)
            }
        );
        assert_eq!(rules.get(Stage::Connect).probability, 10.0);
        let data = rules.get(Stage::Data);
        assert_eq!(
            (data.delay, data.probability),
            (Duration::from_secs(2), 0.0)
        );
        let mail = rules.get(Stage::Mail);
        assert!(mail.disconnect && mail.probability == 100.0);
        assert!(!rules.get(Stage::Helo).is_active());
        assert!(rules.is_active());

        let both = parse("after-data=554@25%+delay:500ms");
        let t = both.get(Stage::AfterData);
        assert_eq!(
            (t.error_code, t.probability, t.delay),
            (554, 25.0, Duration::from_millis(500))
        );
        assert_eq!(both.to_string(), "after-data=554@25%+delay:500ms");
        assert!(!parse("").is_active());
        assert_eq!(parse(" ").to_string(), "none");
    }

    #[test]
    fn mailpit_trigger_form_and_names() {
        let rules = parse("Sender:451:50,Recipient:550:100,Authentication:535:5");
        assert_eq!(rules.get(Stage::Mail).probability, 50.0);
        assert_eq!(rules.get(Stage::Rcpt).error_code, 550);
        assert_eq!(rules.get(Stage::Auth).probability, 5.0);
        assert_eq!(parse("recipient=452").get(Stage::Rcpt).error_code, 452);
    }

    #[test]
    fn malformed_rules_say_what_is_wrong() {
        for (text, says) in [
            ("rcpt", "expected STAGE=EFFECT"),
            ("quit=451", "unknown stage \"quit\""),
            ("rcpt=200", "ErrorCode 200 is not a failure reply code"),
            ("rcpt=45x", "\"45x\" is neither a reply code"),
            ("rcpt=451@150%", "\"150%\" is not a percentage"),
            ("rcpt=451@-1", "is not a percentage"),
            ("data=delay:2 weeks", "duration"),
            ("data=delay:1h", "longer than the 300 s allowed"),
            ("rcpt=451+disconnect", "one failure per stage"),
            ("rcpt=451,rcpt=550", "rcpt has a rule already"),
        ] {
            let err = Rules::parse(text).expect_err(text);
            assert!(err.to_string().contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn dice_are_certain_at_the_ends_and_fair_between() {
        let mut dice = Dice::seeded("test");
        assert!((0..1000).all(|_| dice.fires(100.0)));
        assert!((0..1000).all(|_| !dice.fires(0.0)));
        let hits = (0..10_000).filter(|_| dice.fires(30.0)).count();
        assert!((2500..3500).contains(&hits), "{hits}");
    }

    #[test]
    fn shared_rules_change_for_every_holder() {
        let chaos = Chaos::default();
        let session_side = chaos.clone();
        assert!(!session_side.rules().is_active());
        chaos.replace(parse("rcpt=451"));
        assert!(session_side.rules().is_active());
    }
}
