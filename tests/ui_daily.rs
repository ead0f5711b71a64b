//! The UI as a daily driver (issue 13), in a real browser: going through
//! messages one after another (also in the split view), what rows show,
//! triage of many messages, paging and search, the HTML frame sized to the
//! mail, the empty inbox and attached messages. Screenshots land in
//! `target/screenshots/`.

mod browser;
mod common;

use browser::{
    assert_not_reloaded, click, color_scheme, js, mark_document, open_live, press, screenshot,
    text, texts, wait_js,
};
use common::{Letterbox, simple_message};
use serde_json::json;
use thirtyfour::prelude::*;

/// Waits until the message page of `id` is loaded and live.
async fn on_message(driver: &WebDriver, id: &str) {
    wait_js(
        driver,
        &format!(
            "location.pathname.startsWith('/message/{id}') && \
             document.getElementById('status')?.dataset.state === 'live'"
        ),
    )
    .await;
}

/// Presses `key` on the message page until the page of `id` is loaded and
/// live. A key pressed while the page settles (the HTML body's frame
/// loading and measuring itself) can go to the frame under load, as it can
/// for a person, who presses again: so up to three presses, each given 5 s.
async fn press_to_message(driver: &WebDriver, key: &str, id: &str) {
    let arrived = format!(
        "location.pathname.startsWith('/message/{id}') && \
         document.getElementById('status')?.dataset.state === 'live'"
    );
    for _ in 0..3 {
        js(
            driver,
            "document.activeElement?.blur(), window.focus(), true",
        )
        .await;
        press(driver, key).await;
        for _ in 0..100 {
            if js(driver, &format!("!!({arrived})")).await == json!(true) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    on_message(driver, id).await;
}

/// The ID of the selected (current) row of the list.
async fn current_row(driver: &WebDriver) -> serde_json::Value {
    js(
        driver,
        "document.querySelector('#messages li.row.current')?.dataset.id",
    )
    .await
}

#[tokio::test]
async fn next_and_previous_on_the_message_page_and_back_to_the_row_left() {
    let lb = Letterbox::start();
    // 55 messages: two pages of the list; newest first, so the list shows
    // m54 ... m5, then m4 ... m0.
    let ids = lb.send_numbered(55).await;
    let row = |n: usize| ids[54 - n].clone(); // the n-th row, from 0
    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        click(
            driver,
            By::Css(format!("li.row[data-id='{}'] a.open", row(1))),
        )
        .await;
        on_message(driver, &row(1)).await;

        press(driver, "j").await;
        on_message(driver, &row(2)).await;
        press(driver, "k").await;
        on_message(driver, &row(1)).await;
        press(driver, "k").await;
        on_message(driver, &row(0)).await;
        // The newest has no previous one.
        assert_eq!(
            js(
                driver,
                "document.querySelector('[data-action=previous]').disabled"
            )
            .await,
            json!(true)
        );
        click(driver, By::Css("button[data-action=next]")).await;
        on_message(driver, &row(1)).await;
        // The tab shown stays the same from one message to the next.
        click(driver, By::LinkText("Headers")).await;
        wait_js(driver, "location.pathname.endsWith('/headers')").await;
        press(driver, "j").await;
        wait_js(
            driver,
            &format!("location.pathname === '/message/{}/headers'", row(2)),
        )
        .await;

        // Back selects the row left, and j goes on from there.
        press(driver, Key::Escape).await;
        wait_js(
            driver,
            "location.pathname === '/' && !!document.querySelector('li.row.current')",
        )
        .await;
        assert_eq!(current_row(driver).await, json!(row(2)));
        press(driver, "j").await;
        assert_eq!(current_row(driver).await, json!(row(3)));

        // Past the end of the page: the first message of the next one, and
        // back leads to that page with its row selected.
        driver
            .goto(&lb.url(&format!("/message/{}", row(49))))
            .await
            .unwrap();
        on_message(driver, &row(49)).await;
        press_to_message(driver, "j", &row(50)).await;
        press(driver, Key::Escape).await;
        wait_js(
            driver,
            "location.search === '?start=50' && !!document.querySelector('li.row.current')",
        )
        .await;
        assert_eq!(current_row(driver).await, json!(row(50)));
        // And back across the edge the other way.
        press(driver, Key::Enter).await;
        on_message(driver, &row(50)).await;
        press_to_message(driver, "k", &row(49)).await;
        // The oldest has no next one.
        open_live(driver, &lb.url("/?start=50")).await;
        click(
            driver,
            By::Css(format!("li.row[data-id='{}'] a.open", row(54))),
        )
        .await;
        on_message(driver, &row(54)).await;
        assert_eq!(
            js(
                driver,
                "document.querySelector('[data-action=next]').disabled"
            )
            .await,
            json!(true)
        );
        assert_eq!(
            js(
                driver,
                "document.querySelector('[data-action=previous]').disabled"
            )
            .await,
            json!(false)
        );
    })
    .await;
}

#[tokio::test]
async fn rows_show_recipients_and_size() {
    let lb = Letterbox::start();
    lb.send_raw(
        "app@example.com",
        &["ann@example.com"],
        b"From: App <app@example.com>\r\nTo: ann@example.com, bob@example.com, cat@example.com\r\nSubject: three\r\n\r\nhello\r\n",
    )
    .await;
    lb.send_raw(
        "app@example.com",
        &["solo@example.com"],
        &simple_message("one", "hi"),
    )
    .await;
    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        let live = lb.send_raw(
            "app@example.com",
            &["x@example.com"],
            b"To: Xavier <x@example.com>, y@example.com\r\nSubject: live\r\n\r\n0123456789\r\n",
        )
        .await;
        wait_js(driver, &format!("!!document.querySelector(\"li.row[data-id='{live}']\")")).await;
        assert_eq!(
            texts(driver, "#messages li.row .to").await,
            ["Xavier (+1)", "Recipient", "ann@example.com (+2)"]
        );
        // Shown, with the arrow, and the size beside them.
        for selector in ["#messages li.row .to", "#messages li.row .size"] {
            let visible = js(
                driver,
                &format!("[...document.querySelectorAll('{selector}')].every(e => e.checkVisibility() && e.getBoundingClientRect().width > 0)"),
            )
            .await;
            assert_eq!(visible, json!(true), "{selector}");
        }
        assert_eq!(
            js(driver, "getComputedStyle(document.querySelector('li.row .to'), '::before').content").await,
            json!("\"→ \"")
        );
        let sizes = texts(driver, "#messages li.row .size").await;
        assert!(sizes.iter().all(|s| s.ends_with(" B")), "{sizes:?}");
        screenshot(driver, "daily-inbox-light").await;
        color_scheme(driver, "dark").await;
        screenshot(driver, "daily-inbox-dark").await;
        color_scheme(driver, "light").await;
        driver.set_window_rect(0, 0, 390, 844).await.unwrap();
        screenshot(driver, "daily-inbox-phone").await;
    })
    .await;
}

