//! What a test needs from outside the repository (`../shared`, Chromium,
//! Node, PHP, ...). On a fresh clone without it, a test says in one line
//! what is missing and how to get it, and passes; under `CI`, where
//! `.ci/run` installs everything, a missing piece is a failure.

use std::io::Write;

/// Whether `CI` is set to something: then nothing may be skipped.
pub fn under_ci() -> bool {
    std::env::var_os("CI").is_some_and(|value| !value.is_empty())
}

/// Reports that `test` cannot run because `missing` (with `how` to get
/// it), and returns so the caller can return early. Panics under `CI`.
pub fn skip(test: &str, missing: &str, how: &str) {
    assert!(
        !under_ci(),
        "{test}: {missing} ({how}); CI is set, so this is a failure, not a skip"
    );
    // Straight to the stderr handle: the harness captures eprintln!.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {missing}; {how}");
}
