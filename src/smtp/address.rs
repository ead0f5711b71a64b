//! A mailbox as one typed value from the SMTP parser to the relay: what is
//! stored, what the relay allowlist checks and what goes on the wire are
//! the same text, serialized with the quoting RFC 5321 requires.
//!
//! smtp-proto hands addresses over with their quotes removed
//! (`"a> ORCPT=x"@example.com` becomes `a> ORCPT=x@example.com`); written
//! out like that it would be a different command. [`Mailbox::from_parsed`]
//! quotes the local part again where it needs it, and refuses what cannot
//! be written out safely at all (control characters, a bad domain).

use std::fmt;

/// A `local@domain` address (or `Postmaster`), valid to write in a
/// `MAIL FROM:<...>` or `RCPT TO:<...>` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The serialized form: local part quoted if need be.
    text: String,
}

/// Why an address cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("no @domain")]
    NoDomain,
    #[error("the domain is not a host name or an address literal")]
    BadDomain,
    #[error("a control character (CR, LF, NUL, ...) cannot be sent")]
    ControlCharacter,
    #[error("the address is too long")]
    TooLong,
    #[error("a quoted local part is not closed, or text follows it")]
    BadQuoting,
    #[error("the local part needs quotes")]
    NeedsQuotes,
}

/// RFC 5321 allows a path of 256 octets; a little slack for clients that
/// count differently, and a bound on what a hostile one can send.
const MAX_LEN: usize = 320;

impl Mailbox {
    /// An address as smtp-proto parsed it (quotes removed): the local part
    /// is everything before the last `@`.
    pub fn from_parsed(address: &str) -> Result<Mailbox, AddressError> {
        if address.eq_ignore_ascii_case("postmaster") {
            return Ok(Mailbox {
                text: "Postmaster".into(),
            });
        }
        let (local, domain) = address.rsplit_once('@').ok_or(AddressError::NoDomain)?;
        Mailbox::from_parts(local, domain)
    }

