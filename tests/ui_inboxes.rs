//! The inbox switcher in a real browser: the URL carries the inbox, the
//! list shows only that inbox's mail (live too), and unread counts follow.

mod browser;
mod common;

use browser::{assert_not_reloaded, click, js, mark_document, open_live, texts, wait_js};
use common::Letterbox;
use serde_json::json;
use thirtyfour::prelude::*;

fn letter(to: &str, subject: &str) -> Vec<u8> {
    format!("From: App <app@example.com>\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nHello.\r\n")
        .into_bytes()
}

async fn send(lb: &Letterbox, to: &str, subject: &str) -> String {
    lb.send_raw("app@example.com", &[to], &letter(to, subject))
        .await
}

/// `name count` for each switcher link, in order, as JSON text.
const SWITCHER: &str = "JSON.stringify([...document.querySelectorAll('#inbox-switcher a')]\
     .map(a => a.dataset.inbox + ' ' + a.querySelector('.count').textContent))";

/// The inbox name each row shows, in order ("" where it is hidden).
const ROW_INBOXES: &str = "JSON.stringify([...document.querySelectorAll('#messages .inbox-name')]\
     .map(e => e.checkVisibility() ? e.textContent : ''))";

async fn row_inboxes(driver: &WebDriver) -> Vec<String> {
    let text = js(driver, ROW_INBOXES).await;
    serde_json::from_str(text.as_str().unwrap()).unwrap()
}

async fn switcher(driver: &WebDriver) -> Vec<String> {
    let text = js(driver, SWITCHER).await;
    serde_json::from_str(text.as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn the_switcher_confines_the_list_and_keeps_counts_live() {
    let lb = Letterbox::with_args(&["--inbox", "billing=to:@billing.example.com"]);
    send(&lb, "bob@example.com", "plain 1").await;
    send(&lb, "ann@billing.example.com", "invoice 1").await;
    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        assert_eq!(
            texts(driver, "#messages .subject").await,
            ["invoice 1", "plain 1"]
        );
        assert_eq!(switcher(driver).await, [" 2", "default 1", "billing 1"]);
        // All inboxes in one list: each row names its own.
        assert_eq!(row_inboxes(driver).await, ["billing", "default"]);

        click(driver, By::Css("#inbox-switcher a[data-inbox='billing']")).await;
        wait_js(driver, "location.search === '?inbox=billing'").await;
        wait_js(
            driver,
            "document.getElementById('status').dataset.state === 'live'",
        )
        .await;
        mark_document(driver).await;
        assert_eq!(texts(driver, "#messages .subject").await, ["invoice 1"]);
        assert_eq!(row_inboxes(driver).await, [""], "one inbox: no names");
        assert_eq!(
            js(
                driver,
                "document.querySelector('#inbox-switcher [aria-current]').dataset.inbox"
            )
            .await,
            json!("billing")
        );
        assert_eq!(
            driver.title().await.unwrap(),
            "(2) Inbox: billing · Letterbox"
        );
        // A search from here stays in the inbox.
        assert_eq!(
            js(
                driver,
                "document.querySelector('form.search input[name=inbox]').value"
            )
            .await,
            json!("billing")
        );

        // Mail for another inbox only moves its count...
        send(&lb, "bob@example.com", "plain 2").await;
        wait_js(
            driver,
            "document.querySelector(\"#inbox-switcher a[data-inbox='default'] .count\").textContent === '2'",
        )
        .await;
        // ...mail for this one appears at the top.
        send(&lb, "cy@billing.example.com", "invoice 2").await;
        wait_js(
            driver,
            "document.querySelector('#messages .subject')?.textContent === 'invoice 2'",
        )
        .await;
        assert_eq!(
            texts(driver, "#messages .subject").await,
            ["invoice 2", "invoice 1"]
        );
        wait_js(
            driver,
            "document.getElementById('range').textContent === '1–2 of 2'",
        )
        .await;
        // Counts follow with the next `stats` event.
        wait_js(driver, &format!("{SWITCHER} === '{}'", json!([" 4", "default 2", "billing 2"]))).await;
        // A login that names a new inbox adds it to the switcher.
        let mut smtp = lb.session().await;
        smtp.cmd("AUTH PLAIN AGNybQBzZWNyZXQ=").await.assert(235, "2.7.0");
        smtp.send_message(
            "app@example.com",
            &["x@example.com"],
            &letter("x@example.com", "welcome"),
        )
        .await;
        smtp.quit().await;
        wait_js(
            driver,
            "document.querySelector(\"#inbox-switcher a[data-inbox='crm']\")?.getAttribute('href') === '/?inbox=crm'",
        )
        .await;
        assert_eq!(
            texts(driver, "#messages .subject").await,
            ["invoice 2", "invoice 1"]
        );
        assert_not_reloaded(driver).await;
    })
    .await;
}

