//! The web UI in a real browser says when chaos rules are active, on every
//! page, and stops saying it once they are lifted.

mod browser;
mod common;

use browser::{screenshot, text, wait_js};
use common::Letterbox;
use thirtyfour::prelude::*;

#[tokio::test]
async fn a_banner_shows_while_chaos_rules_are_active() {
    let lb = Letterbox::with_args(&["--chaos", "rcpt=451@50%"]);
    let id = {
        // Sent before any rule could refuse it: lift, send, restore.
        let put = |body: &'static str| lb.client().put(lb.url("/api/v1/chaos")).body(body).send();
        assert_eq!(put("{}").await.unwrap().status(), 200);
        let id = lb.send_simple("while calm").await;
        let rules = r#"{"Recipient": {"ErrorCode": 451, "Probability": 50}}"#;
        assert_eq!(put(rules).await.unwrap().status(), 200);
        id
    };
    browser::run(async |driver| {
        for page in ["/".to_string(), format!("/message/{id}")] {
            driver.goto(lb.url(&page)).await.unwrap();
            let banner = driver.find(By::Id("chaos-banner")).await.unwrap();
            assert!(banner.is_displayed().await.unwrap(), "{page}");
            let said = text(driver, By::Id("chaos-banner")).await;
            assert!(said.contains("Chaos rules are active"), "{page}: {said}");
            assert!(said.contains("rcpt=451@50%"), "{page}: {said}");
        }
        browser::open_live(driver, &lb.url("/")).await;
        screenshot(driver, "chaos-banner").await;
        browser::mark_document(driver).await;

        // Lifted, and set again: the open page follows without a reload.
        let put = |body: &'static str| lb.client().put(lb.url("/api/v1/chaos")).body(body).send();
        assert_eq!(put("{}").await.unwrap().status(), 200);
        wait_js(driver, "document.getElementById('chaos-banner').hidden").await;
        let rules = r#"{"Sender": {"ErrorCode": 452, "Probability": 100}}"#;
        assert_eq!(put(rules).await.unwrap().status(), 200);
        wait_js(driver, "!document.getElementById('chaos-banner').hidden").await;
        let said = text(driver, By::Id("chaos-banner")).await;
        assert!(said.contains("mail=452@100%"), "{said}");
        browser::assert_not_reloaded(driver).await;

        // The banner's button lifts them.
        browser::click(driver, By::Id("lift-chaos")).await;
        wait_js(driver, "document.getElementById('chaos-banner').hidden").await;
        let now: serde_json::Value = lb.get_ok("/api/v1/chaos").await;
        assert_eq!(now["Sender"]["Probability"], 0, "{now}");

        // A page that reconnects learns the rules as they are now.
        assert_eq!(put(rules).await.unwrap().status(), 200);
        driver.refresh().await.unwrap();
        wait_js(driver, "!document.getElementById('chaos-banner').hidden").await;
        assert_eq!(put("{}").await.unwrap().status(), 200);
        driver.refresh().await.unwrap();
        let banner = driver.find(By::Id("chaos-banner")).await.unwrap();
        assert!(!banner.is_displayed().await.unwrap(), "hidden once lifted");
    })
    .await;
}