async fn unread(lb: &Letterbox) -> u64 {
    lb.get_ok("/api/v1/messages?limit=1").await["unread"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn mark_all_read_and_select_all_matching() {
    let lb = Letterbox::start();
    lb.send_numbered(60).await;
    browser::run(async |driver| {
        // In a search: only its matches (m5, m50 ... m59).
        open_live(driver, &lb.url("/?q=subject%3Am5")).await;
        assert_eq!(
            js(driver, "document.querySelector('[data-action=read-all]').textContent").await,
            json!("Mark all matches read")
        );
        click(driver, By::Css("button[data-action=read-all]")).await;
        browser::wait_until("the matches to be read", async || unread(&lb).await == 49).await;
        wait_js(driver, "document.querySelectorAll('li.row.unread').length === 0").await;

        // The whole inbox, far more than its first page.
        open_live(driver, &lb.url("/")).await;
        click(driver, By::Css("button[data-action=read-all]")).await;
        browser::wait_until("everything to be read", async || unread(&lb).await == 0).await;
        wait_js(driver, "document.getElementById('unread-count').textContent === '0'").await;

        // Select the page, then every message: marking unread reaches all 60.
        click(driver, By::Id("select-all")).await;
        wait_js(driver, "!document.getElementById('select-matching').hidden").await;
        assert_eq!(
            js(driver, "document.querySelector('#select-matching button').textContent").await,
            json!("Select all 60")
        );
        screenshot(driver, "daily-select-matching").await;
        click(driver, By::Css("#select-matching button")).await;
        assert_eq!(
            js(driver, "document.querySelector('#select-matching .text').textContent").await,
            json!("All 60 messages are selected.")
        );
        click(driver, By::Css("button[data-action=unread]")).await;
        browser::wait_until("everything to be unread", async || unread(&lb).await == 60).await;
        // The selection is gone with the action done.
        wait_js(driver, "document.getElementById('select-matching').hidden").await;

        // Deleting all matching asks first.
        click(driver, By::Id("select-all")).await;
        click(driver, By::Css("#select-matching button")).await;
        click(driver, By::Css("button[data-action=delete]")).await;
        driver.dismiss_alert().await.unwrap();
        assert_eq!(lb.ids().await.len(), 60, "deleted without confirmation");
        // Unselecting one row leaves only the rows: delete takes those 49.
        click(driver, By::Css("#messages li.row:first-child input.select")).await;
        wait_js(driver, "document.getElementById('select-matching').hidden").await;
        click(driver, By::Css("button[data-action=delete]")).await;
        browser::wait_until("the 49 to be deleted", async || lb.ids().await.len() == 11).await;
        // The last 11 all fit on the page.
        click(driver, By::Id("select-all")).await;
        wait_js(driver, "document.querySelectorAll('#messages li.row').length === 11").await;
        assert_eq!(
            js(driver, "document.getElementById('select-matching').hidden").await,
            json!(true),
            "the page holds every message: nothing more to select"
        );
        click(driver, By::Css("button[data-action=delete]")).await;
        browser::wait_until("all to be deleted", async || lb.ids().await.is_empty()).await;
        wait_js(driver, "document.querySelector('[data-action=delete-all]').disabled && document.querySelector('[data-action=read-all]').disabled").await;
    })
    .await;
}

/// Sends `n` messages `page test 0` ... on one connection.
async fn send_many(lb: &Letterbox, n: usize) {
    let mut smtp = lb.session().await;
    for i in 0..n {
        smtp.send_message(
            "a@example.com",
            &["b@example.com"],
            &simple_message(&format!("page test {i}"), "x"),
        )
        .await;
    }
    smtp.quit().await;
}

fn rows(html: &str) -> usize {
    html.matches("<li class=\"row").count() - 1 // the template's blank row
}

#[tokio::test]
async fn the_pager_says_where_you_are_and_past_the_end_is_the_last_page() {
    let lb = Letterbox::start();
    send_many(&lb, 120).await;
    let page = async |path: &str| {
        let response = lb.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let url = response.url().clone();
        (url, response.text().await.unwrap())
    };
    let (_, first) = page("/").await;
    assert!(first.contains(">Page 1 of 3<"), "{first}");
    // The links are under the list too.
    let pager = &first[first.find("id=\"pager\"").unwrap()..];
    assert!(pager.contains("href=\"/?start=50\">Older<"), "{pager}");

    // Past the end: the last page, not an empty list.
    let (url, last) = page("/?start=5000").await;
    assert_eq!(url.query(), Some("start=100"));
    assert_eq!(rows(&last), 20);
    assert!(last.contains(">Page 3 of 3<"));
    let (url, _) = page("/?q=subject%3A%22page+test+1%22&start=1000").await;
    assert_eq!(
        url.query(),
        Some("q=subject%3A%22page+test+1%22"),
        "31 matches: one page"
    );

    // Page sizes: only those offered.
    let (_, small) = page("/?limit=25").await;
    assert_eq!(rows(&small), 25);
    assert!(small.contains(">Page 1 of 5<"));
    assert!(
        small.contains("href=\"/?start=25&#38;limit=25\">Older<"),
        "{small}"
    );
    let (_, odd) = page("/?limit=7").await;
    assert_eq!(rows(&odd), 50);

    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        let choose = driver.find(By::Id("page-size")).await.unwrap();
        thirtyfour::components::SelectElement::new(&choose)
            .await
            .unwrap()
            .select_by_value("100")
            .await
            .unwrap();
        wait_js(driver, "location.search === '?limit=100' && document.querySelectorAll('#messages li.row').length === 100").await;
        // Remembered: the inbox shows 100 a page from now on.
        open_live(driver, &lb.url("/")).await;
        assert_eq!(js(driver, "document.querySelectorAll('#messages li.row').length").await, json!(100));
        assert_eq!(js(driver, "document.querySelector('#pager .page-of').textContent").await, json!("Page 1 of 2"));
        click(driver, By::Css("#pager a:nth-child(1)")).await;
        wait_js(driver, "location.search === '?start=100&limit=100'").await;
        wait_js(driver, "document.getElementById('status')?.dataset.state === 'live'").await;
        assert_eq!(js(driver, "document.querySelector('#pager .page-of').textContent").await, json!("Page 2 of 2"));
        js(driver, "(document.getElementById('pager').scrollIntoView(), 1)").await;
        screenshot(driver, "daily-pager").await;
    })
    .await;
}

