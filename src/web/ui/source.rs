//! Looking at a message's HTML as source: highlighting for the HTML source
//! tab (lines of tokens: tag, attribute, value, comment, text, for the
//! template to wrap in classes; everything stays text, the template
//! escapes it), and whether it loads remote content.

/// One run of source text and its class (`""` for plain text).
pub struct Token {
    pub class: &'static str,
    pub text: String,
}

/// Tokens by line, without the line ends.
pub fn highlight(html: &str) -> Vec<Vec<Token>> {
    let mut lines: Vec<Vec<Token>> = vec![Vec::new()];
    for (class, text) in tokens(html) {
        for (i, piece) in text.split('\n').enumerate() {
            if i > 0 {
                lines.push(Vec::new());
            }
            let piece = piece.strip_suffix('\r').unwrap_or(piece);
            if !piece.is_empty() {
                let line = lines.last_mut().expect("there is always a line");
                line.push(Token {
                    class,
                    text: piece.to_string(),
                });
            }
        }
    }
    lines
}

/// The source as `(class, text)` runs, in order, covering all of it.
fn tokens(html: &str) -> Vec<(&'static str, &str)> {
    let mut out = Vec::new();
    let mut rest = html;
    while !rest.is_empty() {
        if let Some(comment) = rest.strip_prefix("<!--") {
            let end = comment.find("-->").map_or(rest.len(), |e| e + 7);
            out.push(("hl-comment", &rest[..end]));
            rest = &rest[end..];
        } else if starts_tag(rest) {
            rest = tag(rest, &mut out);
        } else {
            // At least the first character, which may be a `<` that starts
            // no tag.
            let first = rest.chars().next().map_or(1, char::len_utf8);
            let end = rest[first..].find('<').map_or(rest.len(), |e| e + first);
            out.push(("", &rest[..end]));
            rest = &rest[end..];
        }
    }
    out
}

fn starts_tag(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next() == Some('<')
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!' || c == '?')
}

/// One tag from `<` to `>` (or the end): its name, attribute names and
/// quoted values. Returns what follows it.
fn tag<'a>(text: &'a str, out: &mut Vec<(&'static str, &'a str)>) -> &'a str {
    // `<`, then `/`, `!` or `?` if there, then the name.
    let after = if matches!(text.as_bytes().get(1), Some(b'/' | b'!' | b'?')) {
        2
    } else {
        1
    };
    let name_end = text[after..]
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .map_or(text.len(), |e| e + after);
    out.push(("hl-tag", &text[..name_end]));
    let mut rest = &text[name_end..];
    loop {
        let Some(c) = rest.chars().next() else {
            return rest;
        };
        let (class, len) = match c {
            '>' => {
                out.push(("hl-tag", ">"));
                return &rest[1..];
            }
            '"' | '\'' => ("hl-value", rest[1..].find(c).map_or(rest.len(), |e| e + 2)),
            c if c.is_whitespace() || c == '=' || c == '/' => ("", c.len_utf8()),
            _ => (
                "hl-attr",
                rest.find(|c: char| c.is_whitespace() || matches!(c, '=' | '>' | '/' | '"' | '\''))
                    .unwrap_or(rest.len())
                    .max(c.len_utf8()),
            ),
        };
        out.push((class, &rest[..len]));
        rest = &rest[len..];
    }
}

/// Whether the HTML loads anything from other servers: an image, style,
/// font or media source, a background, a stylesheet link or an `@import`
/// whose URL is `http:`, `https:` or `//`. (Links to click are not.)
pub fn has_remote_content(html: &str) -> bool {
    const LOADERS: [&str; 8] = [
        "src=",
        "srcset=",
        "background=",
        "poster=",
        "url(",
        "@import",
        "<link",
        "data=",
    ];
    let lower = html.to_ascii_lowercase();
    LOADERS.iter().any(|loader| {
        lower.match_indices(loader).any(|(at, _)| {
            let after = &lower[at + loader.len()..];
            // A `<link>`'s URL is in its href, within the tag.
            let after = match *loader {
                "<link" => {
                    let tag = &after[..after.find('>').unwrap_or(after.len())];
                    match tag.find("href=") {
                        Some(href) => &tag[href + 5..],
                        None => return false,
                    }
                }
                _ => after,
            };
            let value =
                after.trim_start_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'');
            ["http:", "https:", "//"]
                .iter()
                .any(|scheme| value.starts_with(scheme))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(html: &str) -> Vec<String> {
        highlight(html)
            .iter()
            .map(|line| {
                line.iter()
                    .map(|t| format!("{}:{}", t.class, t.text))
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    }

    #[test]
    fn tags_attributes_values_and_comments() {
        assert_eq!(
            classes("<p class=\"a\">Hi & <b>x</b></p><!-- c\nd -->\n"),
            [
                "hl-tag:<p|: |hl-attr:class|:=|hl-value:\"a\"|hl-tag:>|:Hi & |hl-tag:<b|hl-tag:>|:x|hl-tag:</b|hl-tag:>|hl-tag:</p|hl-tag:>|hl-comment:<!-- c",
                "hl-comment:d -->",
                ""
            ]
        );
    }

    #[test]
    fn remote_content_is_what_loads_by_itself() {
        for remote in [
            "<img src=\"https://t.example/p.gif\">",
            "<img SRC='//cdn.example/x.png'>",
            "<div style=\"background: url( http://x.example/a.png)\">",
            "<td background=\"http://x.example/bg.png\">",
            "<link rel=stylesheet href=\"https://x.example/a.css\">",
            "<style>@import 'https://x.example/a.css';</style>",
            "<img srcset=\"https://x.example/a.png 2x\">",
        ] {
            assert!(has_remote_content(remote), "{remote}");
        }
        for local in [
            "<a href=\"https://example.com\">link</a>",
            "<img src=\"/view/X/part/2\">",
            "<img src=\"data:image/png;base64,AAAA\">",
            "<p>see https://example.com</p>",
            "<link rel=icon>",
        ] {
            assert!(!has_remote_content(local), "{local}");
        }
    }

    #[test]
    fn text_is_kept_whole_whatever_it_is() {
        for html in [
            "a < b",
            "<",
            "<p",
            "<p a='x",
            "<a href=x/>",
            "é<é>",
            "<!--",
            "</",
            "\r\n",
        ] {
            let joined: String = tokens(html).iter().map(|(_, t)| *t).collect();
            assert_eq!(joined, html);
        }
    }
}
