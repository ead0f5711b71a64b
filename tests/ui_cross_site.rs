//! What a page on another site can learn or change by opening Letterbox's
//! pages in a window of its own (issue 12.6): nothing. Our pages cut the
//! opener off (`Cross-Origin-Opener-Policy`), and a message opened by
//! another site is not marked read.

mod browser;
mod common;

use browser::{ForeignSite, js, wait_js};
use common::Letterbox;
use serde_json::json;

const INVOICE: &[u8] =
    b"Subject: Your invoice\r\nContent-Type: multipart/alternative; boundary=\"a\"\r\n\r\n\
--a\r\nContent-Type: text/plain\r\n\r\nPay now.\r\n\
--a\r\nContent-Type: text/html\r\n\r\n<p>Pay <b>now</b>.</p>\r\n--a--\r\n";

#[tokio::test]
async fn a_foreign_opener_learns_nothing_and_marks_nothing_read() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw("billing@example.com", &["you@example.com"], INVOICE)
        .await;
    let site = ForeignSite::start("<!doctype html><title>elsewhere</title><p>elsewhere").await;
    browser::run(async |driver| {
        driver
            .goto(&site.base)
            .await
            .expect("loading the foreign page");
        let foreign = driver.window().await.expect("the foreign window");
        let target = lb.url("/message/latest?query=subject:invoice");
        js(
            driver,
            &format!(
                "(window.w = window.open('about:blank'), w.location = {}, 1)",
                json!(target)
            ),
        )
        .await;

        // Wait in the opened window until our page runs and is live.
        let mut popup = None;
        browser::wait_until("the opened window", async || {
            let windows = driver.windows().await.expect("the windows");
            popup = windows.into_iter().find(|w| *w != foreign);
            popup.is_some()
        })
        .await;
        driver
            .switch_to_window(popup.expect("found above"))
            .await
            .expect("switching to the opened window");
        wait_js(
            driver,
            "document.getElementById('status')?.dataset.state === 'live'",
        )
        .await;
        assert_eq!(
            js(
                driver,
                "document.getElementById('message').dataset.markRead"
            )
            .await,
            json!("false"),
            "a message opened by another site is not marked read"
        );
        // A second message arrives; its `stats` event comes after anything
        // the page itself did on opening, so the count it shows then says
        // whether the first one was marked read.
        lb.send_simple("marker").await;
        wait_js(
            driver,
            "document.getElementById('unread-count').textContent === '2'",
        )
        .await;
        assert_eq!(lb.message(&id).await["Read"], json!(false));

        // The opener cannot count the page's frames (the HTML body is one)
        // nor reach the window at all.
        driver
            .switch_to_window(foreign)
            .await
            .expect("switching back to the foreign window");
        assert_eq!(js(driver, "w.length").await, json!(0));
        assert_eq!(js(driver, "w.closed").await, json!(true));

        // The user opening the same message (address bar: no other site
        // involved) reads it, and the count follows.
        driver
            .goto(&lb.url(&format!("/message/{id}")))
            .await
            .expect("opening the message");
        browser::wait_until("the message to be marked read", async || {
            lb.message(&id).await["Read"] == true
        })
        .await;
        wait_js(
            driver,
            "document.getElementById('unread-count').textContent === '1'",
        )
        .await;
        assert_eq!(
            js(
                driver,
                "document.querySelector('[data-action=read]').hidden"
            )
            .await,
            json!(true)
        );
    })
    .await;
}

#[tokio::test]
async fn a_message_opened_from_elsewhere_can_be_marked_read_by_hand() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw("billing@example.com", &["you@example.com"], INVOICE)
        .await;
    let site = ForeignSite::start("<!doctype html><title>elsewhere</title><p>elsewhere").await;
    browser::run(async |driver| {
        driver
            .goto(&site.base)
            .await
            .expect("loading the foreign page");
        // A link on another site, followed in the same window.
        let target = lb.url(&format!("/message/{id}"));
        js(driver, &format!("(location.href = {}, 1)", json!(target))).await;
        wait_js(
            driver,
            "document.getElementById('status')?.dataset.state === 'live'",
        )
        .await;
        assert_eq!(lb.message(&id).await["Read"], json!(false));
        browser::click(driver, thirtyfour::By::Css("button[data-action=read]")).await;
        browser::wait_until("the message to be marked read", async || {
            lb.message(&id).await["Read"] == true
        })
        .await;
        wait_js(
            driver,
            "!document.querySelector('button[data-action=unread]').hidden",
        )
        .await;
        wait_js(
            driver,
            "document.getElementById('unread-count').textContent === '0'",
        )
        .await;
    })
    .await;
}

/// The message's own HTML document is cut off from a foreign opener too,
/// and still opens on its own with its inline image (the one resource
/// another origin, its own opaque one, may embed).
#[tokio::test]
async fn the_bare_html_view_is_cut_off_from_a_foreign_opener_and_still_shows() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw(
            "billing@example.com",
            &["you@example.com"],
            format!(
                "Subject: Your invoice\r\nContent-Type: multipart/related; boundary=\"r\"\r\n\r\n\
--r\r\nContent-Type: text/html\r\n\r\n<p id=\"text\">Pay now.</p><img id=\"logo\" src=\"cid:logo@x\">\r\n\
--r\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n{PIXEL}\r\n--r--\r\n"
            )
            .as_bytes(),
        )
        .await;
    let site = ForeignSite::start("<!doctype html><title>elsewhere</title><p>elsewhere").await;
    browser::run(async |driver| {
        driver
            .goto(&site.base)
            .await
            .expect("loading the foreign page");
        let target = lb.url("/view/latest.html?query=subject:invoice");
        js(
            driver,
            &format!("(window.w = window.open({}), 1)", json!(target)),
        )
        .await;
        browser::wait_until("the opened window to be cut off", async || {
            js(driver, "w.closed").await == json!(true)
        })
        .await;

        driver
            .goto(&lb.url(&format!("/view/{id}.html")))
            .await
            .expect("opening the view");
        wait_js(
            driver,
            "document.getElementById('text')?.textContent === 'Pay now.'",
        )
        .await;
        wait_js(driver, "document.getElementById('logo').naturalWidth === 1").await;
    })
    .await;
}

/// A 1×1 PNG.
const PIXEL: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
