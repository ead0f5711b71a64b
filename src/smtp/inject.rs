//! Failure injection by address: mail to `fail-451@example.test` gets
//! `451` at RCPT, with no configuration, so a test can check how an app
//! handles a refusing server.
//!
//! Grammar (case-insensitive local part): `fail-CODE[-STAGE]`, CODE a reply
//! code from 400 to 599, STAGE one of
//! - `rcpt` (the default for a recipient): the RCPT command is refused;
//! - `data`: RCPT is accepted, DATA (or the first BDAT) is refused;
//! - `after-data`: the whole message is received, then refused;
//! - `mail` (the default, and the only stage, for a sender in MAIL FROM):
//!   the MAIL command is refused.
//!
//! `421` also closes the connection, as that code means (see
//! `Session::emit`). Anything else
//! (`fail-fast@...`, `fail-200@...`) is an ordinary address.

use super::chaos::{Injection, Outcome, Source};
use super::reply::Reply;

pub use super::chaos::Stage;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    pub stage: Stage,
    pub code: u16,
    /// The address that asked for it, for the reply text.
    pub address: String,
}

impl Injected {
    /// The failure an address asks for; `default` is the stage when the
    /// address names none.
    pub fn parse(address: &str, default: Stage) -> Option<Injected> {
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
        Some(Injected {
            stage,
            code,
            address: address.to_string(),
        })
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

/// The enhanced status code clients expect with each reply code.
pub(super) fn enhanced_status(code: u16) -> &'static str {
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

    #[test]
    fn grammar() {
        let parse = |a| Injected::parse(a, Stage::Rcpt).map(|i| (i.code, i.stage));
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
        let injected = Injected::parse("fail-451@x", Stage::Rcpt).unwrap();
        let reply = injected.reply();
        assert_eq!((reply.code, reply.status), (451, Some("4.3.0")));
    }
}
