//! Which caniemail CSS features a style sheet or a `style` attribute uses,
//! read with Servo's CSS tokenizer (`cssparser`): properties, values,
//! units, functions, at-rules, selectors and pseudo-classes, each with the
//! line it is on. Nested blocks deeper than [`MAX_DEPTH`] are skipped, so
//! hostile CSS cannot exhaust the stack.

use std::time::Instant;

use cssparser::{Parser, SourcePosition, Token};

/// Blocks nested deeper than this are not looked into.
pub const MAX_DEPTH: usize = 24;

/// Receives each feature found: its caniemail slug (which may name no
/// feature of the data; the caller keeps the ones that do), the line and
/// the CSS it was found in.
pub trait Found {
    fn found(&mut self, slug: String, line: u64, context: &str);
    /// Called once when nested blocks were skipped or the deadline passed.
    fn cut_short(&mut self, why: &'static str);
}

/// Scans a style sheet (the text of a `<style>` element starting on
/// `first_line`).
pub fn scan_sheet(css: &str, first_line: u64, deadline: Instant, out: &mut impl Found) {
    let mut parser = Parser::new(css);
    let mut scan = Scan {
        first_line,
        deadline,
        out,
    };
    scan.rules(&mut parser, 0, false);
}

/// Scans the declarations of a `style` attribute on line `line`.
pub fn scan_inline(css: &str, line: u64, deadline: Instant, out: &mut impl Found) {
    let mut parser = Parser::new(css);
    let mut scan = Scan {
        first_line: line,
        deadline,
        out,
    };
    scan.declarations(&mut parser, 0);
}

struct Scan<'o, O> {
    first_line: u64,
    deadline: Instant,
    out: &'o mut O,
}

/// A token reduced to what the scan needs, so the parser can be borrowed
/// again (for a nested block) while it is looked at.
#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Function(String),
    AtKeyword(String),
    Dimension(String),
    Percentage,
    IdHash,
    Delim(char),
    Colon,
    Semicolon,
    Comma,
    Whitespace,
    Comment,
    /// `{`, `(` or `[` (the function case is [`Tok::Function`]).
    Curly,
    Paren,
    Square,
    Other,
}

impl From<&Token<'_>> for Tok {
    fn from(token: &Token<'_>) -> Tok {
        let lower = |s: &str| s.to_ascii_lowercase();
        match token {
            Token::Ident(s) => Tok::Ident(lower(s)),
            Token::Function(s) => Tok::Function(lower(s)),
            Token::AtKeyword(s) => Tok::AtKeyword(lower(s)),
            Token::Dimension { unit, .. } => Tok::Dimension(lower(unit)),
            Token::Percentage { .. } => Tok::Percentage,
            Token::IDHash(_) => Tok::IdHash,
            Token::Delim(c) => Tok::Delim(*c),
            Token::Colon => Tok::Colon,
            Token::Semicolon => Tok::Semicolon,
            Token::Comma => Tok::Comma,
            Token::WhiteSpace(_) => Tok::Whitespace,
            Token::Comment(_) => Tok::Comment,
            Token::CurlyBracketBlock => Tok::Curly,
            Token::ParenthesisBlock => Tok::Paren,
            Token::SquareBracketBlock => Tok::Square,
            _ => Tok::Other,
        }
    }
}

fn next(parser: &mut Parser<'_>) -> Option<Tok> {
    parser
        .next_including_whitespace_and_comments()
        .ok()
        .map(Tok::from)
}

/// `name` without a vendor prefix.
fn unprefixed(name: &str) -> &str {
    for prefix in ["-webkit-", "-moz-", "-ms-", "-o-"] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return rest;
        }
    }
    name
}

