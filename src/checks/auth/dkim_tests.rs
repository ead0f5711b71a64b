//! The signature and key grammar, and verification with a key made here
//! (the black-box tests in tests/auth_check.rs sign with dkimpy instead).

use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair};

use super::*;
use crate::checks::auth::zone::DnsRecord;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn signatures_are_read_and_bad_ones_are_named() {
    let s = parse_signature(
        "v=1; a=rsa-sha256; c=relaxed; d=Example.COM; s=sel;\r\n h=From : To; bh=AAAA; b=QU Jj\r\n ZA==; l=10; i=@mail.example.com",
        &["bh", "h"],
    )
    .unwrap();
    assert_eq!(s.algorithm, Algorithm::RsaSha256);
    assert!(
        s.relaxed_header && !s.relaxed_body,
        "c=relaxed is relaxed/simple"
    );
    assert_eq!(s.domain, "example.com");
    assert_eq!(s.headers, ["From", "To"]);
    assert_eq!(s.signature, b"ABcd");
    assert_eq!(s.short_b, "QUJjZA==");
    assert_eq!(s.length, Some(10));
    for (bad, says) in [
        ("a=rsa-sha256; d=x; s=y; bh=AA==; h=from", "no b="),
        (
            "a=rsa-md5; b=AA==; d=x; s=y; bh=AA==; h=from",
            "unknown algorithm",
        ),
        (
            "v=2; a=rsa-sha256; b=AA==; d=x; s=y; bh=AA==; h=from",
            "version",
        ),
        (
            "a=rsa-sha256; b=AA==; b=AA==; d=x; s=y; bh=AA==; h=from",
            "twice",
        ),
        (
            "a=rsa-sha256; b=AA==; d=x; s=y; bh=AA==; h=from; c=fancy",
            "canonicalization",
        ),
        (
            "a=rsa-sha256; b=AA==; d=x; s=y; bh=AA==; h=from; l=many",
            "not a number",
        ),
        ("a=rsa-sha256; b=AA==; d=x; s=y; h=from", "no bh="),
    ] {
        let error = parse_signature(bad, &["bh", "h"]).unwrap_err();
        assert!(error.contains(says), "{bad}: {error}");
    }
}

#[test]
fn keys_are_read_as_published() {
    // A 1024-bit RSA key as `openssl rsa -pubout` writes it (SPKI).
    let spki = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhitdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB";
    let key = parse_key(&format!("v=DKIM1; k=rsa; t=y:s; p={spki}")).unwrap();
    assert!(!key.ed25519 && key.same_domain);
    // The RSAPublicKey inside: a SEQUENCE of two INTEGERs.
    assert_eq!(key.key[0], 0x30);
    let bare = b64(&key.key);
    assert_eq!(parse_key(&format!("p={bare}")).unwrap().key, key.key);
    assert!(parse_key("v=DKIM1; p=").unwrap_err().contains("revoked"));
    assert!(parse_key("v=DKIM2; p=AAAA").is_err());
    assert!(parse_key("k=dsa; p=AAAA").unwrap_err().contains("k=dsa"));
    assert!(parse_key("k=ed25519; p=AAAA").is_err());
    assert!(
        parse_key("p=MIGfMA0GCSqGSIb3DQEB").is_err(),
        "truncated DER"
    );
    assert!(parse_key("p=!!!").is_err());
}

/// An Ed25519 key made here, published as `sel._domainkey.example.com`.
fn signer() -> (Ed25519KeyPair, Resolver) {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let record = DnsRecord::Txt {
        name: "sel._domainkey.example.com.".into(),
        value: format!("v=DKIM1; k=ed25519; p={}", b64(pair.public_key().as_ref())),
    };
    (pair, Resolver::new(&[record], false).unwrap())
}

/// `message` signed relaxed/relaxed over From and Subject, with `extra`
/// tags.
fn sign(pair: &Ed25519KeyPair, message: &[u8], extra: &str) -> Vec<u8> {
    let parsed = canon::split(message);
    let bh = ring::digest::digest(&ring::digest::SHA256, &canon::body(parsed.body, true));
    let unsigned = format!(
        "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com; s=sel; h=from:subject; bh={}; {extra}b=",
        b64(bh.as_ref())
    );
    let input = signed_header_input(
        &parsed,
        &["from".into(), "subject".into()],
        unsigned.as_bytes(),
        true,
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, &input);
    let signature = pair.sign(digest.as_ref());
    let mut signed = format!("{unsigned}{}\r\n", b64(signature.as_ref())).into_bytes();
    signed.extend_from_slice(message);
    signed
}

