//! `letterbox sendmail` as apps use /usr/sbin/sendmail: PHP's `mail()`
//! (`sendmail -t -i` through a shell), recipients on the command line, SMTP
//! on stdin (`-bs`), and clear failures.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{
    Finished, Letterbox, TempDir, letterbox_command, run_with_input, without_configuration_env,
};

/// A link named `sendmail` to the binary, as an image or a PHP container
/// would install it.
fn sendmail_link(dir: &TempDir) -> PathBuf {
    let link = dir.path().join("sendmail");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_letterbox"), &link).expect("linking sendmail");
    link
}

/// `sh -c "<command line>"`, the way PHP runs `sendmail_path`, delivering
/// to `lb`.
fn shell(command_line: &str, lb: &Letterbox) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", command_line]);
    without_configuration_env(&mut command)
        .env("LETTERBOX_SENDMAIL_SMTP_ADDR", lb.smtp_addr.to_string());
    command
}

#[track_caller]
fn assert_success(finished: &Finished) {
    assert!(
        finished.status.success(),
        "exit {:?}: {}",
        finished.status,
        finished.stderr
    );
}

#[tokio::test]
async fn php_style_with_recipients_from_the_headers() {
    let lb = Letterbox::start();
    let dir = TempDir::new("sendmail-php");
    let link = sendmail_link(&dir);
    // What PHP's mail("to@example.com", "Welcome", $body, $headers) writes.
    let message = b"To: Ann <ann@example.com>\nSubject: Welcome\nFrom: App <app@example.com>\nCc: ops@example.com\nBcc: audit@example.com\n\nHello Ann,\n.\nthe line above is a lone dot.\n";
    let finished = run_with_input(
        &mut shell(&format!("{} -t -i", link.display()), &lb),
        message,
    );
    assert_success(&finished);

    let ids = lb.ids().await;
    assert_eq!(ids.len(), 1);
    let stored = lb.message(&ids[0]).await;
    assert_eq!(stored["Subject"], "Welcome");
    assert_eq!(stored["Envelope"]["MailFrom"], "app@example.com");
    assert_eq!(
        stored["Envelope"]["RcptTo"],
        serde_json::json!(["ann@example.com", "ops@example.com", "audit@example.com"])
    );
    let raw = String::from_utf8(lb.raw(&ids[0]).await).unwrap();
    assert!(!raw.contains("Bcc"), "the Bcc header was delivered: {raw}");
    assert!(
        raw.ends_with("Hello Ann,\r\n.\r\nthe line above is a lone dot.\r\n"),
        "{raw:?}"
    );
}

#[tokio::test]
async fn real_php_mail_function() {
    if Command::new("php").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "php is not installed; .ci/run installs php-cli"
        );
        eprintln!("SKIPPED real_php_mail_function: php is not installed (apt-get install php-cli)");
        return;
    }
    let lb = Letterbox::start();
    let dir = TempDir::new("sendmail-realphp");
    let link = sendmail_link(&dir);
    let script = r#"exit(mail("dev@example.com", "From PHP", "Sent by mail().", "From: shop@example.com") ? 0 : 1);"#;
    let mut php = Command::new("php");
    php.args([
        "-n",
        "-d",
        &format!("sendmail_path={} -t -i", link.display()),
        "-r",
        script,
    ]);
    without_configuration_env(&mut php)
        .env("LETTERBOX_SENDMAIL_SMTP_ADDR", lb.smtp_addr.to_string());
    assert_success(&run_with_input(&mut php, b""));
    let stored = lb.message("latest").await;
    assert_eq!(stored["Subject"], "From PHP");
    assert_eq!(stored["Envelope"]["MailFrom"], "shop@example.com");
    assert_eq!(
        stored["Envelope"]["RcptTo"],
        serde_json::json!(["dev@example.com"])
    );
    assert_eq!(stored["Text"].as_str().unwrap().trim(), "Sent by mail().");
}

