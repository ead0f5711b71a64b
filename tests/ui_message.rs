//! A message in a real browser: every tab, the sandboxed HTML body with its
//! inline image and blocked remote content, actions, and the screenshots
//! of both themes.

mod browser;
mod common;

use browser::{
    Recorder, click, color_scheme, js, open_live, press, screenshot, text, texts, wait_js,
};
use common::Letterbox;
use serde_json::json;
use thirtyfour::prelude::*;

/// A 1×1 PNG.
const PIXEL: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

/// A message with every kind of part: text and HTML alternatives, an
/// inline image, an attachment and an attached message; two `Received`
/// headers and encoded words. Its HTML loads `remote` unless blocked.
fn rich_message(remote: &str) -> Vec<u8> {
    format!(
        "Received: from relay.example.com by mx.example.com; Tue, 01 Jul 2025 10:00:02 +0000\r\n\
Received: from app.example.com by relay.example.com; Tue, 01 Jul 2025 10:00:01 +0000\r\n\
From: =?UTF-8?B?w4VzYQ==?= <asa@example.com>\r\n\
To: Bob <bob@example.com>\r\n\
Cc: carol@example.com\r\n\
Subject: =?UTF-8?Q?Your_r=C3=A9sum=C3=A9?=\r\n\
Date: Tue, 01 Jul 2025 10:00:00 +0000\r\n\
Message-ID: <rich@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"mixed\"\r\n\
\r\n\
--mixed\r\n\
Content-Type: multipart/alternative; boundary=\"alt\"\r\n\
\r\n\
--alt\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Verify here: https://example.com/verify?token=abc123.\r\n\
--alt\r\n\
Content-Type: multipart/related; boundary=\"rel\"\r\n\
\r\n\
--rel\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<html><body><h1 id=\"greeting\">Hello Bob</h1><img id=\"logo\" src=\"cid:logo@example.com\">\
<img id=\"remote\" src=\"{remote}\"><a id=\"link\" href=\"https://example.com/verify\">Verify</a></body></html>\r\n\
--rel\r\n\
Content-Type: image/png\r\n\
Content-ID: <logo@example.com>\r\n\
Content-Disposition: inline\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
{PIXEL}\r\n\
--rel--\r\n\
--alt--\r\n\
--mixed\r\n\
Content-Type: text/csv; name=\"report.csv\"\r\n\
Content-Disposition: attachment; filename=\"report.csv\"\r\n\
\r\n\
a,b\r\n\
1,2\r\n\
--mixed\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: inner@example.com\r\n\
Subject: Forwarded note\r\n\
Content-Type: text/plain\r\n\
\r\n\
Inner body.\r\n\
--mixed--\r\n"
    )
    .into_bytes()
}

async fn send_rich(lb: &Letterbox, remote: &str) -> String {
    lb.send_raw(
        "app@example.com",
        &["bob@example.com", "carol@example.com", "hidden@example.com"],
        &rich_message(remote),
    )
    .await
}

async fn click_tab(driver: &WebDriver, label: &str, path: &str) {
    click(driver, By::LinkText(label)).await;
    wait_js(
        driver,
        &format!("location.pathname.endsWith({})", json!(path)),
    )
    .await;
}