#[tokio::test]
async fn search_help_clear_clickable_filters_and_invalid_queries() {
    let lb = Letterbox::start();
    let tagged = lb
        .send_raw(
            "alice@example.com",
            &["b@example.com"],
            b"From: Alice <alice@example.com>\r\nSubject: welcome\r\n\r\nhi\r\n",
        )
        .await;
    lb.send_simple("other").await;
    let response = lb
        .client()
        .put(lb.url("/api/v1/tags"))
        .json(&json!({"Tags": ["signup"], "IDs": [tagged]}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        // Help with examples, without a placeholder to read.
        click(driver, By::Css("button.search-help-button")).await;
        wait_js(
            driver,
            "document.getElementById('search-help').matches(':popover-open')",
        )
        .await;
        screenshot(driver, "daily-search-help").await;
        click(driver, By::LinkText("is:unread")).await;
        wait_js(driver, "location.search === '?q=is%3Aunread'").await;
        assert_eq!(
            js(driver, "document.getElementById('search').value").await,
            json!("is:unread")
        );
        // Clear: back to all mail.
        click(driver, By::Id("clear-search")).await;
        wait_js(
            driver,
            "location.search === '' && document.getElementById('search').value === ''",
        )
        .await;

        // A tag in a row filters by it.
        open_live(driver, &lb.url("/")).await;
        click(driver, By::Css("#messages li.row .tag")).await;
        wait_js(driver, "location.search === '?q=tag%3Asignup'").await;
        wait_js(
            driver,
            "document.querySelectorAll('#messages li.row').length === 1",
        )
        .await;
        // The sender on the message page too.
        click(driver, By::Css("#messages li.row a.open")).await;
        wait_js(
            driver,
            &format!("location.pathname === '/message/{tagged}'"),
        )
        .await;
        click(driver, By::LinkText("all from them")).await;
        wait_js(
            driver,
            "location.search === '?q=from%3Aalice%40example.com'",
        )
        .await;
        assert_eq!(
            texts(driver, "#messages li.row .subject").await,
            ["welcome"]
        );

        // An invalid query says so, and nothing can act on it.
        open_live(driver, &lb.url("/?q=is%3Astarred")).await;
        assert_eq!(
            js(
                driver,
                "document.querySelector('.notice.error').checkVisibility()"
            )
            .await,
            json!(true)
        );
        assert_eq!(
            js(driver, "document.getElementById('empty').checkVisibility()").await,
            json!(false)
        );
        for action in ["read-all", "delete-all"] {
            assert_eq!(
                js(
                    driver,
                    &format!("document.querySelector('[data-action={action}]').disabled")
                )
                .await,
                json!(true),
                "{action}"
            );
        }
        driver.set_window_rect(0, 0, 390, 844).await.unwrap();
        click(driver, By::Css("button.search-help-button")).await;
        wait_js(
            driver,
            "document.getElementById('search-help').matches(':popover-open')",
        )
        .await;
        screenshot(driver, "daily-search-help-phone").await;
    })
    .await;
}

