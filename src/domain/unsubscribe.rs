//! `List-Unsubscribe` (RFC 2369) and one-click unsubscribe (RFC 8058),
//! read and checked as a mailbox provider would before offering its
//! "Unsubscribe" button.

use mailparse::MailHeaderMap;

use crate::domain::message::{first_value, header_value, top_headers};

/// What the message says about unsubscribing, and what is wrong with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListUnsubscribe {
    /// `List-Unsubscribe` as sent (unfolded); empty when absent.
    pub header: String,
    /// The URIs in its angle brackets, in order.
    pub links: Vec<String>,
    /// Each problem found, in words (empty: none).
    pub errors: Vec<String>,
    /// `List-Unsubscribe-Post` as sent; empty when absent.
    pub header_post: String,
    /// RFC 8058 one-click holds: the exact POST header, an https link,
    /// and a DKIM signature over both headers.
    pub one_click: bool,
}

impl ListUnsubscribe {
    /// Whether the message asks for one-click unsubscribe: the exact
    /// `List-Unsubscribe-Post` value and an https link. [`Self::one_click`]
    /// adds the DKIM signature a mailbox provider wants before it offers
    /// the button.
    pub fn declares_one_click(&self) -> bool {
        self.header_post == ONE_CLICK && self.links.iter().any(|l| scheme_is(l, "https"))
    }
}

/// The most links read from one header.
const MAX_LINKS: usize = 20;
const ONE_CLICK: &str = "List-Unsubscribe=One-Click";

/// Reads and checks the top-level header of `raw`.
pub fn of_message(raw: &[u8]) -> ListUnsubscribe {
    let Ok(headers) = top_headers(raw) else {
        return ListUnsubscribe::default();
    };
    let signed: Vec<String> = headers
        .get_all_headers("DKIM-Signature")
        .into_iter()
        .map(header_value)
        .collect();
    check(
        first_value(&headers, "List-Unsubscribe").as_deref(),
        first_value(&headers, "List-Unsubscribe-Post").as_deref(),
        &signed,
    )
}

/// `header` and `post` are the two headers' values, `dkim_signatures` the
/// values of every `DKIM-Signature` (only their `h=` is read here: whether
/// a signature verifies is the authentication check's to say).
pub fn check(
    header: Option<&str>,
    post: Option<&str>,
    dkim_signatures: &[String],
) -> ListUnsubscribe {
    let mut out = ListUnsubscribe {
        header: header.unwrap_or_default().trim().to_string(),
        header_post: post.unwrap_or_default().trim().to_string(),
        ..ListUnsubscribe::default()
    };
    if header.is_some() {
        read_links(&mut out);
    }
    if post.is_none() {
        return out;
    }
    if header.is_none() {
        out.errors
            .push("List-Unsubscribe-Post without List-Unsubscribe".into());
    }
    if out.header_post != ONE_CLICK {
        out.errors.push(format!(
            "List-Unsubscribe-Post must be exactly \"{ONE_CLICK}\" (RFC 8058)"
        ));
    }
    if header.is_some() && !out.links.iter().any(|l| scheme_is(l, "https")) {
        out.errors.push(
            "one-click unsubscribe needs an https: link in List-Unsubscribe (RFC 8058)".into(),
        );
    }
    if !dkim_signatures.iter().any(|s| covers_both(s)) {
        out.errors.push(
            "no DKIM signature covers both List-Unsubscribe and List-Unsubscribe-Post (RFC 8058 section 4)"
                .into(),
        );
    }
    out.one_click = out.errors.is_empty();
    out
}

