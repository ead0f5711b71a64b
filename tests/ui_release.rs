//! The Release button in a real browser: the dialog prefilled with the
//! message's To, a refusal shown with its reason, and the release's
//! progress drawn on the page until the upstream has the message.

mod browser;
mod common;

use browser::{click, open_live, text, wait_js};
use common::{Letterbox, simple_message};
use thirtyfour::prelude::*;

#[tokio::test]
async fn release_from_the_message_page() {
    let upstream = Letterbox::start();
    let lb = Letterbox::with_args(&[
        "--relay-host",
        &upstream.smtp_addr.to_string(),
        "--relay-allowed-recipients",
        r"@example\.org$",
    ]);
    let id = lb
        .send_raw(
            "app@example.com",
            &["rcpt@example.com"],
            &simple_message("release me from the UI", "body"),
        )
        .await;
    browser::run(async |driver| {
        open_live(driver, &lb.url(&format!("/message/{id}/text"))).await;
        click(driver, By::Css("button[data-action=release]")).await;
        wait_js(driver, "document.getElementById('release-dialog').open").await;
        let input = driver
            .find(By::Css("#release-form input[name=to]"))
            .await
            .unwrap();
        assert_eq!(
            input.prop("value").await.unwrap().as_deref(),
            Some("rcpt@example.com")
        );

        input.clear().await.unwrap();
        input.send_keys("me@evil.test").await.unwrap();
        click(driver, By::Css("#release-form button[type=submit]")).await;
        wait_js(driver, "!document.getElementById('release-error').hidden").await;
        let error = text(driver, By::Id("release-error")).await;
        assert!(error.contains("not allowed"), "{error}");

        input.clear().await.unwrap();
        input.send_keys("me@example.org").await.unwrap();
        click(driver, By::Css("#release-form button[type=submit]")).await;
        wait_js(driver, "!document.getElementById('release-dialog').open").await;
        wait_js(
            driver,
            "document.querySelector('#relay .state')?.textContent === 'sent'",
        )
        .await;
        let attempt = text(driver, By::Css("#relay ul.attempts li")).await;
        assert!(attempt.contains("sent: 250"), "{attempt}");
    })
    .await;
    let arrived = upstream.wait_for_total(1).await;
    assert_eq!(arrived["messages"][0]["Subject"], "release me from the UI");
}

#[tokio::test]
async fn without_a_relay_the_button_says_why_it_is_off() {
    let lb = Letterbox::start();
    let id = lb.send_simple("no relay").await;
    let page = lb
        .get(&format!("/message/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("disabled title=\"No relay is configured: start Letterbox with --relay-host"),
        "{page}"
    );
    assert!(!page.contains("data-action=\"release\""));
    assert!(!page.contains("release-dialog"));
}
