//! Would the message pass DKIM, SPF, DMARC and ARC out there? Each DKIM
//! signature is verified (body hash and signature), SPF is evaluated for
//! the envelope sender from the IP the app will send from (`--spf-ip`),
//! DMARC for the `From:` domain, ARC when the message has a chain; results
//! in the vocabulary of `Authentication-Results` (RFC 8601), each with why.
//!
//! Keys and policies come from the configuration ([`zone`]). Real DNS is
//! asked only with `--auth-dns`: by default no lookup a message could
//! trigger leaves the process. Results are computed when first asked for,
//! never at ingest, within [`TIME_LIMIT`], and kept per message.

pub mod arc;
pub mod canon;
pub mod dkim;
pub mod dmarc;
pub mod dns;
pub mod lookup;
pub mod search;
pub mod spf;
pub mod zone;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::domain::Envelope;
use lookup::{Resolver, ResolverError};
use zone::{DnsRecord, ZoneError};

/// A check not finished by then reports `temperror` for what is left.
pub const TIME_LIMIT: Duration = Duration::from_secs(10);
/// Results kept in memory; the oldest are forgotten first.
const KEPT: usize = 4096;

/// How the authentication check is set up (from `--dkim-key`,
/// `--auth-zone`, `--spf-ip`, `--auth-dns`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSettings {
    pub records: Vec<DnsRecord>,
    /// SPF is evaluated for this address; `None`: the SMTP client's, else
    /// 127.0.0.1.
    pub spf_ip: Option<IpAddr>,
    /// Ask DNS for what the configuration does not hold.
    pub dns: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("the DKIM/SPF/DMARC records given: {0}")]
    Zone(#[from] ZoneError),
    #[error("--auth-dns: the system's DNS configuration: {0}")]
    Resolver(String),
}

/// One method's result in `Authentication-Results` words, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Verdict {
    /// `pass`, `fail`, `softfail`, `neutral`, `temperror`, `permerror`
    /// or `none`.
    pub result: String,
    pub reason: String,
}

