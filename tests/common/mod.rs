//! Shared fixture and helpers for the black-box tests: every test starts the
//! real `letterbox` binary on free ports and talks to it over real sockets.

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

pub mod nodes;
pub mod npm;
pub mod postgres;
pub mod requires;

use std::io::{BufRead, BufReader as StdBufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{DigitallySignedStruct, SignatureScheme};

/// Upper bound for anything we wait on: start-up, one SMTP reply, a condition
/// polled through the API. Generous, so a loaded machine does not flake.
pub const TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "letterbox-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("creating a temporary directory");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path of `name` in this directory, as a string for a flag value.
    pub fn file(&self, name: &str) -> String {
        let path = self.0.join(name);
        path.to_str().expect("a UTF-8 temporary path").to_string()
    }
}

/// Writes a self-signed certificate for `localhost` and its key to `dir`
/// as `cert.pem` and `key.pem`; returns their paths.
pub fn write_self_signed(dir: &TempDir) -> (String, String) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("generating a certificate");
    let (cert, key) = (dir.file("cert.pem"), dir.file("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).expect("writing cert.pem");
    std::fs::write(&key, generated.signing_key.serialize_pem()).expect("writing key.pem");
    (cert, key)
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// The running binary
// ---------------------------------------------------------------------------

/// A running `letterbox` process, killed when dropped.
pub struct Letterbox {
    child: Child,
    pub smtp_addr: SocketAddr,
    pub smtps_addr: Option<SocketAddr>,
    /// The web base URL without a trailing slash: `http://127.0.0.1:PORT`,
    /// plus the webroot if one was set (`.../mail`).
    pub http: String,
    /// The web listener's address.
    pub http_addr: SocketAddr,
    /// The `--metrics` listener's address, if one was asked for.
    pub metrics_addr: Option<SocketAddr>,
    /// The `--pop3` and `--pop3s` listeners' addresses, if asked for.
    pub pop3_addr: Option<SocketAddr>,
    pub pop3s_addr: Option<SocketAddr>,
    /// Lines of stdout not consumed during start-up (e.g. `Store ...`).
    stdout: mpsc::Receiver<String>,
    stderr_log: PathBuf,
    client: reqwest::Client,
    /// Holds the stderr log and, unless `--db` was given, the database;
    /// removed after the process is killed.
    _dir: TempDir,
}

/// How to start the binary: arguments, environment, and optionally a
/// wrapper command (such as `chroot`) that runs it.
pub struct Launch {
    program: PathBuf,
    /// Arguments that come before ours (the wrapper's own).
    wrapper_args: Vec<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    clear_env: bool,
}

impl Default for Launch {
    fn default() -> Self {
        Launch {
            program: PathBuf::from(env!("CARGO_BIN_EXE_letterbox")),
            wrapper_args: Vec::new(),
            args: Vec::new(),
            env: Vec::new(),
            clear_env: false,
        }
    }
}

/// A process that exited: its status and what it printed.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Launch {
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// Start from an empty environment (plus what [`Self::env`] adds), as a
    /// container image's entrypoint does.
    pub fn clear_env(mut self) -> Self {
        self.clear_env = true;
        self
    }

    /// Runs the binary through `program wrapper_args... <letterbox args>`,
    /// e.g. `chroot --userspec=65532:65532 ROOT /letterbox`.
    pub fn via(mut self, program: &str, wrapper_args: &[&str]) -> Self {
        self.program = PathBuf::from(program);
        self.wrapper_args = wrapper_args.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Whether a flag, or one of the variables that stand for it, is set.
    fn given(&self, flag: &str, env: &[&str]) -> bool {
        self.args
            .iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
            || self
                .env
                .iter()
                .any(|(name, _)| env.contains(&name.as_str()))
    }

    /// The command, with free loopback ports and a database in `dir`
    /// unless the arguments or environment choose their own.
    fn command(&self, dir: &TempDir, stderr: Stdio) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.wrapper_args);
        for (flag, env) in [
            ("--smtp", ["LETTERBOX_SMTP", "MP_SMTP_BIND_ADDR"]),
            ("--http", ["LETTERBOX_HTTP", "MP_UI_BIND_ADDR"]),
        ] {
            if !self.given(flag, &env) {
                command.args([flag, "127.0.0.1:0"]);
            }
        }
        if !self.given("--db", &["LETTERBOX_DB", "MP_DATABASE"]) {
            command.arg("--db").arg(dir.path().join("letterbox.db"));
        }
        command.args(&self.args);
        if self.clear_env {
            command.env_clear();
        } else {
            without_configuration_env(&mut command);
        }
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        command
    }

    /// Runs a process that is expected to exit by itself (e.g. on bad
    /// configuration) and returns what it printed.
    pub fn run_to_exit(&self) -> Finished {
        let dir = TempDir::new("exit");
        let mut child = self
            .command(&dir, Stdio::piped())
            .spawn()
            .expect("starting the letterbox binary");
        let deadline = Instant::now() + TIMEOUT;
        while child.try_wait().expect("waiting for letterbox").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("letterbox {:?} did not exit by itself", self.args);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("collecting the output");
        Finished {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Starts the server and waits until it reports its addresses.
    pub fn start(self) -> Letterbox {
        let dir = TempDir::new("run");
        let stderr_log = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_log).expect("creating the stderr log");
        let mut child = self
            .command(&dir, stderr.into())
            .spawn()
            .expect("starting the letterbox binary");

        let (tx, stdout) = mpsc::channel();
        let out = child.stdout.take().expect("stdout is piped");
        std::thread::spawn(move || {
            for line in StdBufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });

        let deadline = Instant::now() + TIMEOUT;
        let (mut smtp, mut smtps, mut web, mut metrics) = (None, None, None, None);
        let (mut pop3, mut pop3s) = (None, None);
        while web.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match stdout.recv_timeout(left) {
                Ok(line) => line,
                Err(err) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    panic!(
                        "letterbox did not report its Web address ({err:?}, exit {status:?}); stderr:\n{}",
                        read_tail(&stderr_log)
                    );
                }
            };
            let mut words = line.split_whitespace();
            let (Some(label), Some(value)) = (words.next(), words.next()) else {
                continue;
            };
            match label {
                "SMTP" => smtp = Some(parse_addr(value)),
                "SMTPS" => smtps = Some(parse_addr(value)),
                "Metrics" => metrics = Some(parse_addr(value)),
                "POP3" => pop3 = Some(parse_addr(value)),
                "POP3S" => pop3s = Some(parse_addr(value)),
                "Web" => web = Some(value.trim_end_matches('/').to_string()),
                _ => {}
            }
        }
        let web = web.expect("loop ends once it is set");
        Letterbox {
            child,
            smtp_addr: smtp.expect("the SMTP line comes before the Web line"),
            smtps_addr: smtps,
            http_addr: parse_addr(&web),
            metrics_addr: metrics,
            pop3_addr: pop3,
            pop3s_addr: pop3s,
            http: web,
            stdout,
            stderr_log,
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(TIMEOUT)
                .build()
                .expect("building the HTTP client"),
            _dir: dir,
        }
    }
}

