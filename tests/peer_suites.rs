//! Other people's tests: the `mailpit-api` and `mailhog` client libraries'
//! own suites, unchanged, against the binary cargo built, through the
//! runner in `../shared/peer-suites/run.sh` (which installs their
//! dependencies on first use, starts this binary on free ports and runs one
//! suite). Every test of both must pass.
//!
//! Needs `../shared/peer-suites`, Node (20 or later), npm and python3; a
//! test without them says what is missing and passes, unless `CI` is set.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use common::requires;

/// One suite at a time: the runner keeps one folder of last-run logs, and
/// the suites' own time limits (a 2 s mocha hook) hold on a busy machine
/// only when they do not compete with each other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn runner() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/peer-suites/run.sh")
}

/// What the runner needs that is not there, with how to get it.
fn missing() -> Option<(String, &'static str)> {
    let runner = runner();
    if !runner.is_file() {
        return Some((
            format!("{} is absent", runner.display()),
            "put the project's shared folder (with peer-suites/) beside this repository as ../shared",
        ));
    }
    for tool in ["node", "npm", "python3"] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success());
        if !found {
            return Some((
                format!("{tool} is not on PATH"),
                "install Node 20+ with npm (https://nodejs.org) and python3",
            ));
        }
    }
    None
}

fn run_suite(suite: &str) {
    let test = format!("peer_suites::{suite}");
    if let Some((what, how)) = missing() {
        requires::skip(&test, &what, how);
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let output = Command::new(runner())
        .arg(env!("CARGO_BIN_EXE_letterbox"))
        .arg(suite)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", runner().display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The summary line, shown whatever the outcome.
    for line in stdout.lines() {
        println!("{line}");
    }
    assert!(
        output.status.success(),
        "{suite}: not every test passed ({}; the summary is above). The runner said:\n{stderr}\n\
         The suite's log and Letterbox's are in $TMPDIR/peer-suites-last/{suite}/",
        output.status
    );
}

#[test]
fn mailpit_api() {
    run_suite("mailpit-api");
}

#[test]
fn mailhog_node() {
    run_suite("mailhog-node");
}
