//! The `Letterbox-Signature` header: HMAC-SHA256 over the timestamp and the
//! body, as Stripe signs its webhooks.
//!
//! `Letterbox-Signature: t=1733220000,v1=5257a869e7ec…` where `t` is when
//! the request was sent (Unix seconds) and `v1` the lowercase hex
//! HMAC-SHA256, keyed with `--webhook-secret`, of `t`, a `.` and the raw
//! body. A receiver computes the same over what it received, compares in
//! constant time, and refuses a `t` more than a few minutes from its own
//! clock, so a captured request cannot be replayed later.

use ring::hmac;

/// The header's name.
pub const HEADER: &str = "Letterbox-Signature";

/// The header's value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex(&mac(secret, timestamp, body)))
}

/// Whether `header` is a valid signature of `body` with `secret`, made
/// within `tolerance_secs` of `now` (a receiver's check, and the tests').
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now - timestamp).abs() > tolerance_secs {
        return false;
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let signed = [format!("{timestamp}.").as_bytes(), body].concat();
    signatures
        .iter()
        .any(|v| unhex(v).is_some_and(|tag| hmac::verify(&key, &signed, &tag).is_ok()))
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut context = hmac::Context::with_key(&key);
    context.update(format!("{timestamp}.").as_bytes());
    context.update(body);
    context.sign()
}

fn hex(tag: &hmac::Tag) -> String {
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_hmac() {
        // printf '1733220000.{"ID":"x"}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            sign(b"whsec_test", 1_733_220_000, br#"{"ID":"x"}"#),
            "t=1733220000,v1=7c6be6878b55071d4575ff5234d8d7047f32feffc14f6926a8aa33a99b6fc435"
        );
    }

    #[test]
    fn verifies_only_the_same_body_secret_and_a_recent_time() {
        let header = sign(b"s3cret", 1000, b"body");
        assert!(verify(b"s3cret", &header, b"body", 1000, 300));
        assert!(verify(b"s3cret", &header, b"body", 1299, 300));
        assert!(!verify(b"s3cret", &header, b"body", 1301, 300), "too old");
        assert!(!verify(b"s3cret", &header, b"bodY", 1000, 300));
        assert!(!verify(b"other", &header, b"body", 1000, 300));
        let moved = header.replace("t=1000", "t=1001");
        assert!(
            !verify(b"s3cret", &moved, b"body", 1000, 300),
            "the time is signed"
        );
        assert!(!verify(b"s3cret", "v1=00", b"body", 1000, 300));
    }
}
