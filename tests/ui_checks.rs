//! The message page's Checks tab (issue 16), in a real browser: the HTML
//! compatibility score with the features some clients lack and where the
//! message uses them, the link check (only on a click, never when a page
//! opens) with its errors, and the spam score from a spamd, shown only when
//! Letterbox has one.

mod browser;
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use browser::{click, js, open_live, press, screenshot, wait_js};
use common::Letterbox;
use serde_json::json;
use thirtyfour::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An HTTP server answering `/missing` with 404 and anything else with
/// 200, recording the path of every request.
struct LinkServer {
    base: String,
    paths: Arc<Mutex<Vec<String>>>,
}

impl LinkServer {
    async fn start() -> LinkServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let paths = Arc::new(Mutex::new(Vec::new()));
        let seen = paths.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    let status = if path == "/missing" {
                        "404 Not Found"
                    } else {
                        "200 OK"
                    };
                    seen.lock().unwrap().push(path);
                    let reply = format!(
                        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                });
            }
        });
        LinkServer { base, paths }
    }

    fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

/// Flexbox on line 5 (Outlook for Windows lacks it), a style attribute,
/// and three links to `base`: one fine, one missing, one with markup in it.
fn newsletter(base: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head>\n<style>\n@media (prefers-color-scheme: dark) {{\n  .card:hover {{ display: flex; }}\n}}\n</style>\n</head>\n<body>\n<div class=\"card\" style=\"border-radius: 8px; margin: 1rem\">\n<p>Hello <b>&lt;i&gt;not markup&lt;/i&gt;</b></p>\n<a href=\"{base}/ok\">fine</a> <a href=\"{base}/missing\">gone</a> <a href=\"{base}/ok?q=<i>x</i>\">odd</a>\n</div>\n</body></html>\n"
    )
}

async fn send_html(lb: &Letterbox, html: &str) -> String {
    lb.send_api(&json!({
        "From": {"Email": "app@example.test"},
        "To": [{"Email": "user@example.test"}],
        "Subject": "newsletter",
        "HTML": html,
    }))
    .await
}

/// Whether the page asked for a link check.
async fn asked_for_links(driver: &WebDriver) -> bool {
    js(
        driver,
        "performance.getEntriesByType('resource').some((e) => e.name.includes('/link-check'))",
    )
    .await
        == json!(true)
}

