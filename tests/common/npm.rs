//! Third-party npm API clients run against the binary: each client has a
//! Node script in `tests/npm` that runs named checks and prints one JSON
//! line per check. The packages are installed by `npm ci --prefix
//! tests/npm` (`.ci/run` does it). Without Node or the package the tests
//! are skipped with a loud message, unless `CI` is set: then they fail.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::Letterbox;

pub fn npm_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/npm")
}

/// Whether Node and the installed package are there. Outside CI a missing
/// piece skips the test with a message on the real stderr (not the
/// captured one, so it shows even when the test passes); under CI it fails.
pub fn installed(package: &str) -> bool {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    let manifest = npm_dir()
        .join("node_modules")
        .join(package)
        .join("package.json");
    let missing = if !node {
        "node is not installed".to_string()
    } else if !manifest.exists() {
        format!("the {package} package is not installed: run `npm ci --prefix tests/npm`")
    } else {
        return true;
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing} (CI is set, so this fails instead of skipping)"
    );
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED the {package} client test: {missing} ***\n"
    );
    false
}

/// Runs the named checks of `script` against `lb`; returns each check's
/// error, or `None` for a pass. `None` overall when skipped.
pub async fn run_checks(
    lb: &Letterbox,
    package: &str,
    script: &str,
    checks: &[&str],
) -> Option<Vec<(String, Option<String>)>> {
    if !installed(package) {
        return None;
    }
    let mut command = Command::new("node");
    command
        .current_dir(npm_dir())
        .arg(script)
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

/// Every named check must pass against a fresh Letterbox.
pub async fn assert_checks_pass(package: &str, script: &str, checks: &[&str]) {
    assert_checks_pass_on(&Letterbox::start(), package, script, checks).await;
}

/// Every named check must pass against `lb`. Returns whether they ran
/// (false when skipped outside CI).
pub async fn assert_checks_pass_on(
    lb: &Letterbox,
    package: &str,
    script: &str,
    checks: &[&str],
) -> bool {
    let Some(results) = run_checks(lb, package, script, checks).await else {
        return false;
    };
    let failures: Vec<String> = results
        .into_iter()
        .filter_map(|(name, error)| error.map(|e| format!("{name}: {e}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    true
}
