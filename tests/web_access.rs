//! Who may use the web UI and API: Basic auth (plain and bcrypt), open
//! health probes, HTTPS, a path prefix for reverse proxies, and the
//! cross-origin guard with CORS.

mod common;

use common::{Letterbox, TempDir, https_get, write_self_signed};
use reqwest::{Method, StatusCode};

/// Sends a request with optional Basic credentials and extra headers.
async fn request(
    lb: &Letterbox,
    method: Method,
    path: &str,
    login: Option<(&str, &str)>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = lb.client().request(method.clone(), lb.url(path));
    if let Some((user, password)) = login {
        request = request.basic_auth(user, Some(password));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

#[tokio::test]
async fn plain_logins_guard_everything_but_health() {
    let lb = Letterbox::with_args(&["--ui-auth", "alice:pw1,bob:pass:with:colons"]);
    for path in ["/api/v1/messages", "/api/v1/info", "/metrics", "/nowhere"] {
        let response = request(&lb, Method::GET, path, None, &[]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Basic realm=\"Letterbox\""),
            "{challenge}"
        );
        assert_eq!(response.headers()["x-frame-options"], "DENY", "{path}");
    }
    for login in [
        ("alice", "pw2"),
        ("alice", ""),
        ("carol", "pw1"),
        ("", "pw1"),
    ] {
        let response = request(&lb, Method::GET, "/api/v1/messages", Some(login), &[]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{login:?}");
    }
    for login in [("alice", "pw1"), ("bob", "pass:with:colons")] {
        let response = request(&lb, Method::GET, "/api/v1/messages", Some(login), &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{login:?}");
    }
    for path in ["/livez", "/readyz"] {
        let response = request(&lb, Method::GET, path, None, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    // SMTP is not behind the web login.
    lb.send_simple("still delivered").await;
}

#[tokio::test]
async fn htpasswd_bcrypt_logins() {
    let dir = TempDir::new("htpasswd");
    let file = dir.file("users.htpasswd");
    // `htpasswd -B` writes $2y$ hashes; other tools write $2b$.
    let apache = bcrypt::hash("correct horse", 5)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    let other = bcrypt::hash("battery staple", 4).unwrap();
    std::fs::write(&file, format!("# users\nann:{apache}\nben:{other}\n")).unwrap();
    let lb = Letterbox::with_args(&["--ui-auth-file", &file]);
    let get = |login| request(&lb, Method::GET, "/api/v1/messages", login, &[]);
    assert_eq!(
        get(Some(("ann", "correct horse"))).await.status(),
        StatusCode::OK
    );
    // Again: served from the cache of verified passwords, same answer.
    assert_eq!(
        get(Some(("ann", "correct horse"))).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get(Some(("ben", "battery staple"))).await.status(),
        StatusCode::OK
    );
    for login in [
        ("ann", "battery staple"),
        ("ben", "Battery staple"),
        ("cat", "x"),
    ] {
        assert_eq!(
            get(Some(login)).await.status(),
            StatusCode::UNAUTHORIZED,
            "{login:?}"
        );
    }
    assert_eq!(get(None).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn webroot_serves_under_a_prefix() {
    let lb = Letterbox::with_args(&["--webroot", "/mail/"]);
    assert!(lb.http.ends_with("/mail"), "{}", lb.http);
    lb.send_simple("behind a proxy").await;
    assert_eq!(lb.list().await["total"], 1);
    let root = format!("http://{}", lb.http_addr);
    for (path, status) in [
        ("/api/v1/messages", 404),
        ("/readyz", 404),
        ("/mail/readyz", 200),
        ("/mail/", 200),
    ] {
        let response = lb
            .client()
            .get(format!("{root}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["/", "/mail"] {
        let response = client.get(format!("{root}{path}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT, "{path}");
        assert_eq!(response.headers()["location"], "/mail/", "{path}");
    }
}

#[tokio::test]
async fn cross_origin_changes_are_refused() {
    let lb = Letterbox::start();
    lb.send_simple("keep me").await;
    let own_origin = format!("http://{}", lb.http_addr);
    let evil = [("Origin", "https://evil.example")];

    let response = request(&lb, Method::DELETE, "/api/v1/messages", None, &evil).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("https://evil.example") && body.contains("--api-cors"),
        "{body}"
    );
    assert_eq!(
        lb.list().await["total"],
        1,
        "the foreign DELETE went through"
    );

    // Reading is not refused (the browser keeps foreign pages from seeing
    // the answer), and neither is a WebSocket from our own pages.
    let read = request(&lb, Method::GET, "/api/v1/messages", None, &evil).await;
    assert_eq!(read.status(), StatusCode::OK);
    assert!(read.headers().get("access-control-allow-origin").is_none());
    let upgrade = [
        ("Origin", "https://evil.example"),
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
    ];
    let ws = request(&lb, Method::GET, "/api/events", None, &upgrade).await;
    assert_eq!(
        ws.status(),
        StatusCode::FORBIDDEN,
        "foreign WebSocket upgrade"
    );

    let same = [("Origin", own_origin.as_str())];
    let response = request(&lb, Method::DELETE, "/api/v1/messages", None, &same).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(lb.list().await["total"], 0);

    lb.send_simple("and again").await;
    // Non-browser clients send no Origin.
    let (status, _) = lb.delete_messages(None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn api_cors_lets_listed_origins_in() {
    let lb = Letterbox::with_args(&["--api-cors", "https://app.example,http://localhost:3000"]);
    lb.send_simple("for the app").await;
    let app = ("Origin", "https://app.example");

    let preflight = request(
        &lb,
        Method::OPTIONS,
        "/api/v1/messages",
        None,
        &[
            app,
            ("Access-Control-Request-Method", "DELETE"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
    )
    .await;
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    let headers = preflight.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("DELETE")
    );
    assert_eq!(headers["access-control-allow-headers"], "content-type");

    let response = request(&lb, Method::DELETE, "/api/v1/messages", None, &[app]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(lb.list().await["total"], 0);

    let other = [("Origin", "https://other.example")];
    let response = request(&lb, Method::DELETE, "/api/v1/messages", None, &other).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn https_for_the_web_ui() {
    let dir = TempDir::new("ui-tls");
    let (cert, key) = write_self_signed(&dir);
    let lb = Letterbox::with_args(&["--ui-tls-cert", &cert, "--ui-tls-key", &key]);
    assert!(lb.http.starts_with("https://"), "{}", lb.http);
    lb.send_simple("over https").await;
    let (status, body) = https_get(lb.http_addr, "/api/v1/messages").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("over https"), "{body}");
    // Plain HTTP on the HTTPS port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/readyz", lb.http_addr))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
}
