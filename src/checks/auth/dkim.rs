//! DKIM verification (RFC 6376, RFC 8463 for Ed25519, RFC 8301 for what is
//! no longer accepted), on `ring`, which rustls already brings: a
//! verifier crate with its own resolver did not fit the static binary.
//! ARC's message signatures are verified by the same code ([`verify`]).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::signature::{ED25519, RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, UnparsedPublicKey};

use super::canon::{self, Field, Message};
use super::lookup::{LookupError, Resolver};
use crate::domain::der;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    RsaSha256,
    RsaSha1,
    Ed25519Sha256,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 => "rsa-sha256",
            Algorithm::RsaSha1 => "rsa-sha1",
            Algorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }
}

/// The tags of a `DKIM-Signature` (or an `ARC-Message-Signature`, whose
/// `i=` is its instance; or an `ARC-Seal`, which has no `h=`, `bh=`, `c=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub algorithm: Algorithm,
    pub signature: Vec<u8>,
    pub body_hash: Vec<u8>,
    pub relaxed_header: bool,
    pub relaxed_body: bool,
    pub domain: String,
    pub selector: String,
    /// `h=` as written.
    pub headers: Vec<String>,
    /// `i=` (for ARC: the instance number as text).
    pub identity: Option<String>,
    pub length: Option<usize>,
    pub expires: Option<u64>,
    /// The first characters of `b=`, as `header.b` names a signature.
    pub short_b: String,
}

/// A tag list (`a=b; c=d`) as name-value pairs, values with folding
/// whitespace trimmed. A tag given twice is an error (RFC 6376 §3.2).
pub fn tags(value: &str) -> Result<Vec<(String, String)>, String> {
    let mut found: Vec<(String, String)> = Vec::new();
    for part in value.split(';') {
        if part.trim().is_empty() {
            continue;
        }
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| format!("`{}` is not name=value", part.trim()))?;
        let name = name.trim().to_string();
        if found.iter().any(|(n, _)| *n == name) {
            return Err(format!("the tag {name}= is given twice"));
        }
        found.push((name, value.trim().to_string()));
    }
    Ok(found)
}

fn base64_of(value: &str) -> Option<Vec<u8>> {
    let clean: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(clean).ok()
}

