//! SPF (RFC 7208): is this IP allowed to send mail for this domain?
//!
//! Every mechanism and modifier, macros with their transformers, the
//! limits of 10 DNS-querying terms, 2 void lookups and 10 MX names per
//! `mx`. `exp=` is parsed (a mistake in it is a `permerror`) but no
//! explanation is fetched: the result says which term matched instead.
//! `%{p}` is the validated name of the IP (RFC 7208 §7.3), `unknown`
//! when there is none.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use super::lookup::{Answer, LookupError, Resolver};

mod record;

use record::{Cidr, Macro, MacroString, Mechanism, Piece, terms_of};
pub use record::{SpfError, SpfRecord, parse};

/// DNS-querying terms (include, a, mx, ptr, exists, redirect) per check.
const MAX_LOOKUPS: u32 = 10;
/// Lookups that found nothing (NXDOMAIN or no records) per check.
const MAX_VOID_LOOKUPS: u32 = 2;
/// MX names one `mx` may look at; more is a `permerror`.
const MAX_MX_NAMES: usize = 10;
/// PTR names one `ptr` or `%{p}` looks at; the rest are ignored.
const MAX_PTR_NAMES: usize = 10;
/// Expanded names are cut from the left to this (RFC 7208 §7.3).
const MAX_NAME: usize = 253;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpfResult {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
}

impl SpfResult {
    /// As in `Authentication-Results` (RFC 8601).
    pub fn as_str(self) -> &'static str {
        match self {
            SpfResult::Pass => "pass",
            SpfResult::Fail => "fail",
            SpfResult::SoftFail => "softfail",
            SpfResult::Neutral => "neutral",
            SpfResult::None => "none",
            SpfResult::TempError => "temperror",
            SpfResult::PermError => "permerror",
        }
    }
}

/// The result and why: the term that matched, or what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfOutcome {
    pub result: SpfResult,
    pub detail: String,
}

fn outcome(result: SpfResult, detail: impl Into<String>) -> SpfOutcome {
    SpfOutcome {
        result,
        detail: detail.into(),
    }
}

/// Evaluates SPF for `ip` sending as `sender` (the `MAIL FROM` address,
/// or `postmaster@HELO` for `<>`) for `domain`; `helo` and `receiver`
/// (the checking host) feed the `%{h}` and `%{r}` macros.
pub async fn check_host(
    resolver: &Resolver,
    ip: IpAddr,
    domain: &str,
    sender: &str,
    helo: &str,
    receiver: &str,
) -> SpfOutcome {
    let domain = domain.trim_end_matches('.');
    let (local, sender_domain) = match sender.rsplit_once('@') {
        Some((local, at)) if !at.is_empty() => (local, at),
        _ if sender.is_empty() => ("", domain),
        _ => ("", sender.trim_start_matches('@')),
    };
    let local = if local.is_empty() {
        "postmaster"
    } else {
        local
    };
    let mut evaluation = Evaluation {
        resolver,
        ip: ip.to_canonical(),
        sender: format!("{local}@{sender_domain}"),
        local: local.to_string(),
        sender_domain: sender_domain.to_string(),
        helo: helo.to_string(),
        receiver: receiver.to_string(),
        lookups: 0,
        voids: 0,
    };
    evaluation.check(domain.to_string()).await
}