/// Removes the variables that configure Letterbox (and the log level) from
/// the environment `command` inherits: only explicit flags and variables
/// configure what a test runs.
pub fn without_configuration_env(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("LETTERBOX_") || text.starts_with("MP_") {
            command.env_remove(name);
        }
    }
    command.env_remove("RUST_LOG").env("NO_COLOR", "1")
}

/// Runs `command` to its end with `stdin` as input (bounded by
/// [`TIMEOUT`]) and returns what it printed.
pub fn run_with_input(command: &mut Command, stdin: &[u8]) -> Finished {
    use std::io::Write as _;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // A process that exits early closes its stdin; that is its business.
        let _ = input.write_all(&stdin);
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx
        .recv_timeout(TIMEOUT)
        .unwrap_or_else(|_| panic!("{command:?} did not finish"))
        .expect("collecting the output");
    let _ = writer.join();
    Finished {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The binary run as a helper command (`healthcheck`, `sendmail`, ...),
/// with a clean configuration environment.
pub fn letterbox_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_letterbox"));
    command.args(args);
    without_configuration_env(&mut command);
    command
}

/// The socket address in `127.0.0.1:25`, `http://127.0.0.1:80/path` and the
/// like.
fn parse_addr(text: &str) -> SocketAddr {
    let rest = text.split_once("://").map_or(text, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .parse()
        .unwrap_or_else(|e| panic!("bad address in {text:?}: {e}"))
}

impl Letterbox {
    /// Starts with a private throw-away database.
    pub fn start() -> Letterbox {
        Launch::default().start()
    }

    /// Starts with extra command-line arguments. Unless they include `--db`,
    /// the database lives in a temporary directory removed on drop.
    pub fn with_args(args: &[&str]) -> Letterbox {
        Launch::default().args(args).start()
    }

    /// The next stdout line after the start-up lines already read.
    pub fn next_stdout_line(&self) -> Option<String> {
        self.stdout.recv_timeout(TIMEOUT).ok()
    }

    /// The server's log so far.
    pub fn stderr(&self) -> String {
        read_tail(&self.stderr_log)
    }

    /// The server's process ID (for `/proc/PID/status` and the like).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to clean up. Waits until the process is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (up to [`TIMEOUT`]) for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait_exit()
    }

    /// Sends SIGTERM and returns at once.
    pub fn send_sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits (up to [`TIMEOUT`]) for the process to exit by itself.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for letterbox") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "letterbox did not exit; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The HTTP client the helpers use (no proxy, [`TIMEOUT`]).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    // ---- SMTP ----

    /// A raw SMTP connection whose greeting has been read.
    pub async fn smtp(&self) -> Smtp {
        Smtp::connect(self.smtp_addr).await
    }

    /// A raw SMTP connection after a successful `EHLO`.
    pub async fn session(&self) -> Smtp {
        let mut smtp = self.smtp().await;
        smtp.ehlo().await;
        smtp
    }

    /// Sends one message on a new connection (EHLO, MAIL, RCPT..., DATA with
    /// dot-stuffing, QUIT) and returns the ID it was queued under.
    pub async fn send_raw(&self, from: &str, rcpts: &[&str], data: &[u8]) -> String {
        let mut smtp = self.session().await;
        let id = smtp.send_message(from, rcpts, data).await;
        smtp.quit().await;
        id
    }

    /// [`Self::send_raw`] with a simple generated message.
    pub async fn send_simple(&self, subject: &str) -> String {
        self.send_raw(
            "sender@example.com",
            &["rcpt@example.com"],
            &simple_message(subject, "Hello from the tests."),
        )
        .await
    }

    /// Sends `n` simple messages with subjects `m0`, `m1`, ... and returns
    /// their IDs in sending order.
    pub async fn send_numbered(&self, n: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            ids.push(self.send_simple(&format!("m{i}")).await);
        }
        ids
    }

    // ---- HTTP ----

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// GET with Basic credentials.
    pub async fn get_with_login(
        &self,
        path: &str,
        user: &str,
        password: &str,
    ) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .basic_auth(user, Some(password))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} as {user}: {e}"))
    }

    /// GET returning the status and the JSON body (which must be JSON).
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        json_of(path, self.get(path).await).await
    }

    /// GET that must answer 200 with JSON.
    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, json) = self.get_json(path).await;
        assert_eq!(status, 200, "GET {path}: {json}");
        json
    }

    /// `DELETE /api/v1/messages` with an optional body; status and body text.
    pub async fn delete_messages(&self, body: Option<&str>) -> (u16, String) {
        let mut request = self.client.delete(self.url("/api/v1/messages"));
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("DELETE /api/v1/messages");
        let status = response.status().as_u16();
        (status, response.text().await.expect("reading the body"))
    }

    /// Every listed message, newest first (up to 1000), with Letterbox's
    /// additions (each summary's `Inbox`).
    pub async fn list(&self) -> Value {
        self.get_ok("/api/v1/messages?limit=1000&additions=1").await
    }

    /// IDs of every listed message, newest first.
    pub async fn ids(&self) -> Vec<String> {
        ids_of(&self.list().await)
    }

    /// A message with Letterbox's additions (`Envelope`, `Problems`, ...).
    pub async fn message(&self, id: &str) -> Value {
        self.get_ok(&format!("/api/v1/message/{id}?additions=1"))
            .await
    }

    /// The raw bytes of a message (must exist).
    pub async fn raw(&self, id: &str) -> Vec<u8> {
        let path = format!("/api/v1/message/{id}/raw");
        let response = self.get(&path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.bytes().await.expect("reading raw bytes").to_vec()
    }

    /// Waits until exactly one message is stored (one relayed here, say)
    /// and returns it.
    pub async fn the_one_message(&self) -> Value {
        let list = self.wait_for_total(1).await;
        self.message(&ids_of(&list)[0]).await
    }

    /// Polls the list until `total` is `n` (for effects that follow the 250,
    /// such as pruning).
    pub async fn wait_for_total(&self, n: u64) -> Value {
        eventually(&format!("total becomes {n}"), async || {
            let list = self.list().await;
            (list["total"] == n).then_some(list)
        })
        .await
    }
}

