//! The search query language (Mailpit's, plus `header:`), parsed into a
//! small syntax tree that the store turns into SQL.
//!
//! Terms are AND-ed. `-` or `!` negates a term. Bare words and `"quoted
//! phrases"` match what Mailpit's do: names and addresses in From, To, Cc,
//! Bcc, Reply-To and Return-Path, the subject, the text (HTML as its
//! rendered text) and attachment names. Headers are searched only through
//! `header:`, the HTML source only through `html:`; other `field:value`
//! filters narrow by one field.

use std::fmt;

/// A parsed query: every term must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub negated: bool,
    pub filter: Filter,
}

/// Address fields a `field:` filter can look in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressField {
    From,
    To,
    Cc,
    /// The Bcc header and the envelope recipients (Bcc recipients usually
    /// appear only in the envelope).
    Bcc,
    ReplyTo,
    /// Any of the above.
    Addressed,
    /// To, Cc and Bcc headers and the envelope recipients (no query key;
    /// used for MailHog's `kind=to`).
    Recipient,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Words that must all appear, in this order when `phrase`.
    Text {
        text: String,
        phrase: bool,
    },
    Address(AddressField, String),
    Subject(String),
    MessageId(String),
    Tag(String),
    /// `header:Name` or `header:Name:value`.
    Header {
        name: String,
        value: Option<String>,
    },
    /// `html:word` or `html:"a phrase"`: the HTML source, tags and
    /// attributes included.
    Html {
        text: String,
        phrase: bool,
    },
    Read,
    Unread,
    Tagged,
    HasAttachment,
    HasInline,
    LargerThan(u64),
    SmallerThan(u64),
    /// Received before / after this instant (Unix milliseconds).
    Before(i64),
    After(i64),
    /// `inbox:NAME`: messages in that inbox (exact, case-sensitive name).
    Inbox(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub String);

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

fn error<T>(message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError(message.into()))
}

/// The most terms a query may have: far more than a person types, and few
/// enough that the SQL and full-text expressions built from them stay
/// within SQLite's limits on expression depth.
pub const MAX_TERMS: usize = 100;

