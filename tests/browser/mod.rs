//! A real headless Chromium for the UI tests, driven through `chromedriver`
//! (Debian's `chromium` and `chromium-driver` packages) with thirtyfour.
//!
//! When either program is missing, the tests say so loudly and pass
//! without running, unless `CI` is set: then they fail.

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use serde_json::{Value, json};
use thirtyfour::ChromiumLikeCapabilities;
use thirtyfour::error::WebDriverErrorInner;
use thirtyfour::prelude::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, MutexGuard};

use crate::common::{TIMEOUT, TempDir};

/// The flags this machine's Chromium needs headless (no sandbox as root,
/// and no background traffic to Google's hosts on a closed network).
const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

/// One browser at a time: two Chromiums on a small machine make each other
/// slow enough to matter.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// A free TCP port on 127.0.0.1 (the listener is closed again at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a free port")
        .port()
}

/// A running `chromedriver`, killed on drop.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Chromedriver {
    async fn start(program: &Path, log: &Path) -> Chromedriver {
        let port = free_port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        let driver = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("an HTTP client");
        wait_until("chromedriver to answer", async || {
            let status = client.get(format!("{}/status", driver.url)).send().await;
            match status {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            }
        })
        .await;
        driver
    }
}

/// Runs `test` with a fresh headless Chromium, then closes it, whether the
/// test passed or panicked. Returns without running the test when Chromium
/// is not installed (failing instead under `CI`).
pub async fn run(test: impl AsyncFnOnce(&WebDriver)) {
    let (Some(chromium), Some(chromedriver)) = (
        find_program(&["chromium", "chromium-browser", "google-chrome"]),
        find_program(&["chromedriver"]),
    ) else {
        let message = "Chromium or chromedriver is not installed, so the browser tests \
                       cannot run (Debian: apt-get install chromium chromium-driver).";
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
            panic!("{message} CI is set, so this is a failure.");
        }
        // Straight to the stderr handle: the test harness captures eprintln!.
        let banner = "!".repeat(78);
        let _ = writeln!(
            std::io::stderr(),
            "\n{banner}\n!!! SKIPPED: {message}\n{banner}\n"
        );
        return;
    };
    let _turn: MutexGuard<'_, ()> = ONE_AT_A_TIME.lock().await;
    let dir = TempDir::new("browser");
    let server = Chromedriver::start(&chromedriver, &dir.path().join("chromedriver.log")).await;

    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(chromium.to_str().expect("a UTF-8 path"))
        .expect("setting the binary");
    for flag in CHROMIUM_FLAGS {
        caps.add_arg(flag).expect("adding a flag");
    }
    caps.add_arg(&format!("--user-data-dir={}", dir.file("profile")))
        .expect("adding a flag");
    let driver = WebDriver::new(&server.url, caps)
        .await
        .expect("starting a Chromium session");
    let outcome = std::panic::AssertUnwindSafe(test(&driver))
        .catch_unwind()
        .await;
    let _ = driver.quit().await;
    if let Err(panic) = outcome {
        let log = std::fs::read_to_string(dir.path().join("chromedriver.log")).unwrap_or_default();
        let tail: String = log
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        eprintln!("---- chromedriver log (tail) ----\n{tail}");
        std::panic::resume_unwind(panic);
    }
}

