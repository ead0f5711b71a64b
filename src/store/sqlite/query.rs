//! Turns a search [`Query`] into a SQL condition over `messages m`.
//!
//! Words and phrases go to the FTS5 index (token and prefix matches), in
//! the columns a person means ([`WORD_COLUMNS`]); `header:` and `html:` to
//! its columns of their own. Field filters use the trigram index of the
//! subject and addresses, or compare columns with `LIKE` (substring,
//! case-insensitive for ASCII) where a needle is shorter than a trigram.

use rusqlite::types::Value;

use super::index::{HEADER_MARK, VALUE_MARK};
use crate::domain::search::{AddressField, Filter, Query};

/// The full-text columns a plain word or phrase looks in: the people and
/// the subject, the text, the attachment names (not the headers nor the
/// HTML source).
pub const WORD_COLUMNS: &str = "{people body attachments}";

/// A condition and its parameters, in order.
#[derive(Debug, Default)]
pub struct Condition {
    pub sql: String,
    pub params: Vec<Value>,
    /// Whether the condition reads a column of `messages` other than the
    /// rowid and `read`. When it does not, the narrow `messages_rowid_read`
    /// index can answer it without touching the table's wide rows.
    pub reads_row: bool,
    /// Which rows the condition will be tested on, and so how an index
    /// filter reads the index.
    rows: Rows,
}

/// The rows a condition is built to test.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Rows {
    /// Any: an index filter lists every match.
    #[default]
    All,
    /// One, or a few far apart: each is looked up in the index.
    One,
    /// Only rows with rowids in `first..=last`, such as a burst of new
    /// messages: an index filter lists the matches in that range, a seek
    /// and a short walk however large the index is.
    Range { first: i64, last: i64 },
}

/// Lists the full-text index's terms that start with a word, so that a
/// word's prefix search can read those terms' match lists instead: FTS5
/// builds a prefix query's list in memory, several times slower. `None`
/// when there are too many terms to list, or no lookup is wanted.
pub type PrefixTerms<'a> = dyn FnMut(&str) -> Option<Vec<String>> + 'a;

/// Whether a query looks in the text indexes (the full-text index or the
/// trigram index of subject and addresses), which are written after a
/// message's commit (see `writer::Unindexed`).
pub fn uses_text_index(query: &Query) -> bool {
    query.terms.iter().any(|term| {
        matches!(
            term.filter,
            Filter::Text { .. }
                | Filter::Header { .. }
                | Filter::Html { .. }
                | Filter::Address(..)
                | Filter::Subject(_)
        )
    })
}

impl Condition {
    /// `WHERE ...` text: `1` (everything) for an empty query.
    pub fn for_query(query: &Query) -> Condition {
        Condition::for_query_with(query, &mut |_| None)
    }

    /// [`Condition::for_query`], with words looked up in `terms`.
    pub fn for_query_with(query: &Query, terms: &mut PrefixTerms) -> Condition {
        Condition::default().with_terms(query, terms)
    }

    /// For a query that `AND`s a condition picking one row or a few
    /// (`m.id = ?`, `m.id IN (...)`):
    /// listing every match of a common word to test one message costs
    /// milliseconds at 100,000 messages, looking that message up in the
    /// index microseconds. Words are not looked up in the vocabulary
    /// (that reads each term's whole match list too).
    pub fn for_one_row(query: &Query) -> Condition {
        Condition {
            rows: Rows::One,
            ..Condition::default()
        }
        .with_terms(query, &mut |_| None)
    }

    /// For a query that `AND`s a condition picking rows whose rowids all
    /// lie in `first..=last`: a burst of 1,000 new messages at a million
    /// took 0.7–0.9 s as 1,000 lookups of each word, and one listing of
    /// each word's matches in the range reads only that part of the index.
    /// Words are not looked up in the vocabulary, as for one row.
    pub fn for_row_range(query: &Query, first: i64, last: i64) -> Condition {
        Condition {
            rows: Rows::Range { first, last },
            ..Condition::default()
        }
        .with_terms(query, &mut |_| None)
    }

