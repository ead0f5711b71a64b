//! DMARC (RFC 7489): the `From:` domain's policy, and whether a passing
//! DKIM signature or SPF result is for a domain aligned with it. Policies
//! and organizational domains are found by RFC 9989's DNS tree walk, which
//! reads `_dmarc` records (and their `psd=` tag) up the name, instead of a
//! copy of the Public Suffix List that would age inside the binary; an
//! offline zone answers it from the records it holds.

use std::collections::HashMap;

use super::dkim::tags;
use super::lookup::{LookupError, Resolver};

/// The tags of a DMARC record that the check uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub policy: String,
    pub subdomain_policy: Option<String>,
    pub strict_dkim: bool,
    pub strict_spf: bool,
    /// `psd=y` / `psd=n`; `None` when absent or `u`.
    pub public_suffix: Option<bool>,
}

pub fn parse_record(text: &str) -> Result<Record, String> {
    let tags = tags(text)?;
    match tags.first() {
        Some((name, version)) if name == "v" && version == "DMARC1" => {}
        _ => return Err("a DMARC record starts with v=DMARC1".into()),
    }
    let get = |name: &str| {
        tags.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let policy = |name: &str| -> Result<Option<String>, String> {
        match get(name) {
            None => Ok(None),
            Some(p) if ["none", "quarantine", "reject"].contains(&p.as_str()) => Ok(Some(p)),
            Some(p) => Err(format!("{name}={p} is not none, quarantine or reject")),
        }
    };
    let strict = |name: &str| -> Result<bool, String> {
        match get(name).as_deref() {
            None | Some("r") => Ok(false),
            Some("s") => Ok(true),
            Some(other) => Err(format!("{name}={other} is not r or s")),
        }
    };
    Ok(Record {
        // RFC 9989: a record without p= is read as p=none.
        policy: policy("p")?.unwrap_or_else(|| "none".into()),
        subdomain_policy: policy("sp")?,
        strict_dkim: strict("adkim")?,
        strict_spf: strict("aspf")?,
        public_suffix: match get("psd").as_deref() {
            Some("y") => Some(true),
            Some("n") => Some(false),
            _ => None,
        },
    })
}

/// The names a tree walk asks, from `domain` up to its last label: at
/// most eight, a name of eight labels or more jumping to its last seven.
fn walk(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain.trim_end_matches('.').split('.').collect();
    let mut names = vec![labels.join(".")];
    let mut from = if labels.len() >= 8 {
        labels.len() - 7
    } else {
        1
    };
    while from < labels.len() && names.len() < 8 {
        names.push(labels[from..].join("."));
        from += 1;
    }
    names
}

/// Looks up and remembers `_dmarc` records for one check.
pub struct Policies<'r> {
    resolver: &'r Resolver,
    found: HashMap<String, Option<Record>>,
}

impl<'r> Policies<'r> {
    pub fn new(resolver: &'r Resolver) -> Policies<'r> {
        Policies {
            resolver,
            found: HashMap::new(),
        }
    }

    /// The one valid record at `_dmarc.name` (several: none counts).
    async fn at(&mut self, name: &str) -> Result<Option<Record>, String> {
        if let Some(found) = self.found.get(name) {
            return Ok(found.clone());
        }
        let record = match self.resolver.txt(&format!("_dmarc.{name}")).await {
            Ok(texts) => {
                let mut records = texts.iter().filter_map(|t| parse_record(t).ok());
                match (records.next(), records.next()) {
                    (Some(record), None) => Some(record),
                    _ => None,
                }
            }
            Err(LookupError::NoSuchDomain) => None,
            Err(LookupError::Failed(why)) => return Err(format!("_dmarc.{name}: {why}")),
        };
        self.found.insert(name.to_string(), record.clone());
        Ok(record)
    }

    /// The policy that applies to `domain` and where it was found.
    pub async fn policy(&mut self, domain: &str) -> Result<Option<(String, Record)>, String> {
        for name in walk(domain) {
            if let Some(record) = self.at(&name).await? {
                return Ok(Some((name, record)));
            }
        }
        Ok(None)
    }

    /// RFC 9989 §4.10.2: the domain with `psd=n`, the one below `psd=y`,
    /// else the shortest with a record, else `domain` itself.
    pub async fn organizational_domain(&mut self, domain: &str) -> Result<String, String> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let labels = domain.split('.').count();
        let mut shortest = None;
        for name in walk(&domain) {
            match self.at(&name).await? {
                Some(Record {
                    public_suffix: Some(false),
                    ..
                }) => return Ok(name),
                Some(Record {
                    public_suffix: Some(true),
                    ..
                }) => {
                    let keep = (name.split('.').count() + 1).min(labels);
                    let parts: Vec<&str> = domain.split('.').collect();
                    return Ok(parts[labels - keep..].join("."));
                }
                Some(_) => shortest = Some(name),
                None => {}
            }
        }
        Ok(shortest.unwrap_or(domain))
    }