/// One evaluation, with the counts its limits are on.
struct Evaluation<'r> {
    resolver: &'r Resolver,
    ip: IpAddr,
    sender: String,
    local: String,
    sender_domain: String,
    helo: String,
    receiver: String,
    lookups: u32,
    voids: u32,
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Evaluation<'_> {
    /// RFC 7208 §4: the record of `domain`, evaluated.
    fn check(&mut self, domain: String) -> Boxed<'_, SpfOutcome> {
        Box::pin(async move {
            let labels: Vec<&str> = domain.split('.').collect();
            if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.len() > 63) {
                return outcome(SpfResult::None, format!("not a domain name: {domain:?}"));
            }
            let records = match self.resolver.txt(&domain).await {
                Ok(records) => records,
                Err(LookupError::NoSuchDomain) => {
                    return outcome(SpfResult::None, "no such domain");
                }
                Err(failed) => return outcome(SpfResult::TempError, failed.to_string()),
            };
            let mut spf = records.iter().filter(|r| terms_of(r).is_some());
            let (Some(record), None) = (spf.next(), spf.next()) else {
                return match records.iter().filter(|r| terms_of(r).is_some()).count() {
                    0 => outcome(SpfResult::None, "no SPF record"),
                    _ => outcome(SpfResult::PermError, "more than one SPF record"),
                };
            };
            let record = match parse(record) {
                Ok(record) => record,
                Err(e) => return outcome(SpfResult::PermError, e.to_string()),
            };
            for directive in &record.directives {
                match self.matches(&directive.mechanism, &domain).await {
                    Ok(true) => return outcome(directive.qualifier, directive.text.clone()),
                    Ok(false) => {}
                    Err(stop) => return stop,
                }
            }
            let has_all = record
                .directives
                .iter()
                .any(|d| d.mechanism == Mechanism::All);
            match &record.redirect {
                Some(target) if !has_all => {
                    if let Err(stop) = self.count_lookup() {
                        return stop;
                    }
                    let target = self.expand_name(target, &domain).await;
                    let inner = self.check(target.clone()).await;
                    let result = match inner.result {
                        SpfResult::None => SpfResult::PermError,
                        result => result,
                    };
                    outcome(result, format!("redirect={target}: {}", inner.detail))
                }
                _ => outcome(SpfResult::Neutral, "no mechanism matched"),
            }
        })
    }

    /// Whether `mechanism` matches; `Err`: the check stops with that.
    async fn matches(&mut self, mechanism: &Mechanism, domain: &str) -> Result<bool, SpfOutcome> {
        match mechanism {
            Mechanism::All => Ok(true),
            Mechanism::Ip4(network, length) => Ok(in_network(self.ip, (*network).into(), *length)),
            Mechanism::Ip6(network, length) => Ok(in_network(self.ip, (*network).into(), *length)),
            Mechanism::A(target, cidr) => {
                self.count_lookup()?;
                let target = self.target(target.as_ref(), domain).await;
                let addresses = self.addresses(&target).await;
                let addresses = self.counted(addresses)?;
                Ok(addresses.into_iter().any(|a| self.in_cidr(a, *cidr)))
            }
            Mechanism::Mx(target, cidr) => {
                self.count_lookup()?;
                let target = self.target(target.as_ref(), domain).await;
                let exchanges = self.resolver.mx(&target).await;
                let exchanges = self.counted(exchanges)?;
                if exchanges.len() > MAX_MX_NAMES {
                    return Err(outcome(
                        SpfResult::PermError,
                        format!("more than {MAX_MX_NAMES} MX names at {target}"),
                    ));
                }
                for (_, exchange) in exchanges {
                    match self.addresses(&exchange).await {
                        Ok(addresses) if addresses.iter().any(|a| self.in_cidr(*a, *cidr)) => {
                            return Ok(true);
                        }
                        Err(failed @ LookupError::Failed(_)) => {
                            return Err(outcome(SpfResult::TempError, failed.to_string()));
                        }
                        _ => {}
                    }
                }
                Ok(false)
            }
            Mechanism::Ptr(target) => {
                self.count_lookup()?;
                let target = self.target(target.as_ref(), domain).await;
                let names = self.validated_names().await;
                Ok(names.iter().any(|name| is_within(name, &target)))
            }
            Mechanism::Exists(target) => {
                self.count_lookup()?;
                let target = self.expand_name(target, domain).await;
                let addresses = self.resolver.a(&target).await;
                Ok(!self.counted(addresses)?.is_empty())
            }
            Mechanism::Include(target) => {
                self.count_lookup()?;
                let target = self.expand_name(target, domain).await;
                let inner = self.check(target.clone()).await;
                let stop = |result| outcome(result, format!("include:{target}: {}", inner.detail));
                match inner.result {
                    SpfResult::Pass => Ok(true),
                    SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral => Ok(false),
                    SpfResult::TempError => Err(stop(SpfResult::TempError)),
                    SpfResult::PermError | SpfResult::None => Err(stop(SpfResult::PermError)),
                }
            }
        }
    }

    fn count_lookup(&mut self) -> Result<(), SpfOutcome> {
        self.lookups += 1;
        if self.lookups > MAX_LOOKUPS {
            return Err(outcome(
                SpfResult::PermError,
                format!("more than {MAX_LOOKUPS} DNS lookups"),
            ));
        }
        Ok(())
    }

    /// A term's answer, counting it when void; a DNS failure stops the
    /// check with `temperror`.
    fn counted<T>(&mut self, answer: Answer<T>) -> Result<Vec<T>, SpfOutcome> {
        match answer {
            Ok(records) if !records.is_empty() => Ok(records),
            Ok(_) | Err(LookupError::NoSuchDomain) => {
                self.voids += 1;
                if self.voids > MAX_VOID_LOOKUPS {
                    return Err(outcome(
                        SpfResult::PermError,
                        format!("more than {MAX_VOID_LOOKUPS} void DNS lookups"),
                    ));
                }
                Ok(Vec::new())
            }
            Err(failed) => Err(outcome(SpfResult::TempError, failed.to_string())),
        }
    }

    /// The A or AAAA records of `name`, as the IP is IPv4 or IPv6.
    async fn addresses(&self, name: &str) -> Answer<IpAddr> {
        fn into<A: Into<IpAddr>>(addresses: Vec<A>) -> Vec<IpAddr> {
            addresses.into_iter().map(Into::into).collect()
        }
        match self.ip {
            IpAddr::V4(_) => self.resolver.a(name).await.map(into),
            IpAddr::V6(_) => self.resolver.aaaa(name).await.map(into),
        }
    }

    fn in_cidr(&self, network: IpAddr, cidr: Cidr) -> bool {
        let length = if network.is_ipv4() { cidr.v4 } else { cidr.v6 };
        in_network(self.ip, network, length)
    }

    /// RFC 7208 §5.5: the IP's PTR names (the first 10) whose addresses
    /// include the IP. A DNS failure leaves a name out.
    async fn validated_names(&self) -> Vec<String> {
        let Ok(names) = self.resolver.ptr(self.ip).await else {
            return Vec::new();
        };
        let mut validated = Vec::new();
        for name in names.into_iter().take(MAX_PTR_NAMES) {
            if let Ok(addresses) = self.addresses(&name).await
                && addresses.contains(&self.ip)
            {
                validated.push(name);
            }
        }
        validated
    }

    async fn target(&self, spec: Option<&MacroString>, domain: &str) -> String {
        match spec {
            Some(spec) => self.expand_name(spec, domain).await,
            None => domain.to_string(),
        }
    }

    /// A domain-spec expanded, cut from the left to 253 bytes.
    async fn expand_name(&self, spec: &MacroString, domain: &str) -> String {
        let name = self.expand(spec, domain).await;
        let mut name = name.trim_end_matches('.');
        while name.len() > MAX_NAME {
            name = name.split_once('.').map_or("", |(_, rest)| rest);
        }
        name.to_string()
    }

    async fn expand(&self, spec: &MacroString, domain: &str) -> String {
        let uses_p = spec
            .0
            .iter()
            .any(|piece| matches!(piece, Piece::Macro(m) if m.letter == b'p'));
        let validated = if uses_p {
            let names = self.validated_names().await;
            let within = names.iter().find(|name| is_within(name, domain));
            within.or(names.first()).cloned()
        } else {
            None
        };
        let mut out = String::new();
        for piece in &spec.0 {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Macro(m) => {
                    let value = self.macro_value(m.letter, domain, validated.as_deref());
                    let value = transform(&value, m);
                    if m.escape {
                        url_escape(&value, &mut out);
                    } else {
                        out.push_str(&value);
                    }
                }
            }
        }
        out
    }

    fn macro_value(&self, letter: u8, domain: &str, validated: Option<&str>) -> String {
        match letter {
            b's' => self.sender.clone(),
            b'l' => self.local.clone(),
            b'o' => self.sender_domain.clone(),
            b'd' => domain.to_string(),
            b'i' => dotted(self.ip),
            b'p' => validated.unwrap_or("unknown").to_string(),
            b'v' if self.ip.is_ipv4() => "in-addr".into(),
            b'v' => "ip6".into(),
            b'h' => self.helo.clone(),
            b'c' => self.ip.to_string(),
            b'r' if !self.receiver.is_empty() => self.receiver.clone(),
            b't' => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
                .to_string(),
            _ => "unknown".into(),
        }
    }
}

