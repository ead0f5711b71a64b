//! The UI behind a path-prefix reverse proxy (`--webroot /mail/`): every
//! link the pages and their scripts make stays under the prefix.

mod browser;
mod common;

use browser::{click, open_live, press, wait_js, wait_until};
use common::Letterbox;
use thirtyfour::prelude::*;

#[tokio::test]
async fn pages_links_and_live_updates_stay_under_the_webroot() {
    let lb = Letterbox::with_args(&["--webroot", "/mail/"]);
    lb.send_simple("first").await;
    let page = lb.get("/").await.text().await.unwrap();
    for attribute in ["href=\"", "src=\"", "action=\"/"] {
        for link in page.split(attribute).skip(1) {
            let target = link.split('"').next().unwrap();
            let local = target.starts_with('/') || target.starts_with("http");
            assert!(
                !local || target.starts_with("/mail/"),
                "{attribute}{target}\" leaves the webroot"
            );
        }
    }

    browser::run(async |driver| {
        // The live connection (the WebSocket) is up under /mail/.
        open_live(driver, &lb.url("/")).await;
        let id = lb.send_simple("second").await;
        wait_js(
            driver,
            "[...document.querySelectorAll('#messages .subject')].some(e => e.textContent === 'second')",
        )
        .await;
        click(driver, By::Css("#messages li.row a.open")).await;
        let expected = format!("/mail/message/{id}");
        wait_until("the message page opens", async || {
            let url = driver.current_url().await.unwrap();
            url.path().starts_with(&expected)
        })
        .await;
        // Delete goes through the API under /mail/, then back to the inbox.
        press(driver, Key::Delete).await;
        wait_until("back in the inbox", async || {
            driver.current_url().await.unwrap().path() == "/mail/"
        })
        .await;
        assert_eq!(lb.ids().await.len(), 1, "the message was not deleted");
    })
    .await;
}