    async fn aligned(&mut self, domain: &str, from: &str, strict: bool) -> Result<bool, String> {
        if domain.eq_ignore_ascii_case(from) {
            return Ok(true);
        }
        if strict {
            return Ok(false);
        }
        Ok(self.organizational_domain(domain).await? == self.organizational_domain(from).await?)
    }
}

/// The DMARC outcome for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub result: &'static str,
    pub reason: String,
    pub domain: String,
    pub policy: String,
    /// Aligned DKIM and SPF: `pass`, `fail` or `none`.
    pub dkim: &'static str,
    pub spf: &'static str,
}

/// `from`: the single `From:` domain; `dkim`: each signature's `d=` and
/// result; `spf`: the domain SPF was evaluated for and its result.
pub async fn evaluate(
    resolver: &Resolver,
    from: Option<&str>,
    dkim: &[(String, &str)],
    spf: (&str, &str),
) -> Outcome {
    let mut outcome = Outcome {
        result: "none",
        reason: String::new(),
        domain: from.unwrap_or_default().to_ascii_lowercase(),
        policy: String::new(),
        dkim: "none",
        spf: "none",
    };
    let Some(from) = from.filter(|f| !f.is_empty()) else {
        outcome.reason = "no single From: domain".into();
        return outcome;
    };
    let mut policies = Policies::new(resolver);
    match evaluate_with(&mut policies, &mut outcome, from, dkim, spf).await {
        Ok(()) => outcome,
        Err(why) => Outcome {
            result: "temperror",
            reason: why,
            ..outcome
        },
    }
}