    fn with_terms(self, query: &Query, terms: &mut PrefixTerms) -> Condition {
        let mut out = self;
        for term in &query.terms {
            if !out.sql.is_empty() {
                out.sql.push_str(" AND ");
            }
            if term.negated {
                out.sql.push_str("NOT ");
            }
            out.sql.push('(');
            out.filter(&term.filter, terms);
            out.sql.push(')');
        }
        if out.sql.is_empty() {
            out.sql.push('1');
        }
        out
    }

    /// The whole query as one FTS5 expression, when it is only words,
    /// phrases and header filters, none negated: the full-text index alone
    /// then answers it, newest first, and stops at the page's end.
    pub fn text_only(query: &Query, terms: &mut PrefixTerms) -> Option<String> {
        let mut parts = Vec::with_capacity(query.terms.len());
        for term in &query.terms {
            match (term.negated, text_term(&term.filter, terms)?) {
                (false, TextTerm::Match(expression)) => parts.push(format!("({expression})")),
                // Negations and unmatchable terms take the general path.
                _ => return None,
            }
        }
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }

    /// Adds `AND extra` with its parameters.
    pub fn and(mut self, extra: &str, params: impl IntoIterator<Item = Value>) -> Condition {
        self.sql = format!("({}) AND {extra}", self.sql);
        self.params.extend(params);
        self
    }

    fn param(&mut self, value: impl Into<Value>) -> &mut Self {
        self.params.push(value.into());
        self
    }

    fn like(&mut self, column: &str, needle: &str) {
        if needle.contains('\0') {
            // SQLite's LIKE would stop reading the pattern at the NUL.
            return self.sql.push('0');
        }
        self.reads_row = true;
        self.sql.push_str(column);
        self.sql.push_str(r" LIKE ? ESCAPE '\'");
        self.param(like_pattern(needle));
    }

    fn fts(&mut self, expression: String) {
        self.index_match("messages_fts", expression);
    }

    /// A match in one of the FTS5 tables, whose rowids are the messages'.
    fn index_match(&mut self, table: &str, expression: String) {
        match self.rows {
            Rows::All => {
                let sql = format!("m.rowid IN (SELECT rowid FROM {table} WHERE {table} MATCH ?)");
                self.sql.push_str(&sql);
                self.param(expression);
            }
            Rows::One => {
                let sql = format!(
                    "EXISTS (SELECT 1 FROM {table} WHERE {table} MATCH ? AND rowid = m.rowid)"
                );
                self.sql.push_str(&sql);
                self.param(expression);
            }
            Rows::Range { first, last } => {
                let sql = format!(
                    "m.rowid IN (SELECT rowid FROM {table} WHERE {table} MATCH ? \
                     AND rowid BETWEEN ? AND ?)"
                );
                self.sql.push_str(&sql);
                self.param(expression).param(first).param(last);
            }
        }
    }

