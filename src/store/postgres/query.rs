//! Turns a search [`Query`] into a SQL condition over `messages m`, with
//! the meaning SQLite's gives it (the contract suite holds both to the
//! same table): words and phrases match the full-text vectors as whole
//! words or prefixes; field filters are substrings, any case, served by
//! the trigram indexes. A message's plain words are in `message_words`,
//! a narrow table of their own (see migration 5), so a query of words
//! alone is counted and paged there ([`Condition::over_words`]).

use tokio_postgres::types::ToSql;

use super::text;
use crate::domain::search::{AddressField, Filter, Query};

pub type Param = Box<dyn ToSql + Sync + Send>;

/// A condition and its parameters, numbered `$1`.. in order.
#[derive(Default)]
pub struct Condition {
    pub sql: String,
    pub params: Vec<Param>,
    /// Whether `m` is `message_words` rather than `messages`.
    over_words: bool,
}

impl Condition {
    /// A condition over `messages m`; `TRUE` for an empty query.
    pub fn for_query(query: &Query) -> Condition {
        Condition::build(query, false)
    }

    /// The same condition over `message_words m` (its rowid, read flag
    /// and words), when the query asks nothing else: words, and whether
    /// read. Counting and paging its matches there reads a table a
    /// seventh the width of `messages`.
    pub fn over_words(query: &Query) -> Option<Condition> {
        let filters = || query.terms.iter().map(|t| &t.filter);
        let has_words = filters().any(|f| matches!(f, Filter::Text { .. }));
        let only_words =
            filters().all(|f| matches!(f, Filter::Text { .. } | Filter::Read | Filter::Unread));
        (has_words && only_words).then(|| Condition::build(query, true))
    }

    fn build(query: &Query, over_words: bool) -> Condition {
        let mut out = Condition {
            over_words,
            ..Condition::default()
        };
        for term in &query.terms {
            if !out.sql.is_empty() {
                out.sql.push_str(" AND ");
            }
            if term.negated {
                out.sql.push_str("NOT ");
            }
            out.sql.push('(');
            out.filter(&term.filter);
            out.sql.push(')');
        }
        if out.sql.is_empty() {
            out.sql.push_str("TRUE");
        }
        out
    }

    /// Adds `AND extra`, where `extra` names its parameter `$?`.
    pub fn and(mut self, extra: &str, param: Param) -> Condition {
        let placeholder = self.next_placeholder();
        self.sql = format!("({}) AND {}", self.sql, extra.replace("$?", &placeholder));
        self.params.push(param);
        self
    }