/// Polls `check` until it gives a value, for effects that follow an
/// action asynchronously; fails after [`TIMEOUT`], saying what never
/// happened.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Drop for Letterbox {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("---- letterbox stderr ----\n{}", self.stderr());
        }
    }
}

/// The end of a log file (the whole of a small one).
fn read_tail(path: &Path) -> String {
    const TAIL: usize = 16 * 1024;
    let mut bytes = Vec::new();
    if let Ok(mut file) = std::fs::File::open(path) {
        let _ = file.read_to_end(&mut bytes);
    }
    let start = bytes.len().saturating_sub(TAIL);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// The status and JSON body of a response, which must be JSON.
pub async fn json_of(what: &str, response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response.bytes().await.expect("reading the body");
    let json = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "{what}: status {status}, body is not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content type {content_type:?}"
    );
    (status, json)
}

/// Asserts the `Envelope` of a message sent in the clear by the raw client.
#[track_caller]
pub fn assert_plain_envelope(envelope: &Value, from: &str, rcpts: &[&str]) {
    assert_eq!(envelope["MailFrom"], from, "{envelope}");
    assert_eq!(envelope["RcptTo"], serde_json::json!(rcpts), "{envelope}");
    assert_eq!(envelope["Helo"], "client.example.com", "{envelope}");
    assert_eq!(envelope["TLS"], false, "{envelope}");
}