    fn filter(&mut self, filter: &Filter, terms: &mut PrefixTerms) {
        match filter {
            // Known messages: the word itself first, a cheap lookup that
            // usually settles it; the prefix (whose whole match list FTS5
            // builds) only when the word alone is not there.
            Filter::Text {
                text,
                phrase: false,
            } if self.rows != Rows::All => {
                match (fts_phrase(text, false), fts_phrase(text, true)) {
                    (Some(word), Some(prefix)) => {
                        self.sql.push('(');
                        self.fts(format!("{WORD_COLUMNS} : {word}"));
                        self.sql.push_str(" OR ");
                        self.fts(format!("{WORD_COLUMNS} : {prefix}"));
                        self.sql.push(')');
                    }
                    _ => self.sql.push('0'),
                }
            }
            Filter::Text { .. } | Filter::Header { .. } | Filter::Html { .. } => {
                match text_term(filter, terms) {
                    Some(TextTerm::Match(expression)) => self.fts(expression),
                    // Nothing indexable in it (only punctuation): match nothing.
                    _ => self.sql.push('0'),
                }
            }
            Filter::Address(field, needle) => self.address(*field, needle),
            Filter::Subject(needle) => {
                self.field(&["subject"], needle, |c| c.like("m.subject", needle));
            }
            Filter::MessageId(needle) => self.like("m.message_id", needle),
            Filter::Tag(name) => {
                self.sql.push_str(
                    "EXISTS (SELECT 1 FROM message_tags mt JOIN tags t ON t.id = mt.tag \
                     WHERE mt.message = m.rowid AND t.name = ? COLLATE NOCASE)",
                );
                self.param(name.clone());
            }
            Filter::Read => self.sql.push_str("m.read = 1"),
            Filter::Unread => self.sql.push_str("m.read = 0"),
            Filter::Tagged => self
                .sql
                .push_str("EXISTS (SELECT 1 FROM message_tags mt WHERE mt.message = m.rowid)"),
            Filter::HasAttachment => self.column_test("m.attachments > 0"),
            Filter::HasInline => self.column_test("m.inline > 0"),
            Filter::LargerThan(n) => self.compare("m.size >", *n as i64),
            Filter::SmallerThan(n) => self.compare("m.size <", *n as i64),
            Filter::Before(ms) => self.compare("m.received_at <", *ms),
            Filter::After(ms) => self.compare("m.received_at >", *ms),
            // Equality, so the `messages_by_inbox` index serves it.
            Filter::Inbox(name) => {
                self.column_test("m.inbox = ?");
                self.param(name.clone());
            }
        }
    }

    /// A test of a column other than the rowid and `read`.
    fn column_test(&mut self, sql: &str) {
        self.reads_row = true;
        self.sql.push_str(sql);
    }

    fn compare(&mut self, lhs: &str, value: i64) {
        self.reads_row = true;
        self.sql.push_str(lhs);
        self.sql.push_str(" ?");
        self.param(value);
    }

    /// A substring search in columns of the trigram index; needles shorter
    /// than a trigram use `fallback` (a scan) instead.
    fn field(&mut self, columns: &[&str], needle: &str, fallback: impl FnOnce(&mut Self)) {
        if needle.contains('\0') {
            // No field holds a NUL; FTS5 would reject the expression.
            return self.sql.push('0');
        }
        if needle.chars().count() < 3 {
            return fallback(self);
        }
        let phrase = format!("\"{}\"", needle.replace('"', "\"\""));
        self.index_match(
            "messages_fields",
            format!("{{{}}} : {phrase}", columns.join(" ")),
        );
    }

    fn address(&mut self, field: AddressField, needle: &str) {
        let columns: &[&str] = match field {
            AddressField::From => &["from_addr"],
            AddressField::To => &["to_addrs"],
            AddressField::Cc => &["cc_addrs"],
            // Indexed as the Bcc header plus the envelope recipients that
            // are in neither To nor Cc: the ones the sender hid.
            AddressField::Bcc => &["bcc_addrs"],
            AddressField::ReplyTo => &["reply_to_addrs"],
            // bcc_addrs holds the envelope-only recipients too.
            AddressField::Recipient => &["to_addrs", "cc_addrs", "bcc_addrs"],
            AddressField::Addressed => &[
                "from_addr",
                "to_addrs",
                "cc_addrs",
                "bcc_addrs",
                "reply_to_addrs",
            ],
        };
        self.field(columns, needle, |c| c.address_scan(field, needle));
    }

