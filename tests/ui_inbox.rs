//! The inbox in a real browser: mail appears live, bursts stay bounded,
//! deletions reach other tabs, search, and a dropped connection catches up.

mod browser;
mod common;

use browser::{
    assert_not_reloaded, block_urls, click, js, mark_document, open_live, press, text, texts,
    wait_js, wait_until,
};
use common::{Letterbox, TempDir, simple_message};
use serde_json::json;
use thirtyfour::prelude::*;

/// Subjects of the rows shown, top to bottom.
async fn subjects(driver: &WebDriver) -> Vec<String> {
    texts(driver, "#messages li.row .subject").await
}

async fn wait_for_subject(driver: &WebDriver, subject: &str) {
    let expression = format!(
        "[...document.querySelectorAll('#messages .subject')].some(e => e.textContent === {})",
        json!(subject)
    );
    wait_js(driver, &expression).await;
}

#[tokio::test]
async fn new_mail_appears_at_the_top_without_a_reload() {
    let lb = Letterbox::start();
    lb.send_simple("first").await;
    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        mark_document(driver).await;
        assert_eq!(subjects(driver).await, ["first"]);
        assert_eq!(driver.title().await.unwrap(), "(1) Inbox · Letterbox");

        let id = lb.send_simple("second").await;
        wait_for_subject(driver, "second").await;
        assert_eq!(subjects(driver).await, ["second", "first"]);
        assert_not_reloaded(driver).await;

        let row = driver
            .find(By::Css("#messages li.row:first-child"))
            .await
            .unwrap();
        assert_eq!(row.attr("data-id").await.unwrap(), Some(id.clone()));
        assert!(row.class_name().await.unwrap().unwrap().contains("unread"));
        assert_eq!(
            row.find(By::Css(".from"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            "Sender"
        );
        assert_eq!(
            row.find(By::Css("a.open"))
                .await
                .unwrap()
                .attr("href")
                .await
                .unwrap(),
            Some(format!("/message/{id}"))
        );
        wait_js(driver, "document.title === '(2) Inbox · Letterbox'").await;
        assert_eq!(text(driver, By::Id("range")).await, "1–2 of 2");
        // The favicon carries the count too: it was redrawn as a PNG.
        wait_js(
            driver,
            "document.getElementById('favicon').href.startsWith('data:image/png')",
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_burst_of_a_thousand_messages_shows_the_newest_page() {
    let lb = Letterbox::start();
    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        mark_document(driver).await;
        // Count DOM insertions into the list, to show they come in batches.
        js(
            driver,
            "(window.__batches = 0, new MutationObserver(() => window.__batches++)
                .observe(document.getElementById('messages'), { childList: true }), 1)",
        )
        .await;

        let mut smtp = lb.session().await;
        for i in 0..1000 {
            smtp.send_note(&format!("burst {i}")).await;
        }
        smtp.quit().await;

        wait_js(
            driver,
            "document.getElementById('range').textContent === '1–50 of 1000'",
        )
        .await;
        wait_js(driver, "document.title === '(1000) Inbox · Letterbox'").await;
        let shown = subjects(driver).await;
        assert_eq!(shown.len(), 50, "one page of rows, not a thousand");
        let newest: Vec<String> = (950..1000).rev().map(|i| format!("burst {i}")).collect();
        assert_eq!(shown, newest);
        assert_not_reloaded(driver).await;
        let batches = js(driver, "window.__batches").await.as_u64().unwrap();
        assert!(batches < 1000, "{batches} list updates for 1000 messages");
        // Older pages are reachable.
        let older = driver.find(By::LinkText("Older")).await.unwrap();
        assert_eq!(
            older.attr("href").await.unwrap().as_deref(),
            Some("/?start=50")
        );
    })
    .await;
}

#[tokio::test]
async fn a_delete_in_one_tab_is_seen_in_another() {
    let lb = Letterbox::start();
    let keep = lb.send_simple("keep me").await;
    let doomed = lb.send_simple("delete me").await;
    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        let first = driver.window().await.unwrap();
        mark_document(driver).await;

        let second = driver.new_tab().await.unwrap();
        driver.switch_to_window(second).await.unwrap();
        open_live(driver, &lb.url("/")).await;
        let checkbox = format!("li.row[data-id='{doomed}'] input.select");
        click(driver, By::Css(&checkbox)).await;
        click(driver, By::Css("button[data-action='delete']")).await;
        wait_js(
            driver,
            &format!("!document.querySelector(\"li[data-id='{doomed}']\")"),
        )
        .await;

        driver.switch_to_window(first).await.unwrap();
        wait_js(
            driver,
            &format!("!document.querySelector(\"li[data-id='{doomed}']\")"),
        )
        .await;
        assert_eq!(subjects(driver).await, ["keep me"]);
        assert_not_reloaded(driver).await;
        wait_js(
            driver,
            "document.getElementById('range').textContent === '1–1 of 1'",
        )
        .await;
        assert_eq!(lb.ids().await, [keep]);
    })
    .await;
}