#[tokio::test]
async fn compatibility_and_links_on_the_checks_tab_and_no_request_until_asked() {
    let server = LinkServer::start().await;
    let lb = Letterbox::with_args(&["--link-check-allow-internal"]);
    let id = send_html(&lb, &newsletter(&server.base)).await;
    browser::run(async |driver| {
        // The message page (the HTML view) checks nothing by itself.
        open_live(driver, &lb.url(&format!("/message/{id}"))).await;
        assert_eq!(js(driver, "document.getElementById('checks')").await, json!(null));
        click(driver, By::LinkText("Checks")).await;
        wait_js(driver, "location.pathname.endsWith('/checks')").await;

        // The compatibility score, and flexbox with the clients lacking it
        // and where it is used.
        wait_js(driver, "document.querySelector('#html-check .score-total') !== null").await;
        let total = js(driver, "document.querySelector('#html-check .score-total').textContent").await;
        let total = total.as_str().unwrap();
        assert!(total.contains("% supported") && total.contains("% unsupported"), "{total}");
        let flex = "#html-check details[data-slug='css-display-flex']";
        assert!(
            js(driver, &format!("document.querySelector(\"{flex} .badge-check\").textContent")).await.as_str().unwrap().starts_with("unsupported in "),
        );
        click(driver, By::Css(format!("{flex} summary"))).await;
        let lacking = js(driver, &format!("[...document.querySelectorAll(\"{flex} .client.no\")].map((c) => c.textContent).join('|')")).await;
        assert!(lacking.as_str().unwrap().contains("Outlook"), "{lacking}");
        let place = js(driver, &format!("document.querySelector(\"{flex} ul.locations li\").textContent")).await;
        assert_eq!(place, json!("line 5 display: flex"));
        // What the message wrote is text on the page, never markup.
        assert_eq!(
            js(driver, "[...document.querySelectorAll('#html-check ul.locations code')].every((c) => c.children.length === 0)").await,
            json!(true)
        );
        // caniemail is credited.
        assert_eq!(
            js(driver, "document.querySelector('#html-check a[href=\"https://www.caniemail.com/\"]').rel").await,
            json!("noreferrer")
        );
        // Without --spamassassin there is no spam section.
        assert_eq!(js(driver, "document.getElementById('spam-check')").await, json!(null));

        // Nothing has asked the links' server yet.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!asked_for_links(driver).await);
        assert_eq!(server.paths(), Vec::<String>::new());

        click(driver, By::Id("check-links")).await;
        wait_js(driver, "document.querySelector('#link-check table.links') !== null").await;
        let rows = js(
            driver,
            "[...document.querySelectorAll('#link-check tbody tr')].map((r) => [r.className, ...[...r.cells].map((c) => c.textContent)])",
        )
        .await;
        let missing = format!("{}/missing", server.base);
        let ok = format!("{}/ok", server.base);
        let rows = rows.as_array().unwrap();
        assert!(rows.contains(&json!(["error", missing, "404", "Not Found"])), "{rows:?}");
        assert!(rows.contains(&json!(["", ok, "200", "OK"])), "{rows:?}");
        assert_eq!(
            js(driver, "document.querySelector('#link-check .link-errors').textContent").await,
            json!("1 error in 3 links")
        );
        // The link with markup in it is text.
        assert_eq!(rows.len(), 3, "{rows:?}");
        let odd = format!("{}/ok?q=<i>x</i>", server.base);
        assert!(rows.iter().any(|r| r[1] == json!(odd)), "{rows:?}");
        assert_eq!(
            js(driver, "document.querySelectorAll('#link-check tbody i').length").await,
            json!(0)
        );
        assert!(server.paths().contains(&"/missing".to_string()));
        js(driver, "document.getElementById('checks').scrollIntoView()").await;
        screenshot(driver, "checks-tab").await;

        // On a phone nothing is wider than the screen.
        driver.set_window_rect(0, 0, 390, 844).await.unwrap();
        wait_js(driver, "innerWidth <= 390").await;
        assert_eq!(
            js(driver, "document.documentElement.scrollWidth <= innerWidth").await,
            json!(true)
        );
        screenshot(driver, "checks-tab-phone").await;

        // Following redirects is a choice of the same button.
        click(driver, By::Id("link-follow")).await;
        click(driver, By::Id("check-links")).await;
        wait_js(driver, "performance.getEntriesByType('resource').some((e) => e.name.endsWith('/link-check?follow=true'))").await;
    })
    .await;
}

const REPORT: &str = "SPAMD/1.1 0 EX_OK\r\nContent-length: 600\r\nSpam: True ; 6.1 / 5.0\r\n\r\n\
Content analysis details:   (6.1 points, 5.0 required)\n\
\n\
 pts rule name              description\n\
---- ---------------------- --------------------------------------------------\n\
-0.0 NO_RELAYS              Informational: message was not relayed via\n\
                            SMTP\n\
 1.2 MISSING_HEADERS        Missing To: <header>\n\
 3.5 BAYES_99               BODY: Bayes spam probability is 99 to 100%\n\
                            [score: 1.0000]\n\
\n";

