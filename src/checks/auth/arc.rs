//! ARC (RFC 8617): whether the chain of custody a forwarder added holds.
//! Every set must be there, once, numbered 1..N; the newest
//! `ARC-Message-Signature` must verify as a DKIM signature would, and every
//! `ARC-Seal` over the sets up to its own.

use super::canon::{self, Field, Message};
use super::dkim::{self, Signature};
use super::lookup::Resolver;

/// The most sets a chain may have.
const MOST_SETS: usize = 50;

struct Set<'a> {
    results: Field<'a>,
    message_signature: Field<'a>,
    seal: Field<'a>,
}

/// The chain's result (`none`, `pass`, `fail`, `temperror`) and why.
pub async fn verify(message: &Message<'_>, resolver: &Resolver) -> (&'static str, String) {
    let fields = |name: &str| -> Vec<Field<'_>> {
        message
            .fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .copied()
            .collect()
    };
    let results = fields("ARC-Authentication-Results");
    let signatures = fields("ARC-Message-Signature");
    let seals = fields("ARC-Seal");
    if results.is_empty() && signatures.is_empty() && seals.is_empty() {
        return ("none", "no ARC headers".into());
    }
    let sets = match sets(&results, &signatures, &seals) {
        Ok(sets) => sets,
        Err(why) => return ("fail", why),
    };
    // cv= of each seal: none on the first, pass on the others.
    let mut seal_tags = Vec::new();
    for (index, set) in sets.iter().enumerate() {
        let value = set.seal.value();
        let cv = dkim::tags(&value)
            .ok()
            .and_then(|t| t.into_iter().find(|(n, _)| n == "cv").map(|(_, v)| v))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let expected = if index == 0 { "none" } else { "pass" };
        if cv != expected {
            return (
                "fail",
                format!("ARC-Seal i={} says cv={cv}, not {expected}", index + 1),
            );
        }
        match dkim::parse_signature(&value, &["cv", "i"]) {
            Ok(seal) => seal_tags.push(seal),
            Err(why) => return ("fail", format!("ARC-Seal i={}: {why}", index + 1)),
        }
    }

    let newest = sets.len();
    let last = &sets[newest - 1];
    let outcome = match dkim::parse_signature(&last.message_signature.value(), &["bh", "h", "i"]) {
        Ok(signature) => dkim::verify(message, &last.message_signature, &signature, resolver).await,
        Err(why) => return ("fail", format!("ARC-Message-Signature i={newest}: {why}")),
    };
    match outcome.result {
        "pass" => {}
        "temperror" => return ("temperror", outcome.reason),
        _ => {
            return (
                "fail",
                format!("ARC-Message-Signature i={newest}: {}", outcome.reason),
            );
        }
    }
    for instance in (1..=newest).rev() {
        let (result, why) =
            verify_seal(&sets[..instance], &seal_tags[instance - 1], resolver).await;
        if result != "pass" {
            let result = if result == "temperror" {
                "temperror"
            } else {
                "fail"
            };
            return (result, format!("ARC-Seal i={instance}: {why}"));
        }
    }
    ("pass", format!("{newest} ARC set(s) verified"))
}

/// The sets by instance, or why the chain is broken.
fn sets<'a>(
    results: &[Field<'a>],
    signatures: &[Field<'a>],
    seals: &[Field<'a>],
) -> Result<Vec<Set<'a>>, String> {
    let count = seals.len();
    if count > MOST_SETS {
        return Err(format!("more than {MOST_SETS} ARC sets"));
    }
    if results.len() != count || signatures.len() != count {
        return Err("the ARC sets are incomplete".into());
    }
    let find = |fields: &[Field<'a>], instance: usize| -> Result<Field<'a>, String> {
        let mut matching = fields.iter().filter(|f| instance_of(f) == Some(instance));
        match (matching.next(), matching.next()) {
            (Some(field), None) => Ok(*field),
            (None, _) => Err(format!("no {} with i={instance}", first_name(fields))),
            (Some(_), Some(_)) => Err(format!("two {} with i={instance}", first_name(fields))),
        }
    };
    (1..=count)
        .map(|i| {
            Ok(Set {
                results: find(results, i)?,
                message_signature: find(signatures, i)?,
                seal: find(seals, i)?,
            })
        })
        .collect()
}

fn first_name(fields: &[Field<'_>]) -> String {
    fields.first().map_or("ARC header", |f| f.name).to_string()
}

/// `i=` of an ARC header: a tag of the list (`ARC-Authentication-Results`
/// starts with it, before the authserv-id).
fn instance_of(field: &Field<'_>) -> Option<usize> {
    let value = field.value();
    value.split(';').find_map(|part| {
        let (name, number) = part.split_once('=')?;
        (name.trim() == "i").then(|| number.trim().parse().ok())?
    })
}

async fn verify_seal(
    sets: &[Set<'_>],
    seal: &Signature,
    resolver: &Resolver,
) -> (&'static str, String) {
    let mut input = Vec::new();
    let (newest, older) = sets.split_last().expect("at least one set");
    for set in older {
        for field in [&set.results, &set.message_signature, &set.seal] {
            canon::header(field.raw, true, &mut input);
        }
    }
    canon::header(newest.results.raw, true, &mut input);
    canon::header(newest.message_signature.raw, true, &mut input);
    canon::header(&canon::without_signature(newest.seal.raw), true, &mut input);
    input.truncate(input.len() - 2);
    let outcome = dkim::verify_input(&input, seal, resolver).await;
    (outcome.result, outcome.reason)
}