    /// An address as written in a command or a header: a dot-atom or a
    /// quoted local part, `@`, a domain.
    pub fn parse(text: &str) -> Result<Mailbox, AddressError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("postmaster") {
            return Mailbox::from_parsed(text);
        }
        let Some(quoted) = text.strip_prefix('"') else {
            let (local, domain) = text.rsplit_once('@').ok_or(AddressError::NoDomain)?;
            if !is_dot_atom(local) {
                return Err(AddressError::NeedsQuotes);
            }
            return Mailbox::from_parts(local, domain);
        };
        let mut local = String::new();
        let mut chars = quoted.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, escaped)) => local.push(escaped),
                    None => return Err(AddressError::BadQuoting),
                },
                '"' => {
                    let domain = quoted[at + 1..]
                        .strip_prefix('@')
                        .ok_or(AddressError::BadQuoting)?;
                    return Mailbox::from_parts(&local, domain);
                }
                c => local.push(c),
            }
        }
        Err(AddressError::BadQuoting)
    }

    fn from_parts(local: &str, domain: &str) -> Result<Mailbox, AddressError> {
        if local.chars().chain(domain.chars()).any(char::is_control) {
            return Err(AddressError::ControlCharacter);
        }
        if !is_domain(domain) {
            return Err(AddressError::BadDomain);
        }
        let text = if is_dot_atom(local) {
            format!("{local}@{domain}")
        } else {
            let mut quoted = String::with_capacity(local.len() + 2);
            quoted.push('"');
            for c in local.chars() {
                if matches!(c, '"' | '\\') {
                    quoted.push('\\');
                }
                quoted.push(c);
            }
            format!("{quoted}\"@{domain}")
        };
        if text.len() > MAX_LEN {
            return Err(AddressError::TooLong);
        }
        Ok(Mailbox { text })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn into_string(self) -> String {
        self.text
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The addresses in a message's To, Cc and Bcc headers, for a message
/// sent without RCPT (as MailHog takes them), at most `max`; those that
/// cannot be written in an SMTP command are left out.
pub fn recipients_in_headers(body: &[u8], max: usize) -> Vec<String> {
    let Ok((headers, _)) = mailparse::parse_headers(body) else {
        return Vec::new();
    };
    let mut found: Vec<String> = Vec::new();
    for header in headers.iter().filter(|h| {
        let key = h.get_key_ref();
        ["to", "cc", "bcc"]
            .iter()
            .any(|k| key.eq_ignore_ascii_case(k))
    }) {
        let Ok(list) = mailparse::addrparse_header(header) else {
            continue;
        };
        let singles = list.iter().flat_map(|addr| match addr {
            mailparse::MailAddr::Single(info) => vec![info.addr.clone()],
            mailparse::MailAddr::Group(group) => {
                group.addrs.iter().map(|info| info.addr.clone()).collect()
            }
        });
        for text in singles {
            let mailbox = Mailbox::parse(&text).or_else(|_| Mailbox::from_parsed(&text));
            if let Ok(mailbox) = mailbox
                && found.len() < max
                && !found.iter().any(|f| f == mailbox.as_str())
            {
                found.push(mailbox.into_string());
            }
        }
    }
    found
}

/// RFC 5322 `atext`, plus anything beyond ASCII (RFC 6531).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn is_dot_atom(text: &str) -> bool {
    !text.is_empty()
        && text
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// A host name (letters, digits, hyphens and anything beyond ASCII, in
/// dot-separated labels, a final dot allowed) or an address literal such
/// as `[127.0.0.1]`.
fn is_domain(domain: &str) -> bool {
    if let Some(literal) = domain.strip_prefix('[') {
        return literal.strip_suffix(']').is_some_and(|inner| {
            !inner.is_empty()
                && inner
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '[' | ']' | '\\'))
        });
    }
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || !c.is_ascii())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_are_unchanged() {
        for text in [
            "me@example.com",
            "a.b+tag@sub.example.org",
            "jösé@exämple.com",
        ] {
            assert_eq!(Mailbox::from_parsed(text).unwrap().as_str(), text);
            assert_eq!(Mailbox::parse(text).unwrap().as_str(), text);
        }
        assert_eq!(
            Mailbox::from_parsed("postmaster").unwrap().as_str(),
            "Postmaster"
        );
        assert_eq!(
            Mailbox::from_parsed("a@[127.0.0.1]").unwrap().as_str(),
            "a@[127.0.0.1]"
        );
        assert_eq!(
            Mailbox::from_parsed("a@example.com.").unwrap().as_str(),
            "a@example.com."
        );
    }

    #[test]
    fn a_local_part_that_needs_them_gets_its_quotes_back() {
        // The allowlist bypass of issue 12.2: what smtp-proto makes of
        // `"attacker@evil.com> ORCPT=rfc822;x"@example.com`.
        let parsed = "attacker@evil.com> ORCPT=rfc822;x@example.com";
        let mailbox = Mailbox::from_parsed(parsed).unwrap();
        assert_eq!(
            mailbox.as_str(),
            r#""attacker@evil.com> ORCPT=rfc822;x"@example.com"#
        );
        assert_eq!(Mailbox::parse(mailbox.as_str()).unwrap(), mailbox);
        let odd = Mailbox::from_parsed(r#"a "b\c@x.test"#).unwrap();
        assert_eq!(odd.as_str(), r#""a \"b\\c"@x.test"#);
        assert_eq!(Mailbox::parse(odd.as_str()).unwrap(), odd);
        assert_eq!(
            Mailbox::from_parsed("a..b@x").unwrap().as_str(),
            r#""a..b"@x"#
        );
    }

    #[test]
    fn what_cannot_be_written_out_safely_is_refused() {
        use AddressError::*;
        assert_eq!(
            Mailbox::from_parsed("a\r\nRCPT TO:<b@x>@y"),
            Err(ControlCharacter)
        );
        assert_eq!(Mailbox::from_parsed("a\0@x"), Err(ControlCharacter));
        assert_eq!(Mailbox::from_parsed("nobody"), Err(NoDomain));
        assert_eq!(Mailbox::from_parsed("a@x> NOTIFY=NEVER"), Err(BadDomain));
        assert_eq!(Mailbox::from_parsed("a@"), Err(BadDomain));
        assert_eq!(Mailbox::from_parsed("a@[x]y"), Err(BadDomain));
        assert_eq!(Mailbox::parse("a b@x"), Err(NeedsQuotes));
        assert_eq!(Mailbox::parse(r#""a@x"#), Err(BadQuoting));
        assert_eq!(Mailbox::parse(r#""a"b@x"#), Err(BadQuoting));
        let long = format!("{}@x.test", "a".repeat(400));
        assert_eq!(Mailbox::from_parsed(&long), Err(TooLong));
    }
}
