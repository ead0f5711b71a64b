//! `GET /api/v1/message/{ID}/auth-check`: DKIM, SPF and DMARC of messages
//! signed by an independent signer (Python's dkimpy, keys made with
//! OpenSSL), with the keys and policies given offline (`--dkim-key`,
//! `--auth-zone`), as an app's CI would check its signing set-up.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;
use common::{Letterbox, TempDir, requires};
use serde_json::Value;

/// Signs stdin with dkimpy: `sign.py SELECTOR DOMAIN KEYFILE ALGORITHM
/// HEADER/BODY` (canonicalizations). RSA keys are PEM; Ed25519 keys are
/// given as dkimpy wants them, the base64 of the 32-byte seed.
const SIGNER: &str = r#"
import sys, dkim
selector, domain, keyfile, algorithm, canon = sys.argv[1:6]
key = open(keyfile, 'rb').read()
message = sys.stdin.buffer.read()
header, body = canon.split('/')
signature = dkim.sign(message, selector.encode(), domain.encode(), key,
    include_headers=[b'from', b'to', b'subject', b'list-unsubscribe', b'list-unsubscribe-post'],
    signature_algorithm=algorithm.encode(), canonicalize=(header.encode(), body.encode()))
sys.stdout.buffer.write(signature + message)
"#;

/// Adds an ARC set with dkimpy as a forwarder would: `arc.py SELECTOR
/// DOMAIN KEYFILE AUTHSERV-ID`; the message must carry that forwarder's
/// Authentication-Results.
const ARC_SIGNER: &str = r#"
import sys, dkim
selector, domain, keyfile, authserv = sys.argv[1:5]
key = open(keyfile, 'rb').read()
message = sys.stdin.buffer.read()
headers = dkim.arc_sign(message, selector.encode(), domain.encode(), key, authserv.encode())
sys.stdout.buffer.write(b''.join(headers) + message)
"#;

const MESSAGE: &[u8] = b"From: App <app@example.com>\r\nTo: user@example.org\r\nSubject: Your receipt\r\nList-Unsubscribe: <https://example.com/unsub?u=1>, <mailto:leave@example.com>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nMessage-ID: <r1@example.com>\r\n\r\nThank you for your order.\r\n";