#[tokio::test]
async fn the_spam_score_from_spamd_with_its_rules_by_score() {
    let spamd = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = spamd.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = spamd.accept().await {
            let mut request = Vec::new();
            let _ = socket.read_to_end(&mut request).await;
            let _ = socket.write_all(REPORT.as_bytes()).await;
        }
    });
    let lb = Letterbox::with_args(&["--spamassassin", &addr]);
    let id = send_html(&lb, &newsletter("https://example.test")).await;
    browser::run(async |driver| {
        // Key 8 opens the Checks tab, as 1 to 7 open the others.
        open_live(driver, &lb.url(&format!("/message/{id}/headers"))).await;
        press(driver, "8").await;
        wait_js(driver, "location.pathname.endsWith('/checks')").await;
        wait_js(driver, "document.querySelector('#spam-check table.rules') !== null").await;
        assert_eq!(
            js(driver, "document.querySelector('#spam-check .spam-verdict').textContent").await,
            json!("Score 6.1 spam")
        );
        let rules = js(
            driver,
            "[...document.querySelectorAll('#spam-check tbody tr')].map((r) => [...r.cells].map((c) => c.textContent))",
        )
        .await;
        assert_eq!(
            rules,
            json!([
                ["3.5", "BAYES_99", "BODY: Bayes spam probability is 99 to 100% [score: 1.0000]"],
                ["1.2", "MISSING_HEADERS", "Missing To: <header>"],
                ["0", "NO_RELAYS", "Informational: message was not relayed via SMTP"],
            ])
        );
        // Opening the tab checked no links.
        assert!(!asked_for_links(driver).await);

        // A message without HTML has no HTML to check, but a spam score.
        let plain = lb.send_simple("plain text only").await;
        open_live(driver, &lb.url(&format!("/message/{plain}/checks"))).await;
        wait_js(driver, "document.querySelector('#spam-check .spam-verdict') !== null").await;
        assert_eq!(
            js(driver, "document.querySelector('#html-check .none').textContent").await,
            json!("This message has no HTML part: there is nothing to check.")
        );

        // Beside the list (the split view), the tab works the same.
        open_live(driver, &lb.url("/")).await;
        click(driver, By::Id("layout-toggle")).await;
        wait_js(driver, "!!document.querySelector('#reading-pane h1.subject')").await;
        click(driver, By::Css("#reading-pane nav.tabs a[href$='/checks']")).await;
        wait_js(driver, "!!document.querySelector('#reading-pane #spam-check .spam-verdict')").await;
        assert_eq!(js(driver, "location.pathname").await, json!("/"));
    })
    .await;
}

#[tokio::test]
async fn authentication_results_and_unsubscribe_findings_on_the_checks_tab() {
    let lb = Letterbox::start();
    // An unsigned message declaring one-click unsubscribe without what it
    // takes, with markup in its header that must stay text.
    let id = lb
        .send_raw(
            "app@example.test",
            &["user@example.test"],
            b"From: app@example.test\r\nTo: user@example.test\r\nSubject: news\r\nList-Unsubscribe: <mailto:leave@example.test>, <javascript:alert(1)>, <https://example.test/u?<b>x</b>>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nhi\r\n",
        )
        .await;
    browser::run(async |driver| {
        open_live(driver, &lb.url(&format!("/message/{id}/checks"))).await;
        wait_js(driver, "document.querySelector('#auth-check table.auth') !== null").await;
        let rows = js(driver, "[...document.querySelectorAll('#auth-check table.auth tbody tr')].map((r) => r.querySelector('th').textContent + '=' + r.querySelector('.auth-result').textContent).join(' ')").await;
        assert_eq!(rows, json!("DKIM=none SPF=none DMARC=none ARC=none"));
        let why = js(driver, "document.querySelector('#auth-check table.auth tbody tr:nth-child(2) .reason').textContent").await;
        assert!(why.as_str().unwrap().contains("--auth-dns"), "{why}");
        let header = js(driver, "document.querySelector('#auth-check .auth-header pre').textContent").await;
        assert!(header.as_str().unwrap().contains("spf=none"), "{header}");

        wait_js(driver, "document.querySelector('#unsubscribe-check .unsubscribe-verdict') !== null").await;
        let verdict = js(driver, "document.querySelector('#unsubscribe-check .unsubscribe-verdict .auth-result').textContent").await;
        assert_eq!(verdict, json!("fail"));
        let problems = js(driver, "[...document.querySelectorAll('#unsubscribe-check .check-notes li')].map((l) => l.textContent).join('|')").await;
        let problems = problems.as_str().unwrap();
        assert!(problems.contains("javascript:alert(1)"), "{problems}");
        assert!(problems.contains("DKIM"), "{problems}");
        // The links are text: no element came from the header.
        assert_eq!(
            js(driver, "[...document.querySelectorAll('#unsubscribe-check code')].every((c) => c.children.length === 0) && document.querySelectorAll('#unsubscribe-check b').length === 0").await,
            json!(true)
        );
    })
    .await;
}
