//! Links and one-time codes extracted through the API.

mod common;

use common::Letterbox;
use serde_json::json;

#[tokio::test]
async fn links_and_codes_of_a_sign_up_mail() {
    let lb = Letterbox::start();
    let id = lb
        .send_api(&json!({
            "From": {"Email": "app@example.test"},
            "To": [{"Email": "new.user@example.test"}],
            "Subject": "Confirm your account",
            "Text": "Your verification code is 482913.\nOr open https://app.example.test/confirm?t=abc&u=1",
            "HTML": "<p>Code: <b>482913</b></p><a data-testid=\"confirm\" href=\"https://app.example.test/confirm?t=abc&amp;u=1\">Confirm <i>account</i></a> <a href=\"https://app.example.test/help\">Help</a>",
        }))
        .await;

    let links = lb.get_ok(&format!("/api/v1/message/{id}/links")).await;
    assert_eq!(
        links,
        json!([
            {"URL": "https://app.example.test/confirm?t=abc&u=1", "Text": "Confirm account", "Source": "html"},
            {"URL": "https://app.example.test/help", "Text": "Help", "Source": "html"},
        ])
    );
    let codes = lb.get_ok(&format!("/api/v1/message/{id}/codes")).await;
    assert_eq!(codes[0]["Code"], "482913");
    assert_eq!(codes[0]["Context"], "Your verification code is 482913.");
    assert_eq!(codes.as_array().unwrap().len(), 1, "{codes}");
}

#[tokio::test]
async fn latest_with_a_query_and_unknown_ids() {
    let lb = Letterbox::start();
    for (to, code) in [("a@example.test", "111111"), ("b@example.test", "222222")] {
        let text = format!("Your login code: {code}");
        lb.send_api(
            &json!({"From": {"Email": "x@example.test"}, "To": [{"Email": to}], "Text": text}),
        )
        .await;
    }
    let codes = lb
        .get_ok("/api/v1/message/latest/codes?query=to:a@example.test")
        .await;
    assert_eq!(codes[0]["Code"], "111111");
    let (status, body) = lb
        .get_json("/api/v1/message/01ARZ3NDEKTSV4RRFFQ69G5FAV/links")
        .await;
    assert_eq!(status, 404);
    assert!(body["Error"].as_str().unwrap().contains("not found"));
    let (status, _) = lb
        .get_json("/api/v1/message/latest/links?query=to:nobody")
        .await;
    assert_eq!(status, 404);
}