#[tokio::test]
async fn an_unknown_inbox_page_is_a_404() {
    let lb = Letterbox::start();
    let response = lb.get("/?inbox=nosuch").await;
    assert_eq!(response.status(), 404);
    let body = response.text().await.unwrap();
    assert!(body.contains("inbox nosuch not found"), "{body}");
    assert_eq!(lb.get("/?inbox=default").await.status(), 200);
}

#[tokio::test]
async fn the_switcher_appears_when_a_second_inbox_does() {
    let lb = Letterbox::start();
    send(&lb, "bob@example.com", "plain").await;
    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        mark_document(driver).await;
        // One inbox: nothing to switch between, no names on rows.
        assert_eq!(
            js(driver, "document.getElementById('inbox-switcher').hidden").await,
            json!(true)
        );
        assert!(switcher(driver).await.is_empty());
        assert_eq!(row_inboxes(driver).await, [""]);

        let mut smtp = lb.session().await;
        smtp.cmd("AUTH PLAIN AGNybQBzZWNyZXQ=")
            .await
            .assert(235, "2.7.0");
        smtp.send_message(
            "app@example.com",
            &["x@example.com"],
            &letter("x@example.com", "welcome"),
        )
        .await;
        smtp.quit().await;
        wait_js(
            driver,
            &format!("{SWITCHER} === '{}'", json!([" 2", "default 1", "crm 1"])),
        )
        .await;
        assert_eq!(
            js(driver, "document.getElementById('inbox-switcher').hidden").await,
            json!(false)
        );
        assert_eq!(
            js(
                driver,
                "document.querySelector('#inbox-switcher [aria-current]').dataset.inbox"
            )
            .await,
            json!("")
        );
        // The list now mixes inboxes: every row names its own, live.
        wait_js(
            driver,
            &format!("{ROW_INBOXES} === '{}'", json!(["crm", "default"])),
        )
        .await;
        assert_not_reloaded(driver).await;
    })
    .await;
}

/// A message opened from a list leads back to that list (its inbox, search
/// and page), by its link and by Escape; opened on its own, to the start.
#[tokio::test]
async fn a_message_leads_back_to_the_list_it_was_opened_from() {
    let lb = Letterbox::with_args(&["--inbox", "billing=to:@billing.example.com"]);
    send(&lb, "ann@billing.example.com", "invoice 1").await;
    let id = send(&lb, "ann@billing.example.com", "invoice 2").await;
    send(&lb, "bob@example.com", "plain 1").await;
    browser::run(async |driver| {
        let list = "/?q=invoice&inbox=billing";
        open_live(driver, &lb.url(list)).await;
        click(driver, By::Css(format!("li[data-id='{id}'] a.open"))).await;
        wait_js(driver, &format!("location.pathname === '/message/{id}'")).await;
        wait_js(
            driver,
            &format!("document.querySelector('a.back').getAttribute('href') === '{list}'"),
        )
        .await;
        browser::press(driver, Key::Escape).await;
        wait_js(
            driver,
            &format!("location.pathname + location.search === '{list}'"),
        )
        .await;
        assert_eq!(
            texts(driver, "#messages .subject").await,
            ["invoice 2", "invoice 1"]
        );

        // In a fresh tab nothing was listed: back is the first page.
        driver.new_tab().await.unwrap();
        let handles = driver.windows().await.unwrap();
        driver.switch_to_window(handles[1].clone()).await.unwrap();
        open_live(driver, &lb.url(&format!("/message/{id}"))).await;
        wait_js(
            driver,
            "document.querySelector('a.back').getAttribute('href') === '/'",
        )
        .await;
    })
    .await;
}