async fn evaluate_with(
    policies: &mut Policies<'_>,
    outcome: &mut Outcome,
    from: &str,
    dkim: &[(String, &str)],
    (spf_domain, spf_result): (&str, &str),
) -> Result<(), String> {
    let Some((found_at, record)) = policies.policy(from).await? else {
        outcome.reason = if policies.resolver.is_offline() {
            format!(
                "no DMARC policy for {from} (give _dmarc.{from} in --auth-zone; DNS is not asked without --auth-dns)"
            )
        } else {
            format!("no DMARC policy for {from} in DNS")
        };
        return Ok(());
    };
    outcome.policy = if found_at.eq_ignore_ascii_case(from) {
        record.policy.clone()
    } else {
        record
            .subdomain_policy
            .clone()
            .unwrap_or(record.policy.clone())
    };
    outcome.dkim = if dkim.is_empty() { "none" } else { "fail" };
    for (domain, result) in dkim {
        if *result == "pass" && policies.aligned(domain, from, record.strict_dkim).await? {
            outcome.dkim = "pass";
            break;
        }
    }
    outcome.spf = match spf_result {
        "none" | "" => "none",
        "pass"
            if policies
                .aligned(spf_domain, from, record.strict_spf)
                .await? =>
        {
            "pass"
        }
        _ => "fail",
    };
    (outcome.result, outcome.reason) = match (outcome.dkim, outcome.spf) {
        ("pass", spf) => {
            let how = if spf == "pass" {
                "DKIM and SPF"
            } else {
                "DKIM"
            };
            (
                "pass",
                format!("{how} passed for a domain aligned with From: {from}"),
            )
        }
        (_, "pass") => (
            "pass",
            format!("SPF passed for a domain aligned with From: {from}"),
        ),
        _ => (
            "fail",
            format!(
                "neither a DKIM signature nor SPF passed for a domain aligned with From: {from} (policy {})",
                outcome.policy
            ),
        ),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::auth::zone::DnsRecord;

    fn resolver(records: &[(&str, &str)]) -> Resolver {
        let records: Vec<DnsRecord> = records
            .iter()
            .map(|(name, value)| DnsRecord::Txt {
                name: format!("{name}."),
                value: value.to_string(),
            })
            .collect();
        Resolver::new(&records, false).unwrap()
    }

    #[test]
    fn records_are_read_strictly() {
        let record = parse_record("v=DMARC1; p=Reject; sp=none; adkim=s; psd=n").unwrap();
        assert_eq!(record.policy, "reject");
        assert_eq!(record.subdomain_policy.as_deref(), Some("none"));
        assert!(record.strict_dkim && !record.strict_spf);
        assert_eq!(record.public_suffix, Some(false));
        assert_eq!(parse_record("v=DMARC1").unwrap().policy, "none");
        assert!(parse_record("p=reject; v=DMARC1").is_err());
        assert!(parse_record("v=DMARC1; p=maybe").is_err());
        assert!(parse_record("v=spf1 -all").is_err());
    }

    #[test]
    fn the_walk_is_bounded() {
        assert_eq!(
            walk("a.b.example.com"),
            ["a.b.example.com", "b.example.com", "example.com", "com"]
        );
        let long = walk("1.2.3.4.5.6.7.8.9.example.com");
        assert_eq!(long.len(), 8);
        assert_eq!(long[1], "5.6.7.8.9.example.com");
        assert_eq!(long[7], "com");
    }

    #[tokio::test]
    async fn organizational_domains_follow_the_records_found() {
        let zone = resolver(&[
            ("_dmarc.example.com", "v=DMARC1; p=reject"),
            ("_dmarc.co.uk", "v=DMARC1; p=none; psd=y"),
            ("_dmarc.shop.co.uk", "v=DMARC1; p=quarantine"),
        ]);
        let mut policies = Policies::new(&zone);
        assert_eq!(
            policies
                .organizational_domain("mail.example.com")
                .await
                .unwrap(),
            "example.com"
        );
        assert_eq!(
            policies
                .organizational_domain("a.b.shop.co.uk")
                .await
                .unwrap(),
            "shop.co.uk"
        );
        assert_eq!(
            policies.organizational_domain("other.co.uk").await.unwrap(),
            "other.co.uk"
        );
        assert_eq!(
            policies.organizational_domain("example.org").await.unwrap(),
            "example.org"
        );
    }

    #[tokio::test]
    async fn aligned_dkim_or_spf_passes_and_subdomains_take_sp() {
        let zone = resolver(&[(
            "_dmarc.example.com",
            "v=DMARC1; p=reject; sp=quarantine; aspf=s",
        )]);
        let pass = [("mail.example.com".to_string(), "pass")];
        let relaxed = evaluate(&zone, Some("example.com"), &pass, ("example.com", "fail")).await;
        assert_eq!(
            (relaxed.result, relaxed.dkim, relaxed.spf),
            ("pass", "pass", "fail")
        );
        assert_eq!(relaxed.policy, "reject");
        let strict_spf = evaluate(
            &zone,
            Some("example.com"),
            &[],
            ("bounce.example.com", "pass"),
        )
        .await;
        assert_eq!((strict_spf.result, strict_spf.spf), ("fail", "fail"));
        let sub = evaluate(
            &zone,
            Some("news.example.com"),
            &[],
            ("news.example.com", "pass"),
        )
        .await;
        assert_eq!((sub.result, sub.policy.as_str()), ("pass", "quarantine"));
        let other = [("example.net".to_string(), "pass")];
        let unaligned = evaluate(&zone, Some("example.com"), &other, ("example.net", "pass")).await;
        assert_eq!(
            (unaligned.result, unaligned.dkim, unaligned.spf),
            ("fail", "fail", "fail")
        );
        let none = evaluate(&zone, Some("example.org"), &pass, ("example.org", "pass")).await;
        assert_eq!(none.result, "none");
        assert!(none.reason.contains("--auth-zone"), "{}", none.reason);
        assert_eq!(
            evaluate(&zone, None, &[], ("", "none")).await.result,
            "none"
        );
    }
}