#[tokio::test]
async fn keys_move_select_and_open() {
    let lb = Letterbox::start();
    let ids = lb.send_numbered(3).await;
    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        press(driver, "j").await;
        press(driver, "j").await;
        let current = "document.querySelector('li.row.current')?.dataset.id";
        assert_eq!(js(driver, current).await, json!(ids[1]));
        press(driver, "k").await;
        assert_eq!(js(driver, current).await, json!(ids[2]));

        // x selects, r marks the selection read.
        press(driver, "x").await;
        press(driver, "r").await;
        wait_js(
            driver,
            &format!(
                "!document.querySelector(\"li[data-id='{}']\").classList.contains('unread')",
                ids[2]
            ),
        )
        .await;
        wait_until("the read state in the store", async || {
            lb.message(&ids[2]).await["Read"] == true
        })
        .await;

        // ? lists the shortcuts.
        press(driver, "?").await;
        wait_js(driver, "document.getElementById('shortcuts').open").await;
        press(driver, Key::Escape).await;
        wait_js(driver, "!document.getElementById('shortcuts').open").await;

        // / focuses the search box.
        press(driver, "/").await;
        assert_eq!(
            js(driver, "document.activeElement.id").await,
            json!("search")
        );
        press(driver, Key::Escape).await;

        // Enter opens the current message.
        press(driver, "k").await;
        press(driver, Key::Enter).await;
        wait_js(
            driver,
            &format!("location.pathname === '/message/{}'", ids[2]),
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn search_filters_and_stays_live() {
    let lb = Letterbox::start();
    lb.send_simple("alpha one").await;
    lb.send_simple("beta").await;
    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        let search = driver.find(By::Id("search")).await.unwrap();
        search.send_keys("subject:alpha").await.unwrap();
        search.send_keys(Key::Enter).await.unwrap();
        wait_js(driver, "location.search === '?q=subject%3Aalpha'").await;
        wait_js(
            driver,
            "document.getElementById('status').dataset.state === 'live'",
        )
        .await;
        assert_eq!(subjects(driver).await, ["alpha one"]);
        assert_eq!(
            driver
                .find(By::Id("search"))
                .await
                .unwrap()
                .value()
                .await
                .unwrap()
                .as_deref(),
            Some("subject:alpha")
        );
        mark_document(driver).await;

        // New matches appear, other mail does not.
        lb.send_simple("gamma").await;
        lb.send_simple("alpha two").await;
        wait_for_subject(driver, "alpha two").await;
        assert_eq!(subjects(driver).await, ["alpha two", "alpha one"]);
        assert_not_reloaded(driver).await;

        // A query the server refuses says why.
        driver.goto(lb.url("/?q=larger%3Aplenty")).await.unwrap();
        let notice = driver.find(By::Css(".notice.error")).await.unwrap();
        assert!(
            notice.text().await.unwrap().contains("larger"),
            "{}",
            notice.text().await.unwrap()
        );
    })
    .await;
}

#[tokio::test]
async fn a_dropped_connection_catches_up_on_what_it_missed() {
    let dir = TempDir::new("reconnect");
    let db = dir.file("letterbox.db");
    let mut first = Letterbox::with_args(&["--db", &db]);
    first.send_simple("before").await;
    let addr = first.http.trim_start_matches("http://").to_string();
    browser::run(async |driver| {
        open_live(driver, &first.url("/")).await;
        mark_document(driver).await;

        // Keep the page from reconnecting until the missed mail is in.
        block_urls(driver, &["*/api/events*"]).await;
        first.kill();
        wait_js(
            driver,
            "document.getElementById('status').dataset.state === 'offline'",
        )
        .await;
        let second = Letterbox::with_args(&["--db", &db, "--http", &addr]);
        second
            .send_raw(
                "sender@example.com",
                &["rcpt@example.com"],
                &simple_message("while away", "missed"),
            )
            .await;
        assert_eq!(subjects(driver).await, ["before"]);

        block_urls(driver, &[]).await;
        wait_for_subject(driver, "while away").await;
        assert_eq!(subjects(driver).await, ["while away", "before"]);
        wait_js(
            driver,
            "document.getElementById('status').dataset.state === 'live'",
        )
        .await;
        assert_not_reloaded(driver).await;
    })
    .await;
}

#[tokio::test]
async fn delete_all_asks_first() {
    let lb = Letterbox::start();
    lb.send_numbered(3).await;
    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        let button = driver
            .find(By::Css("button[data-action='delete-all']"))
            .await
            .unwrap();

        button.click().await.unwrap();
        let question = driver.get_alert_text().await.unwrap();
        assert_eq!(question, "Delete every message? This cannot be undone.");
        driver.dismiss_alert().await.unwrap();
        assert_eq!(lb.ids().await.len(), 3, "deleted without confirmation");

        button.click().await.unwrap();
        driver.accept_alert().await.unwrap();
        wait_js(
            driver,
            "document.querySelectorAll('#messages li.row').length === 0",
        )
        .await;
        wait_js(driver, "!document.getElementById('empty').hidden").await;
        assert!(lb.ids().await.is_empty());
        wait_js(driver, "document.title === 'Inbox · Letterbox'").await;
    })
    .await;
}
