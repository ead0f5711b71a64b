//! The real npm client `mailhog` (what suites written against MailHog run)
//! against the binary. The checks live in `tests/npm/mailhog-client.mjs`.

mod common;

use common::npm;

#[tokio::test]
async fn the_mailhog_client_works_unchanged() {
    npm::assert_checks_pass(
        "mailhog",
        "mailhog-client.mjs",
        &[
            "messagesAndGetters",
            "searchAndLatest",
            "deleteMessageAndAll",
        ],
    )
    .await;
}
