//! The real npm client `mailpit-api` (what users of Mailpit run) against
//! the binary: every method it has for a feature Letterbox serves.
//!
//! The client runs in Node from `tests/npm` (see `common::npm`);
//! `tests/npm/mailpit-client.mjs` holds the checks, this file says which
//! must pass.

mod common;

use common::{Letterbox, npm};

/// Checks of client methods that Letterbox supports; all must pass.
const SUPPORTED: &[&str] = &[
    "sendMessage",
    "listMessages",
    "getMessageSummary",
    "getMessageHeaders",
    "getMessageSource",
    "searchMessages",
    "waitForMessage",
    "waitForMessages",
    "deleteMessages",
    "deleteMessagesBySearch",
    "setReadStatus",
    "tags",
    "getInfo",
    "getConfiguration",
    "chaosTriggers",
    "releaseWithoutRelay",
    "checksAndThumbnails",
    // Without `--spamassassin`, a clear 404 (tests/spam_check.rs runs the
    // client's spamAssassinCheck against a real spamd).
    "spamAssassinCheckUnconfigured",
];

/// Every named check must pass.
async fn assert_pass(checks: &[&str]) {
    npm::assert_checks_pass("mailpit-api", "mailpit-client.mjs", checks).await;
}

#[tokio::test]
async fn every_supported_method_works() {
    assert_pass(SUPPORTED).await;
}

#[tokio::test]
async fn set_read_status_with_the_clients_defaults() {
    assert_pass(&["setReadStatusDefaults"]).await;
}

#[tokio::test]
async fn set_tags_without_tags_clears_them() {
    assert_pass(&["setTagsWithoutTags"]).await;
}

#[tokio::test]
async fn get_message_attachment() {
    assert_pass(&["getMessageAttachment"]).await;
}

#[tokio::test]
async fn render_message_html_and_text() {
    assert_pass(&["renderMessage"]).await;
}

/// `releaseMessage` against an instance whose relay is a second Letterbox:
/// the upstream receives the message, addressed to the released recipient.
#[tokio::test]
async fn release_message_through_a_relay() {
    let upstream = Letterbox::start();
    let relay = upstream.smtp_addr.to_string();
    let lb = Letterbox::with_args(&["--relay-host", &relay]);
    if !npm::assert_checks_pass_on(
        &lb,
        "mailpit-api",
        "mailpit-client.mjs",
        &["releaseMessage"],
    )
    .await
    {
        return;
    }
    let message = upstream.the_one_message().await;
    assert_eq!(message["Subject"], "Release me");
    assert_eq!(
        message["Envelope"]["RcptTo"],
        serde_json::json!(["released@example.test"])
    );
}