/// Makes every WebSocket the pages open fail at once, until the test sets
/// `sessionStorage.allowSockets` (for the rest of the session).
async fn fail_websockets_until_allowed(driver: &WebDriver) {
    driver
        .cdp()
        .send_raw(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": "{ const Real = WebSocket; window.WebSocket = function (url) { \
                if (sessionStorage.allowSockets) return new Real(url); \
                const fake = new EventTarget(); \
                setTimeout(() => fake.dispatchEvent(new Event('close'))); return fake; }; }"}),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn new_mail_is_noticed_and_the_count_is_right_after_a_reconnect() {
    let lb = Letterbox::start();
    let first = lb.send_simple("first").await;
    browser::run(async |driver| {
        // The count: the page marks its message read while the live
        // connection cannot come up; once it does, the badge is right.
        fail_websockets_until_allowed(driver).await;
        driver.goto(&lb.url(&format!("/message/{first}"))).await.unwrap();
        wait_js(driver, "document.getElementById('status').dataset.state === 'offline'").await;
        browser::wait_until("the message to be read", async || {
            lb.message(&first).await["Read"] == true
        })
        .await;
        assert_eq!(js(driver, "document.getElementById('unread-count').textContent").await, json!("1"));
        // Let it connect now (`online` cuts the wait before the next try).
        js(driver, "(sessionStorage.allowSockets = '1', dispatchEvent(new Event('online')), 1)").await;
        wait_js(driver, "document.getElementById('status').dataset.state === 'live'").await;
        wait_js(driver, "document.getElementById('unread-count').textContent === '0'").await;

        // While reading, new mail shows as a notice that opens it.
        let second = lb.send_simple("second").await;
        wait_js(driver, "!document.getElementById('new-mail').hidden").await;
        assert_eq!(
            js(driver, "document.querySelector('#new-mail a').textContent").await,
            json!("New: second")
        );
        screenshot(driver, "daily-new-mail").await;
        click(driver, By::Css("#new-mail a")).await;
        on_message(driver, &second).await;

        // In the list, a new row is highlighted for a moment.
        open_live(driver, &lb.url("/")).await;
        let third = lb.send_simple("third").await;
        wait_js(driver, &format!("!!document.querySelector(\"li.row[data-id='{third}']\")")).await;
        assert_eq!(
            js(driver, &format!("document.querySelector(\"li.row[data-id='{third}']\").classList.contains('arrived')")).await,
            json!(true)
        );
        assert_eq!(
            js(driver, &format!("getComputedStyle(document.querySelector(\"li.row[data-id='{third}']\")).animationName")).await,
            json!("arrived")
        );

        // Desktop notifications: asked for on a click only, then shown for
        // mail arriving while the page is not in front.
        driver
            .cdp()
            .send_raw("Browser.grantPermissions", json!({"permissions": ["notifications"]}))
            .await
            .unwrap();
        js(
            driver,
            "(window.__notes = [], window.Notification = Object.assign(function (title, options) { \
               __notes.push([title, options.body]); this.addEventListener = () => {}; }, \
               { permission: 'granted', requestPermission: async () => 'granted' }), \
             document.hasFocus = () => false, 1)",
        )
        .await;
        assert_eq!(js(driver, "document.getElementById('notify-toggle').getAttribute('aria-pressed')").await, json!("false"));
        lb.send_simple("unnoticed").await;
        wait_js(driver, "[...document.querySelectorAll('#messages .subject')].some(e => e.textContent === 'unnoticed')").await;
        assert_eq!(js(driver, "__notes.length").await, json!(0), "not before the click");
        click(driver, By::Id("notify-toggle")).await;
        wait_js(driver, "document.getElementById('notify-toggle').getAttribute('aria-pressed') === 'true'").await;
        lb.send_simple("noticed").await;
        wait_js(driver, "__notes.length === 1").await;
        assert_eq!(js(driver, "__notes[0]").await, json!(["noticed", "From Sender"]));
    })
    .await;
}

#[tokio::test]
async fn the_html_source_tab_shows_the_decoded_source_highlighted_and_copies_it() {
    let lb = Letterbox::start();
    // Quoted-printable, so the tab must decode it.
    let id = lb
        .send_raw(
            "a@example.com",
            &["b@example.com"],
            b"Subject: source\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
<p class=3D\"x\">Caf=C3=A9 &amp; <script>alert(1)</script></p>\r\n<!-- note -->\r\n\
--b\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF\r\n--b--\r\n",
        )
        .await;
    browser::run(async |driver| {
        open_live(driver, &lb.url(&format!("/message/{id}"))).await;
        press(driver, "2").await;
        wait_js(driver, "location.pathname.endsWith('/source')").await;
        wait_js(driver, "document.getElementById('status')?.dataset.state === 'live'").await;
        assert_eq!(
            js(driver, "document.getElementById('source').textContent").await,
            json!("<p class=\"x\">Café &amp; <script>alert(1)</script></p>\n<!-- note -->\n")
        );
        assert_eq!(texts(driver, "#source .hl-tag").await[..2], ["<p", ">"]);
        assert_eq!(texts(driver, "#source .hl-attr").await, ["class"]);
        assert_eq!(texts(driver, "#source .hl-value").await, ["\"x\""]);
        assert_eq!(texts(driver, "#source .hl-comment").await, ["<!-- note -->"]);
        // Line numbers, which are not part of the text.
        assert_eq!(
            js(driver, "getComputedStyle(document.querySelector('#source .ln:nth-child(2)'), '::before').content").await,
            json!("counter(ln)")
        );
        driver
            .cdp()
            .send_raw(
                "Browser.grantPermissions",
                json!({"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
            )
            .await
            .unwrap();
        click(driver, By::Id("copy-source")).await;
        wait_js(driver, "document.getElementById('copy-source').textContent === 'Copied'").await;
        assert_eq!(
            js(driver, "document.getElementById('copy-source').textContent").await,
            json!("Copied")
        );
        screenshot(driver, "daily-html-source").await;
        // A part that only downloads says so.
        click(driver, By::LinkText("MIME parts")).await;
        wait_js(driver, "location.pathname.endsWith('/parts')").await;
        let links = texts(driver, "table.parts td.links").await;
        assert_eq!(links[1..], ["Download", "Download"], "HTML and PDF download");
    })
    .await;
}

#[tokio::test]
async fn a_message_on_a_phone_starts_on_the_first_screen_with_every_tab_in_view() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw(
            "app@example.com",
            &["bob@example.com"],
            b"From: App <app@example.com>\r\nTo: Bob <bob@example.com>\r\nCc: carol@example.com\r\n\
Subject: Your order has shipped and is on its way to you\r\nDate: Tue, 01 Jul 2025 10:00:00 +0000\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/html\r\n\r\n<h1>Shipped</h1>\r\n\
--b\r\nContent-Type: text/csv; name=a.csv\r\nContent-Disposition: attachment; filename=a.csv\r\n\r\na\r\n\
--b\r\nContent-Type: text/csv; name=b.csv\r\nContent-Disposition: attachment; filename=b.csv\r\n\r\nb\r\n--b--\r\n",
        )
        .await;
    browser::run(async |driver| {
        driver.set_window_rect(0, 0, 390, 844).await.unwrap();
        open_live(driver, &lb.url(&format!("/message/{id}"))).await;
        screenshot(driver, "daily-message-phone").await;
        let width = js(driver, "innerWidth").await.as_f64().unwrap();
        let height = js(driver, "innerHeight").await.as_f64().unwrap();
        let top = js(driver, "document.getElementById('html-body').getBoundingClientRect().top").await;
        assert!(top.as_f64().unwrap() < height * 0.75, "the body starts at {top} of {height}");
        // Every tab fits, the current one included.
        let right = js(driver, "Math.max(...[...document.querySelectorAll('nav.tabs a')].map(a => a.getBoundingClientRect().right))").await;
        assert!(right.as_f64().unwrap() <= width, "tabs end at {right} of {width}");
        // No width buttons where they make no sense.
        assert_eq!(js(driver, "document.querySelector('.widths').checkVisibility()").await, json!(false));
        click(driver, By::LinkText("Envelope")).await;
        wait_js(driver, "location.pathname.endsWith('/envelope')").await;
        assert_eq!(
            js(driver, "document.querySelector('nav.tabs a[aria-current=page]').getBoundingClientRect().right <= innerWidth").await,
            json!(true)
        );
    })
    .await;
}

#[tokio::test]
async fn blind_copies_show_in_the_header_and_are_marked_in_the_envelope() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw(
            "app@example.com",
            &["bob@example.com", "Hidden@Example.com"],
            b"To: Bob <bob@example.com>\r\nSubject: bcc\r\n\r\nhi\r\n",
        )
        .await;
    browser::run(async |driver| {
        open_live(driver, &lb.url(&format!("/message/{id}"))).await;
        let names = texts(driver, "dl.fields dt").await;
        let values = texts(driver, "dl.fields dd").await;
        let bcc = names.iter().position(|n| n == "Bcc").expect("a Bcc row");
        assert_eq!(values[bcc], "hidden@example.com (envelope only)");
        click(driver, By::LinkText("Envelope")).await;
        wait_js(driver, "location.pathname.endsWith('/envelope')").await;
        assert_eq!(
            texts(driver, "dl.envelope ul.plain li").await,
            ["bob@example.com", "Hidden@Example.com Bcc"]
        );
    })
    .await;
}

#[tokio::test]
async fn load_remote_content_is_offered_only_when_there_is_some() {
    let lb = Letterbox::start();
    let html = |body: &str| {
        format!("Subject: r\r\nContent-Type: text/html\r\n\r\n{body}\r\n").into_bytes()
    };
    let local = lb
        .send_raw(
            "a@example.com",
            &["b@example.com"],
            &html("<p><a href=\"https://example.com/\">a link</a></p>"),
        )
        .await;
    let remote = lb
        .send_raw(
            "a@example.com",
            &["b@example.com"],
            &html("<img src=\"https://tracker.example/p.gif\">"),
        )
        .await;
    let page = async |id: &str| {
        lb.get(&format!("/message/{id}"))
            .await
            .text()
            .await
            .unwrap()
    };
    let local = page(&local).await;
    assert!(!local.contains("Load remote content"));
    assert!(local.contains("No remote content."));
    assert!(page(&remote).await.contains("Load remote content"));
}

#[tokio::test]
async fn list_unsubscribe_targets_and_one_click_are_shown() {
    let lb = Letterbox::start();
    let one_click = lb
        .send_raw(
            "news@example.com",
            &["b@example.com"],
            b"Subject: news\r\nList-Unsubscribe: <mailto:leave@example.com?subject=unsub>,\r\n <https://example.com/u?id=1>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nhi\r\n",
        )
        .await;
    let plain = lb
        .send_raw(
            "news@example.com",
            &["b@example.com"],
            b"Subject: news\r\nList-Unsubscribe: <javascript:alert(1)>, <https://example.com/u>\r\n\r\nhi\r\n",
        )
        .await;
    browser::run(async |driver| {
        open_live(driver, &lb.url(&format!("/message/{one_click}"))).await;
        assert_eq!(
            texts(driver, "dd.unsubscribe a").await,
            [
                "mailto:leave@example.com?subject=unsub",
                "https://example.com/u?id=1"
            ]
        );
        assert_eq!(
            texts(driver, "dd.unsubscribe .one-click").await,
            ["one-click"]
        );
        // Declared, but unsigned: a mailbox provider would not offer it.
        assert_eq!(
            texts(driver, "dd.unsubscribe-problems a").await,
            ["1 problem: see Checks"]
        );
        click(driver, By::Css("dd.unsubscribe-problems a")).await;
        wait_js(driver, "location.pathname.endsWith('/checks')").await;
        open_live(driver, &lb.url(&format!("/message/{plain}"))).await;
        // Only web and mail targets are links.
        assert_eq!(
            texts(driver, "dd.unsubscribe a").await,
            ["https://example.com/u"]
        );
        assert_eq!(
            texts(driver, "dd.unsubscribe code").await,
            ["javascript:alert(1)"]
        );
        assert!(texts(driver, "dd.unsubscribe .one-click").await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn offline_counts_down_retries_on_demand_and_failures_say_why() {
    let lb = Letterbox::start();
    let id = lb.send_simple("one").await;
    browser::run(async |driver| {
        fail_websockets_until_allowed(driver).await;
        driver.goto(&lb.url("/")).await.unwrap();
        // Offline, shown with a countdown that moves, and "retry now".
        browser::wait_until("a countdown of several seconds", async || {
            js(driver, "document.querySelector('#status .label').textContent")
                .await
                .as_str()
                .and_then(|t| t.strip_prefix("offline, retrying in ")?.strip_suffix(" s")?.parse::<u32>().ok())
                .is_some_and(|s| s >= 2)
        })
        .await;
        let first = js(driver, "document.querySelector('#status .label').textContent").await;
        wait_js(driver, &format!("document.querySelector('#status .label').textContent !== {first}")).await;
        assert_eq!(js(driver, "document.getElementById('retry-now').checkVisibility()").await, json!(true));
        screenshot(driver, "daily-offline").await;

        // An action that cannot reach the server says so on the page.
        browser::block_urls(driver, &["*/api/v1/messages*"]).await;
        click(driver, By::Css(format!("li.row[data-id='{id}'] input.select"))).await;
        click(driver, By::Css("button[data-action=read]")).await;
        wait_js(driver, "!document.getElementById('action-error').hidden").await;
        assert_eq!(
            js(driver, "document.querySelector('#action-error .text').textContent").await,
            json!("Marking read did not work: Letterbox cannot be reached (offline). Nothing was changed.")
        );
        assert!(driver.get_alert_text().await.is_err(), "no browser alert");
        browser::block_urls(driver, &[]).await;

        // Retry now: live at once, whatever the countdown says. Sockets are
        // allowed only while the countdown has 4 s or more to go, so that the
        // click, not the timer, is what reconnects.
        browser::wait_until("a countdown of 4 s or more", async || {
            js(
                driver,
                "(() => { const m = /retrying in (\\d+) s/.exec(document.querySelector('#status .label').textContent); \
                   if (!m || Number(m[1]) < 4) return false; sessionStorage.allowSockets = '1'; return true; })()",
            )
            .await
                == json!(true)
        })
        .await;
        click(driver, By::Id("retry-now")).await;
        wait_js(driver, "document.getElementById('status').dataset.state === 'live'").await;
        assert_eq!(js(driver, "document.getElementById('retry-now').checkVisibility()").await, json!(false));
    })
    .await;
}

#[tokio::test]
async fn tags_are_added_and_removed_on_the_message_page() {
    let lb = Letterbox::start();
    let id = lb.send_simple("tag me").await;
    browser::run(async |driver| {
        open_live(driver, &lb.url(&format!("/message/{id}"))).await;
        let tags = async || {
            lb.message(&id).await["Tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        for tag in ["signup", "needs review"] {
            click(driver, By::Css("#add-tag input")).await;
            press(driver, tag).await;
            press(driver, Key::Enter).await;
            wait_js(driver, &format!("[...document.querySelectorAll('#tags .tag')].some(t => t.textContent === {})", json!(tag))).await;
        }
        browser::wait_until("both tags stored", async || tags().await.len() == 2).await;
        let mut stored = tags().await;
        stored.sort();
        assert_eq!(stored, ["needs review", "signup"]);
        click(driver, By::Css("#tags .tag-item[data-tag=signup] button.untag")).await;
        browser::wait_until("the tag removed", async || tags().await == ["needs review"]).await;
        // The store answers before the page has redrawn its tags.
        browser::wait_until("the page shows the tag removed", async || {
            texts(driver, "#tags .tag").await == ["needs review"]
        })
        .await;
        // Set elsewhere: the page follows.
        lb.client()
            .put(lb.url("/api/v1/tags"))
            .json(&json!({"IDs": [id], "Tags": ["from-api"]}))
            .send()
            .await
            .unwrap();
        wait_js(driver, "[...document.querySelectorAll('#tags .tag')].map(t => t.textContent).join() === 'from-api'").await;
        click(driver, By::Css("#tags .tag")).await;
        wait_js(driver, "location.search === '?q=tag%3Afrom-api'").await;
    })
    .await;
}

/// The height of the HTML frame (its box, borders included) and of the
/// document in it, and how far that document scrolls inside the frame.
const FRAME_HEIGHTS: &str = "(() => { \
    const frame = document.getElementById('html-body'); \
    const viewport = frame.contentDocument.scrollingElement; \
    return { frame: Math.round(frame.getBoundingClientRect().height), \
             content: viewport.scrollHeight, \
             scrolls: viewport.scrollHeight - viewport.clientHeight }; })()";

/// Waits until the HTML frame has been sized to its document.
async fn frame_sized(driver: &WebDriver) -> serde_json::Value {
    wait_js(
        driver,
        "document.querySelector('.frame.sized') && \
         document.getElementById('html-body').contentDocument?.readyState === 'complete'",
    )
    .await;
    js(driver, FRAME_HEIGHTS).await
}

#[tokio::test]
async fn the_html_frame_is_as_tall_as_the_mail_and_its_scripts_still_do_not_run() {
    let lb = Letterbox::start();
    // A newsletter far taller than the window: 120 paragraphs of a 24 px
    // line each, or more lines where the frame is narrow.
    let mut newsletter = b"Subject: newsletter\r\nContent-Type: text/html\r\n\r\n\
<!doctype html><html><body style=\"margin:0\">"
        .to_vec();
    for n in 0..120 {
        newsletter.extend_from_slice(
            format!("<p style=\"margin:0;line-height:24px\">Story {n}: a long line of news that wraps on a narrow screen, \
                     as newsletters do when they are read on a phone.</p>")
                .as_bytes(),
        );
    }
    newsletter
        .extend_from_slice(b"<p id=\"last\" style=\"margin:0\">The end</p></body></html>\r\n");
    let long = lb
        .send_raw("a@example.com", &["b@example.com"], &newsletter)
        .await;
    // Short mail, without a doctype (quirks mode, where the body fills the
    // frame): no hole under it.
    let short = lb
        .send_raw(
            "a@example.com",
            &["b@example.com"],
            b"Subject: short\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n",
        )
        .await;
    // Scripts that would reach our page now that the frame has our origin.
    let hostile = lb
        .send_raw(
            "a@example.com",
            &["b@example.com"],
            b"Subject: hostile\r\nContent-Type: text/html\r\n\r\n\
<html><body onload=\"parent.document.title='pwned'\">\
<script>parent.document.title='pwned'; top.document.body.dataset.pwned = '1'</script>\
<img src=\"x\" onerror=\"parent.document.title='pwned'\">\
<a id=\"js-link\" href=\"javascript:parent.document.title='pwned'\">click me</a>\
<p id=\"end\">The end</p></body></html>\r\n",
        )
        .await;
    browser::run(async |driver| {
        open_live(driver, &lb.url(&format!("/message/{long}"))).await;
        let sized = frame_sized(driver).await;
        let (frame, content) = (sized["frame"].as_i64().unwrap(), sized["content"].as_i64().unwrap());
        // Not cut to a box: the whole newsletter is in the page, and the
        // frame does not scroll.
        assert!(content > 2400, "{sized}");
        assert!(frame >= content && frame <= content + 4, "{sized}");
        assert_eq!(sized["scrolls"], json!(0), "{sized}");
        assert!(frame > js(driver, "innerHeight").await.as_i64().unwrap());
        // The sandbox: our origin for the height, never scripts.
        assert_eq!(
            js(driver, "document.getElementById('html-body').getAttribute('sandbox')").await,
            json!("allow-popups allow-popups-to-escape-sandbox allow-same-origin")
        );
        screenshot(driver, "daily-html-long").await;

        // A narrower window wraps the lines: the frame grows with them.
        driver.set_window_rect(0, 0, 500, 900).await.unwrap();
        wait_js(
            driver,
            &format!("document.getElementById('html-body').getBoundingClientRect().height > {frame}"),
        )
        .await;
        wait_js(driver, "document.getElementById('html-body').contentDocument.scrollingElement.scrollHeight <= document.getElementById('html-body').contentDocument.scrollingElement.clientHeight").await;
        driver.set_window_rect(0, 0, 1280, 900).await.unwrap();

        open_live(driver, &lb.url(&format!("/message/{short}"))).await;
        let sized = frame_sized(driver).await;
        let frame = sized["frame"].as_i64().unwrap();
        assert!(frame < 100, "a hole under a short mail: {sized}");
        assert_eq!(sized["scrolls"], json!(0), "{sized}");
        screenshot(driver, "daily-html-short").await;

        open_live(driver, &lb.url(&format!("/message/{hostile}"))).await;
        frame_sized(driver).await;
        let frame = driver.find(By::Id("html-body")).await.unwrap();
        frame.enter_frame().await.unwrap();
        assert_eq!(text(driver, By::Id("end")).await, "The end");
        click(driver, By::Id("js-link")).await;
        driver.enter_default_frame().await.unwrap();
        // The title is ours (the unread count in it may change meanwhile).
        let title = driver.title().await.unwrap();
        assert!(title.ends_with("hostile · Letterbox"), "a script ran: {title:?}");
        assert_eq!(js(driver, "document.body.dataset.pwned ?? null").await, json!(null));
    })
    .await;
}

#[tokio::test]
async fn a_calendar_invitation_is_summed_up() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw(
            "ann@example.com",
            &["bob@example.com"],
            b"Subject: Invitation: Planning\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nYou are invited.\r\n\
--b\r\nContent-Type: text/calendar; method=REQUEST; charset=utf-8\r\n\r\n\
BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nSUMMARY:Planning <b>Q1</b>\r\n\
DTSTART;TZID=Europe/Berlin:20260115T100000\r\nDTEND;TZID=Europe/Berlin:20260115T110000\r\n\
ORGANIZER;CN=Ann:mailto:ann@example.com\r\nATTENDEE;CN=Bob:mailto:bob@example.com\r\n\
END:VEVENT\r\nEND:VCALENDAR\r\n--b--\r\n",
        )
        .await;
    browser::run(async |driver| {
        open_live(driver, &lb.url(&format!("/message/{id}"))).await;
        assert_eq!(
            texts(driver, "section.invite h2").await,
            ["Invitation: Planning <b>Q1</b>"]
        );
        assert_eq!(
            texts(driver, "section.invite dd").await,
            [
                "20260115T100000 (Europe/Berlin) to 20260115T110000 (Europe/Berlin)",
                "Ann <ann@example.com>",
                "Bob <bob@example.com>",
                "REQUEST"
            ]
        );
        screenshot(driver, "daily-invite").await;
    })
    .await;
}

#[tokio::test]
async fn the_theme_can_be_chosen_and_is_remembered() {
    let lb = Letterbox::start();
    lb.send_simple("themed").await;
    let background = "getComputedStyle(document.body).backgroundColor";
    browser::run(async |driver| {
        color_scheme(driver, "light").await;
        open_live(driver, &lb.url("/")).await;
        assert_eq!(js(driver, background).await, json!("rgb(255, 255, 255)"));
        click(driver, By::Id("theme-toggle")).await; // light
        click(driver, By::Id("theme-toggle")).await; // dark
        assert_eq!(js(driver, background).await, json!("rgb(21, 24, 29)"));
        assert_eq!(
            js(driver, "document.getElementById('theme-toggle').title").await,
            json!("Theme: dark")
        );
        // Remembered, and applied before the page script runs.
        open_live(driver, &lb.url("/")).await;
        assert_eq!(js(driver, background).await, json!("rgb(21, 24, 29)"));
        screenshot(driver, "daily-theme-dark").await;
        // Light wins over a dark system, and back to the system's.
        color_scheme(driver, "dark").await;
        click(driver, By::Id("theme-toggle")).await; // system
        assert_eq!(js(driver, background).await, json!("rgb(21, 24, 29)"));
        click(driver, By::Id("theme-toggle")).await; // light
        assert_eq!(js(driver, background).await, json!("rgb(255, 255, 255)"));
    })
    .await;
}

#[tokio::test]
async fn the_empty_inbox_says_where_to_send_mail() {
    let lb = Letterbox::start();
    let expected = format!(
        "No mail yet. Send mail to {} over SMTP: it shows up here at once.",
        lb.smtp_addr
    );
    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        assert_eq!(text(driver, By::Id("empty")).await, expected);
        screenshot(driver, "daily-empty").await;
        // Mail arrives: the notice goes; all of it deleted: it is back.
        lb.send_simple("first").await;
        wait_js(driver, "document.getElementById('empty').hidden").await;
        assert_eq!(lb.delete_messages(None).await, (200, "ok".to_string()));
        wait_js(driver, "!document.getElementById('empty').hidden").await;
        assert_eq!(text(driver, By::Id("empty")).await, expected);
    })
    .await;
}

/// The subject of the message shown beside the list, if any.
const BESIDE: &str = "document.querySelector('#reading-pane h1.subject')?.textContent ?? null";

#[tokio::test]
async fn the_split_view_shows_the_selected_message_beside_the_list_and_is_remembered() {
    let lb = Letterbox::start();
    // Newest first: the list shows m3, m2, m1, m0.
    let ids = lb.send_numbered(4).await;
    let row = |n: usize| ids[3 - n].clone();
    let beside = async |driver: &WebDriver, subject: &str| {
        wait_js(driver, &format!("({BESIDE}) === {}", json!(subject))).await;
    };
    browser::run(async |driver| {
        open_live(driver, &lb.url("/")).await;
        assert_eq!(js(driver, "document.getElementById('reading-pane').hidden").await, json!(true));
        click(driver, By::Id("layout-toggle")).await;
        wait_js(driver, "document.querySelector('main').classList.contains('split')").await;
        // The first row is selected and its message shown beside the list,
        // and read.
        beside(driver, "m3").await;
        assert_eq!(current_row(driver).await, json!(row(0)));
        browser::wait_until("the message shown to be read", async || {
            lb.message(&row(0)).await["Read"] == true
        })
        .await;
        wait_js(driver, &format!("!document.querySelector(\"li.row[data-id='{}']\").classList.contains('unread')", row(0))).await;
        // j and k move through the list, the message follows; the page stays.
        mark_document(driver).await;
        press(driver, "j").await;
        beside(driver, "m2").await;
        assert_eq!(current_row(driver).await, json!(row(1)));
        press(driver, "j").await;
        beside(driver, "m1").await;
        press(driver, "k").await;
        beside(driver, "m2").await;
        // A click on a row shows it there too.
        click(driver, By::Css(format!("li.row[data-id='{}'] a.open", row(3)))).await;
        beside(driver, "m0").await;
        // Its tabs open beside the list.
        click(driver, By::Css("#reading-pane nav.tabs a[href$='/headers']")).await;
        wait_js(driver, "!!document.querySelector('#reading-pane table.headers')").await;
        assert_eq!(js(driver, "location.pathname").await, json!("/"));
        assert_not_reloaded(driver).await;
        screenshot(driver, "daily-split").await;

        // Remembered: the next list page is split too, with the row left.
        open_live(driver, &lb.url("/")).await;
        assert_eq!(
            js(driver, "document.getElementById('layout-toggle').getAttribute('aria-pressed')").await,
            json!("true")
        );
        beside(driver, "m0").await;
        assert_eq!(current_row(driver).await, json!(row(3)));
        // Deleting the message shown shows its neighbour.
        click(driver, By::Css(format!("li.row[data-id='{}'] a.open", row(1)))).await;
        beside(driver, "m2").await;
        click(driver, By::Css("#reading-pane button[data-action=delete]")).await;
        beside(driver, "m1").await;
        browser::wait_until("the message deleted", async || {
            lb.list().await["total"] == 3
        })
        .await;
        assert_eq!(current_row(driver).await, json!(row(2)));

        // Too narrow for two columns: the list alone, the choice kept.
        driver.set_window_rect(0, 0, 900, 900).await.unwrap();
        wait_js(driver, "!document.querySelector('main').classList.contains('split') && document.getElementById('reading-pane').hidden").await;
        driver.set_window_rect(0, 0, 1280, 900).await.unwrap();
        beside(driver, "m1").await;
        // Switched off: the list alone again, and remembered.
        click(driver, By::Id("layout-toggle")).await;
        wait_js(driver, "document.getElementById('reading-pane').hidden").await;
        open_live(driver, &lb.url("/")).await;
        assert_eq!(js(driver, "document.querySelector('main').classList.contains('split')").await, json!(false));
        press(driver, Key::Enter).await;
        on_message(driver, &row(2)).await;
    })
    .await;
}

#[tokio::test]
async fn a_forwarded_eml_attachment_is_its_own_branch_in_the_mime_tab() {
    let lb = Letterbox::start();
    let id = lb
        .send_raw(
            "ann@example.com",
            &["bob@example.com"],
            b"Subject: Fwd: the report\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nForwarded, see the attachment.\r\n\
--b\r\nContent-Type: message/rfc822\r\n\
Content-Disposition: attachment; filename=\"report.eml\"\r\n\r\n\
From: Carol <carol@example.com>\r\nSubject: The report\r\n\
Content-Type: multipart/alternative; boundary=c\r\n\r\n\
--c\r\nContent-Type: text/plain\r\n\r\nNumbers.\r\n\
--c\r\nContent-Type: text/html\r\n\r\n<p>Numbers.</p>\r\n--c--\r\n\
--b--\r\n",
        )
        .await;
    browser::run(async |driver| {
        // Still one attachment above the tabs, as the API lists it.
        open_live(driver, &lb.url(&format!("/message/{id}/parts"))).await;
        assert_eq!(texts(driver, "ul.attachments .name").await, ["report.eml"]);
        let ids = async || {
            js(
                driver,
                "[...document.querySelectorAll('table.parts tbody tr')].filter(r => !r.hidden)\
                 .map(r => r.querySelector('td.id').firstChild.nextSibling.textContent.trim())",
            )
            .await
        };
        assert_eq!(ids().await, json!(["0", "1", "2", "2.0", "2.1", "2.2"]));
        let rows = texts(driver, "table.parts tbody tr").await;
        assert!(
            rows[2].contains("attached message")
                && rows[2].contains("“The report” from Carol <carol@example.com>"),
            "{}",
            rows[2]
        );
        // Each part of the attached message opens and downloads on its own;
        // its container has no content to link to.
        let links = js(
            driver,
            "[...document.querySelectorAll('table.parts tbody tr')]\
             .map(r => [...r.querySelectorAll('td.links a')].map(a => a.textContent + ' ' + a.getAttribute('href')))",
        )
        .await;
        let part = |p: &str| format!("/api/v1/message/{id}/part/{p}");
        assert_eq!(links[3], json!([]), "a container has no content");
        assert_eq!(
            links[4],
            json!([format!("Open {}", part("2.1")), format!("Download {}?dl=1", part("2.1"))])
        );
        assert_eq!(links[5], json!([format!("Download {}?dl=1", part("2.2"))]));
        let fetched = js(
            driver,
            &format!(
                "Promise.all(['{}', '{}'].map(u => fetch(u).then(r => r.text())))",
                part("2.1"),
                part("2.2")
            ),
        )
        .await;
        assert_eq!(fetched, json!(["Numbers.", "<p>Numbers.</p>"]));
        screenshot(driver, "daily-attached-message").await;
        // The branch folds and unfolds.
        click(driver, By::Css("button.branch[data-branch='2']")).await;
        assert_eq!(ids().await, json!(["0", "1", "2"]));
        click(driver, By::Css("button.branch[data-branch='2']")).await;
        assert_eq!(ids().await, json!(["0", "1", "2", "2.0", "2.1", "2.2"]));
    })
    .await;
}
