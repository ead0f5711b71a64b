//! What tests pull out of a message: its links and its one-time codes.

use serde::Serialize;

use crate::domain::message::html_to_text;

/// Where something was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Html,
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Link {
    #[serde(rename = "URL")]
    pub url: String,
    /// The link's visible text (HTML), or empty for a bare URL in text.
    pub text: String,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Code {
    pub code: String,
    /// The line it was found on.
    pub context: String,
    pub source: Source,
}

/// Every link, HTML first then text, each URL once, in document order.
pub fn links(html: &str, text: &str) -> Vec<Link> {
    let mut out: Vec<Link> = Vec::new();
    let mut push = |link: Link| {
        if !out.iter().any(|l| l.url == link.url) {
            out.push(link);
        }
    };
    for (url, inner) in anchors(html) {
        push(Link {
            url,
            text: inner,
            source: Source::Html,
        });
    }
    // Bare URLs in the HTML's text and in the text part.
    for (source, body) in [
        (Source::Html, html_to_text(html)),
        (Source::Text, text.to_string()),
    ] {
        for url in bare_urls(&body) {
            push(Link {
                url,
                text: String::new(),
                source,
            });
        }
    }
    out
}

/// `(href, visible text)` of each `<a href>` in document order.
fn anchors(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(found) = lower[at..].find("<a") {
        let start = at + found;
        at = start + 2;
        // `<a` must be followed by whitespace (not `<abbr>`).
        if !lower[at..].starts_with(|c: char| c.is_ascii_whitespace()) {
            continue;
        }
        let Some(tag_len) = lower[start..].find('>') else {
            break;
        };
        let tag = &html[start..start + tag_len];
        let end_of_inner = lower[start + tag_len..]
            .find("</a")
            .map_or(html.len(), |i| start + tag_len + i);
        let inner = &html[start + tag_len + 1..end_of_inner.max(start + tag_len + 1)];
        at = end_of_inner.max(at);
        if let Some(href) = attribute(tag, "href") {
            let href = decode_entities(href.trim());
            let lowered = href.to_ascii_lowercase();
            if href.is_empty() || href.starts_with('#') || lowered.starts_with("javascript:") {
                continue;
            }
            let text = html_to_text(inner)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            out.push((href, text));
        }
    }
    out
}

/// The value of `name="..."` (or single-quoted, or bare) in a tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before = lower[..at].chars().next_back();
        if !before.is_some_and(|c| c.is_ascii_whitespace()) {
            continue;
        }
        let rest = tag[from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        return Some(match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or(""),
            _ => rest
                .split(|c: char| c.is_ascii_whitespace() || c == '>')
                .next()
                .unwrap_or(""),
        });
    }
    None
}

fn decode_entities(text: &str) -> String {
    // Links mostly carry &amp; in query strings; html_to_text knows the rest.
    if text.contains('&') {
        html_to_text(text)
    } else {
        text.to_string()
    }
}

