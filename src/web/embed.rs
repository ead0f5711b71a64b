//! `/view/{ID}.html?embed=1`: every link of the message opens in a new tab
//! without telling the target where it came from, as Mailpit's `embed`
//! does: each `<a>` gets `target="_blank" rel="noreferrer noopener"` in
//! place of any `target` or `rel` of its own.

const NEW_TAB: &str = r#" target="_blank" rel="noreferrer noopener""#;

/// `html` with each `<a ...>` start tag rewritten; everything else as it was.
pub fn links_open_in_new_tab(html: &str) -> String {
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len() + 64);
    let mut copied = 0;
    let mut at = 0;
    while let Some(found) = memchr::memchr(b'<', &bytes[at..]) {
        let start = at + found;
        at = start + 1;
        let is_link = matches!(bytes.get(start + 1), Some(b'a' | b'A'))
            && bytes
                .get(start + 2)
                .is_some_and(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/');
        if !is_link {
            continue;
        }
        let Some((attributes, end)) = start_tag(html, start + 2) else {
            break; // an unterminated tag: leave the rest as it is
        };
        out.push_str(&html[copied..start]);
        out.push_str("<a");
        for attribute in attributes {
            let name = attribute
                .split(|c: char| c == '=' || c.is_ascii_whitespace())
                .next()
                .unwrap_or_default();
            if !name.eq_ignore_ascii_case("target") && !name.eq_ignore_ascii_case("rel") {
                out.push(' ');
                out.push_str(attribute);
            }
        }
        out.push_str(NEW_TAB);
        out.push('>');
        copied = end;
        at = end;
    }
    out.push_str(&html[copied..]);
    out
}

/// The attributes of a start tag whose name ends at `from`, as written
/// (`name`, `name=value`, `name="value"`), and where the tag ends (after
/// its `>`). `None` when the tag never ends.
fn start_tag(html: &str, from: usize) -> Option<(Vec<&str>, usize)> {
    let bytes = html.as_bytes();
    let mut attributes = Vec::new();
    let mut i = from;
    loop {
        while bytes
            .get(i)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b'/')
        {
            i += 1;
        }
        match bytes.get(i)? {
            b'>' => return Some((attributes, i + 1)),
            _ => {
                let start = i;
                while bytes
                    .get(i)
                    .is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b'=' | b'>'))
                {
                    i += 1;
                }
                // `name = "value"`: spaces around `=` are allowed.
                let mut j = i;
                while bytes.get(j).is_some_and(u8::is_ascii_whitespace) {
                    j += 1;
                }
                if bytes.get(j) == Some(&b'=') {
                    j += 1;
                    while bytes.get(j).is_some_and(u8::is_ascii_whitespace) {
                        j += 1;
                    }
                    match bytes.get(j)? {
                        quote @ (b'"' | b'\'') => {
                            let close = memchr::memchr(*quote, &bytes[j + 1..])?;
                            j += close + 2;
                        }
                        _ => {
                            while bytes
                                .get(j)
                                .is_some_and(|b| !b.is_ascii_whitespace() && *b != b'>')
                            {
                                j += 1;
                            }
                        }
                    }
                    i = j;
                }
                if i == start {
                    i += 1; // a stray `=`: skip it
                    continue;
                }
                attributes.push(&html[start..i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::links_open_in_new_tab as rewrite;

    #[test]
    fn links_get_a_new_tab_and_no_referrer() {
        assert_eq!(
            rewrite(r#"<p><a href="https://x.test">X</a></p>"#),
            r#"<p><a href="https://x.test" target="_blank" rel="noreferrer noopener">X</a></p>"#
        );
        assert_eq!(
            rewrite(r#"<A HREF='a>b' TARGET=_self rel = "opener" class=c>"#),
            r#"<a HREF='a>b' class=c target="_blank" rel="noreferrer noopener">"#
        );
        assert_eq!(
            rewrite("<abbr>x</abbr><a>y</a>"),
            r#"<abbr>x</abbr><a target="_blank" rel="noreferrer noopener">y</a>"#
        );
    }

    #[test]
    fn odd_markup_is_left_alone() {
        assert_eq!(rewrite("a < b <a href=x"), "a < b <a href=x");
        assert_eq!(rewrite(r#"<a href="x>"#), r#"<a href="x>"#);
        assert_eq!(rewrite(""), "");
    }
}