impl Verdict {
    fn new(result: &str, reason: impl Into<String>) -> Verdict {
        Verdict {
            result: result.to_string(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DkimCheck {
    #[serde(flatten)]
    pub verdict: Verdict,
    /// `d=`, `s=`, `a=` of the signature.
    pub domain: String,
    pub selector: String,
    pub algorithm: String,
    /// The body hash alone: `pass`, `fail`, or empty when not reached.
    pub body_hash: String,
    /// `h=`: the header fields the signature covers, lowercase.
    pub signed_headers: Vec<String>,
    /// The first characters of `b=`: `header.b` in Authentication-Results.
    #[serde(skip)]
    pub short_b: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SpfCheck {
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The domain evaluated: the envelope sender's, or HELO's for `<>`.
    pub domain: String,
    /// The address evaluated and where it came from.
    #[serde(rename = "IP")]
    pub ip: String,
    #[serde(rename = "IPSource")]
    pub ip_source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DmarcCheck {
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The `From:` domain.
    pub domain: String,
    /// `p=` of the policy found, if any.
    pub policy: String,
    /// Aligned DKIM and aligned SPF results.
    #[serde(rename = "DKIM")]
    pub dkim: String,
    #[serde(rename = "SPF")]
    pub spf: String,
}

/// The whole result of `GET /api/v1/message/{ID}/auth-check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthCheck {
    /// One per `DKIM-Signature`, in the message's order.
    #[serde(rename = "DKIM")]
    pub dkim: Vec<DkimCheck>,
    #[serde(rename = "SPF")]
    pub spf: SpfCheck,
    #[serde(rename = "DMARC")]
    pub dmarc: DmarcCheck,
    #[serde(rename = "ARC")]
    pub arc: Verdict,
    /// The same as an `Authentication-Results` header value.
    pub authentication_results: String,
    /// `offline` (configured records only) or `dns`.
    pub lookups: String,
    pub notes: Vec<String>,
}

impl AuthCheck {
    /// The method's result as `auth:METHOD=RESULT` searches it: for DKIM,
    /// every signature's (`none` when there is none).
    pub fn results(&self, method: &str) -> Vec<&str> {
        match method {
            "dkim" if self.dkim.is_empty() => vec!["none"],
            "dkim" => self
                .dkim
                .iter()
                .map(|d| d.verdict.result.as_str())
                .collect(),
            "spf" => vec![self.spf.verdict.result.as_str()],
            "dmarc" => vec![self.dmarc.verdict.result.as_str()],
            "arc" => vec![self.arc.result.as_str()],
            _ => Vec::new(),
        }
    }
}

/// Verifies messages and keeps the results.
pub struct AuthChecker {
    resolver: Resolver,
    spf_ip: Option<IpAddr>,
    /// Named as the checking host in `Authentication-Results`.
    hostname: String,
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    results: HashMap<String, Arc<AuthCheck>>,
    order: VecDeque<String>,
}

/// Reads each configured TXT value as the record its name stands for (a
/// DKIM key under `_domainkey`, a DMARC policy under `_dmarc`, else SPF),
/// so that a mistake shows at start, not as a `permerror` in a test.
fn validate(resolver: &Resolver) -> Result<(), ZoneError> {
    for (name, values) in resolver.configured_txt() {
        let name = name.trim_end_matches('.');
        let first_error = |parse: &dyn Fn(&str) -> Result<(), String>| -> Option<String> {
            let errors: Vec<String> = values.iter().filter_map(|v| parse(v).err()).collect();
            (errors.len() == values.len()).then(|| errors.into_iter().next().unwrap_or_default())
        };
        let (kind, error) = if name.contains("._domainkey.") {
            (
                "a DKIM key record",
                first_error(&|v| dkim::parse_key(v).map(drop)),
            )
        } else if name.starts_with("_dmarc.") {
            (
                "a DMARC record",
                first_error(&|v| dmarc::parse_record(v).map(drop)),
            )
        } else if values.iter().any(|v| v.starts_with("v=spf1")) {
            (
                "an SPF record",
                first_error(&|v| spf::parse(v).map(drop).map_err(|e| e.to_string())),
            )
        } else {
            return Err(ZoneError::Record {
                name: name.to_string(),
                reason: "a TXT record is used here only as a DKIM key (NAME._domainkey.DOMAIN), \
                         a DMARC policy (_dmarc.DOMAIN) or an SPF policy (v=spf1 ...)"
                    .into(),
            });
        };
        if let Some(error) = error {
            return Err(ZoneError::Record {
                name: name.to_string(),
                reason: format!("not {kind} ({error})"),
            });
        }
    }
    Ok(())
}

impl AuthChecker {
    pub fn new(settings: &AuthSettings, hostname: &str) -> Result<AuthChecker, AuthSetupError> {
        let resolver = Resolver::new(&settings.records, settings.dns)
            .map_err(|e: ResolverError| AuthSetupError::Resolver(e.to_string()))?;
        validate(&resolver)?;
        Ok(AuthChecker {
            resolver,
            spf_ip: settings.spf_ip,
            hostname: hostname.to_string(),
            kept: Mutex::new(Kept::default()),
        })
    }

    /// The kept result of message `id`, if it was checked.
    pub fn kept(&self, id: &str) -> Option<Arc<AuthCheck>> {
        self.kept.lock().ok()?.results.get(id).cloned()
    }

    /// The result for message `id`: kept, or computed now and kept.
    pub async fn check(&self, id: &str, raw: &[u8], envelope: &Envelope) -> Arc<AuthCheck> {
        if let Some(kept) = self.kept(id) {
            return kept;
        }
        let result = Arc::new(self.verify(raw, envelope).await);
        if let Ok(mut kept) = self.kept.lock() {
            if kept
                .results
                .insert(id.to_string(), result.clone())
                .is_none()
            {
                kept.order.push_back(id.to_string());
            }
            while kept.order.len() > KEPT {
                if let Some(old) = kept.order.pop_front() {
                    kept.results.remove(&old);
                }
            }
        }
        result
    }

    fn lookups(&self) -> &'static str {
        if self.resolver.is_offline() {
            "offline"
        } else {
            "dns"
        }
    }

    async fn verify(&self, raw: &[u8], envelope: &Envelope) -> AuthCheck {
        let (ip, ip_source) = self.spf_ip(envelope);
        let helo = envelope.helo.as_deref().unwrap_or_default();
        let sender = envelope.mail_from.as_str();
        let spf_domain = match sender.rsplit_once('@') {
            Some((_, domain)) if !domain.is_empty() => domain.to_string(),
            _ => helo.to_string(),
        };
        let message = canon::split(raw);
        let signatures = message
            .fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case("DKIM-Signature"))
            .count();
        let mut notes = Vec::new();
        if signatures > dkim::MOST_SIGNATURES {
            notes.push(format!(
                "only the first {} of {signatures} DKIM signatures were verified",
                dkim::MOST_SIGNATURES
            ));
        }
        let work = async {
            let dkim = dkim::verify_all(&message, &self.resolver).await;
            let (arc_result, arc_reason) = arc::verify(&message, &self.resolver).await;
            let spf = if spf_domain.is_empty() {
                None
            } else {
                let sender = if sender.contains('@') {
                    sender.to_string()
                } else {
                    format!("postmaster@{helo}")
                };
                Some(
                    spf::check_host(
                        &self.resolver,
                        ip,
                        &spf_domain,
                        &sender,
                        helo,
                        &self.hostname,
                    )
                    .await,
                )
            };
            let from = from_domain(&message);
            let signed: Vec<(String, &str)> = dkim
                .iter()
                .filter_map(|c| Some((c.signature.as_ref()?.domain.clone(), c.outcome.result)))
                .collect();
            let spf_word = spf.as_ref().map_or("none", |s| s.result.as_str());
            let dmarc = dmarc::evaluate(
                &self.resolver,
                from.as_deref(),
                &signed,
                (&spf_domain, spf_word),
            )
            .await;
            let spf = SpfCheck {
                verdict: match &spf {
                    Some(spf) => self.spf_verdict(spf, &spf_domain),
                    None => Verdict::new("none", "no envelope sender nor HELO domain"),
                },
                domain: spf_domain.clone(),
                ip: ip.to_string(),
                ip_source: ip_source.clone(),
            };
            let dkim: Vec<DkimCheck> = dkim.into_iter().map(dkim_check).collect();
            let arc = Verdict::new(arc_result, arc_reason);
            let header = self.authentication_results(&dkim, &spf, sender, helo, &dmarc, &arc);
            AuthCheck {
                dkim,
                spf,
                dmarc: DmarcCheck {
                    verdict: Verdict::new(dmarc.result, dmarc.reason),
                    domain: dmarc.domain,
                    policy: dmarc.policy,
                    dkim: dmarc.dkim.into(),
                    spf: dmarc.spf.into(),
                },
                arc,
                authentication_results: header,
                lookups: self.lookups().into(),
                notes: notes.clone(),
            }
        };
        match tokio::time::timeout(TIME_LIMIT, work).await {
            Ok(check) => check,
            Err(_) => {
                let late = Verdict::new("temperror", "the check took too long");
                AuthCheck {
                    dkim: Vec::new(),
                    spf: SpfCheck {
                        verdict: late.clone(),
                        domain: spf_domain,
                        ip: ip.to_string(),
                        ip_source,
                    },
                    dmarc: DmarcCheck {
                        verdict: late.clone(),
                        domain: String::new(),
                        policy: String::new(),
                        dkim: String::new(),
                        spf: String::new(),
                    },
                    arc: late,
                    authentication_results: format!("{}; none", self.hostname),
                    lookups: self.lookups().into(),
                    notes: vec![format!(
                        "the check did not finish within {} seconds",
                        TIME_LIMIT.as_secs()
                    )],
                }
            }
        }
    }

    /// `--spf-ip`, else the SMTP client's address, else 127.0.0.1.
    fn spf_ip(&self, envelope: &Envelope) -> (IpAddr, String) {
        if let Some(ip) = self.spf_ip {
            return (ip, "--spf-ip".into());
        }
        let client = envelope.client_addr.as_deref().and_then(|a| {
            a.parse::<std::net::SocketAddr>()
                .map(|s| s.ip())
                .or_else(|_| a.parse::<IpAddr>())
                .ok()
        });
        match client {
            Some(ip) => (ip, "the SMTP client".into()),
            None => (IpAddr::from([127, 0, 0, 1]), "default".into()),
        }
    }

    fn spf_verdict(&self, outcome: &spf::SpfOutcome, domain: &str) -> Verdict {
        use spf::SpfResult as R;
        let detail = &outcome.detail;
        let reason = match outcome.result {
            R::Pass => format!("{domain}'s SPF policy allows the address ({detail})"),
            R::Fail => format!("{domain}'s SPF policy does not allow the address ({detail})"),
            R::SoftFail => {
                format!("{domain}'s SPF policy probably does not allow the address ({detail})")
            }
            R::Neutral => {
                format!("{domain}'s SPF policy says nothing about the address ({detail})")
            }
            R::None if self.resolver.is_offline() => format!(
                "no SPF policy for {domain} (give it in --auth-zone; DNS is not asked without --auth-dns)"
            ),
            R::None => format!("no SPF policy for {domain} in DNS"),
            R::TempError => format!("a DNS lookup failed: {detail}"),
            R::PermError => format!("{domain}'s SPF policy cannot be evaluated: {detail}"),
        };
        Verdict::new(outcome.result.as_str(), reason)
    }

    /// The results as an `Authentication-Results` value (RFC 8601).
    fn authentication_results(
        &self,
        dkim: &[DkimCheck],
        spf: &SpfCheck,
        sender: &str,
        helo: &str,
        dmarc: &dmarc::Outcome,
        arc: &Verdict,
    ) -> String {
        let mut parts = vec![self.hostname.clone()];
        if dkim.is_empty() {
            parts.push("dkim=none".into());
        }
        for d in dkim {
            let mut part = format!("dkim={}", d.verdict.result);
            if !d.domain.is_empty() {
                part.push_str(&format!(" header.d={} header.s={}", d.domain, d.selector));
                if !d.short_b.is_empty() {
                    part.push_str(&format!(" header.b={}", d.short_b));
                }
            }
            parts.push(part);
        }
        parts.push(if sender.contains('@') {
            format!("spf={} smtp.mailfrom={sender}", spf.verdict.result)
        } else {
            format!("spf={} smtp.helo={helo}", spf.verdict.result)
        });
        parts.push(if dmarc.domain.is_empty() {
            format!("dmarc={}", dmarc.result)
        } else {
            format!("dmarc={} header.from={}", dmarc.result, dmarc.domain)
        });
        parts.push(format!("arc={}", arc.result));
        parts.join("; ")
    }
}

fn dkim_check(checked: dkim::Checked) -> DkimCheck {
    let signature = checked.signature.as_ref();
    DkimCheck {
        verdict: Verdict::new(checked.outcome.result, checked.outcome.reason),
        domain: signature.map(|s| s.domain.clone()).unwrap_or_default(),
        selector: signature.map(|s| s.selector.clone()).unwrap_or_default(),
        algorithm: signature
            .map(|s| s.algorithm.name().to_string())
            .unwrap_or_default(),
        body_hash: checked.outcome.body_hash.to_string(),
        signed_headers: signature
            .map(|s| s.headers.iter().map(|h| h.to_ascii_lowercase()).collect())
            .unwrap_or_default(),
        short_b: signature.map(|s| s.short_b.clone()).unwrap_or_default(),
    }
}

/// The domain of the one address of the one `From:` field, if so.
fn from_domain(message: &canon::Message<'_>) -> Option<String> {
    let mut froms = message
        .fields
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("From"));
    let (Some(field), None) = (froms.next(), froms.next()) else {
        return None;
    };
    let (header, _) = mailparse::parse_header(field.raw).ok()?;
    let addresses = mailparse::addrparse_header(&header).ok()?;
    match addresses.iter().collect::<Vec<_>>().as_slice() {
        [mailparse::MailAddr::Single(one)] => {
            let (_, domain) = one.addr.rsplit_once('@')?;
            Some(domain.trim_end_matches('>').to_ascii_lowercase()).filter(|d| !d.is_empty())
        }
        _ => None,
    }
}