impl Query {
    /// Parses a query. Blank text is the empty query (everything); text
    /// that holds no term (only `-` or `!`) is an error, so that it can
    /// never select everything by accident.
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        // Nothing stored holds a NUL, and SQLite reads text up to one.
        if text.contains('\0') {
            return error("the query contains a NUL character (%00); remove it");
        }
        let mut terms = Vec::new();
        for token in tokenize(text)? {
            terms.push(term(token)?);
        }
        if terms.is_empty() && !text.trim().is_empty() {
            return error("the query has no search terms");
        }
        if terms.len() > MAX_TERMS {
            return error(format!(
                "the query has {} terms; use at most {MAX_TERMS}",
                terms.len()
            ));
        }
        Ok(Query { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// This query narrowed to one inbox.
    pub fn in_inbox(mut self, inbox: &str) -> Query {
        self.terms.push(Term {
            negated: false,
            filter: Filter::Inbox(inbox.to_string()),
        });
        self
    }

    /// The inbox this query is confined to, if a (non-negated) `inbox:`
    /// term confines it.
    pub fn inbox(&self) -> Option<&str> {
        self.terms.iter().find_map(|t| match &t.filter {
            Filter::Inbox(name) if !t.negated => Some(name.as_str()),
            _ => None,
        })
    }
}

/// `auth:METHOD=RESULT`: a result of the message's authentication check
/// (DKIM, SPF, DMARC, ARC). The store cannot answer it (the result is
/// computed from the raw message and the configured keys), so a search
/// parses it apart from the [`Query`] and filters the store's matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthTerm {
    pub negated: bool,
    /// `dkim`, `spf`, `dmarc` or `arc`.
    pub method: String,
    /// An `Authentication-Results` word, e.g. `pass` or `permerror`.
    pub result: String,
}

pub const AUTH_METHODS: &[&str] = &["dkim", "spf", "dmarc", "arc"];
pub const AUTH_RESULTS: &[&str] = &[
    "pass",
    "fail",
    "softfail",
    "neutral",
    "temperror",
    "permerror",
    "none",
];

impl Query {
    /// A search's text: the query the store answers, and the `auth:`
    /// terms the caller checks on its matches.
    pub fn parse_with_auth(text: &str) -> Result<(Query, Vec<AuthTerm>), QueryError> {
        if text.contains('\0') {
            return error("the query contains a NUL character (%00); remove it");
        }
        let mut rest = Vec::new();
        let mut auth = Vec::new();
        // Tokenized once, as [`Query::parse`] does, so quoting means the same.
        for token in tokenize(text)? {
            if token.key.as_deref() == Some("auth") {
                auth.push(auth_term(token.negated, &token.value)?);
            } else {
                rest.push(token);
            }
        }
        let mut terms = Vec::new();
        for token in rest {
            terms.push(term(token)?);
        }
        if terms.len() + auth.len() > MAX_TERMS {
            return error(format!(
                "the query has {} terms; use at most {MAX_TERMS}",
                terms.len() + auth.len()
            ));
        }
        if terms.is_empty() && auth.is_empty() && !text.trim().is_empty() {
            return error("the query has no search terms");
        }
        Ok((Query { terms }, auth))
    }
}

fn auth_term(negated: bool, value: &str) -> Result<AuthTerm, QueryError> {
    let usage = "use auth:METHOD=RESULT, e.g. auth:dkim=fail (methods: dkim, spf, dmarc, arc; results: pass, fail, softfail, neutral, temperror, permerror, none)";
    let Some((method, result)) = value.split_once('=') else {
        return error(format!("auth:{value}: {usage}"));
    };
    let method = method.to_ascii_lowercase();
    let result = result.to_ascii_lowercase();
    if !AUTH_METHODS.contains(&method.as_str()) || !AUTH_RESULTS.contains(&result.as_str()) {
        return error(format!("auth:{value}: {usage}"));
    }
    Ok(AuthTerm {
        negated,
        method,
        result,
    })
}

/// One whitespace-separated token; `quoted` when its value was in quotes.
struct Token {
    negated: bool,
    key: Option<String>,
    value: String,
    quoted: bool,
}

fn tokenize(text: &str) -> Result<Vec<Token>, QueryError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            return Ok(tokens);
        };
        let negated = first == '-' || first == '!';
        if negated {
            chars.next();
        }
        let mut key = None;
        let mut value = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c == '"' {
                quoted = true;
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '"' {
                        closed = true;
                        break;
                    }
                    value.push(c);
                }
                if !closed {
                    return error("unterminated quote in the query");
                }
            } else if c == ':' && key.is_none() && !quoted && is_filter_key(&value) {
                key = Some(value.to_ascii_lowercase());
                value = String::new();
            } else {
                value.push(c);
            }
        }
        if key.is_none() && value.is_empty() && !quoted {
            // A lone "-" or "!".
            continue;
        }
        tokens.push(Token {
            negated,
            key,
            value,
            quoted,
        });
    }
}

const FILTER_KEYS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "addressed",
    "subject",
    "message-id",
    "tag",
    "header",
    "html",
    "is",
    "has",
    "larger",
    "smaller",
    "before",
    "after",
    "inbox",
    "auth",
];