impl<O: Found> Scan<'_, O> {
    fn line(&self, parser: &Parser<'_>) -> u64 {
        self.first_line + u64::from(parser.current_source_location().line)
    }

    fn found(&mut self, slug: impl Into<String>, line: u64, context: &str) {
        self.out.found(slug.into(), line, context);
    }

    /// Runs `f` inside the block just opened, unless it is too deep.
    fn nested(
        &mut self,
        parser: &mut Parser<'_>,
        depth: usize,
        f: impl FnOnce(&mut Self, &mut Parser<'_>),
    ) {
        if depth >= MAX_DEPTH {
            self.out.cut_short("CSS nested deeper than the check looks");
            return;
        }
        let _ = parser.parse_nested_block(|inner| {
            f(self, inner);
            Ok::<(), cssparser::ParseError<()>>(())
        });
    }

    fn out_of_time(&mut self) -> bool {
        if Instant::now() > self.deadline {
            self.out.cut_short("the time limit ran out");
            return true;
        }
        false
    }

    /// A list of rules: a style sheet, or the body of `@media`.
    fn rules(&mut self, parser: &mut Parser<'_>, depth: usize, keyframes: bool) {
        while let Some((first, start, line)) = self.next_item(parser, depth) {
            self.style_rule(parser, depth, first, start, line, keyframes);
        }
    }

    /// The next token that starts a rule or a declaration, with where it
    /// starts. Separators are skipped, and comments and at-rules, which
    /// may stand among both, are handled here. `None` at the end of the
    /// input or when time ran out.
    fn next_item(
        &mut self,
        parser: &mut Parser<'_>,
        depth: usize,
    ) -> Option<(Tok, SourcePosition, u64)> {
        loop {
            if self.out_of_time() {
                return None;
            }
            let start = parser.position();
            let line = self.line(parser);
            match next(parser)? {
                Tok::Whitespace | Tok::Semicolon => {}
                Tok::Comment => self.found("css-comments", line, "/* */"),
                Tok::AtKeyword(name) => self.at_rule(parser, depth, &name, start, line),
                tok => return Some((tok, start, line)),
            }
        }
    }

    /// A qualified rule whose first prelude token is `first`: its selector,
    /// then its declarations.
    fn style_rule(
        &mut self,
        parser: &mut Parser<'_>,
        depth: usize,
        first: Tok,
        start: SourcePosition,
        line: u64,
        keyframes: bool,
    ) {
        let mut selector = vec![first];
        loop {
            match next(parser) {
                None => return,
                Some(Tok::Curly) => break,
                Some(Tok::Function(name)) => {
                    // `:not(...)` and friends: their argument is a selector too.
                    selector.push(Tok::Function(name));
                    let mut args = Vec::new();
                    self.nested(parser, depth + 1, |_, inner| {
                        while let Some(t) = next(inner) {
                            args.push(t);
                        }
                    });
                    selector.extend(args);
                }
                Some(t) => selector.push(t),
            }
        }
        let text = parser
            .slice_from(start)
            .trim_end_matches('{')
            .trim()
            .to_string();
        if !keyframes {
            self.selector(&selector, line, &text);
        }
        self.nested(parser, depth + 1, |scan, inner| {
            scan.declarations(inner, depth + 1)
        });
    }

    fn at_rule(
        &mut self,
        parser: &mut Parser<'_>,
        depth: usize,
        name: &str,
        start: SourcePosition,
        line: u64,
    ) {
        let name = unprefixed(name);
        let mut prelude_idents = Vec::new();
        let has_block = loop {
            match next(parser) {
                None | Some(Tok::Semicolon) => break false,
                Some(Tok::Curly) => break true,
                Some(Tok::Ident(word)) => prelude_idents.push(word),
                Some(Tok::Paren | Tok::Function(_)) => {
                    self.nested(parser, depth + 1, |_, inner| {
                        while let Some(t) = next(inner) {
                            if let Tok::Ident(word) = t {
                                prelude_idents.push(word);
                            }
                        }
                    })
                }
                Some(_) => {}
            }
        };
        let text = parser
            .slice_from(start)
            .trim_end_matches(['{', ';'])
            .trim()
            .to_string();
        self.found(format!("css-at-{name}"), line, &text);
        if name == "media" {
            for word in &prelude_idents {
                let feature = unprefixed(word);
                let slug = match feature {
                    "prefers-color-scheme" | "prefers-reduced-motion" | "orientation" | "hover" => {
                        format!("css-at-media-{feature}")
                    }
                    f if f.ends_with("device-pixel-ratio") || f.ends_with("resolution") => {
                        "css-at-media-device-pixel-ratio".into()
                    }
                    _ => continue,
                };
                self.found(slug, line, &text);
            }
        }
        if !has_block {
            return;
        }
        match name {
            "font-face" | "page" | "font-feature-values" | "property" | "counter-style" => self
                .nested(parser, depth + 1, |scan, inner| {
                    scan.declarations(inner, depth + 1)
                }),
            "keyframes" => self.nested(parser, depth + 1, |scan, inner| {
                scan.rules(inner, depth + 1, true)
            }),
            _ => self.nested(parser, depth + 1, |scan, inner| {
                scan.rules(inner, depth + 1, false)
            }),
        }
    }

    /// The simple selectors, combinators and pseudo-classes of a prelude.
    fn selector(&mut self, toks: &[Tok], line: u64, text: &str) {
        let mut compound = 0; // simple selectors in the current compound
        let mut pending_space = false;
        let mut i = 0;
        let end_compound = |scan: &mut Self, compound: &mut usize| {
            if *compound >= 2 {
                scan.found("css-selector-chaining", line, text);
            }
            *compound = 0;
        };
        while i < toks.len() {
            let tok = &toks[i];
            if !matches!(tok, Tok::Whitespace | Tok::Comment) && pending_space {
                pending_space = false;
                if !matches!(tok, Tok::Delim('>' | '+' | '~') | Tok::Comma) {
                    self.found("css-selector-descendant", line, text);
                }
            }
            match tok {
                Tok::Whitespace | Tok::Comment if compound > 0 => {
                    end_compound(self, &mut compound);
                    pending_space = true;
                }
                Tok::Ident(_) => {
                    self.found("css-selector-type", line, text);
                    compound += 1;
                }
                Tok::Delim('.') => {
                    self.found("css-selector-class", line, text);
                    compound += 1;
                    i += 1; // the class name
                }
                Tok::IdHash => {
                    self.found("css-selector-id", line, text);
                    compound += 1;
                }
                Tok::Square => {
                    self.found("css-selector-attribute", line, text);
                    compound += 1;
                }
                Tok::Delim('*') => {
                    self.found("css-selector-universal", line, text);
                    compound += 1;
                }
                Tok::Delim('&') => self.found("css-nesting", line, text),
                Tok::Delim(c @ ('>' | '+' | '~')) => {
                    end_compound(self, &mut compound);
                    let slug = match c {
                        '>' => "css-selector-child",
                        '+' => "css-selector-adjacent-sibling",
                        _ => "css-selector-general-sibling",
                    };
                    self.found(slug, line, text);
                }
                Tok::Comma => {
                    end_compound(self, &mut compound);
                    self.found("css-selector-grouping", line, text);
                }
                Tok::Colon => {
                    let element = toks.get(i + 1) == Some(&Tok::Colon);
                    if element {
                        i += 1;
                    }
                    if let Some(Tok::Ident(name) | Tok::Function(name)) = toks.get(i + 1) {
                        let name = unprefixed(name);
                        let legacy_element =
                            matches!(name, "before" | "after" | "first-letter" | "first-line");
                        let kind = if element || legacy_element {
                            "element"
                        } else {
                            "class"
                        };
                        self.found(format!("css-pseudo-{kind}-{name}"), line, text);
                        i += 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        end_compound(self, &mut compound);
    }

    /// Declarations (`name: value;`), and rules nested among them.
    fn declarations(&mut self, parser: &mut Parser<'_>, depth: usize) {
        while let Some((tok, start, line)) = self.next_item(parser, depth) {
            match tok {
                Tok::Ident(name) => {
                    if self.declaration(parser, depth, &name, start, line) {
                        return;
                    }
                }
                // `&:hover { ... }`, `.a { ... }` inside a rule.
                other => {
                    self.found("css-nesting", line, parser.slice_from(start));
                    self.style_rule(parser, depth, other, start, line, false);
                }
            }
        }
    }

    /// One declaration whose name was just read. Returns whether the input
    /// ended.
    fn declaration(
        &mut self,
        parser: &mut Parser<'_>,
        depth: usize,
        name: &str,
        start: SourcePosition,
        line: u64,
    ) -> bool {
        let mut saw_colon = false;
        let mut value = Vec::new();
        let ended = loop {
            match next(parser) {
                None => break true,
                Some(Tok::Semicolon) => break false,
                Some(Tok::Colon) if !saw_colon => saw_colon = true,
                Some(Tok::Curly) => {
                    // It was a nested rule such as `a:hover { ... }`.
                    let text = parser
                        .slice_from(start)
                        .trim_end_matches('{')
                        .trim()
                        .to_string();
                    self.found("css-nesting", line, &text);
                    self.nested(parser, depth + 1, |scan, inner| {
                        scan.declarations(inner, depth + 1)
                    });
                    return false;
                }
                Some(Tok::Function(f)) => {
                    value.push(Tok::Function(f));
                    self.nested(parser, depth + 1, |_, inner| {
                        collect_value(inner, &mut value, depth + 1);
                    });
                }
                Some(t) => value.push(t),
            }
        };
        if saw_colon {
            let text = parser
                .slice_from(start)
                .trim_end_matches(';')
                .trim()
                .to_string();
            self.property(name, &value, line, &text);
        }
        ended
    }

    fn property(&mut self, name: &str, value: &[Tok], line: u64, text: &str) {
        for slug in property_slugs(name) {
            self.found(slug, line, text);
        }
        let property = unprefixed(name);
        let mut after_bang = false;
        for tok in value {
            let slug = match tok {
                Tok::Ident(word) if after_bang && word == "important" => {
                    Some("css-important".into())
                }
                Tok::Ident(word) => value_keyword_slug(property, word),
                Tok::Function(f) => function_slug(unprefixed(f)),
                Tok::Dimension(unit) => Some(format!("css-unit-{unit}")),
                Tok::Percentage => Some("css-unit-percent".into()),
                _ => None,
            };
            after_bang = *tok == Tok::Delim('!');
            if let Some(slug) = slug {
                self.found(slug, line, text);
            }
        }
    }
}

/// A value's tokens, including those inside its functions.
fn collect_value(parser: &mut Parser<'_>, out: &mut Vec<Tok>, depth: usize) {
    while let Some(tok) = next(parser) {
        let opens = matches!(
            tok,
            Tok::Function(_) | Tok::Paren | Tok::Square | Tok::Curly
        );
        out.push(tok);
        if opens && depth < MAX_DEPTH {
            let _ = parser.parse_nested_block(|inner| {
                collect_value(inner, out, depth + 1);
                Ok::<(), cssparser::ParseError<()>>(())
            });
        }
    }
}

/// The features a property name stands for.
fn property_slugs(name: &str) -> Vec<String> {
    if name.starts_with("--") {
        return vec!["css-variables".into()];
    }
    let name = unprefixed(name);
    let mut slugs = vec![format!("css-{name}")];
    let group = |prefix: &str| name == prefix || name.starts_with(&format!("{prefix}-"));
    let logical = |base: &str| -> Option<&'static str> {
        // margin-inline, margin-block-start, ... (also padding)
        let rest = name.strip_prefix(base)?.strip_prefix('-')?;
        Some(match rest {
            "inline" | "block" => "inline-block",
            "block-start" | "block-end" => "block-start-end",
            "inline-start" | "inline-end" => "inline-start-end",
            _ => return None,
        })
    };
    let extra: Option<String> = if let Some(kind) = logical("margin") {
        Some(format!("css-margin-{kind}"))
    } else if let Some(kind) = logical("padding") {
        Some(format!("css-padding-{kind}"))
    } else if group("margin") {
        Some("css-margin".into())
    } else if group("padding") {
        Some("css-padding".into())
    } else if matches!(name, "border-inline" | "border-block") {
        Some("css-border-inline-block".into())
    } else if name.ends_with("-radius") {
        let logical_corner = name.starts_with("border-start-") || name.starts_with("border-end-");
        Some(
            if logical_corner {
                "css-border-radius-logical"
            } else {
                "css-border-radius"
            }
            .into(),
        )
    } else if name.starts_with("border-inline-") || name.starts_with("border-block-") {
        let parts = name.split('-').count();
        Some(
            if parts >= 4 {
                "css-border-inline-block-longhand"
            } else {
                "css-border-inline-block-individual"
            }
            .into(),
        )
    } else if group("border")
        && !name.starts_with("border-image")
        && !matches!(name, "border-collapse" | "border-spacing")
    {
        Some("css-border".into())
    } else if group("column") || name == "columns" {
        Some("css-column-layout-properties".into())
    } else if matches!(name, "left" | "right" | "top" | "bottom") {
        Some("css-left-right-top-bottom".into())
    } else if group("inset") {
        Some("css-inset".into())
    } else if group("animation") {
        Some("css-animation".into())
    } else if group("transition") {
        Some("css-transition".into())
    } else if group("grid-template") {
        Some("css-grid-template".into())
    } else if group("scroll-snap") {
        Some("css-scroll-snap".into())
    } else if matches!(name, "block-size" | "inline-size") {
        Some("css-block-inline-size".into())
    } else if group("mask") {
        Some("css-mask-image".into())
    } else {
        None
    };
    slugs.extend(extra.filter(|slug| *slug != slugs[0]));
    slugs
}

/// The feature a keyword in a value stands for.
fn value_keyword_slug(property: &str, word: &str) -> Option<String> {
    let word = unprefixed(word);
    Some(match (property, word) {
        ("display", "flex" | "inline-flex" | "box" | "inline-box") => "css-display-flex".into(),
        ("display", "grid" | "inline-grid") => "css-display-grid".into(),
        ("display", "none") => "css-display-none".into(),
        (_, "initial") => "css-unit-initial".into(),
        (_, "system-ui" | "ui-serif" | "ui-sans-serif" | "ui-rounded" | "ui-monospace") => {
            "css-sytem-ui".into()
        }
        _ => return None,
    })
}

/// The feature a function in a value stands for.
fn function_slug(function: &str) -> Option<String> {
    Some(match function {
        "rgb" | "rgba" => format!("css-{function}"),
        "calc" => "css-unit-calc".into(),
        "clamp" | "min" | "max" | "light-dark" => format!("css-function-{function}"),
        "var" => "css-variables".into(),
        "lch" | "oklch" | "lab" | "oklab" => "css-modern-color".into(),
        f if f.ends_with("linear-gradient") => "css-linear-gradient".into(),
        f if f.ends_with("radial-gradient") => "css-radial-gradient".into(),
        f if f.ends_with("conic-gradient") => "css-conic-gradient".into(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[derive(Default)]
    struct Collect {
        found: Vec<(String, u64, String)>,
        cut: Vec<&'static str>,
    }

    impl Found for Collect {
        fn found(&mut self, slug: String, line: u64, context: &str) {
            self.found.push((slug, line, context.to_string()));
        }
        fn cut_short(&mut self, why: &'static str) {
            self.cut.push(why);
        }
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    fn slugs(c: &Collect) -> Vec<&str> {
        c.found.iter().map(|(s, _, _)| s.as_str()).collect()
    }

    #[test]
    fn inline_declarations() {
        let mut c = Collect::default();
        scan_inline(
            "display: flex; margin-top: 1rem !important; color: rgb(0 0 0); width: calc(100% - 2px)",
            7,
            later(),
            &mut c,
        );
        let s = slugs(&c);
        for want in [
            "css-display",
            "css-display-flex",
            "css-margin",
            "css-unit-rem",
            "css-important",
            "css-rgb",
            "css-width",
            "css-unit-calc",
            "css-unit-percent",
            "css-unit-px",
        ] {
            assert!(s.contains(&want), "{want} in {s:?}");
        }
        assert!(c.found.iter().all(|(_, line, _)| *line == 7));
        assert!(
            c.found
                .iter()
                .any(|(s, _, ctx)| s == "css-display-flex" && ctx == "display: flex")
        );
    }

    #[test]
    fn sheet_rules_selectors_and_at_rules() {
        let css = "\n/* c */\n@media (prefers-color-scheme: dark) {\n  .a.b > p:hover, #x li::before { color: red }\n}\n@font-face { font-family: x }\n";
        let mut c = Collect::default();
        scan_sheet(css, 10, later(), &mut c);
        let s = slugs(&c);
        for want in [
            "css-comments",
            "css-at-media",
            "css-at-media-prefers-color-scheme",
            "css-selector-class",
            "css-selector-chaining",
            "css-selector-child",
            "css-selector-type",
            "css-pseudo-class-hover",
            "css-selector-grouping",
            "css-selector-id",
            "css-selector-descendant",
            "css-pseudo-element-before",
            "css-color",
            "css-at-font-face",
            "css-font-family",
        ] {
            assert!(s.contains(&want), "{want} in {s:?}");
        }
        let line_of = |slug: &str| c.found.iter().find(|(s, _, _)| s == slug).unwrap().1;
        assert_eq!(line_of("css-comments"), 11);
        assert_eq!(line_of("css-at-media"), 12);
        assert_eq!(line_of("css-pseudo-class-hover"), 13);
        assert_eq!(line_of("css-at-font-face"), 15);
        assert!(c.cut.is_empty());
    }

    #[test]
    fn nesting_is_found_and_depth_is_bounded() {
        let mut c = Collect::default();
        scan_sheet(
            ".a { color: red; &:hover { color: blue } }",
            1,
            later(),
            &mut c,
        );
        assert!(slugs(&c).contains(&"css-nesting"));

        let deep = format!(
            "{}{}",
            "@media screen {".repeat(100_000),
            "}".repeat(100_000)
        );
        let mut c = Collect::default();
        scan_sheet(&deep, 1, later(), &mut c);
        assert!(!c.cut.is_empty());
        let deep = format!(
            "p {{ width: {}1px{} }}",
            "calc(".repeat(100_000),
            ")".repeat(100_000)
        );
        let mut c = Collect::default();
        scan_sheet(&deep, 1, later(), &mut c);
        assert!(slugs(&c).contains(&"css-unit-calc"));
    }

    #[test]
    fn the_deadline_stops_the_scan() {
        let mut c = Collect::default();
        scan_sheet(
            &"p { color: red }".repeat(1000),
            1,
            Instant::now() - Duration::from_secs(1),
            &mut c,
        );
        assert!(c.found.is_empty());
        assert_eq!(c.cut, ["the time limit ran out"]);
    }
}
