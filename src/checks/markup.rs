//! A message's HTML as a stream of what the checks look at: start tags with
//! their attributes, comments, the doctype and the text of `<style>`
//! blocks, each with its line. Tokenized by html5ever's spec-conformant
//! tokenizer (no tree is built, so nesting depth costs nothing), within a
//! [`Budget`] of bytes and time.

use std::cell::RefCell;
use std::time::Instant;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

/// How much of a message a check may look at.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// HTML beyond this many bytes is not examined.
    pub max_bytes: usize,
    /// Work stops (between chunks of input) once this instant has passed.
    pub deadline: Instant,
}

/// Input is fed in chunks of this size, so the deadline is checked often.
const CHUNK_BYTES: usize = 16 * 1024;

/// One start tag.
#[derive(Debug)]
pub struct Element {
    /// Lower-case tag name.
    pub name: String,
    /// Attributes in source order, names lower-case.
    pub attrs: Vec<(String, String)>,
    pub line: u64,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The start tag written out again, shortened for a report.
    pub fn context(&self) -> String {
        let mut out = format!("<{}", self.name);
        for (name, value) in &self.attrs {
            out.push(' ');
            out.push_str(name);
            if !value.is_empty() {
                out.push_str(&format!("=\"{value}\""));
            }
        }
        out.push('>');
        shorten(&out)
    }
}

/// What the tokenizer reports to a check.
#[derive(Debug)]
pub enum Event {
    Start(Element),
    Comment {
        line: u64,
    },
    Doctype {
        line: u64,
    },
    /// The whole text of one `<style>` element; `line` is where it starts.
    Style {
        css: String,
        line: u64,
    },
}

/// Why a scan saw less than the whole HTML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Cut {
    #[error("only the first {0} bytes of the HTML were examined")]
    Size(usize),
    #[error("the time limit ran out before the end of the HTML")]
    Time,
}

/// Calls `on_event` for each event in `html`, in document order. Returns
/// why the scan stopped early, if it did.
pub fn scan(html: &str, budget: Budget, on_event: impl FnMut(Event)) -> Option<Cut> {
    let (html, mut cut) = if html.len() > budget.max_bytes {
        let end = floor_char_boundary(html, budget.max_bytes);
        (&html[..end], Some(Cut::Size(budget.max_bytes)))
    } else {
        (html, None)
    };
    let tokenizer = Tokenizer::new(
        Sink {
            on_event: RefCell::new(on_event),
            style: RefCell::new(None),
        },
        TokenizerOpts::default(),
    );
    let queue = BufferQueue::default();
    let mut rest = html;
    while !rest.is_empty() {
        if Instant::now() > budget.deadline {
            cut = Some(Cut::Time);
            break;
        }
        let end = floor_char_boundary(rest, CHUNK_BYTES.min(rest.len()));
        // A chunk ends inside a character only when one char is larger
        // than the chunk, which cannot happen at 16 KiB.
        let end = if end == 0 { rest.len() } else { end };
        queue.push_back(StrTendril::from_slice(&rest[..end]));
        rest = &rest[end..];
        // Script tokens are never returned by our sink, so feeding only
        // stops when the queue is empty.
        let _ = tokenizer.feed(&queue);
    }
    if cut.is_none() {
        tokenizer.end();
    } else {
        tokenizer.sink.flush_style();
    }
    cut
}

/// The largest index `<= at` that is a char boundary of `s`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Longest context string in a report, in characters.
const MAX_CONTEXT_CHARS: usize = 120;

/// `text` cut to [`MAX_CONTEXT_CHARS`] characters, whitespace runs folded.
pub fn shorten(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() <= MAX_CONTEXT_CHARS {
        return folded;
    }
    let mut out: String = folded.chars().take(MAX_CONTEXT_CHARS - 1).collect();
    out.push('…');
    out
}

struct Sink<F> {
    on_event: RefCell<F>,
    /// The `<style>` element being read: its text so far and start line.
    style: RefCell<Option<(String, u64)>>,
}

impl<F: FnMut(Event)> Sink<F> {
    fn emit(&self, event: Event) {
        (self.on_event.borrow_mut())(event);
    }

    fn flush_style(&self) {
        if let Some((css, line)) = self.style.borrow_mut().take() {
            self.emit(Event::Style { css, line });
        }
    }