/// The `ID`s of a message list, in order.
pub fn ids_of(list: &Value) -> Vec<String> {
    list["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages array in {list}"))
        .iter()
        .map(|m| m["ID"].as_str().expect("ID is a string").to_string())
        .collect()
}

/// A small well-formed message with CRLF line endings.
pub fn simple_message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.com>\r\n\
         To: Recipient <rcpt@example.com>\r\n\
         Subject: {subject}\r\n\
         Date: Tue, 01 Jul 2025 10:00:00 +0000\r\n\
         Message-ID: <{}@tests.example.com>\r\n\
         \r\n\
         {body}\r\n",
        subject.replace(' ', ".")
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------
// The shared MIME corpus
// ---------------------------------------------------------------------------

/// `$LETTERBOX_CORPUS`, or `shared/corpus` next to the crate.
pub fn corpus_dir() -> PathBuf {
    std::env::var_os("LETTERBOX_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

/// Every `*.eml` file of the corpus, sorted; `None` (after saying so) when
/// the corpus is not there, as on a fresh clone without `../shared`.
pub fn corpus_files(test: &str) -> Option<Vec<PathBuf>> {
    let dir = corpus_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) => {
            requires::skip(
                test,
                &format!("the MIME corpus {} is unreadable ({err})", dir.display()),
                "put the shared corpus beside the clone or set LETTERBOX_CORPUS",
            );
            return None;
        }
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("reading the corpus directory").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no *.eml files in the corpus directory {}",
        dir.display()
    );
    Some(files)
}

