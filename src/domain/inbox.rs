//! Inboxes: named partitions of the mail, so that a team sharing one
//! Letterbox sees each app's mail apart. A message's inbox is chosen once,
//! at ingest, and never changes:
//!
//! 1. the SMTP AUTH username, when the client logged in (an app that logs
//!    in as `billing` lands in inbox `billing`): the sender said who it is;
//! 2. else the first `--inbox NAME=QUERY` rule whose query matches;
//! 3. else [`DEFAULT_INBOX`].
//!
//! Rules are evaluated in memory against the parsed message, so they may use
//! only the filters [`Rule::parse`] accepts; others are refused at startup.

use std::fmt;
use std::str::FromStr;

use crate::domain::Envelope;
use crate::domain::message::{Address, ParsedMessage};
use crate::domain::search::{AddressField, Filter, Query};

/// Where a message goes when neither its login nor a rule names an inbox.
pub const DEFAULT_INBOX: &str = "default";
/// Longest inbox name.
pub const MAX_NAME_LEN: usize = 64;

/// A valid inbox name: 1 to 64 of `A-Z a-z 0-9 . _ -`, case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InboxName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboxError {
    #[error(
        "inbox name {0:?} is not valid: use 1 to {MAX_NAME_LEN} letters, digits, '.', '_' or '-'"
    )]
    BadName(String),
    // The rule itself is shown by whoever reports the error (clap does).
    #[error("expected NAME=QUERY, e.g. billing=to:@billing.example.com")]
    NotARule,
    #[error("{0}")]
    BadRule(String),
}

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl InboxName {
    pub fn parse(text: &str) -> Result<InboxName, InboxError> {
        if text.is_empty() || text.len() > MAX_NAME_LEN || !text.chars().all(name_char) {
            return Err(InboxError::BadName(text.to_string()));
        }
        Ok(InboxName(text.to_string()))
    }

    pub fn default_inbox() -> InboxName {
        InboxName(DEFAULT_INBOX.to_string())
    }

    /// The inbox for an SMTP AUTH username: each character outside the
    /// name alphabet becomes `_` (`app@example.com` → `app_example.com`)
    /// and the result is cut to 64 characters; an empty name is the
    /// default inbox.
    pub fn from_username(user: &str) -> InboxName {
        let name: String = user
            .chars()
            .map(|c| if name_char(c) { c } else { '_' })
            .take(MAX_NAME_LEN)
            .collect();
        if name.is_empty() {
            InboxName::default_inbox()
        } else {
            InboxName(name)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for InboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `--inbox NAME=QUERY`: messages matching `QUERY` go to inbox `NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: InboxName,
    pub query: Query,
}

impl Rule {
    /// Parses `NAME=QUERY`. The query may use the address filters (`from:`,
    /// `to:`, `cc:`, `bcc:`, `reply-to:`, `addressed:`), `subject:`,
    /// `message-id:`, `tag:`, `is:tagged`, `has:`, `larger:` and
    /// `smaller:`, each possibly negated: the filters that can be checked
    /// against one message before it is stored.
    pub fn parse(text: &str) -> Result<Rule, InboxError> {
        let (name, query) = text.split_once('=').ok_or(InboxError::NotARule)?;
        let bad = InboxError::BadRule;
        let name = InboxName::parse(name.trim()).map_err(|e| bad(e.to_string()))?;
        let query = Query::parse(query).map_err(|e| bad(e.to_string()))?;
        if query.is_empty() {
            return Err(bad("the query is empty".into()));
        }
        for term in &query.terms {
            if let Some(filter) = unsupported(&term.filter) {
                return Err(bad(format!(
                    "{filter} cannot decide an inbox (rules may use from:, to:, cc:, bcc:, \
                     reply-to:, addressed:, subject:, message-id:, tag:, is:tagged, has:, \
                     larger: and smaller:)"
                )));
            }
        }
        Ok(Rule { name, query })
    }
}

impl FromStr for Rule {
    type Err = InboxError;
    fn from_str(s: &str) -> Result<Rule, InboxError> {
        Rule::parse(s)
    }
}

/// What a rule cannot use, described for the error message.
fn unsupported(filter: &Filter) -> Option<&'static str> {
    Some(match filter {
        Filter::Text { .. } => "a plain word or phrase",
        Filter::Header { .. } => "header:",
        Filter::Html { .. } => "html:",
        Filter::Read | Filter::Unread => "is:read / is:unread",
        Filter::Before(_) | Filter::After(_) => "before: / after:",
        Filter::Inbox(_) => "inbox:",
        Filter::Address(..)
        | Filter::Subject(_)
        | Filter::MessageId(_)
        | Filter::Tag(_)
        | Filter::Tagged
        | Filter::HasAttachment
        | Filter::HasInline
        | Filter::LargerThan(_)
        | Filter::SmallerThan(_) => return None,
    })
}

/// The inbox rules in force: chooses each new message's inbox.
#[derive(Debug, Clone, Default)]
pub struct Inboxes {
    rules: Vec<Rule>,
}

impl Inboxes {
    pub fn new(rules: Vec<Rule>) -> Inboxes {
        Inboxes { rules }
    }

    /// The inbox of a new message (see the module documentation).
    pub fn choose(&self, envelope: &Envelope, parsed: &ParsedMessage, size: u64) -> InboxName {
        if let Some(user) = envelope.auth_user.as_deref() {
            return InboxName::from_username(user);
        }
        let message = Candidate {
            envelope,
            parsed,
            size,
        };
        self.rules
            .iter()
            .find(|rule| message.matches(&rule.query))
            .map(|rule| rule.name.clone())
            .unwrap_or_else(InboxName::default_inbox)
    }

    /// Inboxes that exist even when empty: the default and each rule's.
    pub fn configured(&self) -> Vec<InboxName> {
        let mut names = vec![InboxName::default_inbox()];
        for rule in &self.rules {
            if !names.contains(&rule.name) {
                names.push(rule.name.clone());
            }
        }
        names
    }
}

/// A message not yet stored, as rules see it.
struct Candidate<'a> {
    envelope: &'a Envelope,
    parsed: &'a ParsedMessage,
    size: u64,
}

/// Case-insensitive substring search, as the store's field filters do.
fn contains(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

fn mailbox_matches(a: &Address, needle: &str) -> bool {
    contains(&format!("{} <{}>", a.name, a.address), needle)
}

impl Candidate<'_> {
    fn matches(&self, query: &Query) -> bool {
        query
            .terms
            .iter()
            .all(|term| self.filter(&term.filter) != term.negated)
    }

    /// The envelope recipients that got a blind copy.
    fn hidden_recipients(&self) -> impl Iterator<Item = &String> {
        crate::domain::bcc::blind_copies(self.parsed, &self.envelope.rcpt_to)
    }

    fn address(&self, field: AddressField, needle: &str) -> bool {
        let p = self.parsed;
        let any = |list: &[Address]| list.iter().any(|a| mailbox_matches(a, needle));
        let from = || p.from.as_ref().is_some_and(|a| mailbox_matches(a, needle));
        let hidden = || self.hidden_recipients().any(|r| contains(r, needle));
        match field {
            AddressField::From => from(),
            AddressField::To => any(&p.to),
            AddressField::Cc => any(&p.cc),
            AddressField::Bcc => any(&p.bcc) || hidden(),
            AddressField::ReplyTo => any(&p.reply_to),
            AddressField::Recipient => any(&p.to) || any(&p.cc) || any(&p.bcc) || hidden(),
            AddressField::Addressed => {
                from() || any(&p.to) || any(&p.cc) || any(&p.bcc) || any(&p.reply_to) || hidden()
            }
        }
    }

    fn filter(&self, filter: &Filter) -> bool {
        let p = self.parsed;
        match filter {
            Filter::Address(field, needle) => self.address(*field, needle),
            Filter::Subject(needle) => contains(&p.subject, needle),
            Filter::MessageId(needle) => contains(&p.message_id, needle),
            Filter::Tag(name) => p.tags.iter().any(|t| t.eq_ignore_ascii_case(name)),
            Filter::Tagged => !p.tags.is_empty(),
            Filter::HasAttachment => p.attachments > 0,
            Filter::HasInline => p.inline > 0,
            Filter::LargerThan(n) => self.size > *n,
            Filter::SmallerThan(n) => self.size < *n,
            // Refused by `Rule::parse`.
            Filter::Text { .. }
            | Filter::Header { .. }
            | Filter::Html { .. }
            | Filter::Read
            | Filter::Unread
            | Filter::Before(_)
            | Filter::After(_)
            | Filter::Inbox(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(raw: &str) -> ParsedMessage {
        crate::domain::message::parse(raw.replace('\n', "\r\n").as_bytes())
    }

    fn envelope(rcpt: &[&str], user: Option<&str>) -> Envelope {
        Envelope {
            rcpt_to: rcpt.iter().map(|r| r.to_string()).collect(),
            auth_user: user.map(str::to_string),
            ..Envelope::default()
        }
    }

    fn inboxes(rules: &[&str]) -> Inboxes {
        Inboxes::new(rules.iter().map(|r| Rule::parse(r).unwrap()).collect())
    }

    const MAIL: &str = "From: Shop <shop@example.com>\nTo: Ann <ann@billing.example.com>\n\
                        Subject: Your Invoice\n\nhello\n";

    #[test]
    fn names_are_validated() {
        assert!(InboxName::parse("billing-2.eu_west").is_ok());
        for bad in ["", "a b", "ünï", "a/b", &"x".repeat(65)] {
            assert!(InboxName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn usernames_are_sanitised() {
        assert_eq!(InboxName::from_username("billing").as_str(), "billing");
        assert_eq!(
            InboxName::from_username("app@example.com").as_str(),
            "app_example.com"
        );
        assert_eq!(InboxName::from_username("").as_str(), DEFAULT_INBOX);
        assert_eq!(InboxName::from_username(&"é".repeat(99)).as_str().len(), 64);
    }

    #[test]
    fn auth_user_wins_then_first_matching_rule_then_default() {
        let inboxes = inboxes(&["billing=to:@billing.example.com", "shop=from:shop@"]);
        let parsed = message(MAIL);
        let choose = |user| inboxes.choose(&envelope(&[], user), &parsed, 10);
        assert_eq!(choose(Some("crm")).as_str(), "crm");
        assert_eq!(choose(None).as_str(), "billing");
        let other = message("From: x@y.z\nTo: bob@else.where\n\nhi\n");
        let chosen = inboxes.choose(&envelope(&[], None), &other, 10);
        assert_eq!(chosen.as_str(), DEFAULT_INBOX);
    }

    #[test]
    fn rules_match_like_the_store_does() {
        let parsed = message(MAIL);
        let matches = |q: &str| {
            let rule = Rule::parse(&format!("x={q}")).unwrap();
            Candidate {
                envelope: &envelope(&["ann@billing.example.com", "hidden@corp.test"], None),
                parsed: &parsed,
                size: 100,
            }
            .matches(&rule.query)
        };
        assert!(matches("subject:invoice"));
        assert!(matches("to:BILLING.example"));
        assert!(matches("to:Ann"));
        assert!(!matches("to:shop"));
        assert!(matches("-to:shop"));
        assert!(matches("bcc:@corp.test"));
        assert!(!matches("cc:@corp.test"));
        assert!(matches("addressed:hidden@"));
        assert!(matches("larger:50 smaller:1K"));
        assert!(!matches("has:attachment"));
        assert!(!matches("subject:invoice from:nobody"));
    }

    #[test]
    fn rules_refuse_what_they_cannot_check() {
        for (rule, says) in [
            ("billing", "expected NAME=QUERY"),
            ("bad name=to:x", "not valid"),
            ("x=", "query is empty"),
            ("x=invoice", "plain word"),
            ("x=header:X-App", "header:"),
            ("x=html:data-testid", "html:"),
            ("x=is:unread", "is:read"),
            ("x=after:2026-01-01", "before:"),
            ("x=inbox:y", "inbox:"),
            ("x=from:", "needs a value"),
        ] {
            let err = Rule::parse(rule).unwrap_err().to_string();
            assert!(err.contains(says), "{rule}: {err}");
        }
    }
}
