//! DNS-rebinding protection: on loopback, only loopback host names (and
//! `--allowed-hosts`) are served.

mod common;

use common::Letterbox;

async fn status_for_host(lb: &Letterbox, host: &str, path: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(lb.url(path))
        .header(reqwest::header::HOST, host)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn foreign_host_names_are_refused_on_loopback() {
    let lb = Letterbox::with_args(&["--allowed-hosts", "mail.test"]);
    lb.send_simple("private").await;
    for host in [
        "evil.example",
        "evil.example:8025",
        "127.0.0.1.evil.example",
    ] {
        let (status, body) = status_for_host(&lb, host, "/api/v1/messages").await;
        assert_eq!(status, 421, "{host}: {body}");
        assert!(body.contains("--allowed-hosts"), "{body}");
        assert!(!body.contains("private"));
    }
    for host in [
        "localhost:8025",
        "127.0.0.1",
        "[::1]:8025",
        "mail.test:8025",
        "ui.localhost",
    ] {
        let (status, body) = status_for_host(&lb, host, "/api/v1/messages").await;
        assert_eq!(status, 200, "{host}: {body}");
    }
}