#[tokio::test]
async fn every_tab_shows_its_view() {
    let lb = Letterbox::start();
    let recorder = Recorder::start().await;
    let id = send_rich(&lb, &format!("{}/pixel.png", recorder.base)).await;
    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        click(driver, By::Css("#messages li.row a.open")).await;
        wait_js(driver, &format!("location.pathname === '/message/{id}'")).await;

        // The header block.
        assert_eq!(text(driver, By::Css("h1.subject")).await, "Your résumé");
        let fields = texts(driver, "dl.fields dd").await;
        assert_eq!(fields[0], "Åsa <asa@example.com> all from them");
        assert_eq!(fields[1], "Bob <bob@example.com>");
        assert_eq!(fields[2], "carol@example.com");
        assert_eq!(
            texts(driver, "ul.attachments .name").await,
            ["logo@example.com", "report.csv", "Forwarded note.eml"]
        );
        wait_js(
            driver,
            "document.querySelector('ul.attachments img').naturalWidth === 1",
        )
        .await;
        // Opening it in the UI reads it.
        browser::wait_until("the message to be marked read", async || {
            lb.message(&id).await["Read"] == true
        })
        .await;

        // HTML: a sandboxed frame without scripts; it keeps our origin only
        // for our page to read its height (tests/ui_daily.rs, tests/ui_xss.rs).
        let frame = driver.find(By::Id("html-body")).await.unwrap();
        assert_eq!(
            frame.attr("sandbox").await.unwrap().as_deref(),
            Some("allow-popups allow-popups-to-escape-sandbox allow-same-origin")
        );
        assert_eq!(
            js(
                driver,
                "document.getElementById('html-body').contentDocument.scrollingElement.scrollHeight > 0"
            )
            .await,
            json!(true)
        );
        frame.enter_frame().await.unwrap();
        let greeting = driver.find(By::Id("greeting")).await.unwrap();
        assert_eq!(greeting.text().await.unwrap(), "Hello Bob");
        // The cid: image resolved to its part and loaded.
        wait_js(driver, "document.getElementById('logo').naturalWidth === 1").await;
        assert_eq!(
            js(
                driver,
                "document.getElementById('logo').getAttribute('src')"
            )
            .await,
            json!(format!("/view/{id}/part/1.2.2"))
        );
        driver.enter_default_frame().await.unwrap();

        // Remote content only when asked for.
        assert!(recorder.requests().is_empty(), "{:?}", recorder.requests());
        click(driver, By::LinkText("Load remote content")).await;
        recorder.wait_for("/pixel.png").await;
        driver
            .find(By::LinkText("Block remote content"))
            .await
            .unwrap();
        // Width toggles.
        click(driver, By::LinkText("Phone")).await;
        wait_js(
            driver,
            "document.querySelector('.frame.width-phone') !== null",
        )
        .await;
        let width = js(
            driver,
            "document.getElementById('html-body').getBoundingClientRect().width",
        )
        .await;
        assert!(width.as_f64().unwrap() <= 375.0, "{width}");

        // Text: links are clickable, sentence punctuation is not part of them.
        click_tab(driver, "Text", "/text").await;
        let link = driver.find(By::Css("pre.text-body a")).await.unwrap();
        assert_eq!(
            link.attr("href").await.unwrap().as_deref(),
            Some("https://example.com/verify?token=abc123")
        );

        // Headers: in order, duplicates kept, encoded words decoded with the raw form at hand.
        click_tab(driver, "Headers", "/headers").await;
        let names = texts(driver, "table.headers th").await;
        assert_eq!(&names[..3], ["Received", "Received", "From"]);
        let values = texts(driver, "table.headers td").await;
        assert!(
            values[0].starts_with("from relay.example.com"),
            "{values:?}"
        );
        assert!(values[1].starts_with("from app.example.com"), "{values:?}");
        let subject = names.iter().position(|n| n == "Subject").unwrap();
        assert!(
            values[subject].starts_with("Your résumé"),
            "{}",
            values[subject]
        );
        assert!(values[subject].contains("=?UTF-8?Q?Your_r=C3=A9sum=C3=A9?="));

        // MIME parts: the whole tree, the attached message as its own branch.
        click_tab(driver, "MIME parts", "/parts").await;
        let ids: Vec<String> = texts(driver, "table.parts td.id")
            .await
            .iter()
            .map(|t| t.trim_start_matches([' ', '│', '├', '└', '─']).to_string())
            .collect();
        assert_eq!(
            ids,
            ["0", "1", "1.1", "1.2", "1.2.1", "1.2.2", "2", "3", "3.1"]
        );
        let rows = texts(driver, "table.parts tbody tr").await;
        assert!(
            rows[7].contains("attached message")
                && rows[7].contains("“Forwarded note” from inner@example.com"),
            "{}",
            rows[7]
        );
        screenshot(driver, "message-parts-light").await;
        color_scheme(driver, "dark").await;
        screenshot(driver, "message-parts-dark").await;
        color_scheme(driver, "light").await;

        // Raw: exactly as received, with a download.
        click_tab(driver, "Raw", "/raw").await;
        let raw = text(driver, By::Css("pre.raw")).await;
        assert!(raw.contains("Message-ID: <rich@example.com>"), "{raw}");
        assert!(raw.contains("Subject: =?UTF-8?Q?Your_r=C3=A9sum=C3=A9?="));
        driver
            .find(By::Css(format!("a[href='/api/v1/message/{id}/raw?dl=1']")))
            .await
            .unwrap();

        // Envelope: Bcc recipients and the SMTP transcript.
        click_tab(driver, "Envelope", "/envelope").await;
        let envelope = texts(driver, "dl.envelope dd").await;
        assert_eq!(envelope[0], "app@example.com");
        assert!(envelope[1].contains("hidden@example.com"), "{envelope:?}");
        let transcript = text(driver, By::Css("pre.transcript")).await;
        assert!(
            transcript.contains("RCPT TO:<hidden@example.com>"),
            "{transcript}"
        );

        // Number keys switch tabs; Escape goes back to the inbox.
        press(driver, "4").await;
        wait_js(driver, "location.pathname.endsWith('/headers')").await;
        press(driver, Key::Escape).await;
        wait_js(driver, "location.pathname === '/'").await;
    })
    .await;
}