async fn verify_one(raw: &[u8], resolver: &Resolver) -> Outcome {
    let message = canon::split(raw);
    let mut all = verify_all(&message, resolver).await;
    assert_eq!(all.len(), 1);
    all.remove(0).outcome
}

const MESSAGE: &[u8] = b"From: a@example.com\r\nSubject: hi\r\n\r\nHello.\r\n";

#[tokio::test]
async fn a_signature_verifies_until_something_it_covers_changes() {
    let (pair, resolver) = signer();
    let signed = sign(&pair, MESSAGE, "");
    assert_eq!(verify_one(&signed, &resolver).await.result, "pass");
    // An unsigned header may be added; a signed one may not change.
    let mut added = b"X-Later: yes\r\n".to_vec();
    added.extend_from_slice(&signed);
    assert_eq!(verify_one(&added, &resolver).await.result, "pass");
    let text = String::from_utf8(signed.clone()).unwrap();
    let subject = verify_one(
        text.replace("Subject: hi", "Subject: ho").as_bytes(),
        &resolver,
    )
    .await;
    assert_eq!((subject.result, subject.body_hash), ("fail", "pass"));
    let body = verify_one(text.replace("Hello.", "Hello!").as_bytes(), &resolver).await;
    assert_eq!((body.result, body.body_hash), ("fail", "fail"));
    // A second Subject above the signed one: h= takes the last instance.
    let doubled = verify_one(
        text.replace("Subject: hi", "Subject: hi\r\nSubject: x")
            .as_bytes(),
        &resolver,
    )
    .await;
    assert_eq!(doubled.result, "fail");
    // Bare LF line ends, as a Unix mailbox keeps them.
    let lf = text.replace("\r\n", "\n");
    assert_eq!(verify_one(lf.as_bytes(), &resolver).await.result, "pass");
}

#[tokio::test]
async fn tags_that_limit_a_signature_are_honoured() {
    let (pair, resolver) = signer();
    let expired = sign(&pair, MESSAGE, "x=1000000000; ");
    let outcome = verify_one(&expired, &resolver).await;
    assert_eq!(outcome.result, "permerror");
    assert!(outcome.reason.contains("expired"), "{}", outcome.reason);
    // l= covers the first 8 bytes of the canonical body: more may follow.
    let mut partial = sign(&pair, MESSAGE, "l=8; ");
    partial.extend_from_slice(b"appended\r\n");
    let outcome = verify_one(&partial, &resolver).await;
    assert_eq!(outcome.result, "pass");
    assert!(outcome.reason.contains("unsigned"), "{}", outcome.reason);
    let too_long = sign(&pair, MESSAGE, "l=999; ");
    assert_eq!(verify_one(&too_long, &resolver).await.body_hash, "fail");
    let unknown = String::from_utf8(sign(&pair, MESSAGE, ""))
        .unwrap()
        .replace("s=sel", "s=gone");
    let outcome = verify_one(unknown.as_bytes(), &resolver).await;
    assert_eq!(outcome.result, "permerror");
    assert!(
        outcome.reason.contains("gone._domainkey.example.com"),
        "{}",
        outcome.reason
    );
    let sha1 = String::from_utf8(sign(&pair, MESSAGE, ""))
        .unwrap()
        .replace("a=ed25519-sha256", "a=rsa-sha1");
    assert!(
        verify_one(sha1.as_bytes(), &resolver)
            .await
            .reason
            .contains("RFC 8301")
    );
}

#[tokio::test]
async fn signatures_without_from_or_beyond_the_limit_are_not_verified() {
    let (pair, resolver) = signer();
    let signed = String::from_utf8(sign(&pair, MESSAGE, ""))
        .unwrap()
        .replace("h=from:subject", "h=subject");
    let outcome = verify_one(signed.as_bytes(), &resolver).await;
    assert_eq!(outcome.result, "permerror");
    assert!(outcome.reason.contains("From"), "{}", outcome.reason);
    let one = sign(&pair, MESSAGE, "");
    let header_end = one.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut many = one[..header_end].repeat(MOST_SIGNATURES + 5);
    many.extend_from_slice(MESSAGE);
    let checked = verify_all(&canon::split(&many), &resolver).await;
    assert_eq!(checked.len(), MOST_SIGNATURES);
    assert!(checked.iter().all(|c| c.outcome.result == "pass"));
}