/// A corpus file as stored: its file name, ID and the bytes sent.
pub struct CorpusMessage {
    pub name: String,
    pub id: String,
    pub data: Vec<u8>,
}

/// Sends every corpus file over one SMTP session (a fresh one after a
/// refusal). Returns what was stored and a line per file that was refused.
pub async fn send_corpus(lb: &Letterbox, files: &[PathBuf]) -> (Vec<CorpusMessage>, Vec<String>) {
    let mut failures = Vec::new();
    let mut sent = Vec::new();
    let mut smtp = lb.session().await;
    for file in files {
        let name = file
            .file_name()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        let data = std::fs::read(file).expect("reading a corpus file");
        let mail = "MAIL FROM:<corpus@example.com> BODY=8BITMIME";
        match smtp
            .try_send_message(mail, &["rcpt@example.com"], &data)
            .await
        {
            Ok(id) => sent.push(CorpusMessage { name, id, data }),
            Err(err) => {
                failures.push(format!("{name}: SMTP: {err}"));
                // Carry on with a fresh connection.
                smtp = lb.session().await;
            }
        }
    }
    smtp.quit().await;
    (sent, failures)
}

// ---------------------------------------------------------------------------
// A raw SMTP client
// ---------------------------------------------------------------------------

/// One SMTP reply: its code and the text of each line (after `250-`/`250 `).
#[derive(Debug, Clone)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// All lines, joined by newlines.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// Asserts the code and that the (first line's) text starts with
    /// `prefix`, e.g. an enhanced status code.
    #[track_caller]
    pub fn assert(&self, code: u16, prefix: &str) -> &Self {
        assert!(
            self.code == code && self.lines[0].starts_with(prefix),
            "expected {code} {prefix}..., got {self:?}"
        );
        self
    }
}

/// The stream types the raw client runs over (plain TCP or TLS).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A raw SMTP client: exact bytes out, parsed replies in.
pub struct Smtp<S = TcpStream> {
    stream: BufReader<S>,
}

impl Smtp<TcpStream> {
    /// Connects without reading the greeting.
    pub async fn connect_raw(addr: SocketAddr) -> Smtp {
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connecting timed out")
            .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        Smtp {
            stream: BufReader::new(stream),
        }
    }

    /// Connects and reads the `220` greeting.
    pub async fn connect(addr: SocketAddr) -> Smtp {
        let mut smtp = Smtp::connect_raw(addr).await;
        let greeting = smtp.reply().await;
        assert_eq!(greeting.code, 220, "greeting: {greeting:?}");
        smtp
    }

    /// Sends `STARTTLS`, expects `220` and runs the TLS handshake (the
    /// server's certificate is not checked).
    pub async fn starttls(mut self) -> Smtp<tokio_rustls::client::TlsStream<TcpStream>> {
        self.cmd("STARTTLS").await.assert(220, "2.0.0");
        self.upgrade().await
    }

    /// Runs a TLS handshake on the connection as it stands.
    pub async fn upgrade(self) -> Smtp<tokio_rustls::client::TlsStream<TcpStream>> {
        assert!(
            self.stream.buffer().is_empty(),
            "the server sent data before the TLS handshake"
        );
        let tls = tokio::time::timeout(TIMEOUT, tls_connect(self.stream.into_inner()))
            .await
            .expect("TLS handshake timed out")
            .expect("TLS handshake");
        Smtp {
            stream: BufReader::new(tls),
        }
    }
}

impl<S: Stream> Smtp<S> {
    /// Writes bytes exactly as given.
    pub async fn send(&mut self, bytes: &[u8]) {
        let stream = self.stream.get_mut();
        stream.write_all(bytes).await.expect("writing to SMTP");
        stream.flush().await.expect("flushing SMTP");
    }