    /// Address matching without the index, for needles of 1-2 characters.
    fn address_scan(&mut self, field: AddressField, needle: &str) {
        let pattern = like_pattern(needle);
        let one = |column: &str| {
            format!(
                r"({column} ->> 'Address' LIKE ?1 ESCAPE '\' OR {column} ->> 'Name' LIKE ?1 ESCAPE '\')"
            )
        };
        let list = |column: &str| {
            format!(
                r"EXISTS (SELECT 1 FROM json_each({column}) j WHERE j.value ->> 'Address' LIKE ?1 ESCAPE '\' OR j.value ->> 'Name' LIKE ?1 ESCAPE '\')"
            )
        };
        let envelope = r"EXISTS (SELECT 1 FROM json_each(m.envelope, '$.rcpt_to') j WHERE j.value LIKE ?1 ESCAPE '\')".to_string();
        let parts = match field {
            AddressField::From => vec![one("m.from_addr")],
            AddressField::To => vec![list("m.to_addrs")],
            AddressField::Cc => vec![list("m.cc_addrs")],
            AddressField::Bcc => vec![list("m.bcc_addrs"), envelope],
            AddressField::ReplyTo => vec![list("m.reply_to_addrs")],
            AddressField::Recipient => vec![
                list("m.to_addrs"),
                list("m.cc_addrs"),
                list("m.bcc_addrs"),
                envelope,
            ],
            AddressField::Addressed => vec![
                one("m.from_addr"),
                list("m.to_addrs"),
                list("m.cc_addrs"),
                list("m.bcc_addrs"),
                list("m.reply_to_addrs"),
                envelope,
            ],
        };
        // `?1` above refers to one parameter; number it for this condition.
        self.reads_row = true;
        let index = self.params.len() + 1;
        let sql = parts.join(" OR ").replace("?1", &format!("?{index}"));
        self.sql.push_str(&sql);
        self.param(pattern);
    }
}

/// How the full-text index answers a word, phrase or header filter.
enum TextTerm {
    /// An FTS5 expression.
    Match(String),
    /// Nothing indexable in it (only punctuation), or a word no indexed
    /// term starts with: it matches nothing.
    Nothing,
}

/// The most terms a word's prefix is turned into; a prefix that starts
/// more stays a prefix query.
pub const MAX_PREFIX_TERMS: usize = 16;

/// The full-text form of `filter`; `None` for filters on other columns.
fn text_term(filter: &Filter, terms: &mut PrefixTerms) -> Option<TextTerm> {
    let expression = match filter {
        // A plain ASCII word is one token, its lower case, for the index's
        // tokenizer: the terms it is a prefix of are exactly its matches.
        // (The vocabulary spans every column; a term found only in the
        // headers or the HTML source then matches nothing here.)
        Filter::Text {
            text,
            phrase: false,
        } if text.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            match terms(&text.to_ascii_lowercase()) {
                Some(list) if list.is_empty() => None,
                Some(list) => Some(format!(
                    "{WORD_COLUMNS} : ({})",
                    list.iter()
                        .map(|term| format!("\"{}\"", term.replace('"', "\"\"")))
                        .collect::<Vec<_>>()
                        .join(" OR ")
                )),
                None => fts_phrase(text, true).map(|p| format!("{WORD_COLUMNS} : {p}")),
            }
        }
        Filter::Text { text, phrase } => {
            fts_phrase(text, !phrase).map(|p| format!("{WORD_COLUMNS} : {p}"))
        }
        Filter::Html { text, phrase } => fts_phrase(text, !phrase).map(|p| format!("html : {p}")),
        Filter::Header { name, value } => {
            // The name sits between marker words: an exact name match.
            fts_phrase(&format!("{HEADER_MARK} {name} {VALUE_MARK}"), false).map(|name| {
                // Value words (as prefixes) close to that header's name.
                match value.as_deref().and_then(|v| fts_phrase(v, true)) {
                    Some(value) => format!("headers : NEAR({name} {value}, 64)"),
                    None => format!("headers : {name}"),
                }
            })
        }
        _ => return None,
    };
    Some(expression.map_or(TextTerm::Nothing, TextTerm::Match))
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