#[tokio::test]
async fn recipients_and_sender_on_the_command_line() {
    let lb = Letterbox::start();
    let smtp_addr = lb.smtp_addr.to_string();
    let mut command = letterbox_command(&[
        "sendmail",
        "--smtp-addr",
        &smtp_addr,
        "-oi",
        "-f",
        "bounces@example.com",
        "-odi",
        "one@example.com",
        "two@example.com",
    ]);
    // Without -i a lone dot would end the input; -oi keeps it.
    let finished = run_with_input(&mut command, b"Subject: cron\n\nfirst\n.\nsecond\n");
    assert_success(&finished);
    let stored = lb.message("latest").await;
    assert_eq!(stored["Envelope"]["MailFrom"], "bounces@example.com");
    assert_eq!(
        stored["Envelope"]["RcptTo"],
        serde_json::json!(["one@example.com", "two@example.com"])
    );
    assert!(stored["Text"].as_str().unwrap().contains("second"));

    // The classic behaviour: a lone dot ends the message.
    let mut command = letterbox_command(&["sendmail", "--smtp-addr", &smtp_addr, "x@example.com"]);
    assert_success(&run_with_input(
        &mut command,
        b"Subject: dot\n\nkept\n.\ndropped\n",
    ));
    let raw = String::from_utf8(lb.raw("latest").await).unwrap();
    assert!(raw.ends_with("kept\r\n"), "{raw:?}");
}

#[tokio::test]
async fn smtp_on_stdin_with_bs() {
    let lb = Letterbox::start();
    let dialogue = b"EHLO client.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nSubject: over -bs\r\n\r\nhi\r\n.\r\nQUIT\r\n";
    let mut command = letterbox_command(&["sendmail", "-bs"]);
    command.env("LETTERBOX_SENDMAIL_SMTP_ADDR", lb.smtp_addr.to_string());
    let finished = run_with_input(&mut command, dialogue);
    assert_success(&finished);
    let replies: Vec<&str> = finished.stdout.lines().map(|l| &l[..3]).collect();
    assert_eq!(replies.first(), Some(&"220"), "{}", finished.stdout);
    assert!(
        finished.stdout.contains("250 2.0.0 Ok: queued as "),
        "{}",
        finished.stdout
    );
    assert_eq!(replies.last(), Some(&"221"), "{}", finished.stdout);
    assert_eq!(lb.message("latest").await["Subject"], "over -bs");
}

#[test]
fn failures_exit_non_zero_with_one_line() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let mut command = letterbox_command(&["sendmail", "--smtp-addr", &addr, "-t"]);
    let finished = run_with_input(&mut command, b"To: a@example.com\n\nx\n");
    assert_eq!(
        finished.status.code(),
        Some(75),
        "temporary failure: {}",
        finished.stderr
    );
    assert!(
        finished.stderr.trim().contains(&addr),
        "{}",
        finished.stderr
    );
    assert_eq!(
        finished.stderr.trim().lines().count(),
        1,
        "{}",
        finished.stderr
    );

    let mut command = letterbox_command(&["sendmail", "--smtp-addr", &addr, "-t"]);
    let finished = run_with_input(&mut command, b"Subject: nobody\n\nx\n");
    assert_eq!(finished.status.code(), Some(65), "{}", finished.stderr);
    assert!(
        finished.stderr.contains("no recipients"),
        "{}",
        finished.stderr
    );
}

#[tokio::test]
async fn a_refusal_is_a_permanent_failure() {
    let lb = Letterbox::with_args(&["--smtp-auth", "user:pass"]);
    let mut command = letterbox_command(&["sendmail", "-t"]);
    command.env("LETTERBOX_SENDMAIL_SMTP_ADDR", lb.smtp_addr.to_string());
    let finished = run_with_input(&mut command, b"To: a@example.com\n\nx\n");
    assert_eq!(finished.status.code(), Some(69), "{}", finished.stderr);
    assert!(finished.stderr.contains("530"), "{}", finished.stderr);
}
