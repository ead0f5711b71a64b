//! Bad input at start: one line on stderr naming the problem and a failing
//! exit code, never a panic or a backtrace.

mod common;

use common::{Finished, Launch, TempDir, write_self_signed};

/// Runs letterbox with `args` (and `RUST_BACKTRACE=1`, so a panic would
/// show) and checks it failed the way an operator wants to read.
#[track_caller]
fn fails_with(launch: Launch, expected: &[&str]) -> String {
    let Finished {
        status,
        stdout,
        stderr,
    } = launch.env("RUST_BACKTRACE", "1").run_to_exit();
    assert!(!status.success(), "exited 0; stderr: {stderr}");
    assert_ne!(status.code(), Some(101), "panicked: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "not one line: {stderr:?}");
    for part in expected {
        assert!(
            lines[0].contains(part),
            "{:?} does not mention {part:?}",
            lines[0]
        );
    }
    assert!(!stdout.contains("ready"), "claimed to be ready: {stdout}");
    lines[0].to_string()
}

#[test]
fn a_database_path_that_cannot_be_created() {
    // /proc refuses new files even to root, which the tests may run as.
    fails_with(
        Launch::default().args(&["--db", "/proc/letterbox-test/letterbox.db"]),
        &["/proc/letterbox-test"],
    );
    fails_with(
        Launch::default().args(&["--db", "/proc/letterbox-test.db"]),
        &["cannot open the database", "/proc/letterbox-test.db"],
    );
}

#[test]
fn a_database_path_that_is_a_directory() {
    let dir = TempDir::new("db-dir");
    fails_with(
        Launch::default().args(&["--db", dir.path().to_str().unwrap()]),
        &["cannot open the database", dir.path().to_str().unwrap()],
    );
}

#[test]
fn ports_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for flag in ["--smtp", "--http", "--smtps", "--metrics"] {
        let line = fails_with(
            Launch::default().args(&[flag, &addr, "--smtp-tls", "self-signed"]),
            &["listening on", &addr],
        );
        assert!(line.contains("in use"), "{line}");
    }
}