/// `value` split on the macro's delimiters (`.` by default), reversed
/// with `r`, its rightmost parts kept, joined with dots.
fn transform(value: &str, m: &Macro) -> String {
    let delimiters = if m.delimiters.is_empty() {
        "."
    } else {
        m.delimiters.as_str()
    };
    let mut parts: Vec<&str> = value.split(|c| delimiters.contains(c)).collect();
    if m.reverse {
        parts.reverse();
    }
    if let Some(keep) = m.keep
        && keep < parts.len()
    {
        parts.drain(..parts.len() - keep);
    }
    parts.join(".")
}

/// RFC 3986 escaping of all but unreserved characters.
fn url_escape(value: &str, out: &mut String) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// `%{i}`: dotted quad, or 32 dotted nibbles for IPv6.
fn dotted(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => {
            let nibbles: Vec<String> = ip
                .octets()
                .iter()
                .flat_map(|b| [b >> 4, b & 0xF])
                .map(|n| format!("{n:x}"))
                .collect();
            nibbles.join(".")
        }
    }
}

/// `name` is `domain` or below it.
fn is_within(name: &str, domain: &str) -> bool {
    let name = name.trim_end_matches('.').as_bytes();
    let domain = domain.trim_end_matches('.').as_bytes();
    match name.len().checked_sub(domain.len()) {
        Some(0) => name.eq_ignore_ascii_case(domain),
        Some(above) => name[above - 1] == b'.' && name[above..].eq_ignore_ascii_case(domain),
        None => false,
    }
}

/// Whether `ip` is in `network/length` (of the same family).
fn in_network(ip: IpAddr, network: IpAddr, length: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(length)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(length)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
#[path = "spf_tests.rs"]
mod tests;