/// An FTS5 phrase for `text`, as a prefix query when `prefix`; `None` when
/// the text holds no word characters (FTS5 would reject or ignore it).
fn fts_phrase(text: &str, prefix: bool) -> Option<String> {
    if !text.chars().any(char::is_alphanumeric) {
        return None;
    }
    // FTS5 ends a string at a NUL ("unterminated string"); to the
    // tokenizer it separates words as a space does.
    let quoted = format!("\"{}\"", text.replace('"', "\"\"").replace('\0', " "));
    Some(if prefix { quoted + "*" } else { quoted })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_query_matches_everything() {
        let c = Condition::for_query(&Query::default());
        assert_eq!(c.sql, "1");
        assert!(c.params.is_empty());
    }

    #[test]
    fn parameters_are_numbered_in_order() {
        // Needles shorter than a trigram are scanned, with numbered
        // parameters inside the address conditions.
        let q = Query::parse("subject:hi to:bo -from:ev larger:1K").unwrap();
        let c = Condition::for_query(&q);
        assert!(c.sql.contains("?2") && c.sql.contains("?3"), "{}", c.sql);
        assert_eq!(c.params.len(), 4);
        assert_eq!(c.params[0], Value::Text("%hi%".into()));
        assert!(c.sql.contains("NOT ("));
    }

    #[test]
    fn fts_phrases_are_escaped() {
        assert_eq!(
            fts_phrase(r#"say "hi""#, false).as_deref(),
            Some(r#""say ""hi""""#)
        );
        assert_eq!(fts_phrase("verif", true).as_deref(), Some("\"verif\"*"));
        assert_eq!(fts_phrase("--", true), None);
    }

    #[test]
    fn field_filters_use_the_trigram_index() {
        let c = Condition::for_query(&Query::parse("to:bob@ex subject:ab").unwrap());
        assert!(c.sql.contains("messages_fields MATCH"), "{}", c.sql);
        assert_eq!(c.params[0], Value::Text("{to_addrs} : \"bob@ex\"".into()));
        // Two characters are shorter than a trigram: scanned with LIKE.
        assert_eq!(c.params[1], Value::Text("%ab%".into()));
    }

    #[test]
    fn words_and_header_filters_become_one_text_expression() {
        let text = |q: &str| Condition::text_only(&Query::parse(q).unwrap(), &mut |_| None);
        let w = WORD_COLUMNS;
        assert_eq!(text("reset"), Some(format!(r#"({w} : "reset"*)"#)));
        assert_eq!(
            text(r#"reset "your password" header:X-Tag:a html:data-testid"#),
            Some(format!(
                r#"({w} : "reset"*) AND ({w} : "your password") AND (headers : NEAR("{HEADER_MARK} X-Tag {VALUE_MARK}" "a"*, 64)) AND (html : "data-testid"*)"#
            ))
        );
        // Anything else takes the general path.
        for q in [
            "",
            "reset -password",
            "reset subject:hi",
            "reset is:unread",
            "--",
        ] {
            assert_eq!(text(q), None, "{q}");
        }
    }

    #[test]
    fn a_words_prefix_becomes_the_terms_it_starts() {
        let mut looked_up = Vec::new();
        let mut terms = |prefix: &str| {
            looked_up.push(prefix.to_string());
            match prefix {
                "load" => Some(vec!["load".to_string(), "loadgen".to_string()]),
                "many" => None,
                _ => Some(Vec::new()),
            }
        };
        let q = Query::parse(r#"Load many "whole phrase" zzz mail-box"#).unwrap();
        let c = Condition::for_query_with(&q, &mut terms);
        let params: Vec<_> = c
            .params
            .iter()
            .map(|p| match p {
                Value::Text(t) => t.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        // Known terms, a prefix query when there are too many, phrases and
        // words of several tokens as they were; a word no term starts
        // matches nothing.
        let w = WORD_COLUMNS;
        assert_eq!(
            params,
            [
                format!(r#"{w} : ("load" OR "loadgen")"#),
                format!(r#"{w} : "many"*"#),
                format!(r#"{w} : "whole phrase""#),
                format!(r#"{w} : "mail-box"*"#)
            ]
        );
        assert!(c.sql.contains("(0)"), "{}", c.sql);
        assert_eq!(
            Condition::text_only(&Query::parse("load").unwrap(), &mut terms),
            Some(format!(r#"({w} : ("load" OR "loadgen"))"#))
        );
        assert_eq!(
            Condition::text_only(&Query::parse("zzz").unwrap(), &mut terms),
            None
        );
        // Only plain words are looked up.
        assert_eq!(looked_up, ["load", "many", "zzz", "load", "zzz"]);
    }

    #[test]
    fn one_row_is_looked_up_in_the_indexes() {
        let q = Query::parse("reset to:bob@example").unwrap();
        let one = Condition::for_one_row(&q);
        let fts =
            "EXISTS (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? AND rowid = m.rowid)";
        assert_eq!(
            one.sql,
            format!(
                "(({fts} OR {fts})) AND (EXISTS (SELECT 1 FROM messages_fields \
                 WHERE messages_fields MATCH ? AND rowid = m.rowid))"
            )
        );
        let text = |v: &Value| match v {
            Value::Text(t) => t.clone(),
            other => panic!("{other:?}"),
        };
        let params: Vec<String> = one.params.iter().map(text).collect();
        let w = WORD_COLUMNS;
        assert_eq!(
            params,
            [
                format!(r#"{w} : "reset""#),
                format!(r#"{w} : "reset"*"#),
                r#"{to_addrs} : "bob@example""#.to_string()
            ]
        );
        let all = Condition::for_query(&q);
        assert!(
            all.sql
                .starts_with("(m.rowid IN (SELECT rowid FROM messages_fts"),
            "{}",
            all.sql
        );
    }

    #[test]
    fn a_row_range_lists_each_index_filters_matches_in_the_range() {
        let q = Query::parse("reset -to:bob@example").unwrap();
        let range = Condition::for_row_range(&q, 7, 9);
        let fts = "m.rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? \
                   AND rowid BETWEEN ? AND ?)";
        assert_eq!(
            range.sql,
            format!(
                "(({fts} OR {fts})) AND NOT (m.rowid IN (SELECT rowid FROM messages_fields \
                 WHERE messages_fields MATCH ? AND rowid BETWEEN ? AND ?))"
            )
        );
        let w = WORD_COLUMNS;
        let text = |t: &str| Value::Text(t.to_string());
        assert_eq!(
            range.params,
            [
                text(&format!(r#"{w} : "reset""#)),
                Value::Integer(7),
                Value::Integer(9),
                text(&format!(r#"{w} : "reset"*"#)),
                Value::Integer(7),
                Value::Integer(9),
                text(r#"{to_addrs} : "bob@example""#),
                Value::Integer(7),
                Value::Integer(9),
            ]
        );
    }

    #[test]
    fn only_column_tests_read_the_row() {
        let reads = |q: &str| Condition::for_query(&Query::parse(q).unwrap()).reads_row;
        for q in [
            "",
            "reset",
            "is:unread",
            "tag:x",
            "is:tagged",
            "subject:long",
            "header:X",
        ] {
            assert!(!reads(q), "{q}");
        }
        for q in [
            "subject:ab",
            "from:a",
            "has:attachment",
            "larger:1K",
            "message-id:abc",
        ] {
            assert!(reads(q), "{q}");
        }
    }

    #[test]
    fn a_nul_never_reaches_sqlite_text_unquoted() {
        // Filters built without the parser (MailHog's search) may hold one.
        let q = Query {
            terms: ["a\0b", "a\0"]
                .into_iter()
                .map(|t| crate::domain::search::Term {
                    negated: false,
                    filter: Filter::Address(AddressField::From, t.into()),
                })
                .chain([crate::domain::search::Term {
                    negated: false,
                    filter: Filter::Text {
                        text: "x\0y".into(),
                        phrase: false,
                    },
                }])
                .collect(),
        };
        let c = Condition::for_query(&q);
        assert!(c.sql.starts_with("(0) AND (0) AND ("), "{}", c.sql);
        assert_eq!(
            c.params,
            [Value::Text(format!(r#"{WORD_COLUMNS} : "x y"*"#))]
        );
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_pattern("50%_off"), r"%50\%\_off%");
    }
}