#[test]
fn malformed_certificates_and_keys() {
    let dir = TempDir::new("certs");
    let garbage = dir.file("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let empty = dir.file("empty.pem");
    std::fs::write(&empty, "no PEM here\n").unwrap();
    let (cert, key) = write_self_signed(&dir);
    for (cert_flag, key_flag) in [
        ("--smtp-tls-cert", "--smtp-tls-key"),
        ("--ui-tls-cert", "--ui-tls-key"),
    ] {
        fails_with(
            Launch::default().args(&[cert_flag, &garbage, key_flag, &key]),
            &["certificate", &garbage],
        );
        fails_with(
            Launch::default().args(&[cert_flag, &empty, key_flag, &key]),
            &["no PEM certificate", &empty],
        );
        fails_with(
            Launch::default().args(&[cert_flag, &cert, key_flag, &empty]),
            &["private key", &empty],
        );
        fails_with(
            Launch::default().args(&[cert_flag, &cert, key_flag, &dir.file("missing.key")]),
            &["missing.key"],
        );
    }
}

#[test]
fn bad_auth_files() {
    let dir = TempDir::new("auth");
    let sha = dir.file("sha.htpasswd");
    std::fs::write(
        &sha,
        "# made with htpasswd -s\nbob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n",
    )
    .unwrap();
    fails_with(
        Launch::default().args(&["--ui-auth-file", &sha]),
        &[&sha, "line 2", "bcrypt"],
    );
    let missing = dir.file("missing.htpasswd");
    fails_with(
        Launch::default().args(&["--ui-auth-file", &missing]),
        &[&missing],
    );
    let smtp = dir.file("smtp-users");
    std::fs::write(&smtp, "alice:pw\nno-colon-here\n").unwrap();
    fails_with(
        Launch::default().args(&["--smtp-auth-file", &smtp]),
        &[&smtp, "no-colon-here"],
    );
}

#[test]
fn bad_mailpit_variables_name_the_variable() {
    fails_with(
        Launch::default().env("MP_MAX_MESSAGES", "lots"),
        &["MP_MAX_MESSAGES", "lots"],
    );
}

#[test]
fn malformed_chaos_rules() {
    fails_with(
        Launch::default().args(&["--chaos", "rcpt=45x"]),
        &["--chaos", "rcpt=45x", "neither a reply code"],
    );
    fails_with(
        Launch::default().env("LETTERBOX_CHAOS", "quit=451"),
        &["--chaos", "unknown stage \"quit\""],
    );
}

#[test]
fn bad_relay_settings() {
    let dir = TempDir::new("relay");
    fails_with(
        Launch::default().args(&[
            "--relay-host",
            "127.0.0.1:2525",
            "--relay-allowed-recipients",
            "(unclosed",
        ]),
        &["--relay-allowed-recipients", "(unclosed"],
    );
    fails_with(
        Launch::default().args(&[
            "--relay-host",
            "127.0.0.1:2525",
            "--relay-matching",
            "larger:huge",
        ]),
        &["--relay-matching", "larger:huge"],
    );
    fails_with(
        Launch::default().args(&["--relay-host", "relay.example.com:smtp"]),
        &["--relay-host", "port"],
    );
    fails_with(
        Launch::default().args(&["--relay-matching", "subject:x"]),
        &["--relay-matching", "no --relay-host"],
    );
    fails_with(
        Launch::default().args(&[
            "--smtp",
            "127.0.0.1:2599",
            "--relay-host",
            "localhost:2599",
            "--relay-matching",
            "subject:x",
        ]),
        &["localhost:2599", "relayed again"],
    );
    // Addresses that reach the listener without naming it (issue 12.3).
    for (listen, relay) in [
        ("127.0.0.1:2599", "127.1:2599"),
        ("127.0.0.1:2599", "0.0.0.0:2599"),
        ("0.0.0.0:2599", "127.0.0.2:2599"),
        ("0.0.0.0:2599", "[::1]:2599"),
    ] {
        fails_with(
            Launch::default().args(&["--smtp", listen, "--relay-host", relay, "--relay-all"]),
            &[relay, "relayed again"],
        );
    }
    fails_with(
        Launch::default().args(&[
            "--relay-host",
            "127.0.0.1:2525",
            "--relay-from",
            "bounces@example.com> NOTIFY=NEVER",
        ]),
        &["--relay-from", "envelope sender"],
    );
    let missing = dir.file("missing.conf");
    fails_with(
        Launch::default().args(&["--relay-config", &missing]),
        &["--relay-config", &missing],
    );
    let no_ca = dir.file("missing-ca.pem");
    fails_with(
        Launch::default().args(&["--relay-host", "127.0.0.1:2525", "--relay-tls-ca", &no_ca]),
        &[&no_ca],
    );
    let not_pem = dir.file("not-a-ca.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    fails_with(
        Launch::default().args(&["--relay-host", "127.0.0.1:2525", "--relay-tls-ca", &not_pem]),
        &[&not_pem],
    );
    let bad = dir.file("relay.conf");
    std::fs::write(&bad, "host = 127.0.0.1:2525\ntls = sometimes\n").unwrap();
    fails_with(
        Launch::default().env("LETTERBOX_RELAY_CONFIG", &bad),
        &[&bad, "line 2", "sometimes"],
    );
}

#[test]
fn tls_settings_without_a_certificate() {
    fails_with(
        Launch::default().args(&["--smtp-require-tls"]),
        &[
            "--smtp-require-tls needs a certificate",
            "--smtp-tls self-signed",
        ],
    );
    fails_with(
        Launch::default().args(&["--smtps", "127.0.0.1:0"]),
        &["--smtps needs a certificate", "--smtp-tls-cert"],
    );
}

#[test]
fn a_data_budget_smaller_than_one_message() {
    fails_with(
        Launch::default().args(&["--smtp-data-budget", "1MiB", "--max-message-size", "2MiB"]),
        &["--smtp-data-budget", "--max-message-size"],
    );
}
