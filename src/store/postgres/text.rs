//! Words for PostgreSQL's full-text search, cut the way SQLite's FTS5
//! `unicode61 remove_diacritics` tokenizer cuts them: runs of letters and
//! digits, lower-cased, accents removed. The `tsvector` and `tsquery`
//! values are written out here as literals rather than left to
//! `to_tsvector`, whose parser depends on the database's locale and keeps
//! e-mail addresses and URLs whole, so that both backends find the same
//! messages for the same words.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// PostgreSQL's limits: a lexeme's bytes, a position, positions per lexeme.
const MAX_LEXEME_BYTES: usize = 2046;
const MAX_POSITION: u32 = 16_383;
const MAX_POSITIONS: usize = 255;
/// A `tsvector` holds at most 1 MB; this leaves room for the positions.
const MAX_VECTOR_BYTES: usize = 700_000;

/// The words of `text`: lower-case, without accents.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(fold)
}

/// One word as indexed: lower-case, accents removed.
fn fold(word: &str) -> String {
    if word.is_ascii() {
        return word.to_ascii_lowercase();
    }
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Builds a `tsvector` literal from words in order: each lexeme with the
/// positions it occurs at.
#[derive(Default)]
pub struct Vector {
    lexemes: std::collections::HashMap<String, Vec<u32>>,
    position: u32,
    bytes: usize,
}

impl Vector {
    /// Adds the words of `text`, positions going on from the last.
    pub fn add_text(&mut self, text: &str) {
        for word in words(text) {
            self.add(word);
        }
    }

    /// Adds one lexeme at the next position.
    pub fn add(&mut self, lexeme: String) {
        if lexeme.len() > MAX_LEXEME_BYTES || self.bytes > MAX_VECTOR_BYTES {
            return;
        }
        self.position = (self.position + 1).min(MAX_POSITION);
        let position = self.position;
        match self.lexemes.get_mut(&lexeme) {
            Some(positions) => {
                if positions.len() < MAX_POSITIONS && positions.last() != Some(&position) {
                    positions.push(position);
                    self.bytes += 2;
                }
            }
            None => {
                self.bytes += lexeme.len() + 8;
                self.lexemes.insert(lexeme, vec![position]);
            }
        }
    }

    /// Leaves a gap, so that a phrase never spans two fields.
    pub fn gap(&mut self) {
        self.position = (self.position + 1).min(MAX_POSITION);
    }

    /// The `tsvector` literal, to be cast with `::text::tsvector`.
    pub fn literal(&self) -> String {
        let mut out = String::with_capacity(self.bytes + self.lexemes.len() * 4);
        for (lexeme, positions) in &self.lexemes {
            if !out.is_empty() {
                out.push(' ');
            }
            quote(lexeme, &mut out);
            out.push(':');
            for (i, p) in positions.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&p.to_string());
            }
        }
        out
    }
}

/// A lexeme in single quotes, its quotes and backslashes escaped.
fn quote(lexeme: &str, out: &mut String) {
    out.push('\'');
    for c in lexeme.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
}

/// The `tsquery` literal of a phrase: these words in this order, the last
/// one as a prefix when `prefix`; `None` when the text holds no word.
/// Each word may be qualified (`header=word`) by `qualify`.
pub fn phrase(text: &str, prefix: bool, qualify: impl Fn(String) -> String) -> Option<String> {
    let words: Vec<String> = words(text)
        .filter(|w| w.len() <= MAX_LEXEME_BYTES)
        .map(qualify)
        .collect();
    let (last, first) = words.split_last()?;
    let mut out = String::new();
    for word in first {
        quote(word, &mut out);
        out.push_str(" <-> ");
    }
    quote(last, &mut out);
    if prefix {
        out.push_str(":*");
    }
    Some(out)
}

/// A header's name as indexed: its words joined by `-`.
pub fn header_name(name: &str) -> String {
    words(name).collect::<Vec<_>>().join("-")
}

/// The header index: for each header a lexeme of its name followed by `=`,
/// then each word of its value qualified by the name (`x-campaign=spring`),
/// so `header:Name:value` finds the value's words in that header only.
pub fn headers_vector(headers: &[(String, String)]) -> Vector {
    let mut vector = Vector::default();
    for (name, value) in headers {
        let name = header_name(name);
        vector.add(format!("{name}="));
        for word in words(value) {
            vector.add(format!("{name}={word}"));
        }
        vector.gap();
    }
    vector
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_cut_as_fts5_cuts_them() {
        let got: Vec<String> = words("Café lovers: carol@Example.com, q3-ledger.PDF").collect();
        assert_eq!(
            got,
            [
                "cafe", "lovers", "carol", "example", "com", "q3", "ledger", "pdf"
            ]
        );
    }

    #[test]
    fn literals_quote_and_position() {
        let mut v = Vector::default();
        v.add_text("it's a b a");
        let literal = v.literal();
        assert!(literal.contains("'a':3,5"), "{literal}");
        assert!(literal.contains("'it':1") && literal.contains("'s':2"));
        assert_eq!(
            phrase("Quick brown", true, |w| w).as_deref(),
            Some("'quick' <-> 'brown':*")
        );
        assert_eq!(phrase("--", false, |w| w), None);
        assert_eq!(
            phrase(r"a'b\c", false, |w| w).as_deref(),
            Some("'a' <-> 'b' <-> 'c'")
        );
    }

    #[test]
    fn header_words_are_qualified_by_the_name() {
        let v = headers_vector(&[("X-Campaign".into(), "spring sale".into())]);
        let literal = v.literal();
        assert!(literal.contains("'x-campaign=':1"), "{literal}");
        assert!(literal.contains("'x-campaign=sale':3"), "{literal}");
    }
}