/// Reads a signature's tags. `required` names the tags the kind of header
/// must have beyond `a`, `b`, `d`, `s`.
pub fn parse_signature(value: &str, required: &[&str]) -> Result<Signature, String> {
    let tags = tags(value)?;
    let get = |name: &str| {
        tags.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    for name in ["a", "b", "d", "s"].iter().chain(required) {
        if get(name).is_none() {
            return Err(format!("the signature has no {name}= tag"));
        }
    }
    if let Some(version) = get("v")
        && version != "1"
    {
        return Err(format!("unknown signature version v={version}"));
    }
    let algorithm = match get("a").unwrap_or_default().to_ascii_lowercase().as_str() {
        "rsa-sha256" => Algorithm::RsaSha256,
        "rsa-sha1" => Algorithm::RsaSha1,
        "ed25519-sha256" => Algorithm::Ed25519Sha256,
        other => return Err(format!("unknown algorithm a={other}")),
    };
    let b = get("b").unwrap_or_default();
    let signature = base64_of(b).ok_or("b= is not base64")?;
    let body_hash = match get("bh") {
        Some(bh) => base64_of(bh).ok_or("bh= is not base64")?,
        None => Vec::new(),
    };
    let (relaxed_header, relaxed_body) = match get("c").map(str::to_ascii_lowercase) {
        None => (false, false),
        Some(c) => {
            let (h, b) = c.split_once('/').unwrap_or((c.as_str(), "simple"));
            let relaxed = |word: &str| match word.trim() {
                "simple" => Ok(false),
                "relaxed" => Ok(true),
                other => Err(format!("unknown canonicalization {other}")),
            };
            (relaxed(h)?, relaxed(b)?)
        }
    };
    let number = |name: &str| -> Result<Option<u64>, String> {
        get(name)
            .map(|v| v.parse().map_err(|_| format!("{name}={v} is not a number")))
            .transpose()
    };
    Ok(Signature {
        algorithm,
        signature,
        body_hash,
        relaxed_header,
        relaxed_body,
        domain: get("d").unwrap_or_default().to_ascii_lowercase(),
        selector: get("s").unwrap_or_default().to_string(),
        headers: get("h")
            .map(|h| {
                h.split(':')
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        identity: get("i").map(str::to_string),
        length: number("l")?.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
        expires: number("x")?,
        short_b: b.chars().filter(|c| !c.is_whitespace()).take(8).collect(),
    })
}

/// A public key record (`v=DKIM1; k=rsa; p=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainKey {
    pub ed25519: bool,
    /// RSA: the RSAPublicKey DER; Ed25519: the 32 key bytes.
    pub key: Vec<u8>,
    /// `h=`: the hashes the key may be used with; empty: any.
    pub hashes: Vec<String>,
    /// `t=s`: `i=` must be in `d=` itself, not a subdomain.
    pub same_domain: bool,
}

pub fn parse_key(record: &str) -> Result<DomainKey, String> {
    let tags = tags(record)?;
    let get = |name: &str| {
        tags.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some((name, version)) = tags.first()
        && name == "v"
        && version != "DKIM1"
    {
        return Err(format!("v={version} is not DKIM1"));
    }
    let ed25519 = match get("k").unwrap_or("rsa").to_ascii_lowercase().as_str() {
        "rsa" => false,
        "ed25519" => true,
        other => return Err(format!("unknown key type k={other}")),
    };
    let p = get("p").ok_or("the record has no p= (public key)")?;
    if p.trim().is_empty() {
        return Err("the key is revoked (empty p=)".into());
    }
    let data = base64_of(p).ok_or("p= is not base64")?;
    let key = if ed25519 {
        if data.len() != 32 {
            return Err("an Ed25519 key is 32 bytes".into());
        }
        data
    } else {
        rsa_public_key(&data).ok_or("p= is not an RSA public key")?
    };
    let flags = |name: &str| -> Vec<String> {
        get(name)
            .unwrap_or_default()
            .split(':')
            .map(|w| w.trim().to_ascii_lowercase())
            .filter(|w| !w.is_empty())
            .collect()
    };
    Ok(DomainKey {
        ed25519,
        key,
        hashes: flags("h"),
        same_domain: flags("t").iter().any(|f| f == "s"),
    })
}

/// The RSAPublicKey in `p=`: most keys are published as a
/// SubjectPublicKeyInfo (what `openssl rsa -pubout` writes), some bare.
fn rsa_public_key(der: &[u8]) -> Option<Vec<u8>> {
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let (0x30, outer, _) = der::element(der)? else {
        return None;
    };
    match der::element(outer)? {
        (0x02, _, _) => Some(der.to_vec()),
        (0x30, algorithm, rest) => {
            let (0x06, oid, _) = der::element(algorithm)? else {
                return None;
            };
            let (0x03, bits, _) = der::element(rest)? else {
                return None;
            };
            (oid == RSA_ENCRYPTION && bits.first() == Some(&0)).then(|| bits[1..].to_vec())
        }
        _ => None,
    }
}

/// A verification's outcome in RFC 8601 words and why; `body_hash` is
/// `pass`, `fail` or empty when not reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub result: &'static str,
    pub reason: String,
    pub body_hash: &'static str,
}

fn outcome(result: &'static str, reason: impl Into<String>) -> Outcome {
    Outcome {
        result,
        reason: reason.into(),
        body_hash: "",
    }
}

/// The hash input of the signed header fields: each name of `h=` takes the
/// last instance not yet used (RFC 6376 §5.4.2); a name with none left
/// adds nothing. Then `signature_field` without its `b=` value and
/// without its line end.
pub fn signed_header_input(
    message: &Message<'_>,
    names: &[String],
    signature_field: &[u8],
    relaxed: bool,
) -> Vec<u8> {
    let mut used = vec![false; message.fields.len()];
    let mut input = Vec::new();
    for name in names {
        let found = message
            .fields
            .iter()
            .enumerate()
            .rev()
            .find(|(i, f)| !used[*i] && f.name.eq_ignore_ascii_case(name));
        if let Some((i, field)) = found {
            used[i] = true;
            canon::header(field.raw, relaxed, &mut input);
        }
    }
    canon::header(
        &canon::without_signature(signature_field),
        relaxed,
        &mut input,
    );
    input.truncate(input.len() - 2);
    input
}

/// The key `signature` names, checked against it, or the outcome that
/// ends the verification.
async fn key_for(signature: &Signature, resolver: &Resolver) -> Result<DomainKey, Outcome> {
    let key_name = format!("{}._domainkey.{}", signature.selector, signature.domain);
    if signature.algorithm == Algorithm::RsaSha1 {
        return Err(outcome(
            "permerror",
            "rsa-sha1 signatures are no longer accepted (RFC 8301): sign with rsa-sha256",
        ));
    }
    if let Some(expires) = signature.expires {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if expires < now {
            return Err(outcome("permerror", "the signature has expired (x=)"));
        }
    }
    let key = match resolver.txt(&key_name).await {
        Ok(records) if records.is_empty() => return Err(missing_key(&key_name, resolver)),
        Ok(records) => {
            let parsed: Vec<_> = records.iter().map(|r| parse_key(r)).collect();
            match parsed.iter().find_map(|p| p.as_ref().ok()) {
                Some(key) => key.clone(),
                None => {
                    let why = parsed.into_iter().find_map(Result::err).unwrap_or_default();
                    return Err(outcome(
                        "permerror",
                        format!("the key at {key_name}: {why}"),
                    ));
                }
            }
        }
        Err(LookupError::NoSuchDomain) => return Err(missing_key(&key_name, resolver)),
        Err(LookupError::Failed(why)) => {
            return Err(outcome(
                "temperror",
                format!("the key at {key_name}: {why}"),
            ));
        }
    };
    if key.ed25519 != (signature.algorithm == Algorithm::Ed25519Sha256) {
        return Err(outcome(
            "permerror",
            format!(
                "the key at {key_name} is not for {}",
                signature.algorithm.name()
            ),
        ));
    }
    if !key.hashes.is_empty() && !key.hashes.iter().any(|h| h == "sha256") {
        return Err(outcome(
            "permerror",
            format!("the key at {key_name} does not allow sha256 (h=)"),
        ));
    }
    if key.same_domain {
        // An ARC header's i= is its instance number, not an identity.
        if let Some(identity) = signature.identity.as_ref().filter(|i| i.contains('@')) {
            let domain = identity.rsplit_once('@').map_or("", |(_, d)| d);
            if !domain.eq_ignore_ascii_case(&signature.domain) {
                return Err(outcome(
                    "permerror",
                    "the key forbids subdomains in i= (t=s)",
                ));
            }
        }
    }
    Ok(key)
}

/// Whether `signature` is `key`'s over `input` (Ed25519 signs the input's
/// SHA-256, RFC 8463; RSA signs the input with SHA-256 inside).
fn signed_by(key: &DomainKey, input: &[u8], signature: &[u8]) -> bool {
    if key.ed25519 {
        let digest = ring::digest::digest(&ring::digest::SHA256, input);
        UnparsedPublicKey::new(&ED25519, &key.key)
            .verify(digest.as_ref(), signature)
            .is_ok()
    } else {
        UnparsedPublicKey::new(&RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, &key.key)
            .verify(input, signature)
            .is_ok()
    }
}

const NOT_VERIFIED: &str = "signature did not verify: a signed header changed after signing, or the key is not the signer's";

/// Verifies a signature over an input already made (an `ARC-Seal`'s).
pub async fn verify_input(input: &[u8], signature: &Signature, resolver: &Resolver) -> Outcome {
    match key_for(signature, resolver).await {
        Ok(key) if signed_by(&key, input, &signature.signature) => {
            outcome("pass", "signature verified")
        }
        Ok(_) => outcome("fail", NOT_VERIFIED),
        Err(ended) => ended,
    }
}

/// Verifies `signature` (read from `field`) over `message`: the key is
/// looked up at `selector._domainkey.domain`; the body hash is checked
/// before the signature (RFC 6376 §6.1.3).
pub async fn verify(
    message: &Message<'_>,
    field: &Field<'_>,
    signature: &Signature,
    resolver: &Resolver,
) -> Outcome {
    let key = match key_for(signature, resolver).await {
        Ok(key) => key,
        Err(ended) => return ended,
    };
    let body = canon::body(message.body, signature.relaxed_body);
    let hashed = match signature.length {
        Some(length) if length > body.len() => {
            return Outcome {
                body_hash: "fail",
                ..outcome(
                    "fail",
                    "body hash did not verify: the body is shorter than l= says",
                )
            };
        }
        Some(length) => &body[..length],
        None => &body[..],
    };
    if ring::digest::digest(&ring::digest::SHA256, hashed).as_ref() != signature.body_hash {
        return Outcome {
            body_hash: "fail",
            ..outcome(
                "fail",
                "body hash did not verify: the body changed after signing",
            )
        };
    }
    let input = signed_header_input(
        message,
        &signature.headers,
        field.raw,
        signature.relaxed_header,
    );
    let mut result = if signed_by(&key, &input, &signature.signature) {
        outcome("pass", "signature verified")
    } else {
        outcome("fail", NOT_VERIFIED)
    };
    result.body_hash = "pass";
    if result.result == "pass" && signature.length.is_some_and(|l| l < body.len()) {
        result.reason = "signature verified; l= leaves part of the body unsigned".into();
    }
    result
}

fn missing_key(key_name: &str, resolver: &Resolver) -> Outcome {
    outcome(
        "permerror",
        if resolver.is_offline() {
            format!(
                "no key at {key_name}: give it with --dkim-key {key_name}=PATH or --auth-zone (DNS is not asked without --auth-dns)"
            )
        } else {
            format!("no key at {key_name} in DNS")
        },
    )
}

/// One `DKIM-Signature` checked: its tags (when readable) and outcome.
pub struct Checked {
    pub signature: Option<Signature>,
    pub outcome: Outcome,
}

/// Signatures verified per message: each costs a pass over the body, and
/// a hostile message may carry thousands.
pub const MOST_SIGNATURES: usize = 16;

/// The first [`MOST_SIGNATURES`] `DKIM-Signature`s of `message`, in order.
pub async fn verify_all(message: &Message<'_>, resolver: &Resolver) -> Vec<Checked> {
    let mut checked = Vec::new();
    let signatures = message
        .fields
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("DKIM-Signature"))
        .take(MOST_SIGNATURES);
    for field in signatures {
        // Lets the check's time limit end a long run of signatures.
        tokio::task::yield_now().await;
        let parsed = parse_signature(&field.value(), &["bh", "h"]).and_then(|s| {
            if !s.headers.iter().any(|h| h.eq_ignore_ascii_case("from")) {
                return Err("h= does not include From".into());
            }
            if let Some(identity) = &s.identity {
                let domain = identity
                    .rsplit_once('@')
                    .map_or("", |(_, d)| d)
                    .to_ascii_lowercase();
                if domain != s.domain && !domain.ends_with(&format!(".{}", s.domain)) {
                    return Err(format!("i={identity} is not in d={}", s.domain));
                }
            }
            Ok(s)
        });
        checked.push(match parsed {
            Ok(signature) => Checked {
                outcome: verify(message, field, &signature, resolver).await,
                signature: Some(signature),
            },
            Err(why) => Checked {
                signature: None,
                outcome: outcome("permerror", format!("the signature cannot be read: {why}")),
            },
        });
    }
    checked
}

#[cfg(test)]
#[path = "dkim_tests.rs"]
mod tests;
