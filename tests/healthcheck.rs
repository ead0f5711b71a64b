//! `letterbox healthcheck`: exit 0 when the server answers /readyz, found
//! from the same environment the server was configured with.

mod common;

use common::{Finished, Letterbox, TempDir, letterbox_command, run_with_input, write_self_signed};

fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut command = letterbox_command(&[&["healthcheck"], args].concat());
    command.envs(env.iter().copied());
    run_with_input(&mut command, b"")
}

#[track_caller]
fn assert_ready(finished: &Finished, url: &str) {
    assert!(
        finished.status.success(),
        "healthcheck failed: {}",
        finished.stderr
    );
    assert_eq!(finished.stdout.trim(), format!("ready: {url}"));
}

#[track_caller]
fn assert_not_ready(finished: &Finished, expected: &str) {
    assert_eq!(finished.status.code(), Some(1), "{}", finished.stderr);
    let line = finished.stderr.trim();
    assert!(!line.contains('\n'), "not one line: {line:?}");
    assert!(
        line.contains(expected),
        "{line:?} does not mention {expected:?}"
    );
}

#[tokio::test]
async fn explicit_url() {
    let lb = Letterbox::start();
    let port = lb.http_addr.port();
    let url = format!("http://127.0.0.1:{port}/readyz");
    assert_ready(&healthcheck(&["--http", &lb.http], &[]), &url);
    assert_ready(
        &healthcheck(&["--http", &format!("127.0.0.1:{port}")], &[]),
        &url,
    );
    assert_ready(&healthcheck(&[], &[("LETTERBOX_URL", &lb.http)]), &url);
}

#[tokio::test]
async fn found_from_the_server_environment() {
    // As in the image: the server listens on all interfaces under a
    // webroot and with UI logins; the check runs with the same variables.
    let lb = Letterbox::with_args(&["--webroot", "/mail/", "--ui-auth", "a:b"]);
    let port = lb.http_addr.port().to_string();
    let url = format!("http://127.0.0.1:{port}/mail/readyz");
    let env = [
        ("LETTERBOX_HTTP", format!("0.0.0.0:{port}")),
        ("LETTERBOX_WEBROOT", "/mail/".to_string()),
        ("LETTERBOX_UI_AUTH", "a:b".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_ready(&healthcheck(&[], &env), &url);
    // Mailpit's names work too.
    let mailpit = [
        ("MP_UI_BIND_ADDR", format!(":{port}")),
        ("MP_WEBROOT", "mail".to_string()),
    ];
    let mailpit: Vec<(&str, &str)> = mailpit.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_ready(&healthcheck(&[], &mailpit), &url);
    // Without the webroot the check asks the wrong path and fails.
    assert_not_ready(&healthcheck(&[], &env[..1]), "answered 404");
}

#[tokio::test]
async fn https_trusts_the_configured_certificate_only() {
    let dir = TempDir::new("healthcheck-tls");
    let (cert, key) = write_self_signed(&dir);
    let lb = Letterbox::with_args(&["--ui-tls-cert", &cert, "--ui-tls-key", &key]);
    let port = lb.http_addr.port();
    let env = [
        ("LETTERBOX_HTTP", format!("127.0.0.1:{port}")),
        ("LETTERBOX_UI_TLS_CERT", cert.clone()),
        ("LETTERBOX_UI_TLS_KEY", key.clone()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_ready(
        &healthcheck(&[], &env),
        &format!("https://127.0.0.1:{port}/readyz"),
    );

    let other = TempDir::new("healthcheck-other-cert");
    let (other_cert, other_key) = write_self_signed(&other);
    let wrong = [
        ("LETTERBOX_HTTP", env[0].1),
        ("LETTERBOX_UI_TLS_CERT", other_cert.as_str()),
        ("LETTERBOX_UI_TLS_KEY", other_key.as_str()),
    ];
    assert_not_ready(&healthcheck(&[], &wrong), "not the configured one");
    assert_not_ready(
        &healthcheck(&["--http", &format!("https://127.0.0.1:{port}/")], &[]),
        "LETTERBOX_UI_TLS_CERT",
    );
}

#[test]
fn nothing_listening() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    assert_not_ready(
        &healthcheck(&["--http", &format!("http://{addr}/")], &[]),
        &format!("connecting to {addr}"),
    );
}