    /// Reads one reply; `None` if the server closed the connection first.
    pub async fn try_reply(&mut self) -> Option<Reply> {
        let mut reply = Reply {
            code: 0,
            lines: Vec::new(),
        };
        loop {
            let mut line = Vec::new();
            let n = tokio::time::timeout(TIMEOUT, self.stream.read_until(b'\n', &mut line))
                .await
                .expect("timed out waiting for an SMTP reply")
                .expect("reading an SMTP reply");
            if n == 0 {
                assert!(reply.lines.is_empty(), "connection closed mid-reply");
                return None;
            }
            let line = String::from_utf8(line).expect("replies are UTF-8");
            let line = line
                .strip_suffix("\r\n")
                .unwrap_or_else(|| panic!("reply line without CRLF: {line:?}"));
            let code: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("malformed reply line {line:?}"));
            assert!(
                reply.lines.is_empty() || code == reply.code,
                "reply code changed mid-reply: {line:?}"
            );
            reply.code = code;
            let separator = line.as_bytes().get(3).copied();
            reply.lines.push(line.get(4..).unwrap_or("").to_string());
            match separator {
                Some(b'-') => continue,
                None | Some(b' ') => return Some(reply),
                Some(other) => panic!("bad separator {:?} in {line:?}", other as char),
            }
        }
    }

    /// Reads one reply; the connection must still be open.
    pub async fn reply(&mut self) -> Reply {
        self.try_reply()
            .await
            .expect("connection closed while waiting for a reply")
    }

    /// Sends one command line (CRLF appended) and reads its reply.
    pub async fn cmd(&mut self, line: &str) -> Reply {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Sends one command line and asserts the reply's code and the start of
    /// its text (usually the enhanced status code).
    pub async fn expect(&mut self, line: &str, code: u16, prefix: &str) -> Reply {
        let reply = self.cmd(line).await;
        reply.assert(code, prefix);
        reply
    }

    /// Reads one reply per `(code, prefix)`, in order, asserting each.
    pub async fn expect_replies(&mut self, expected: &[(u16, &str)]) {
        for &(code, prefix) in expected {
            self.reply().await.assert(code, prefix);
        }
    }

    /// `EHLO`, which must succeed; returns the extension lines.
    pub async fn ehlo(&mut self) -> Reply {
        let reply = self.cmd("EHLO client.example.com").await;
        assert_eq!(reply.code, 250, "EHLO: {reply:?}");
        reply
    }

    /// `QUIT`: expects `221` and the server closing the connection.
    pub async fn quit(&mut self) {
        self.cmd("QUIT").await.assert(221, "2.0.0");
        self.expect_closed().await;
    }

    /// The server must close the connection without sending anything more.
    pub async fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        tokio::time::timeout(TIMEOUT, self.stream.read_to_end(&mut rest))
            .await
            .expect("the server did not close the connection")
            .ok();
        assert!(
            rest.is_empty(),
            "unexpected data before close: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// `MAIL FROM:<from>` and `RCPT TO:` for each recipient, all accepted.
    pub async fn envelope(&mut self, from: &str, rcpts: &[&str]) {
        self.cmd(&format!("MAIL FROM:<{from}>"))
            .await
            .assert(250, "2.1.0");
        for rcpt in rcpts {
            self.cmd(&format!("RCPT TO:<{rcpt}>"))
                .await
                .assert(250, "2.1.5");
        }
    }

    /// [`Self::envelope`] and `DATA`, answered with `354`.
    pub async fn start_data(&mut self, from: &str, rcpts: &[&str]) {
        self.envelope(from, rcpts).await;
        self.cmd("DATA").await.assert(354, "");
    }

    /// Sends a short message from `a@example.com` to `b@example.com` with
    /// this subject; returns its ID.
    pub async fn send_note(&mut self, subject: &str) -> String {
        let data = format!("Subject: {subject}\r\n\r\nx\r\n");
        self.send_message("a@example.com", &["b@example.com"], data.as_bytes())
            .await
    }

    /// MAIL, RCPT for each recipient, DATA with the message dot-stuffed, and
    /// returns the queued ID. EHLO must have been done.
    pub async fn send_message(&mut self, from: &str, rcpts: &[&str], data: &[u8]) -> String {
        self.try_send_message(&format!("MAIL FROM:<{from}>"), rcpts, data)
            .await
            .unwrap_or_else(|err| panic!("sending a message: {err}"))
    }

    /// Like [`Self::send_message`] with a whole MAIL command line, but an
    /// unexpected reply or a closed connection is returned as an error.
    pub async fn try_send_message(
        &mut self,
        mail: &str,
        rcpts: &[&str],
        data: &[u8],
    ) -> Result<String, String> {
        let mut expect = async |line: Option<&str>, code: u16| {
            if let Some(line) = line {
                self.send(format!("{line}\r\n").as_bytes()).await;
            }
            match self.try_reply().await {
                Some(reply) if reply.code == code => Ok(reply),
                Some(reply) => Err(format!("{line:?}: expected {code}, got {reply:?}")),
                None => Err(format!("{line:?}: connection closed")),
            }
        };
        expect(Some(mail), 250).await?;
        for rcpt in rcpts {
            expect(Some(&format!("RCPT TO:<{rcpt}>")), 250).await?;
        }
        expect(Some("DATA"), 354).await?;
        self.send(&data_payload(data)).await;
        let reply = self
            .try_reply()
            .await
            .ok_or("connection closed after the message content")?;
        match reply.lines[0].strip_prefix("2.0.0 Ok: queued as ") {
            Some(id) if reply.code == 250 && id.len() == 26 => Ok(id.to_string()),
            _ => Err(format!("after the message content: {reply:?}")),
        }
    }
}

/// The ID in a `250 2.0.0 Ok: queued as <ID>` reply.
#[track_caller]
pub fn queued_id(reply: &Reply) -> String {
    reply.assert(250, "2.0.0 Ok: queued as ");
    let id = reply.lines[0]
        .rsplit(' ')
        .next()
        .expect("split yields one item")
        .to_string();
    assert_eq!(id.len(), 26, "not a ULID: {id:?}");
    id
}

/// What a DATA client transmits for `data`: lines starting with `.` get an
/// extra `.`, CRLF is added where the `.` line would not end the data
/// otherwise (see `stored_suffix`), then the `.` line. Lines end at LF, as
/// the server sees them.
pub fn data_payload(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 5);
    let mut line_start = true;
    for &b in data {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    out.extend_from_slice(stored_suffix(data));
    out.extend_from_slice(b".\r\n");
    out
}

/// What the server must store for `data` sent with [`data_payload`]: the
/// bytes themselves, plus the CRLF the client added if they lacked a final
/// line break.
pub fn expected_stored(data: &[u8]) -> Vec<u8> {
    [data, stored_suffix(data)].concat()
}

fn stored_suffix(data: &[u8]) -> &'static [u8] {
    // After a bare LF, `.\r\n` ends the data only while no line has ended
    // with CRLF (the server's rule against SMTP smuggling): mixed data
    // ending in a bare LF needs a CRLF line before the dot.
    let mixed = data.windows(2).any(|w| w == b"\r\n");
    if data.is_empty() || data.ends_with(b"\r\n") || (data.ends_with(b"\n") && !mixed) {
        b""
    } else {
        b"\r\n"
    }
}