    /// The parameters as `tokio_postgres` takes them.
    pub fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }

    fn next_placeholder(&self) -> String {
        format!("${}", self.params.len() + 1)
    }

    /// Pushes `$n` for a new parameter.
    fn param(&mut self, value: Param) {
        let placeholder = self.next_placeholder();
        self.sql.push_str(&placeholder);
        self.params.push(value);
    }

    /// A full-text match of `column` against a `tsquery` literal.
    fn text_match(&mut self, column: &str, tsquery: Option<String>) {
        match tsquery {
            Some(tsquery) => {
                self.sql.push_str(&format!("m.{column} @@ "));
                self.param(Box::new(tsquery));
                self.sql.push_str("::text::tsquery");
            }
            // Nothing indexable in it (only punctuation): match nothing.
            None => self.sql.push_str("FALSE"),
        }
    }

    fn filter(&mut self, filter: &Filter) {
        match filter {
            Filter::Text { text, phrase } => {
                let tsquery = text::phrase(text, !phrase, |w| w);
                if self.over_words {
                    return self.text_match("words", tsquery);
                }
                // A semi-join (an anti-join when negated), which the
                // planner starts from the words' index when they are rare
                // and takes row by row when testing one message.
                self.sql
                    .push_str("EXISTS (SELECT 1 FROM message_words w WHERE w.rowid = m.rowid AND ");
                match tsquery {
                    Some(tsquery) => {
                        self.sql.push_str("w.words @@ ");
                        self.param(Box::new(tsquery));
                        self.sql.push_str("::text::tsquery");
                    }
                    None => self.sql.push_str("FALSE"),
                }
                self.sql.push(')');
            }
            Filter::Html { text, phrase } => {
                self.text_match("html", text::phrase(text, !phrase, |w| w));
            }
            Filter::Header { name, value } => {
                let name = text::header_name(name);
                let tsquery = match value {
                    None => (!name.is_empty()).then(|| format!("'{name}='")),
                    Some(value) => text::phrase(value, true, |word| format!("{name}={word}"))
                        .filter(|_| !name.is_empty()),
                };
                self.text_match("headers", tsquery);
            }
            Filter::Address(field, needle) => {
                let columns: &[&str] = match field {
                    AddressField::From => &["from_text"],
                    AddressField::To => &["to_text"],
                    AddressField::Cc => &["cc_text"],
                    // The Bcc header plus the envelope recipients in
                    // neither To nor Cc: the ones the sender hid.
                    AddressField::Bcc => &["bcc_text"],
                    AddressField::ReplyTo => &["reply_to_text"],
                    AddressField::Recipient => &["to_text", "cc_text", "bcc_text"],
                    AddressField::Addressed => &[
                        "from_text",
                        "to_text",
                        "cc_text",
                        "bcc_text",
                        "reply_to_text",
                    ],
                };
                self.substring(columns, needle);
            }
            Filter::Subject(needle) => self.substring(&["subject"], needle),
            Filter::MessageId(needle) => self.substring(&["message_id"], needle),
            Filter::Tag(name) => {
                self.sql.push_str(
                    "EXISTS (SELECT 1 FROM message_tags mt JOIN tags t ON t.id = mt.tag \
                     WHERE mt.message = m.rowid AND lower(t.name) = lower(",
                );
                self.param(Box::new(name.clone()));
                self.sql.push_str("))");
            }
            Filter::Read => self.sql.push_str("m.read"),
            Filter::Unread => self.sql.push_str("NOT m.read"),
            Filter::Tagged => self
                .sql
                .push_str("EXISTS (SELECT 1 FROM message_tags mt WHERE mt.message = m.rowid)"),
            Filter::HasAttachment => self.sql.push_str("m.attachments > 0"),
            Filter::HasInline => self.sql.push_str("m.inline > 0"),
            Filter::LargerThan(n) => self.compare("m.size >", *n as i64),
            Filter::SmallerThan(n) => self.compare("m.size <", *n as i64),
            Filter::Before(ms) => self.compare("m.received_at <", *ms),
            Filter::After(ms) => self.compare("m.received_at >", *ms),
            Filter::Inbox(name) => {
                self.sql.push_str("m.inbox = ");
                self.param(Box::new(name.clone()));
            }
        }
    }

    fn compare(&mut self, lhs: &str, value: i64) {
        self.sql.push_str(lhs);
        self.sql.push(' ');
        self.param(Box::new(value));
    }

    /// A case-insensitive substring of any of `columns` (`ILIKE`, which
    /// the trigram indexes serve from three characters on).
    fn substring(&mut self, columns: &[&str], needle: &str) {
        if needle.contains('\0') {
            // No stored text holds a NUL, and PostgreSQL refuses one.
            return self.sql.push_str("FALSE");
        }
        let placeholder = self.next_placeholder();
        let tests: Vec<String> = columns
            .iter()
            .map(|c| format!("m.{c} ILIKE {placeholder}"))
            .collect();
        self.sql.push_str(&tests.join(" OR "));
        self.params.push(Box::new(like_pattern(needle)));
    }
}

/// `%needle%` with LIKE's wildcards escaped.
fn like_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_in_order() {
        let q = Query::parse("subject:hi to:bo -from:ev larger:1K verif").unwrap();
        let c = Condition::for_query(&q);
        assert_eq!(c.params.len(), 5);
        assert!(c.sql.contains("m.subject ILIKE $1"), "{}", c.sql);
        assert!(c.sql.contains("NOT (m.from_text ILIKE $3)"), "{}", c.sql);
        assert!(c.sql.contains("m.size > $4"), "{}", c.sql);
        assert!(
            c.sql.contains(
                "EXISTS (SELECT 1 FROM message_words w WHERE w.rowid = m.rowid \
                 AND w.words @@ $5::text::tsquery)"
            ),
            "{}",
            c.sql
        );
        let c = c.and("m.id = $?", Box::new("x".to_string()));
        assert!(c.sql.ends_with("AND m.id = $6"), "{}", c.sql);
    }

    #[test]
    fn only_words_and_read_flags_are_asked_of_the_words_table() {
        let c = Condition::over_words(&Query::parse("-verif \"a b\" is:unread").unwrap()).unwrap();
        assert_eq!(
            c.sql,
            "NOT (m.words @@ $1::text::tsquery) AND (m.words @@ $2::text::tsquery) AND (NOT m.read)"
        );
        for other in ["is:unread", "verif subject:x", "verif tag:t", ""] {
            let q = Query::parse(other).unwrap();
            assert!(Condition::over_words(&q).is_none(), "{other}");
        }
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_pattern("50%_off"), r"%50\%\_off%");
    }
}
