//! The real npm client `mailpit-api` (what users of Mailpit run) against
//! the binary: every method it has for a feature Letterbox serves.
//!
//! The client runs in Node from `tests/npm` (`npm ci --prefix tests/npm`;
//! `.ci/run` does it). `tests/npm/mailpit-client.mjs` holds the checks; this
//! file says which must pass. Without Node or the package the tests are
//! skipped with a loud message, unless `CI` is set: then they fail.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use common::Letterbox;
use serde_json::Value;

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
    // getAttachmentThumbnail, releaseMessage, htmlCheck, linkCheck,
    // spamAssassinCheck, getChaosTriggers and setChaosTriggers: features
    // Letterbox does not have; they must fail with a clear 404.
    "unsupportedMethodsFailCleanly",
];

fn npm_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/npm")
}

/// Whether Node and the installed client are there. Outside CI a missing
/// piece skips the test with a message on the real stderr (not the
/// captured one, so it shows even when the test passes); under CI it fails.
fn client_installed() -> bool {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    let package = npm_dir().join("node_modules/mailpit-api/package.json");
    let missing = if !node {
        "node is not installed"
    } else if !package.exists() {
        "the mailpit-api package is not installed: run `npm ci --prefix tests/npm`"
    } else {
        return true;
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing} (CI is set, so this fails instead of skipping)"
    );
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED the mailpit-api client test: {missing} ***\n"
    );
    false
}

/// Runs the named checks against a fresh Letterbox; returns each check's
/// error, or `None` for a pass. `None` overall when skipped.
async fn run(checks: &[&str]) -> Option<Vec<(String, Option<String>)>> {
    if !client_installed() {
        return None;
    }
    let lb = Letterbox::start();
    let mut command = Command::new("node");
    command
        .current_dir(npm_dir())
        .arg("mailpit-client.mjs")
        .arg(&lb.http)
        .args(checks);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the node runner thread")
        .expect("running node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let results: Vec<(String, Option<String>)> = stdout
        .lines()
        .map(|line| {
            let result: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a result line ({e}): {line}"));
            let name = result["check"].as_str().expect("check name").to_string();
            let error = (result["ok"] != true).then(|| result["error"].to_string());
            (name, error)
        })
        .collect();
    let names: Vec<&str> = results.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        checks,
        "node exited {:?}; stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Some(results)
}

/// Every named check must pass.
async fn assert_pass(checks: &[&str]) {
    let Some(results) = run(checks).await else {
        return;
    };
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|(name, error)| error.map(|e| format!("{name}: {e}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test]
async fn every_supported_method_works() {
    assert_pass(SUPPORTED).await;
}

#[tokio::test]
#[ignore = "bug: PUT /api/v1/messages refuses a body without Read, so the client's setReadStatus() and setReadStatus({IDs}) fail with 400"]
async fn set_read_status_with_the_clients_defaults() {
    assert_pass(&["setReadStatusDefaults"]).await;
}

#[tokio::test]
#[ignore = "bug: PUT /api/v1/tags refuses a body without Tags, which the client documents as clearing the tags"]
async fn set_tags_without_tags_clears_them() {
    assert_pass(&["setTagsWithoutTags"]).await;
}

#[tokio::test]
#[ignore = "not in main yet: GET /api/v1/message/{ID}/part/{PartID} (issue 3)"]
async fn get_message_attachment() {
    assert_pass(&["getMessageAttachment"]).await;
}

#[tokio::test]
#[ignore = "not in main yet: GET /view/{ID}.html and /view/{ID}.txt (issue 3)"]
async fn render_message_html_and_text() {
    assert_pass(&["renderMessage"]).await;
}