// ---------------------------------------------------------------------------
// TLS without certificate checks (the server's certificate is self-signed)
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS client handshake over `stream` that accepts any certificate.
async fn tls_connect(
    stream: TcpStream,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("localhost").expect("a valid name");
    connector.connect(name, stream).await
}

/// Connects to an implicit-TLS (SMTPS) port and reads the greeting.
pub async fn connect_smtps(addr: SocketAddr) -> Smtp<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut smtp = Smtp::connect_raw(addr).await.upgrade().await;
    smtp.reply().await.assert(220, "");
    smtp
}

/// `GET path` over HTTPS (any certificate accepted) with HTTP/1.1 and
/// `Connection: close`; returns the status and the body. reqwest here is
/// built without TLS, so this speaks the protocol by hand.
pub async fn https_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let stream = TcpStream::connect(addr)
        .await
        .expect("connecting for HTTPS");
    let mut tls = tokio::time::timeout(TIMEOUT, tls_connect(stream))
        .await
        .expect("TLS handshake timed out")
        .expect("TLS handshake");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes())
        .await
        .expect("sending the request");
    let mut response = Vec::new();
    // A server may close without TLS close_notify once the body is sent.
    let _ = tokio::time::timeout(TIMEOUT, tls.read_to_end(&mut response))
        .await
        .expect("reading the HTTPS response timed out");
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, body.to_string())
}