    fn start_tag(&self, tag: Tag, line: u64) -> TokenSinkResult<()> {
        let name = tag.name.to_ascii_lowercase().to_string();
        // Elements whose content the tokenizer must not read as markup,
        // as a browser's tree builder would tell it.
        let raw = match name.as_str() {
            "style" => {
                *self.style.borrow_mut() = Some((String::new(), line));
                Some(RawKind::Rawtext)
            }
            "xmp" | "iframe" | "noembed" | "noframes" => Some(RawKind::Rawtext),
            "script" => Some(RawKind::ScriptData),
            "title" | "textarea" => Some(RawKind::Rcdata),
            _ => None,
        };
        let attrs = tag
            .attrs
            .into_iter()
            .map(|a| {
                (
                    a.name.local.to_ascii_lowercase().to_string(),
                    a.value.to_string(),
                )
            })
            .collect();
        self.emit(Event::Start(Element { name, attrs, line }));
        match raw {
            Some(kind) if !tag.self_closing => TokenSinkResult::RawData(kind),
            _ => TokenSinkResult::Continue,
        }
    }
}

impl<F: FnMut(Event)> TokenSink for Sink<F> {
    type Handle = ();

    fn process_token(&self, token: Token, line: u64) -> TokenSinkResult<()> {
        match token {
            Token::TagToken(tag) if tag.kind == TagKind::StartTag => {
                return self.start_tag(tag, line);
            }
            Token::TagToken(tag) => {
                if tag
                    .name
                    .eq_ignore_ascii_case(&html5ever::local_name!("style"))
                {
                    self.flush_style();
                }
            }
            Token::CharacterTokens(text) => {
                if let Some((css, _)) = self.style.borrow_mut().as_mut() {
                    css.push_str(&text);
                }
            }
            Token::CommentToken(_) => self.emit(Event::Comment { line }),
            Token::DoctypeToken(_) => self.emit(Event::Doctype { line }),
            Token::EOFToken => self.flush_style(),
            Token::NullCharacterToken | Token::ParseError(_) => {}
        }
        TokenSinkResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn events(html: &str) -> Vec<Event> {
        let mut out = Vec::new();
        let budget = Budget {
            max_bytes: 1 << 20,
            deadline: Instant::now() + Duration::from_secs(60),
        };
        assert_eq!(scan(html, budget, |e| out.push(e)), None);
        out
    }

    #[test]
    fn style_text_is_not_markup() {
        let found =
            events("<!doctype html>\n<style>\np > a { color: red }\n</style><!-- x --><P Class=a>");
        assert!(matches!(found[0], Event::Doctype { line: 1 }));
        assert!(matches!(&found[1], Event::Start(e) if e.name == "style" && e.line == 2));
        assert!(
            matches!(&found[2], Event::Style { css, line: 2 } if css.contains("p > a { color: red }"))
        );
        assert!(matches!(found[3], Event::Comment { .. }));
        match &found[4] {
            Event::Start(e) => {
                assert_eq!(e.name, "p");
                assert_eq!(e.attr("class"), Some("a"));
                assert_eq!(e.context(), "<p class=\"a\">");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(found.len(), 5);
    }

    #[test]
    fn script_and_textarea_content_is_text() {
        let found =
            events("<script>document.write('<img src=x>')</script><textarea><b></textarea>");
        let names: Vec<_> = found
            .iter()
            .filter_map(|e| match e {
                Event::Start(e) => Some(e.name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["script", "textarea"]);
    }

    #[test]
    fn size_and_time_limits_cut_the_scan() {
        let html = "<p>é</p>".repeat(10_000);
        let mut count = 0;
        let budget = Budget {
            max_bytes: 1001,
            deadline: Instant::now() + Duration::from_secs(60),
        };
        let cut = scan(&html, budget, |_| count += 1);
        assert_eq!(cut, Some(Cut::Size(1001)));
        assert!(count > 0 && count < 200, "{count}");
        let budget = Budget {
            max_bytes: usize::MAX,
            deadline: Instant::now() - Duration::from_secs(1),
        };
        assert_eq!(
            scan(&html, budget, |_| panic!("nothing is read")),
            Some(Cut::Time)
        );
    }

    #[test]
    fn an_unclosed_style_block_is_still_reported() {
        let found = events("<style>.a{color:red}");
        assert!(matches!(&found[1], Event::Style { css, .. } if css == ".a{color:red}"));
    }
}
