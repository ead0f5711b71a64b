//! The SPF record's syntax (RFC 7208 §4.5, §4.6, §5, §6, §7.1): a record
//! is parsed whole before it is evaluated, so a mistake anywhere in it is
//! a `permerror`.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::SpfResult;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpfError {
    #[error("not an SPF record (it does not start with \"v=spf1\")")]
    NotSpf,
    #[error("syntax error at `{term}`: {reason}")]
    Syntax { term: String, reason: &'static str },
}

/// A parsed `v=spf1` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfRecord {
    pub(super) directives: Vec<Directive>,
    pub(super) redirect: Option<MacroString>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Directive {
    pub(super) qualifier: SpfResult,
    pub(super) mechanism: Mechanism,
    /// The term as written, to say which one matched.
    pub(super) text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Mechanism {
    All,
    Include(MacroString),
    A(Option<MacroString>, Cidr),
    Mx(Option<MacroString>, Cidr),
    Ptr(Option<MacroString>),
    Ip4(Ipv4Addr, u8),
    Ip6(Ipv6Addr, u8),
    Exists(MacroString),
}

/// The prefix lengths of `a` and `mx` (`/24//64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cidr {
    pub(super) v4: u8,
    pub(super) v6: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MacroString(pub(super) Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece {
    Text(String),
    Macro(Macro),
}

/// `%{` letter digits `r` delimiters `}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Macro {
    /// Lowercase; the uppercase form URL-escapes the value.
    pub(super) letter: u8,
    pub(super) escape: bool,
    /// Keep this many parts from the right.
    pub(super) keep: Option<usize>,
    pub(super) reverse: bool,
    pub(super) delimiters: String,
}

/// The terms after `v=spf1`, when `record` is an SPF record: the version
/// is followed by a space or ends the record.
pub(super) fn terms_of(record: &str) -> Option<&str> {
    let version = record.get(..6)?;
    let rest = &record[6..];
    (version.eq_ignore_ascii_case("v=spf1") && (rest.is_empty() || rest.starts_with(' ')))
        .then_some(rest)
}

/// Parses a TXT value as an SPF record.
pub fn parse(record: &str) -> Result<SpfRecord, SpfError> {
    let terms = terms_of(record).ok_or(SpfError::NotSpf)?;
    let mut spf = SpfRecord {
        directives: Vec::new(),
        redirect: None,
    };
    let mut explanation = false;
    for term in terms.split(' ').filter(|term| !term.is_empty()) {
        let syntax = |reason| SpfError::Syntax {
            term: term.to_string(),
            reason,
        };
        let Some((name, value)) = modifier(term) else {
            spf.directives.push(directive(term).map_err(syntax)?);
            continue;
        };
        if name.eq_ignore_ascii_case("redirect") {
            if spf.redirect.is_some() {
                return Err(syntax("a second redirect"));
            }
            spf.redirect = Some(domain_spec(value).map_err(syntax)?);
        } else if name.eq_ignore_ascii_case("exp") {
            if explanation {
                return Err(syntax("a second exp"));
            }
            explanation = true;
            // Checked, not used: no explanation is fetched.
            domain_spec(value).map_err(syntax)?;
        } else {
            // Unknown modifiers are ignored, but must be well-formed.
            macro_string(value, true).map_err(syntax)?;
        }
    }
    Ok(spf)
}

/// `name=value` when `term` is a modifier.
fn modifier(term: &str) -> Option<(&str, &str)> {
    let (name, value) = term.split_once('=')?;
    let mut chars = name.chars();
    (chars.next()?.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
    .then_some((name, value))
}

fn directive(term: &str) -> Result<Directive, &'static str> {
    let (qualifier, body) = match term.as_bytes()[0] {
        b'+' => (SpfResult::Pass, &term[1..]),
        b'-' => (SpfResult::Fail, &term[1..]),
        b'~' => (SpfResult::SoftFail, &term[1..]),
        b'?' => (SpfResult::Neutral, &term[1..]),
        _ => (SpfResult::Pass, term),
    };
    let (name, argument) = body.split_at(body.find([':', '/']).unwrap_or(body.len()));
    let domain = |argument: &str| match argument.strip_prefix(':') {
        Some(spec) => domain_spec(spec),
        None => Err("expected `:domain`"),
    };
    let optional_domain = |argument: &str| match argument {
        "" => Ok(None),
        argument => domain(argument).map(Some),
    };
    let mechanism = match name.to_ascii_lowercase().as_str() {
        "all" if argument.is_empty() => Mechanism::All,
        "include" => Mechanism::Include(domain(argument)?),
        "exists" => Mechanism::Exists(domain(argument)?),
        "ptr" => Mechanism::Ptr(optional_domain(argument)?),
        name @ ("a" | "mx") => {
            let (argument, cidr) = dual_cidr(argument)?;
            let target = optional_domain(argument)?;
            if name == "a" {
                Mechanism::A(target, cidr)
            } else {
                Mechanism::Mx(target, cidr)
            }
        }
        "ip4" => {
            let (ip, length) = network(argument, 32)?;
            Mechanism::Ip4(ip.parse().map_err(|_| "not an IPv4 address")?, length)
        }
        "ip6" => {
            let (ip, length) = network(argument, 128)?;
            Mechanism::Ip6(ip.parse().map_err(|_| "not an IPv6 address")?, length)
        }
        _ => return Err("an unknown mechanism"),
    };
    Ok(Directive {
        qualifier,
        mechanism,
        text: term.to_string(),
    })
}

/// `:IP[/length]` of `ip4` and `ip6`.
fn network(argument: &str, max: u8) -> Result<(&str, u8), &'static str> {
    let network = argument.strip_prefix(':').ok_or("expected `:address`")?;
    match network.split_once('/') {
        Some((ip, length)) => Ok((ip, prefix_length(length, max)?)),
        None => Ok((network, max)),
    }
}