fn is_filter_key(word: &str) -> bool {
    FILTER_KEYS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

fn term(token: Token) -> Result<Term, QueryError> {
    let Token {
        negated,
        key,
        value,
        quoted,
    } = token;
    let Some(key) = key else {
        return Ok(Term {
            negated,
            filter: Filter::Text {
                text: value,
                phrase: quoted,
            },
        });
    };
    if value.is_empty() {
        return error(format!("{key}: needs a value"));
    }
    let filter = match key.as_str() {
        "from" => Filter::Address(AddressField::From, value),
        "to" => Filter::Address(AddressField::To, value),
        "cc" => Filter::Address(AddressField::Cc, value),
        "bcc" => Filter::Address(AddressField::Bcc, value),
        "reply-to" => Filter::Address(AddressField::ReplyTo, value),
        "addressed" => Filter::Address(AddressField::Addressed, value),
        "subject" => Filter::Subject(value),
        "message-id" => Filter::MessageId(value.trim_matches(['<', '>']).to_string()),
        "tag" => Filter::Tag(value),
        "header" => match value.split_once(':') {
            Some((name, v)) if !name.is_empty() => Filter::Header {
                name: name.to_string(),
                value: Some(v.to_string()).filter(|v| !v.is_empty()),
            },
            Some(_) => return error("header: needs a header name, as in header:X-Mailer:value"),
            None => Filter::Header {
                name: value,
                value: None,
            },
        },
        "html" => Filter::Html {
            text: value,
            phrase: quoted,
        },
        "is" => match value.to_ascii_lowercase().as_str() {
            "read" => Filter::Read,
            "unread" => Filter::Unread,
            "tagged" => Filter::Tagged,
            other => {
                return error(format!(
                    "unknown is:{other} (use is:read, is:unread or is:tagged)"
                ));
            }
        },
        "has" => match value.to_ascii_lowercase().as_str() {
            "attachment" | "attachments" => Filter::HasAttachment,
            "inline" | "inlines" => Filter::HasInline,
            other => {
                return error(format!(
                    "unknown has:{other} (use has:attachment or has:inline)"
                ));
            }
        },
        "larger" => Filter::LargerThan(size(&key, &value)?),
        "smaller" => Filter::SmallerThan(size(&key, &value)?),
        "before" => Filter::Before(date(&key, &value)?),
        "after" => Filter::After(date(&key, &value)?),
        "inbox" => Filter::Inbox(value),
        "auth" => {
            return error(
                "auth: works only in a search of messages (the search API and the inbox's search box)",
            );
        }
        _ => unreachable!("tokenize only accepts known filter keys"),
    };
    Ok(Term { negated, filter })
}

fn size(key: &str, value: &str) -> Result<u64, QueryError> {
    crate::domain::units::parse_size(value).map_err(|_| {
        QueryError(format!(
            "{key}:{value} is not a size (use e.g. {key}:500K or {key}:2M)"
        ))
    })
}

/// Dates: `2026-11-22`, `2026/11/22` (start of that day, UTC) or RFC 3339
/// (`2026-11-22T10:00:00Z`, `...+01:00`).
fn date(key: &str, value: &str) -> Result<i64, QueryError> {
    crate::domain::timefmt::parse_datetime_millis(value).ok_or_else(|| {
        QueryError(format!(
            "{key}:{value} is not a date (use YYYY-MM-DD or an RFC 3339 time such as 2026-11-22T10:00:00Z)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_terms_are_parsed_apart_and_refused_elsewhere() {
        let (query, auth) =
            Query::parse_with_auth("auth:DKIM=Fail subject:x -auth:spf=pass").unwrap();
        assert_eq!(query.terms.len(), 1);
        assert_eq!(
            auth,
            vec![
                AuthTerm {
                    negated: false,
                    method: "dkim".into(),
                    result: "fail".into()
                },
                AuthTerm {
                    negated: true,
                    method: "spf".into(),
                    result: "pass".into()
                },
            ]
        );
        assert!(Query::parse_with_auth("auth:dkim").is_err());
        assert!(Query::parse_with_auth("auth:dkim=maybe").is_err());
        assert!(Query::parse_with_auth("auth:smtp=pass").is_err());
        let refused = Query::parse("auth:dkim=fail").unwrap_err();
        assert!(refused.0.contains("search"), "{refused}");
    }

    fn filters(q: &str) -> Vec<(bool, Filter)> {
        Query::parse(q)
            .unwrap()
            .terms
            .into_iter()
            .map(|t| (t.negated, t.filter))
            .collect()
    }

    fn text(t: &str, phrase: bool) -> Filter {
        Filter::Text {
            text: t.into(),
            phrase,
        }
    }

    #[test]
    fn words_phrases_and_negation() {
        assert_eq!(
            filters(r#"hello "two words" -spam !junk"#),
            [
                (false, text("hello", false)),
                (false, text("two words", true)),
                (true, text("spam", false)),
                (true, text("junk", false)),
            ]
        );
    }

    #[test]
    fn field_filters() {
        assert_eq!(
            filters(
                r#"from:ann@example.com subject:"Your code" -to:bob is:unread has:attachments tag:signup"#
            ),
            [
                (
                    false,
                    Filter::Address(AddressField::From, "ann@example.com".into())
                ),
                (false, Filter::Subject("Your code".into())),
                (true, Filter::Address(AddressField::To, "bob".into())),
                (false, Filter::Unread),
                (false, Filter::HasAttachment),
                (false, Filter::Tag("signup".into())),
            ]
        );
    }

    #[test]
    fn header_filter() {
        assert_eq!(
            filters("header:X-Mailer:PHPMailer header:X-Campaign"),
            [
                (
                    false,
                    Filter::Header {
                        name: "X-Mailer".into(),
                        value: Some("PHPMailer".into())
                    }
                ),
                (
                    false,
                    Filter::Header {
                        name: "X-Campaign".into(),
                        value: None
                    }
                ),
            ]
        );
    }

    #[test]
    fn sizes_and_dates() {
        assert_eq!(
            filters("larger:2M smaller:10k"),
            [
                (false, Filter::LargerThan(2 << 20)),
                (false, Filter::SmallerThan(10 << 10))
            ]
        );
        assert_eq!(
            filters("after:2026-11-22"),
            [(false, Filter::After(1_795_305_600_000))]
        );
        assert_eq!(
            filters("before:2026-11-22T10:00:00Z"),
            [(false, Filter::Before(1_795_341_600_000))]
        );
    }

    #[test]
    fn unknown_prefixes_are_text() {
        assert_eq!(
            filters("https://example.com/x"),
            [(false, text("https://example.com/x", false))]
        );
        assert_eq!(
            filters("data-testid:signup"),
            [(false, text("data-testid:signup", false))]
        );
    }

    #[test]
    fn html_filter() {
        assert_eq!(
            filters(r#"html:data-testid -html:"class=x""#),
            [
                (
                    false,
                    Filter::Html {
                        text: "data-testid".into(),
                        phrase: false
                    }
                ),
                (
                    true,
                    Filter::Html {
                        text: "class=x".into(),
                        phrase: true
                    }
                ),
            ]
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (q, says) in [
            ("from:", "from: needs a value"),
            ("is:starred", "unknown is:starred"),
            ("larger:big", "not a size"),
            ("after:yesterday", "not a date"),
            ("\"open", "unterminated quote"),
            ("has:pdf", "unknown has:pdf"),
            ("a\0b", "NUL character (%00); remove it"),
            ("subject:a\0b", "NUL"),
            ("header:X-A:\0", "NUL"),
        ] {
            let err = Query::parse(q).unwrap_err().0;
            assert!(err.contains(says), "{q}: {err}");
        }
    }

    #[test]
    fn term_count_is_bounded() {
        let most = "-from:a ".repeat(MAX_TERMS);
        assert_eq!(Query::parse(&most).unwrap().terms.len(), MAX_TERMS);
        let err = Query::parse(&format!("{most} x")).unwrap_err().0;
        assert_eq!(err, "the query has 101 terms; use at most 100");
    }

    #[test]
    fn empty_and_lone_negation() {
        assert!(Query::parse("  ").unwrap().is_empty());
        for q in ["-", " ! ", "- !"] {
            assert_eq!(
                Query::parse(q).unwrap_err().0,
                "the query has no search terms"
            );
        }
    }
}
