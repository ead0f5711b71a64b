//! The web UI in a real browser says when chaos rules are active, on every
//! page, and stops saying it once they are lifted.

mod browser;
mod common;

use browser::{screenshot, text};
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
        driver.goto(lb.url("/")).await.unwrap();
        screenshot(driver, "chaos-banner").await;

        lb.client()
            .put(lb.url("/api/v1/chaos"))
            .body("{}")
            .send()
            .await
            .unwrap();
        driver.refresh().await.unwrap();
        let left = driver.find_all(By::Id("chaos-banner")).await.unwrap();
        assert!(
            left.is_empty(),
            "the banner is gone once the rules are lifted"
        );
    })
    .await;
}
