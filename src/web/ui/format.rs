//! How values look on a page: sizes, times, addresses and clickable links.
//! (`static/format.js` formats the same way for rows added live.)

use crate::domain::message::Address;
use crate::domain::timefmt;

/// `512 B`, `1.2 KB`, `34 MB` (powers of 1024).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// `text` cut to at most `max` bytes (at a character boundary), and
/// whether it was cut: pages show a bounded amount of what a sender wrote.
pub fn cut(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// `text` cut to at most `max` bytes, with `…` when it was cut.
pub fn shorten(text: &str, max: usize) -> String {
    match cut(text, max) {
        (all, false) => all.to_string(),
        (start, true) => format!("{start}…"),
    }
}

/// A search term `field:value`, the value quoted when it has spaces.
pub fn search_term(field: &str, value: &str) -> String {
    if value.contains(char::is_whitespace) {
        format!("{field}:\"{}\"", value.replace('"', ""))
    } else {
        format!("{field}:{value}")
    }
}

/// `2026-11-22 10:00:00 UTC`.
pub fn exact_time(ms: i64) -> String {
    let iso = timefmt::rfc3339_millis(ms);
    format!("{} {} UTC", &iso[..10], &iso[11..19])
}

/// `just now`, `5 min ago`, `3 h ago`, `2 days ago`, then the date.
pub fn relative_time(ms: i64, now_ms: i64) -> String {
    let secs = (now_ms - ms).max(0) / 1000;
    match secs {
        0..45 => "just now".to_string(),
        45..3600 => format!("{} min ago", (secs + 30) / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        86_400..604_800 => match secs / 86_400 {
            1 => "yesterday".to_string(),
            days => format!("{days} days ago"),
        },
        _ => timefmt::rfc3339_millis(ms)[..10].to_string(),
    }
}

/// `Name <address>`, or the address alone.
pub fn address(a: &Address) -> String {
    match (a.name.trim(), a.address.trim()) {
        ("", addr) => addr.to_string(),
        (name, "") => name.to_string(),
        (name, addr) => format!("{name} <{addr}>"),
    }
}

/// The name if there is one, else the address: for narrow columns.
pub fn short_address(a: &Address) -> String {
    let name = a.name.trim();
    if name.is_empty() {
        a.address.trim().to_string()
    } else {
        name.to_string()
    }
}

/// A value for a URL query string (`application/x-www-form-urlencoded`).
pub fn query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// A run of text, or a link whose text is also its target.
#[derive(Debug, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    pub is_link: bool,
}

/// Splits plain text into text and `http(s)://` / `mailto:` links, so a
/// template can make the links clickable while escaping everything.
pub fn linkify(text: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some((start, end)) = next_link(rest) {
        if start > 0 {
            out.push(Segment {
                text: rest[..start].to_string(),
                is_link: false,
            });
        }
        out.push(Segment {
            text: rest[start..end].to_string(),
            is_link: true,
        });
        rest = &rest[end..];
    }
    if !rest.is_empty() {
        out.push(Segment {
            text: rest.to_string(),
            is_link: false,
        });
    }
    out
}

/// Byte range of the first link in `text`.
fn next_link(text: &str) -> Option<(usize, usize)> {
    const SCHEMES: [&str; 3] = ["https://", "http://", "mailto:"];
    let lower = text.to_ascii_lowercase();
    let mut search_from = 0;
    loop {
        let (start, scheme) = SCHEMES
            .iter()
            .filter_map(|s| lower[search_from..].find(s).map(|i| (search_from + i, s)))
            .min_by_key(|(i, _)| *i)?;
        let after_scheme = start + scheme.len();
        let len = text[after_scheme..]
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '`'))
            .unwrap_or(text.len() - after_scheme);
        let mut end = after_scheme + len;
        // Punctuation that ends a sentence is not part of the link; a closing
        // bracket is only when it has no opening one inside the link.
        while end > after_scheme {
            let last = text[..end].chars().next_back().expect("end > after_scheme");
            let unbalanced = |open: char, close: char| {
                last == close
                    && text[start..end].matches(open).count()
                        < text[start..end].matches(close).count()
            };
            if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*')
                || unbalanced('(', ')')
                || unbalanced('[', ']')
            {
                end -= last.len_utf8();
            } else {
                break;
            }
        }
        if end > after_scheme {
            return Some((start, end));
        }
        search_from = after_scheme;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutting_keeps_whole_characters() {
        assert_eq!(cut("abc", 3), ("abc", false));
        assert_eq!(cut("abcd", 3), ("abc", true));
        // `é` is two bytes: a cut inside it moves before it.
        assert_eq!(cut("aé", 2), ("a", true));
        assert_eq!(shorten("aéb", 3), "aé…");
        assert_eq!(shorten("ab", 3), "ab");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KB");
        assert_eq!(size(1536), "1.5 KB");
        assert_eq!(size(50 * 1024 * 1024), "50 MB");
    }

    #[test]
    fn times() {
        let now = 1_795_341_600_000;
        assert_eq!(relative_time(now - 10_000, now), "just now");
        assert_eq!(relative_time(now + 10_000, now), "just now");
        assert_eq!(relative_time(now - 5 * 60_000, now), "5 min ago");
        assert_eq!(relative_time(now - 3 * 3_600_000, now), "3 h ago");
        assert_eq!(relative_time(now - 86_400_000, now), "yesterday");
        assert_eq!(relative_time(now - 3 * 86_400_000, now), "3 days ago");
        assert_eq!(relative_time(now - 30 * 86_400_000, now), "2026-10-23");
        assert_eq!(exact_time(now + 123), "2026-11-22 10:00:00 UTC");
    }

    #[test]
    fn addresses() {
        let a = |name: &str, address: &str| Address {
            name: name.into(),
            address: address.into(),
        };
        assert_eq!(address(&a("Ann", "ann@x")), "Ann <ann@x>");
        assert_eq!(address(&a("", "ann@x")), "ann@x");
        assert_eq!(short_address(&a("Ann", "ann@x")), "Ann");
        assert_eq!(short_address(&a(" ", "ann@x")), "ann@x");
    }

    fn links(text: &str) -> Vec<String> {
        let segments = linkify(text);
        let joined: String = segments.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(joined, text, "nothing is lost");
        segments
            .into_iter()
            .filter(|s| s.is_link)
            .map(|s| s.text)
            .collect()
    }

    #[test]
    fn links_are_found() {
        assert_eq!(
            links("Go to https://example.com/a?b=1. Or mail mailto:x@y.z!"),
            ["https://example.com/a?b=1", "mailto:x@y.z"]
        );
        assert_eq!(
            links("(see http://w.org/wiki/Rust_(lang)) end"),
            ["http://w.org/wiki/Rust_(lang)"]
        );
        assert_eq!(links("<HTTPS://X.ORG/>"), ["HTTPS://X.ORG/"]);
        assert_eq!(
            links("no links: javascript:alert(1) http:// x"),
            [] as [&str; 0]
        );
        assert_eq!(
            links("ünïcode https://ü.example/ä"),
            ["https://ü.example/ä"]
        );
    }
}
