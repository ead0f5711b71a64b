//! The real npm client `mailpit-api` (what users of Mailpit run) against
//! the binary: every method it has for a feature Letterbox serves.
//!
//! The client runs in Node from `tests/npm` (see `common::npm`);
//! `tests/npm/mailpit-client.mjs` holds the checks, this file says which
//! must pass.

mod common;

use common::npm;

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
    // getAttachmentThumbnail, releaseMessage, htmlCheck, linkCheck and
    // spamAssassinCheck: features Letterbox does not have; they must fail
    // with a clear 404.
    "unsupportedMethodsFailCleanly",
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