#[tokio::test]
async fn delete_from_the_message_and_notice_deletion_elsewhere() {
    let lb = Letterbox::start();
    let first = lb.send_simple("first").await;
    let second = lb.send_simple("second").await;
    browser::run(async |driver| {
        open_live(driver, &lb.url(&format!("/message/{first}"))).await;
        assert!(js(driver, "document.getElementById('gone').hidden").await == json!(true));
        lb.delete_messages(Some(&format!(r#"{{"IDs": ["{first}"]}}"#)))
            .await;
        wait_js(driver, "!document.getElementById('gone').hidden").await;

        open_live(driver, &lb.url(&format!("/message/{second}/text"))).await;
        click(driver, By::Css("button[data-action='delete']")).await;
        wait_js(driver, "location.pathname === '/'").await;
        assert!(lb.ids().await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn screenshots_of_the_inbox_in_both_themes() {
    let lb = Letterbox::start();
    let recorder = Recorder::start().await;
    for (from, subject) in [
        (
            "Billing <billing@shop.example>",
            "Your receipt for order #4711",
        ),
        (
            "Ann Example <ann@example.com>",
            "Welcome aboard, please confirm your address",
        ),
        ("noreply@ci.example", "Build 1234 passed"),
    ] {
        let data = format!(
            "From: {from}\r\nTo: dev@example.com\r\nSubject: {subject}\r\n\r\n\
             Hello! This is the text of the message, long enough to show a snippet in the list.\r\n"
        );
        lb.send_raw("app@example.com", &["dev@example.com"], data.as_bytes())
            .await;
    }
    send_rich(&lb, &format!("{}/pixel.png", recorder.base)).await;
    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        screenshot(driver, "inbox-light").await;
        color_scheme(driver, "dark").await;
        assert_eq!(
            js(driver, "getComputedStyle(document.body).backgroundColor").await,
            json!("rgb(21, 24, 29)")
        );
        screenshot(driver, "inbox-dark").await;
        color_scheme(driver, "light").await;
        assert_eq!(
            js(driver, "getComputedStyle(document.body).backgroundColor").await,
            json!("rgb(255, 255, 255)")
        );
        // A phone-sized window still shows the rows.
        driver.set_window_rect(0, 0, 390, 844).await.unwrap();
        screenshot(driver, "inbox-phone").await;
        let overflow = js(
            driver,
            "document.documentElement.scrollWidth > window.innerWidth",
        )
        .await;
        assert_eq!(
            overflow,
            json!(false),
            "the page scrolls sideways on a phone"
        );
    })
    .await;
}
