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

pub mod dns;
pub mod lookup;
pub mod search;
pub mod spf;
pub mod zone;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_auth::common::crypto::Algorithm;
use mail_auth::dkim::DkimError;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, DnsError, Error,
    MessageAuthenticator, SpfResult,
};
use serde::Serialize;

use crate::domain::Envelope;
use zone::{DnsRecord, Zone, ZoneError};

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

/// Whether this build has the check (it has: the `auth-check` feature).
pub const BUILT: bool = true;

/// The check set up as `settings` say.
pub fn checker(
    settings: &AuthSettings,
    hostname: &str,
) -> Result<Option<AuthChecker>, AuthSetupError> {
    AuthChecker::new(settings, hostname).map(Some)
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
    authenticator: MessageAuthenticator,
    zone: Zone,
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

impl AuthChecker {
    pub fn new(settings: &AuthSettings, hostname: &str) -> Result<AuthChecker, AuthSetupError> {
        let zone = Zone::new(&settings.records, !settings.dns)?;
        let authenticator = if settings.dns {
            MessageAuthenticator::new_system_conf()
                .map_err(|e| AuthSetupError::Resolver(e.to_string()))?
        } else {
            // No name servers: a lookup the zone did not answer could not
            // go anywhere (and the zone answers every one offline).
            MessageAuthenticator::new(
                ResolverConfig::from_parts(None, vec![], vec![]),
                ResolverOpts::default(),
            )
            .map_err(|e| AuthSetupError::Resolver(e.to_string()))?
        };
        Ok(AuthChecker {
            authenticator,
            zone,
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

    async fn verify(&self, raw: &[u8], envelope: &Envelope) -> AuthCheck {
        let (ip, ip_source) = self.spf_ip(envelope);
        let lookups = if self.zone.is_offline() {
            "offline"
        } else {
            "dns"
        };
        let Some(message) = AuthenticatedMessage::parse(raw) else {
            let none = Verdict::new("none", "the message's header cannot be read");
            return AuthCheck {
                dkim: Vec::new(),
                spf: SpfCheck {
                    verdict: none.clone(),
                    domain: String::new(),
                    ip: ip.to_string(),
                    ip_source,
                },
                dmarc: DmarcCheck {
                    verdict: none.clone(),
                    domain: String::new(),
                    policy: String::new(),
                    dkim: String::new(),
                    spf: String::new(),
                },
                arc: none,
                authentication_results: format!("{}; none", self.hostname),
                lookups: lookups.into(),
                notes: Vec::new(),
            };
        };
        let mut notes = Vec::new();
        let helo = envelope.helo.as_deref().unwrap_or_default();
        let sender = envelope.mail_from.as_str();
        let spf_domain = match sender.rsplit_once('@') {
            Some((_, domain)) if !domain.is_empty() => domain.to_string(),
            _ => helo.to_string(),
        };
        let spf_params = if sender.contains('@') {
            SpfParameters::verify_mail_from(ip, helo, &self.hostname, sender)
        } else {
            SpfParameters::verify_ehlo(ip, helo, &self.hostname)
        };
        let work = async {
            let dkim = self
                .authenticator
                .verify_dkim(self.zone.parameters(&message))
                .await;
            let arc = self
                .authenticator
                .verify_arc(self.zone.parameters(&message))
                .await;
            let spf = if spf_domain.is_empty() {
                None
            } else {
                Some(
                    self.authenticator
                        .verify_spf(self.zone.parameters(spf_params))
                        .await,
                )
            };
            let spf_for_dmarc = spf
                .clone()
                .unwrap_or_else(|| mail_auth::SpfOutput::new(String::new()));
            let dmarc = self
                .authenticator
                .verify_dmarc(self.zone.parameters(DmarcParameters::new(
                    &message,
                    &dkim,
                    &spf_domain,
                    &spf_for_dmarc,
                )))
                .await;
            let mut header =
                AuthenticationResults::new(&self.hostname).with_dkim_results(&dkim, message.from());
            if let Some(spf) = &spf {
                header = if sender.contains('@') {
                    header.with_spf_mailfrom_result(spf, ip, sender, helo)
                } else {
                    header.with_spf_ehlo_result(spf, ip, helo)
                };
            }
            let header = header
                .with_dmarc_result(&dmarc)
                .with_arc_result(&arc, ip)
                .to_string();
            AuthCheck {
                dkim: dkim.iter().map(|d| self.dkim_check(d)).collect(),
                spf: SpfCheck {
                    verdict: match &spf {
                        Some(spf) => spf_verdict(spf, &spf_domain, self.zone.is_offline()),
                        None => Verdict::new("none", "no envelope sender nor HELO domain"),
                    },
                    domain: spf_domain.clone(),
                    ip: ip.to_string(),
                    ip_source: ip_source.clone(),
                },
                dmarc: self.dmarc_check(&dmarc, message.from()),
                arc: match arc.result() {
                    DkimResult::None => Verdict::new("none", "no ARC headers"),
                    other => dkim_verdict(other, None, self.zone.is_offline()).0,
                },
                authentication_results: header,
                lookups: lookups.into(),
                notes: Vec::new(),
            }
        };
        match tokio::time::timeout(TIME_LIMIT, work).await {
            Ok(check) => check,
            Err(_) => {
                notes.push(format!(
                    "the check did not finish within {} seconds",
                    TIME_LIMIT.as_secs()
                ));
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
                    lookups: lookups.into(),
                    notes,
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

    fn dkim_check(&self, output: &mail_auth::DkimOutput) -> DkimCheck {
        let signature = output.signature();
        let key_name = signature.map(|s| format!("{}._domainkey.{}", s.s, s.d));
        let (verdict, body_hash) =
            dkim_verdict(output.result(), key_name.as_deref(), self.zone.is_offline());
        DkimCheck {
            verdict,
            domain: signature.map(|s| s.d.clone()).unwrap_or_default(),
            selector: signature.map(|s| s.s.clone()).unwrap_or_default(),
            algorithm: signature
                .map(|s| algorithm_name(s.a).to_string())
                .unwrap_or_default(),
            body_hash: body_hash.to_string(),
            signed_headers: signature
                .map(|s| s.h.iter().map(|h| h.to_ascii_lowercase()).collect())
                .unwrap_or_default(),
        }
    }

    fn dmarc_check(&self, output: &mail_auth::DmarcOutput, from: &str) -> DmarcCheck {
        let from_domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        let aligned = |r: &DmarcResult| dmarc_word(r).to_string();
        let verdict = match output.result() {
            DmarcResult::Pass => {
                let how = match (output.dkim_result(), output.spf_result()) {
                    (DmarcResult::Pass, DmarcResult::Pass) => "DKIM and SPF",
                    (DmarcResult::Pass, _) => "DKIM",
                    _ => "SPF",
                };
                Verdict::new(
                    "pass",
                    format!("{how} passed for a domain aligned with From: {from_domain}"),
                )
            }
            DmarcResult::Fail(_) => Verdict::new(
                "fail",
                format!(
                    "neither a DKIM signature nor SPF passed for a domain aligned with From: {from_domain}"
                ),
            ),
            DmarcResult::None if from_domain.is_empty() => {
                Verdict::new("none", "no single From: domain")
            }
            DmarcResult::None => Verdict::new(
                "none",
                if self.zone.is_offline() {
                    format!(
                        "no DMARC policy for {from_domain} (give _dmarc.{from_domain} in --auth-zone; DNS is not asked without --auth-dns)"
                    )
                } else {
                    format!("no DMARC policy for {from_domain} in DNS")
                },
            ),
            DmarcResult::TempError(e) => Verdict::new("temperror", e.to_string()),
            DmarcResult::PermError(e) => Verdict::new("permerror", e.to_string()),
        };
        DmarcCheck {
            verdict,
            domain: output.domain().to_string(),
            policy: match output.result() {
                DmarcResult::None => String::new(),
                _ => output.policy().to_string(),
            },
            dkim: aligned(output.dkim_result()),
            spf: aligned(output.spf_result()),
        }
    }
}

fn algorithm_name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::RsaSha256 => "rsa-sha256",
        Algorithm::RsaSha1 => "rsa-sha1",
        Algorithm::Ed25519Sha256 => "ed25519-sha256",
    }
}

fn dmarc_word(r: &DmarcResult) -> &'static str {
    match r {
        DmarcResult::Pass => "pass",
        DmarcResult::Fail(_) => "fail",
        DmarcResult::TempError(_) => "temperror",
        DmarcResult::PermError(_) => "permerror",
        DmarcResult::None => "none",
    }
}

/// A DKIM (or ARC) result in RFC 8601 words, with the body hash's own
/// result. A body hash that does not match is RFC 6376's PERMFAIL "body
/// hash did not verify": `fail`, where `mail-auth` says `neutral`.
fn dkim_verdict(
    result: &DkimResult,
    key_name: Option<&str>,
    offline: bool,
) -> (Verdict, &'static str) {
    match result {
        DkimResult::Pass => (Verdict::new("pass", "signature verified"), "pass"),
        DkimResult::Neutral(Error::Dkim(DkimError::FailedBodyHashMatch)) => (
            Verdict::new(
                "fail",
                "body hash did not verify: the body changed after signing",
            ),
            "fail",
        ),
        DkimResult::Neutral(e) => (Verdict::new("neutral", e.to_string()), ""),
        DkimResult::Fail(Error::Crypto(_)) => (
            Verdict::new(
                "fail",
                "signature did not verify: a signed header changed after signing, or the key is not the signer's",
            ),
            "pass",
        ),
        DkimResult::Fail(e) => (Verdict::new("fail", e.to_string()), ""),
        DkimResult::PermError(Error::Dns(DnsError::RecordNotFound(_))) => {
            let name = key_name.unwrap_or("the key");
            let reason = if offline {
                format!(
                    "no key at {name}: give it with --dkim-key {name}=PATH or --auth-zone (DNS is not asked without --auth-dns)"
                )
            } else {
                format!("no key at {name} in DNS")
            };
            (Verdict::new("permerror", reason), "")
        }
        DkimResult::PermError(e) => (Verdict::new("permerror", e.to_string()), ""),
        DkimResult::TempError(e) => (Verdict::new("temperror", e.to_string()), ""),
        DkimResult::None => (Verdict::new("none", "no signature"), ""),
    }
}

fn spf_verdict(output: &mail_auth::SpfOutput, domain: &str, offline: bool) -> Verdict {
    let result = output.result();
    let word = match result {
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::Neutral => "neutral",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
        SpfResult::None => "none",
    };
    let reason = match result {
        SpfResult::Pass => format!("{domain}'s SPF policy allows the address"),
        SpfResult::Fail => format!("{domain}'s SPF policy does not allow the address"),
        SpfResult::SoftFail => format!("{domain}'s SPF policy probably does not allow the address"),
        SpfResult::Neutral => format!("{domain}'s SPF policy says nothing about the address"),
        SpfResult::None if offline => format!(
            "no SPF policy for {domain} (give it in --auth-zone; DNS is not asked without --auth-dns)"
        ),
        SpfResult::None => format!("no SPF policy for {domain} in DNS"),
        SpfResult::TempError => "a DNS lookup failed".to_string(),
        SpfResult::PermError => format!("{domain}'s SPF policy cannot be evaluated"),
    };
    Verdict::new(word, reason)
}