/// RFC 2369: `<URI>` entries separated by commas; only mailto: and
/// http(s): are ones a client would use.
fn read_links(out: &mut ListUnsubscribe) {
    let mut rest = out.header.as_str();
    let mut errors = Vec::new();
    let mut links = Vec::new();
    if rest.is_empty() {
        errors.push("List-Unsubscribe is empty".to_string());
    }
    while !rest.is_empty() {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if rest.is_empty() {
            break;
        }
        if let Some(after) = rest.strip_prefix('<') {
            let Some((uri, tail)) = after.split_once('>') else {
                errors.push("a link's \"<\" is not closed by \">\"".to_string());
                break;
            };
            let uri = uri.trim();
            if links.len() < MAX_LINKS {
                if !(scheme_is(uri, "mailto") || scheme_is(uri, "https") || scheme_is(uri, "http"))
                {
                    errors.push(format!("\"{uri}\" is not a mailto: or http(s): link"));
                }
                links.push(uri.to_string());
            }
            rest = tail;
        } else {
            // Text outside the angle brackets (a bare URI, a comment).
            let end = rest.find([',', '<']).unwrap_or(rest.len());
            errors.push(format!(
                "\"{}\" is not inside <...> (RFC 2369)",
                rest[..end].trim()
            ));
            rest = &rest[end..];
        }
    }
    out.links = links;
    out.errors.extend(errors);
}

fn scheme_is(uri: &str, scheme: &str) -> bool {
    uri.split_once(':')
        .is_some_and(|(s, rest)| s.eq_ignore_ascii_case(scheme) && !rest.is_empty())
}

/// Whether a `DKIM-Signature`'s `h=` names both headers.
fn covers_both(signature: &str) -> bool {
    let Some(h) = signature.split(';').find_map(|tag| {
        let (name, value) = tag.split_once('=')?;
        (name.trim() == "h").then_some(value)
    }) else {
        return false;
    };
    let names: Vec<String> = h
        .split(':')
        .map(|n| {
            n.split_whitespace()
                .collect::<String>()
                .to_ascii_lowercase()
        })
        .collect();
    names.iter().any(|n| n == "list-unsubscribe")
        && names.iter().any(|n| n == "list-unsubscribe-post")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &str = "v=1; a=rsa-sha256; d=example.com; s=s1; h=From:To:List-Unsubscribe:\r\n List-Unsubscribe-Post; bh=x; b=y";

    #[test]
    fn a_one_click_header_with_a_signature_over_both_passes() {
        let found = check(
            Some("<mailto:leave@example.com?subject=unsub>, <https://example.com/u?id=1>"),
            Some("List-Unsubscribe=One-Click"),
            &[SIGNED.to_string()],
        );
        assert_eq!(
            found.links,
            [
                "mailto:leave@example.com?subject=unsub",
                "https://example.com/u?id=1"
            ]
        );
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        assert!(found.one_click);
    }

    #[test]
    fn rfc_2369_mistakes_are_named() {
        let found = check(
            Some("https://example.com/u, <javascript:alert(1)>, <mailto:x@example.com"),
            None,
            &[],
        );
        assert_eq!(found.links, ["javascript:alert(1)"]);
        assert_eq!(found.errors.len(), 3, "{:?}", found.errors);
        assert!(found.errors[0].contains("not inside <...>"));
        assert!(found.errors[1].contains("javascript:alert(1)"));
        assert!(found.errors[2].contains("not closed"));
        assert!(!found.one_click);
    }

    #[test]
    fn one_click_needs_the_exact_header_https_and_dkim_over_both() {
        let found = check(
            Some("<mailto:leave@example.com>"),
            Some("List-Unsubscribe=one-click"),
            &["v=1; h=from:list-unsubscribe; b=x".to_string()],
        );
        assert_eq!(found.errors.len(), 3, "{:?}", found.errors);
        assert!(found.errors[0].contains("exactly"));
        assert!(found.errors[1].contains("https"));
        assert!(found.errors[2].contains("DKIM"));
        assert!(!found.one_click);

        let unsigned = check(
            Some("<https://example.com/u>"),
            Some("List-Unsubscribe=One-Click"),
            &[],
        );
        assert_eq!(unsigned.errors.len(), 1);
        assert!(!unsigned.one_click);
    }

    #[test]
    fn no_headers_no_findings() {
        assert_eq!(check(None, None, &[]), ListUnsubscribe::default());
        let raw = b"List-Unsubscribe: <https://example.com/u>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nDKIM-Signature: v=1; h=list-unsubscribe:list-unsubscribe-post; b=x\r\n\r\nhi\r\n";
        let found = of_message(raw);
        assert!(found.one_click, "{:?}", found.errors);
        assert_eq!(found.header_post, "List-Unsubscribe=One-Click");
    }
}
