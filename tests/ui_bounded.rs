//! Pages show a bounded amount of what a sender controls (issue 12, also):
//! a message with 100,000 parts or a 10 MB header renders a page a browser
//! lays out at once, and says where the rest is.

mod browser;
mod common;

use browser::{js, wait_js};
use common::Letterbox;
use serde_json::json;

const PARTS: usize = 100_000;
const LONG_HEADER: usize = 10 * 1024 * 1024;

fn many_parts() -> Vec<u8> {
    let mut out =
        String::from("Subject: many parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n");
    for n in 0..PARTS {
        out.push_str(&format!(
            "--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"p{n}.txt\"\r\n\r\nx\r\n"
        ));
    }
    out.push_str("--b--\r\n");
    out.into_bytes()
}

/// A 10 MB header on one line, and a 100 KB subject.
fn long_header() -> Vec<u8> {
    format!(
        "Subject: {}\r\nX-Long: {}\r\nContent-Type: text/plain\r\n\r\nbody\r\n",
        "s".repeat(100 * 1024),
        "h".repeat(LONG_HEADER)
    )
    .into_bytes()
}

async fn page(lb: &Letterbox, path: &str) -> String {
    let response = lb.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn huge_messages_give_bounded_pages() {
    let lb = Letterbox::start();
    let parts = lb
        .send_raw("a@example.com", &["b@example.com"], &many_parts())
        .await;
    let long = lb
        .send_raw("a@example.com", &["b@example.com"], &long_header())
        .await;

    let html = page(&lb, &format!("/message/{parts}/parts")).await;
    assert!(html.len() < 1024 * 1024, "{} bytes", html.len());
    assert_eq!(
        html.matches("<td class=\"id\">").count(),
        1000,
        "1,000 parts"
    );
    assert!(html.contains("The first 1000 of "), "the cut is said");
    assert!(html.contains(&format!("/api/v1/message/{parts}/raw?dl=1")));
    // The attachment list above the tabs is bounded too.
    let message = page(&lb, &format!("/message/{parts}")).await;
    assert!(message.len() < 256 * 1024, "{} bytes", message.len());
    // 10,000 parts are indexed: the container and 9,999 attachments.
    assert!(message.contains("and 9899 more"), "attachments past 100");

    let html = page(&lb, &format!("/message/{long}/headers")).await;
    assert!(html.len() < 64 * 1024, "{} bytes", html.len());
    assert!(
        html.contains("the first 4096 bytes of 10 MB"),
        "the cut is said"
    );
    for path in [format!("/message/{long}"), "/".to_string()] {
        let html = page(&lb, &path).await;
        assert!(html.len() < 64 * 1024, "{path}: {} bytes", html.len());
    }
    // Nothing is lost: the raw source has it all.
    assert_eq!(
        lb.raw(&long).await.len(),
        long_header().len(),
        "the stored message is whole"
    );

    browser::run(async |driver| {
        driver
            .goto(&lb.url(&format!("/message/{parts}/parts")))
            .await
            .unwrap();
        wait_js(driver, "document.getElementById('status')?.dataset.state === 'live'").await;
        assert_eq!(
            js(driver, "document.querySelectorAll('table.parts tbody tr').length").await,
            json!(1000)
        );
        assert_eq!(
            js(driver, "document.getElementById('parts-cut').checkVisibility()").await,
            json!(true)
        );
        // For the record, not a threshold: how long the page took to load.
        eprintln!(
            "parts tab of a {PARTS}-part message: loaded in {} ms",
            js(driver, "performance.getEntriesByType('navigation')[0].loadEventEnd").await
        );

        driver
            .goto(&lb.url(&format!("/message/{long}/headers")))
            .await
            .unwrap();
        wait_js(driver, "document.getElementById('status')?.dataset.state === 'live'").await;
        let longest = js(
            driver,
            "Math.max(...[...document.querySelectorAll('table.headers td')].map(td => td.textContent.length))",
        )
        .await;
        assert!(longest.as_u64().unwrap() < 5000, "{longest}");
        eprintln!(
            "headers tab of a message with a 10 MB header: loaded in {} ms",
            js(driver, "performance.getEntriesByType('navigation')[0].loadEventEnd").await
        );
        assert_eq!(
            js(driver, "document.querySelector('table.headers .cut').checkVisibility()").await,
            json!(true)
        );
    })
    .await;
}