// ---------------------------------------------------------------------------
// The CI API: any method and body, search, send
// ---------------------------------------------------------------------------

impl Letterbox {
    fn request_builder(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let verb = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = self.client.request(verb, self.url(path));
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        request
    }

    /// Any request, with an optional body sent as JSON exactly as given (so
    /// malformed bodies can be sent too); the status and the body text.
    pub async fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let response = self
            .request_builder(method, path, body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.text().await.expect("reading the body"))
    }

    /// A request that must succeed with `200` and Mailpit's `ok`, as every
    /// `PUT` and `DELETE` of Mailpit's API answers.
    pub async fn request_ok(&self, method: &str, path: &str, body: &Value) {
        let (status, text) = self.request(method, path, Some(&body.to_string())).await;
        assert_eq!(
            (status, text.as_str()),
            (200, "ok"),
            "{method} {path} {body}"
        );
    }

    /// A request that must answer JSON; the status and the JSON.
    pub async fn request_json(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let what = format!("{method} {path}");
        let response = self
            .request_builder(method, path, body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        json_of(&what, response).await
    }

    /// A request that must fail with `status` and a JSON `{"Error": "..."}`
    /// with some text; returns that text.
    pub async fn request_err(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        status: u16,
    ) -> String {
        let (got, json) = self.request_json(method, path, body).await;
        assert_eq!(got, status, "{method} {path} {body:?}: {json}");
        match json["Error"].as_str() {
            Some(text) if !text.is_empty() => text.to_string(),
            _ => panic!("{method} {path}: no Error text in {json}"),
        }
    }

    /// `GET /api/v1/search` for `query` (up to 1000 matches), which must answer 200.
    pub async fn search(&self, query: &str) -> Value {
        self.get_ok(&format!(
            "/api/v1/search?limit=1000&query={}",
            letterbox::client::http::encode(query)
        ))
        .await
    }

    /// The IDs that match `query`, newest first.
    pub async fn search_ids(&self, query: &str) -> Vec<String> {
        ids_of(&self.search(query).await)
    }

    /// `POST /api/v1/send`, which must succeed; returns the new message's ID.
    pub async fn send_api(&self, body: &Value) -> String {
        let (status, json) = self
            .request_json("POST", "/api/v1/send", Some(&body.to_string()))
            .await;
        assert_eq!(status, 200, "POST /api/v1/send {body}: {json}");
        json["ID"]
            .as_str()
            .unwrap_or_else(|| panic!("no ID in {json}"))
            .to_string()
    }
}

/// The next event of type `kind` on a WebSocket of `/api/events`, skipping
/// others (such as `stats`); fails after [`TIMEOUT`].
pub async fn next_event<S>(socket: &mut S, kind: &str) -> serde_json::Value
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    loop {
        let frame = tokio::time::timeout(TIMEOUT, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} event"))
            .expect("the socket is open")
            .expect("a frame");
        let tokio_tungstenite::tungstenite::Message::Text(text) = frame else {
            continue;
        };
        let event: serde_json::Value = serde_json::from_str(&text).expect("events are JSON");
        if event["Type"] == kind {
            return event;
        }
    }
}

/// The value of the Prometheus sample `name` (with its labels, if any) in `text`.
#[track_caller]
pub fn metric_sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}