/// Polls `condition` until it holds; panics after [`TIMEOUT`].
pub async fn wait_until(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of a JavaScript expression in the page.
pub async fn js(driver: &WebDriver, expression: &str) -> Value {
    driver
        .execute(format!("return ({expression});"), Vec::new())
        .await
        .unwrap_or_else(|e| panic!("evaluating {expression}: {e}"))
        .json()
        .clone()
}

/// Waits until a JavaScript expression is truthy in the page; the
/// description says what is awaited and the last value seen of `show`.
pub async fn wait_js(driver: &WebDriver, expression: &str) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        // A navigation in progress makes the script fail: try again.
        let value = driver
            .execute(format!("return !!({expression});"), Vec::new())
            .await
            .map(|r| r.json().clone());
        if value.as_ref().is_ok_and(|v| v == &json!(true)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for `{expression}` (last: {value:?}) on {:?}",
            driver.current_url().await.map(|u| u.to_string())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks the element `by` finds. The page's scripts redraw parts of it
/// (the pager, the status bar) at their own time: an element that went
/// stale or is not yet interactable is found again and clicked again, as
/// a person would, until [`TIMEOUT`]. Only those errors are retried: they
/// are raised before the click is dispatched. Any other error can come
/// after it (chromedriver waits for the navigation a click starts, and can
/// report the old frame as detached), and clicking again would act twice,
/// such as stepping two messages on; the caller's next wait checks what
/// the click did.
pub async fn click(driver: &WebDriver, by: By) {
    let what = format!("{by:?}");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let error = match driver.find(by.clone()).await {
            Ok(element) => match element.click().await {
                Ok(()) => return,
                Err(e) if not_dispatched(&e) => format!("clicking {what}: {e}"),
                Err(e) => {
                    eprintln!("clicking {what} reported {e}; not clicking again");
                    return;
                }
            },
            Err(e) => format!("finding {what}: {e}"),
        };
        assert!(Instant::now() < deadline, "{error}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a click failed before the browser dispatched it.
fn not_dispatched(error: &WebDriverError) -> bool {
    matches!(
        error.as_inner(),
        WebDriverErrorInner::StaleElementReference(_)
            | WebDriverErrorInner::ElementNotInteractable(_)
            | WebDriverErrorInner::ElementClickIntercepted(_)
            | WebDriverErrorInner::NoSuchElement(_)
    )
}

/// The visible text of the element `by` finds.
pub async fn text(driver: &WebDriver, by: By) -> String {
    let what = format!("{by:?}");
    driver
        .find(by)
        .await
        .unwrap_or_else(|e| panic!("finding {what}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading {what}: {e}"))
}

/// `textContent` of every element matching `selector`.
pub async fn texts(driver: &WebDriver, selector: &str) -> Vec<String> {
    let value = driver
        .execute(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);",
            vec![json!(selector)],
        )
        .await
        .expect("reading texts")
        .json()
        .clone();
    serde_json::from_value(value).expect("a list of strings")
}

/// Loads `url` and waits until the page's script is running and its live
/// connection is up.
pub async fn open_live(driver: &WebDriver, url: &str) {
    driver.goto(url).await.expect("loading a page");
    wait_js(
        driver,
        "document.getElementById('status')?.dataset.state === 'live'",
    )
    .await;
}

/// Presses `keys`. A single key goes to the page as one trusted key event
/// through the DevTools protocol: a key whose handler navigates (`j` to the
/// next message) can make chromedriver see the old frame detach in the
/// middle of a WebDriver action and dispatch the whole action again on the
/// new page, stepping twice. Text (several characters) is typed with
/// WebDriver actions, as it never navigates.
pub async fn press(driver: &WebDriver, keys: impl Into<TypingData>) {
    let keys: TypingData = keys.into();
    if let [one] = keys.as_vec()[..]
        && let Some(key) = KeyEvent::of(one)
    {
        return key.dispatch(driver).await;
    }
    driver
        .action_chain()
        .send_keys(keys)
        .perform()
        .await
        .expect("pressing keys");
}

/// One key as `Input.dispatchKeyEvent` describes it.
struct KeyEvent {
    key: String,
    code: String,
    key_code: u32,
    text: Option<String>,
}

impl KeyEvent {
    /// The event for a character or one of WebDriver's special keys.
    fn of(c: char) -> Option<KeyEvent> {
        let named = |key: &str, key_code: u32, text: Option<&str>| KeyEvent {
            key: key.into(),
            code: key.into(),
            key_code,
            text: text.map(Into::into),
        };
        Some(match c {
            '\u{e003}' => named("Backspace", 8, None),
            '\u{e004}' => named("Tab", 9, None),
            '\u{e006}' | '\u{e007}' => named("Enter", 13, Some("\r")),
            '\u{e00c}' => named("Escape", 27, None),
            '\u{e012}' => named("ArrowLeft", 37, None),
            '\u{e013}' => named("ArrowUp", 38, None),
            '\u{e014}' => named("ArrowRight", 39, None),
            '\u{e015}' => named("ArrowDown", 40, None),
            '\u{e017}' => named("Delete", 46, None),
            c if c.is_ascii_graphic() || c == ' ' => KeyEvent {
                key: c.to_string(),
                code: if c.is_ascii_alphabetic() {
                    format!("Key{}", c.to_ascii_uppercase())
                } else if c.is_ascii_digit() {
                    format!("Digit{c}")
                } else {
                    String::new()
                },
                key_code: if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase() as u32
                } else {
                    0
                },
                text: Some(c.to_string()),
            },
            _ => return None,
        })
    }

    async fn dispatch(&self, driver: &WebDriver) {
        let cdp = driver.cdp();
        let down = if self.text.is_some() {
            "keyDown"
        } else {
            "rawKeyDown"
        };
        for kind in [down, "keyUp"] {
            let mut event = json!({
                "type": kind,
                "key": self.key,
                "code": self.code,
                "windowsVirtualKeyCode": self.key_code,
            });
            if kind == "keyDown"
                && let Some(text) = &self.text
            {
                event["text"] = json!(text);
            }
            cdp.send_raw("Input.dispatchKeyEvent", event)
                .await
                .unwrap_or_else(|e| panic!("pressing {}: {e}", self.key));
        }
    }
}

/// Marks the current document, so a test can prove it was not reloaded.
pub async fn mark_document(driver: &WebDriver) {
    js(driver, "window.__notReloaded = true").await;
}

pub async fn assert_not_reloaded(driver: &WebDriver) {
    assert_eq!(
        js(driver, "window.__notReloaded === true").await,
        json!(true),
        "the page was reloaded"
    );
}

/// Emulates `prefers-color-scheme` (`light` or `dark`).
pub async fn color_scheme(driver: &WebDriver, scheme: &str) {
    driver
        .cdp()
        .send_raw(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        )
        .await
        .expect("emulating a colour scheme");
}

/// Blocks (or, with no patterns, unblocks) requests whose URL matches.
pub async fn block_urls(driver: &WebDriver, patterns: &[&str]) {
    let cdp = driver.cdp();
    cdp.send_raw("Network.enable", json!({}))
        .await
        .expect("enabling the network domain");
    cdp.send_raw("Network.setBlockedURLs", json!({ "urls": patterns }))
        .await
        .expect("blocking URLs");
}

/// Saves a screenshot as `target/screenshots/<name>.png`.
pub async fn screenshot(driver: &WebDriver, name: &str) {
    // The test binary is target/<profile>/letterbox's sibling's child:
    // target/<profile>/deps/...; the letterbox binary tells us `target/`.
    let target = Path::new(env!("CARGO_BIN_EXE_letterbox"))
        .ancestors()
        .nth(2)
        .expect("the binary lives in target/<profile>/")
        .to_path_buf();
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("creating target/screenshots");
    driver
        .screenshot(&dir.join(format!("{name}.png")))
        .await
        .expect("taking a screenshot");
}

/// A tiny HTTP server that records the path of every request it gets, so a
/// test can tell whether a page reached out to the network.
pub struct Recorder {
    pub base: String,
    requests: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Recorder {
    pub async fn start() -> Recorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the recorder");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    let mut line = String::new();
                    if stream.read_line(&mut line).await.is_ok() {
                        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                        seen.lock().expect("recorder lock").push(path);
                    }
                    let _ = stream
                        .get_mut()
                        .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                        .await;
                });
            }
        });
        Recorder { base, requests }
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("recorder lock").clone()
    }

    /// Waits until a request for `path` has arrived.
    pub async fn wait_for(&self, path: &str) {
        wait_until(&format!("a request for {path}"), async || {
            self.requests().iter().any(|p| p == path)
        })
        .await;
    }
}

/// Another site: a tiny HTTP server that answers every request with the
/// same HTML page, for tests of what a foreign page can do to Letterbox.
/// Its URL uses `localhost`, so it is another site than Letterbox's
/// `127.0.0.1`.
pub struct ForeignSite {
    pub base: String,
}

impl ForeignSite {
    pub async fn start(html: &'static str) -> ForeignSite {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the foreign site");
        let port = listener.local_addr().expect("an address").port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    // The request line and headers, up to the blank line.
                    let mut line = String::new();
                    while stream.read_line(&mut line).await.is_ok_and(|n| n > 0) {
                        if line == "\r\n" || line == "\n" {
                            break;
                        }
                        line.clear();
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{html}",
                        html.len()
                    );
                    let _ = stream.get_mut().write_all(response.as_bytes()).await;
                });
            }
        });
        ForeignSite {
            base: format!("http://localhost:{port}"),
        }
    }
}