/// Whether dkimpy (and PyNaCl for Ed25519) and openssl are here.
fn signer_available() -> bool {
    let python = Command::new("python3")
        .args(["-c", "import dkim, nacl, authres"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let openssl = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !(python && openssl) {
        requires::skip(
            "auth_check",
            "Python's dkimpy, PyNaCl and authres, or openssl, are missing",
            "pip install dkimpy pynacl authres; apt-get install openssl (.ci/run does)",
        );
    }
    python && openssl
}

fn run(program: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Keys made with OpenSSL in `dir`: `rsa.pem` (private), `rsa.pub.pem`,
/// `ed.seed` (dkimpy's form) and the Ed25519 public key's DNS value.
struct Keys {
    rsa: String,
    rsa_public: String,
    rsa_record: String,
    ed_seed: String,
    ed_record: String,
}

fn make_keys(dir: &TempDir) -> Keys {
    let rsa = dir.file("rsa.pem");
    let rsa_public = dir.file("rsa.pub.pem");
    run(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            &rsa,
        ],
        b"",
    );
    run(
        "openssl",
        &["pkey", "-in", &rsa, "-pubout", "-out", &rsa_public],
        b"",
    );
    let ed = dir.file("ed.pem");
    run(
        "openssl",
        &["genpkey", "-algorithm", "ed25519", "-out", &ed],
        b"",
    );
    let private_der = run("openssl", &["pkey", "-in", &ed, "-outform", "DER"], b"");
    let public_der = run(
        "openssl",
        &["pkey", "-in", &ed, "-pubout", "-outform", "DER"],
        b"",
    );
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let rsa_der = run(
        "openssl",
        &["pkey", "-in", &rsa, "-pubout", "-outform", "DER"],
        b"",
    );
    let ed_seed = dir.file("ed.seed");
    std::fs::write(&ed_seed, b64(&private_der[private_der.len() - 32..])).unwrap();
    Keys {
        rsa,
        rsa_public,
        rsa_record: format!("v=DKIM1; k=rsa; p={}", b64(&rsa_der)),
        ed_seed,
        ed_record: format!(
            "v=DKIM1; k=ed25519; p={}",
            b64(&public_der[public_der.len() - 32..])
        ),
    }
}

fn sign(dir: &TempDir, selector: &str, key: &str, algorithm: &str, message: &[u8]) -> Vec<u8> {
    sign_canonical(dir, selector, key, algorithm, "relaxed/simple", message)
}

fn sign_canonical(
    dir: &TempDir,
    selector: &str,
    key: &str,
    algorithm: &str,
    canon: &str,
    message: &[u8],
) -> Vec<u8> {
    run(
        "python3",
        &[
            &script(dir, "sign.py", SIGNER),
            selector,
            "example.com",
            key,
            algorithm,
            canon,
        ],
        message,
    )
}

/// `message` as forwarded by `authserv`: its Authentication-Results (with
/// `arc=pass` when it found a chain, which its seal's `cv=` repeats), then
/// its ARC set signed with the RSA key as `arc._domainkey.example.net`.
fn forward(dir: &TempDir, keys: &Keys, authserv: &str, message: &[u8]) -> Vec<u8> {
    let chain = if message.starts_with(b"ARC-Seal") {
        "; arc=pass"
    } else {
        ""
    };
    let mut received =
        format!("Authentication-Results: {authserv}; dkim=pass header.d=example.com{chain}\r\n")
            .into_bytes();
    received.extend_from_slice(message);
    run(
        "python3",
        &[
            &script(dir, "arc.py", ARC_SIGNER),
            "arc",
            "example.net",
            &keys.rsa,
            authserv,
        ],
        &received,
    )
}

fn script(dir: &TempDir, name: &str, text: &str) -> String {
    let path = dir.file(name);
    if !Path::new(&path).exists() {
        std::fs::write(&path, text).unwrap();
    }
    path
}

/// `bytes` with the first `from` replaced by `to`.
fn changed(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains(from), "{from:?} not in the message");
    text.replacen(from, to, 1).into_bytes()
}

/// The zone: SPF allows 192.0.2.0/24 only, DMARC rejects, the Ed25519 key.
fn write_zone(dir: &TempDir, keys: &Keys) -> String {
    let zone = dir.file("zone.txt");
    std::fs::write(
        &zone,
        format!(
            "; the app's domain as it will be published\n\
             example.com.  3600 IN TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n\
             _dmarc.example.com TXT \"v=DMARC1; p=reject\"\n\
             ed._domainkey.example.com TXT \"{}\"\n\
             arc._domainkey.example.net TXT \"{}\"\n",
            keys.ed_record, keys.rsa_record
        ),
    )
    .unwrap();
    zone
}

fn start(dir: &TempDir, keys: &Keys, spf_ip: &str) -> Letterbox {
    let zone = write_zone(dir, keys);
    let dkim_key = format!("rsa._domainkey.example.com={}", keys.rsa_public);
    Letterbox::with_args(&[
        "--dkim-key",
        &dkim_key,
        "--auth-zone",
        &zone,
        "--spf-ip",
        spf_ip,
    ])
}

async fn check(lb: &Letterbox, message: &[u8]) -> Value {
    let id = lb
        .send_raw("bounces@example.com", &["user@example.org"], message)
        .await;
    let (status, check) = lb
        .get_json(&format!("/api/v1/message/{id}/auth-check"))
        .await;
    assert_eq!(status, 200, "{check}");
    check
}

fn dkim(check: &Value) -> &Value {
    let signatures = check["DKIM"].as_array().expect("DKIM is a list");
    assert_eq!(signatures.len(), 1, "{check}");
    &signatures[0]
}

#[tokio::test]
async fn signatures_verify_and_every_change_is_caught() {
    if !signer_available() {
        return;
    }
    let dir = TempDir::new("auth-check");
    let keys = make_keys(&dir);
    let lb = start(&dir, &keys, "192.0.2.10");
    let signed = sign(&dir, "rsa", &keys.rsa, "rsa-sha256", MESSAGE);

    let untouched = check(&lb, &signed).await;
    let d = dkim(&untouched);
    assert_eq!(d["Result"], "pass", "{untouched}");
    assert_eq!(d["BodyHash"], "pass", "{untouched}");
    assert_eq!(d["Domain"], "example.com");
    assert_eq!(d["Selector"], "rsa");
    assert_eq!(d["Algorithm"], "rsa-sha256");
    assert_eq!(untouched["SPF"]["Result"], "pass", "{untouched}");
    assert_eq!(untouched["SPF"]["IP"], "192.0.2.10");
    assert_eq!(untouched["SPF"]["Domain"], "example.com");
    assert_eq!(untouched["DMARC"]["Result"], "pass", "{untouched}");
    assert_eq!(untouched["DMARC"]["Policy"], "reject", "{untouched}");
    assert_eq!(untouched["ARC"]["Result"], "none", "{untouched}");
    assert_eq!(untouched["Lookups"], "offline");
    let header = untouched["AuthenticationResults"].as_str().unwrap();
    assert!(header.contains("dkim=pass"), "{header}");
    assert!(header.contains("spf=pass"), "{header}");
    assert!(header.contains("dmarc=pass"), "{header}");

    let body = check(&lb, &changed(&signed, "Thank you", "Thanks")).await;
    let d = dkim(&body);
    assert_eq!(d["Result"], "fail", "{body}");
    assert_eq!(d["BodyHash"], "fail", "{body}");
    assert!(
        d["Reason"].as_str().unwrap().contains("body hash"),
        "{body}"
    );
    // SPF passes for the aligned envelope sender: DMARC still passes.
    assert_eq!(body["DMARC"]["Result"], "pass", "{body}");

    let header = check(&lb, &changed(&signed, "Your receipt", "Your invoice")).await;
    let d = dkim(&header);
    assert_eq!(d["Result"], "fail", "{header}");
    assert_eq!(d["BodyHash"], "pass", "{header}");
    assert!(
        d["Reason"]
            .as_str()
            .unwrap()
            .contains("signature did not verify"),
        "{header}"
    );

    let unknown = check(&lb, &sign(&dir, "other", &keys.rsa, "rsa-sha256", MESSAGE)).await;
    let d = dkim(&unknown);
    assert_eq!(d["Result"], "permerror", "{unknown}");
    assert!(
        d["Reason"]
            .as_str()
            .unwrap()
            .contains("other._domainkey.example.com"),
        "{unknown}"
    );

    let ed = check(
        &lb,
        &sign(&dir, "ed", &keys.ed_seed, "ed25519-sha256", MESSAGE),
    )
    .await;
    let d = dkim(&ed);
    assert_eq!(d["Result"], "pass", "{ed}");
    assert_eq!(d["Algorithm"], "ed25519-sha256");

    // Unsigned: no DKIM result to search; the result is kept per message.
    let plain = check(&lb, MESSAGE).await;
    assert_eq!(plain["DKIM"], serde_json::json!([]), "{plain}");

    // auth: searches the results.
    let found = lb.get_ok("/api/v1/search?query=auth:dkim=fail").await;
    assert_eq!(found["messages_count"], 2, "{found}");
    let found = lb.get_ok("/api/v1/search?query=auth:dkim=permerror").await;
    assert_eq!(found["messages_count"], 1, "{found}");
    let found = lb
        .get_ok("/api/v1/search?query=auth:dkim=pass%20subject:receipt")
        .await;
    assert_eq!(found["messages_count"], 2, "{found}");
    let found = lb.get_ok("/api/v1/search?query=auth:dkim=none").await;
    assert_eq!(found["messages_count"], 1, "{found}");
    let (status, _) = lb.get_json("/api/v1/search?query=auth:dkim=maybe").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn both_canonicalizations_tolerate_what_they_should_and_nothing_else() {
    if !signer_available() {
        return;
    }
    let dir = TempDir::new("auth-check-canon");
    let keys = make_keys(&dir);
    let lb = start(&dir, &keys, "192.0.2.10");
    // What a relay may do to a message in transit: refold a header, add
    // blanks at line ends, add empty lines at the end of the body.
    let respaced = |signed: &[u8]| {
        let text = changed(
            signed,
            "Subject: Your receipt",
            "Subject:  Your\r\n receipt",
        );
        let text = changed(&text, "your order.", "your   order. ");
        let mut text = text;
        text.extend_from_slice(b"\r\n\r\n");
        text
    };
    for (canon, survives) in [("simple/simple", false), ("relaxed/relaxed", true)] {
        let signed = sign_canonical(&dir, "rsa", &keys.rsa, "rsa-sha256", canon, MESSAGE);
        let untouched = check(&lb, &signed).await;
        assert_eq!(dkim(&untouched)["Result"], "pass", "{canon}: {untouched}");
        let relayed = check(&lb, &respaced(&signed)).await;
        let expected = if survives { "pass" } else { "fail" };
        assert_eq!(dkim(&relayed)["Result"], expected, "{canon}: {relayed}");
        // A changed word is caught by both.
        let edited = check(&lb, &changed(&signed, "order", "orders")).await;
        assert_eq!(dkim(&edited)["BodyHash"], "fail", "{canon}: {edited}");
    }
}

#[tokio::test]
async fn an_arc_chain_verifies_and_a_broken_one_fails() {
    if !signer_available() {
        return;
    }
    let dir = TempDir::new("auth-check-arc");
    let keys = make_keys(&dir);
    let lb = start(&dir, &keys, "192.0.2.10");
    let signed = sign(&dir, "rsa", &keys.rsa, "rsa-sha256", MESSAGE);

    let once = forward(&dir, &keys, "relay.example.net", &signed);
    let checked = check(&lb, &once).await;
    assert_eq!(checked["ARC"]["Result"], "pass", "{checked}");
    assert!(
        checked["AuthenticationResults"]
            .as_str()
            .unwrap()
            .contains("arc=pass"),
        "{checked}"
    );
    let twice = forward(&dir, &keys, "list.example.net", &once);
    let checked = check(&lb, &twice).await;
    assert_eq!(checked["ARC"]["Result"], "pass", "{checked}");
    assert!(
        checked["ARC"]["Reason"].as_str().unwrap().contains('2'),
        "{checked}"
    );

    // The body changed after the last forwarder sealed it.
    let edited = check(&lb, &changed(&twice, "Thank you", "Thanks")).await;
    assert_eq!(edited["ARC"]["Result"], "fail", "{edited}");
    // The first forwarder's results rewritten: its seal no longer holds.
    let rewritten = check(
        &lb,
        &changed(
            &twice,
            "i=1; relay.example.net;",
            "i=1; relay.example.net; spf=pass;",
        ),
    )
    .await;
    assert_eq!(rewritten["ARC"]["Result"], "fail", "{rewritten}");
    // A set missing its seal.
    let text = String::from_utf8(once.clone()).unwrap();
    let seal_end = text.find("\r\nARC-Message-Signature").unwrap() + 2;
    let unsealed = check(&lb, &text.as_bytes()[seal_end..]).await;
    assert_eq!(unsealed["ARC"]["Result"], "fail", "{unsealed}");
    let found = lb.get_ok("/api/v1/search?query=auth:arc=fail").await;
    assert_eq!(found["messages_count"], 3, "{found}");
}

#[tokio::test]
async fn spf_and_dmarc_follow_the_address_the_app_sends_from() {
    if !signer_available() {
        return;
    }
    let dir = TempDir::new("auth-check-spf");
    let keys = make_keys(&dir);
    let lb = start(&dir, &keys, "198.51.100.7");
    let signed = sign(&dir, "rsa", &keys.rsa, "rsa-sha256", MESSAGE);

    let aligned_dkim = check(&lb, &signed).await;
    assert_eq!(aligned_dkim["SPF"]["Result"], "fail", "{aligned_dkim}");
    assert_eq!(aligned_dkim["SPF"]["IPSource"], "--spf-ip");
    assert_eq!(aligned_dkim["DMARC"]["Result"], "pass", "{aligned_dkim}");
    assert_eq!(aligned_dkim["DMARC"]["DKIM"], "pass", "{aligned_dkim}");

    let broken = check(&lb, &changed(&signed, "Thank you", "Thanks")).await;
    assert_eq!(broken["DMARC"]["Result"], "fail", "{broken}");
    let found = lb.get_ok("/api/v1/search?query=auth:dmarc=fail").await;
    assert_eq!(found["messages_count"], 1, "{found}");
    let found = lb.get_ok("/api/v1/search?query=auth:spf=fail").await;
    assert_eq!(found["messages_count"], 2, "{found}");
}

#[tokio::test]
async fn without_keys_nothing_is_looked_up_and_bad_configuration_stops_the_start() {
    let lb = Letterbox::start();
    let id = lb.send_simple("hello").await;
    let (status, check) = lb
        .get_json(&format!("/api/v1/message/{id}/auth-check"))
        .await;
    assert_eq!(status, 200, "{check}");
    // The client is 127.0.0.1; example.com's policy is not configured and
    // DNS is not asked.
    assert_eq!(check["SPF"]["Result"], "none", "{check}");
    assert_eq!(check["SPF"]["IP"], "127.0.0.1");
    assert!(
        check["SPF"]["Reason"]
            .as_str()
            .unwrap()
            .contains("--auth-dns"),
        "{check}"
    );
    assert_eq!(check["DMARC"]["Result"], "none", "{check}");
    let (status, _) = lb.get_json("/api/v1/message/nope/auth-check").await;
    assert_eq!(status, 404);

    let dir = TempDir::new("auth-check-bad");
    let zone = dir.file("zone.txt");
    for (text, says) in [
        ("example.com TXT \"site-verification=1\"\n", "example.com"),
        ("www.example.com CNAME example.com\n", "line 1"),
        ("example.com TXT \"v=spf1 -all\n", "unterminated"),
    ] {
        std::fs::write(&zone, text).unwrap();
        let finished = common::Launch::default()
            .args(&["--auth-zone", &zone])
            .run_to_exit();
        assert!(!finished.status.success(), "{text}");
        assert!(
            finished.stderr.contains(says),
            "{text}: {}",
            finished.stderr
        );
    }
    let key = dir.file("private.pem");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let finished = common::Launch::default()
        .args(&["--dkim-key", &format!("s._domainkey.example.com={key}")])
        .run_to_exit();
    assert!(!finished.status.success());
    assert!(
        finished.stderr.contains("private key"),
        "{}",
        finished.stderr
    );
}