/// `http(s)://...` runs in plain text, without trailing punctuation.
fn bare_urls(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = text.to_ascii_lowercase();
    let mut at = 0;
    while let Some(i) = lower[at..].find("http") {
        let start = at + i;
        let rest = &lower[start..];
        at = start + 4;
        if !(rest.starts_with("http://") || rest.starts_with("https://")) {
            continue;
        }
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`'))
            .map_or(text.len(), |e| start + e);
        let url = text[start..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '}']);
        if url.len() > "https://".len() {
            out.push(url.to_string());
        }
        at = end.max(at);
    }
    out
}

/// Words that announce a one-time code.
const CODE_WORDS: &[&str] = &[
    "code",
    "otp",
    "verification",
    "verify",
    "passcode",
    "password",
    "pin",
    "token",
    "one-time",
    "one time",
    "2fa",
    "confirm",
    "security",
    "login",
    "sign in",
    "sign-in",
];

/// One-time codes: 4-8 digit numbers (also written `123 456` or `123-456`)
/// or 6-8 character tokens of capitals and digits with at least one digit,
/// on a line that mentions a code word or right after one that introduces
/// it.
pub fn codes(html: &str, text: &str) -> Vec<Code> {
    let mut out: Vec<Code> = Vec::new();
    for (source, body) in [
        (Source::Text, text.to_string()),
        (Source::Html, html_to_text(html)),
    ] {
        let lines: Vec<&str> = body
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        for (i, line) in lines.iter().enumerate() {
            let announced = |l: &str| {
                let l = l.to_lowercase();
                CODE_WORDS.iter().any(|w| l.contains(w))
            };
            // A code on the line after "Your code:" counts when it stands
            // alone or the line before ends in a colon.
            let after_announcement = i > 0
                && announced(lines[i - 1])
                && (lines[i - 1].ends_with(':') || line.split_whitespace().count() <= 2);
            if !(announced(line) || after_announcement) {
                continue;
            }
            for code in candidates(line) {
                if !out.iter().any(|c| c.code == code) {
                    out.push(Code {
                        code,
                        context: line.chars().take(200).collect(),
                        source,
                    });
                }
            }
        }
    }
    out
}

fn candidates(line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        i += 1;
        if word.contains("://") || word.contains('@') {
            continue;
        }
        let token = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
        let token = token.trim_matches('-');
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        // `123-456` and `123 456`.
        if let Some((a, b)) = token.split_once('-')
            && a.len() == 3
            && b.len() == 3
            && digits(a)
            && digits(b)
        {
            out.push(format!("{a}{b}"));
            continue;
        }
        if token.len() == 3 && digits(token) {
            let next = words
                .get(i)
                .map(|w| w.trim_matches(|c: char| !c.is_ascii_digit()));
            if let Some(next) = next.filter(|n| n.len() == 3 && digits(n)) {
                out.push(format!("{token}{next}"));
                i += 1;
                continue;
            }
        }
        let is_number = (4..=8).contains(&token.len()) && digits(token);
        let is_token = (6..=8).contains(&token.len())
            && token
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && token.bytes().any(|b| b.is_ascii_digit())
            && token.bytes().any(|b| b.is_ascii_uppercase());
        if is_number || is_token {
            out.push(token.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_from_html_and_text_in_order_without_duplicates() {
        let html = r#"<p>Hi <a class="x" href="https://app.test/verify?a=1&amp;b=2">Verify <b>now</b></a>
            <a href='#top'>top</a> <a href="javascript:alert(1)">x</a> <abbr>no</abbr>
            <A HREF=https://app.test/help>Help</A> see https://docs.test/guide.</p>"#;
        let text = "Verify: https://app.test/verify?a=1&b=2\nOr (https://other.test/x).";
        let links = links(html, text);
        let urls: Vec<_> = links
            .iter()
            .map(|l| (l.url.as_str(), l.text.as_str(), l.source))
            .collect();
        assert_eq!(
            urls,
            [
                (
                    "https://app.test/verify?a=1&b=2",
                    "Verify now",
                    Source::Html
                ),
                ("https://app.test/help", "Help", Source::Html),
                ("https://docs.test/guide", "", Source::Html),
                ("https://other.test/x", "", Source::Text),
            ]
        );
    }

    #[test]
    fn codes_near_code_words() {
        let text = "Hello Bob,\nYour verification code is 482913.\nOrder 20261122 shipped.\nUse this code:\nAB12CD\nCall 555 0100";
        let found: Vec<_> = codes("", text).into_iter().map(|c| c.code).collect();
        assert_eq!(found, ["482913", "AB12CD"]);
    }

    #[test]
    fn split_codes_and_html() {
        let html = "<p>Your login code</p><p><strong>123-456</strong></p><p>or 789 012 for SMS</p>";
        let found = codes(html, "");
        assert_eq!(found[0].code, "123456");
        assert_eq!(found[0].source, Source::Html);
        let text = codes("", "Security PIN: 4821");
        assert_eq!(text[0].code, "4821");
        assert_eq!(text[0].context, "Security PIN: 4821");
    }

    #[test]
    fn no_code_words_no_codes() {
        assert!(codes("", "Invoice 123456 for order 7890").is_empty());
        assert!(codes("", "Your code: https://x.test/123456 or me@12345.test").is_empty());
    }
}