/// A CIDR length: decimal without leading zeros, at most `max`.
fn prefix_length(digits: &str, max: u8) -> Result<u8, &'static str> {
    let well_formed = !digits.is_empty()
        && digits.len() <= 3
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    match digits.parse::<u8>() {
        Ok(length) if well_formed && length <= max => Ok(length),
        _ => Err("a wrong prefix length"),
    }
}

/// Splits `[:domain][/v4][//v6]` into the domain part and the lengths.
fn dual_cidr(argument: &str) -> Result<(&str, Cidr), &'static str> {
    let mut rest = argument;
    let mut cidr = Cidr { v4: 32, v6: 128 };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(at) = rest.rfind("//")
        && digits(&rest[at + 2..])
    {
        cidr.v6 = prefix_length(&rest[at + 2..], 128)?;
        rest = &rest[..at];
    }
    if let Some(at) = rest.rfind('/')
        && digits(&rest[at + 1..])
    {
        cidr.v4 = prefix_length(&rest[at + 1..], 32)?;
        rest = &rest[..at];
    }
    Ok((rest, cidr))
}

/// A macro-string that must end as a domain does: in a macro, or in
/// `.toplabel` with an optional final dot (RFC 7208 §7.1).
fn domain_spec(text: &str) -> Result<MacroString, &'static str> {
    let spec = macro_string(text, false)?;
    match spec.0.last() {
        Some(Piece::Macro(_)) => Ok(spec),
        Some(Piece::Text(tail)) => {
            let tail = tail.strip_suffix('.').unwrap_or(tail);
            match tail.rsplit_once('.') {
                Some((_, top)) if is_toplabel(top) => Ok(spec),
                _ => Err("a domain must end in `.toplabel` or a macro"),
            }
        }
        None => Err("an empty domain"),
    }
}

/// Letters, digits and inner dashes, not all digits unless dashed.
fn is_toplabel(label: &str) -> bool {
    !label.is_empty()
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && label.bytes().any(|b| b.is_ascii_alphabetic() || b == b'-')
}

/// `explanation`: the letters `c`, `r` and `t` are allowed (only in
/// `exp` texts and unknown modifiers).
pub(super) fn macro_string(text: &str, explanation: bool) -> Result<MacroString, &'static str> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c != '%' {
            if !('\x21'..='\x7e').contains(&c) {
                return Err("a character SPF does not allow");
            }
            literal.push(c);
            rest = &rest[1..];
            continue;
        }
        match rest.as_bytes().get(1) {
            Some(b'%') => literal.push('%'),
            Some(b'_') => literal.push(' '),
            Some(b'-') => literal.push_str("%20"),
            Some(b'{') => {
                let close = rest.find('}').ok_or("an unclosed macro")?;
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Macro(parse_macro(&rest[2..close], explanation)?));
                rest = &rest[close + 1..];
                continue;
            }
            _ => return Err("a `%` not followed by `{`, `%`, `_` or `-`"),
        }
        rest = &rest[2..];
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(MacroString(pieces))
}

fn parse_macro(body: &str, explanation: bool) -> Result<Macro, &'static str> {
    let letter = *body.as_bytes().first().ok_or("an empty macro")?;
    let lower = letter.to_ascii_lowercase();
    if !(b"slodiphv".contains(&lower) || explanation && b"crt".contains(&lower)) {
        return Err("an unknown macro letter");
    }
    let rest = &body[1..];
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let keep = match &rest[..digits_end] {
        "" => None,
        // Past 255 parts there is nothing left to cut.
        digits => match digits.parse::<usize>().unwrap_or(usize::MAX) {
            0 => return Err("a macro keeping 0 parts"),
            keep => Some(keep),
        },
    };
    let rest = &rest[digits_end..];
    let (reverse, delimiters) = match rest.strip_prefix(['r', 'R']) {
        Some(delimiters) => (true, delimiters),
        None => (false, rest),
    };
    if !delimiters.chars().all(|c| ".-+,/_=".contains(c)) {
        return Err("a wrong macro delimiter");
    }
    Ok(Macro {
        letter: lower,
        escape: letter.is_ascii_uppercase(),
        keep,
        reverse,
        delimiters: delimiters.to_string(),
    })
}
