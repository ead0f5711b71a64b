//! POP3 (`--pop3`, `--pop3s`) from real clients: Python's `poplib` for
//! the protocol (USER/PASS, AUTH PLAIN, STAT, LIST, UIDL, TOP, RETR, STLS,
//! POP3S), a raw socket for what the bytes on the wire must be and for
//! hostile input, and Debian's `fetchmail` pulling the mail out for real.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::requires::skip;
use common::{Launch, Letterbox, TIMEOUT, TempDir, write_self_signed};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const LOGINS: &str = "alice:pw,billing:pw2";

fn with_pop3(extra: &[&str]) -> Letterbox {
    Launch::default()
        .args(&["--pop3", "127.0.0.1:0", "--pop3-auth", LOGINS])
        .args(extra)
        .start()
}

fn pop3_addr(lb: &Letterbox) -> SocketAddr {
    lb.pop3_addr.expect("the POP3 line in the start-up banner")
}

/// A message whose body has lines that start with `.`: byte-stuffed on
/// the wire, restored by the client.
const DOTTED: &[u8] = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: dots\r\n\
Message-ID: <dots@tests.example.com>\r\n\r\nfirst\r\n.second starts with a dot\r\n..\r\n.\r\nlast\r\n";

async fn send(lb: &Letterbox, data: &[u8]) -> String {
    lb.send_raw("a@example.com", &["b@example.com"], data).await
}

// ---------------------------------------------------------------------------
// Python's poplib
// ---------------------------------------------------------------------------

/// Runs a Python script with arguments and returns the JSON it prints;
/// `None` (after saying so) when python3 is missing outside CI.
fn python(test: &str, script: &str, args: &[String]) -> Option<Value> {
    let output = match Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
    {
        Ok(output) => output,
        Err(err) => {
            skip(
                test,
                &format!("python3 is not available ({err})"),
                "install python3",
            );
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}")))
}

const READ_ALL: &str = r#"
import base64, json, poplib, sys
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def joined(lines):
    return base64.b64encode(b"".join(line + b"\r\n" for line in lines)).decode()
p = poplib.POP3(host, port, timeout=20)
out = {"welcome": p.getwelcome().decode(), "capa": sorted(p.capa())}
p.user(user)
out["login"] = p.pass_(password).decode()
out["stat"] = list(p.stat())
out["list"] = [line.decode() for line in p.list()[1]]
out["uidl"] = [line.decode() for line in p.uidl()[1]]
out["uidl_2"] = p.uidl(2).decode() if out["stat"][0] >= 2 else ""
out["top"] = joined(p.top(1, 0)[1])
out["top_1"] = joined(p.top(1, 1)[1])
out["retr"] = []
for n in range(1, out["stat"][0] + 1):
    response, lines, octets = p.retr(n)
    out["retr"].append({"response": response.decode(), "octets": octets, "raw": joined(lines)})
out["quit"] = p.quit().decode()
print(json.dumps(out))
"#;

fn b64(value: &Value) -> Vec<u8> {
    B64.decode(value.as_str().expect("base64 text"))
        .expect("base64")
}

#[tokio::test]
async fn poplib_lists_and_retrieves_every_message_as_stored() {
    let lb = with_pop3(&[]);
    let first = send(&lb, &common::simple_message("first", "one")).await;
    let dotted = send(&lb, DOTTED).await;
    // Sent with bare LF line ends: stored so, sent with CRLF.
    let bare = send(&lb, b"Subject: bare\nMessage-ID: <bare@x>\n\nline\n.dot\n").await;
    let ids = [first.clone(), dotted.clone(), bare.clone()];
    let mut raws = Vec::new();
    for id in &ids {
        raws.push(lb.raw(id).await);
    }
    let addr = pop3_addr(&lb);
    let args = [
        addr.ip().to_string(),
        addr.port().to_string(),
        "alice".into(),
        "pw".into(),
    ];
    let Some(out) = python("poplib_reads", READ_ALL, &args) else {
        return;
    };

    assert!(out["welcome"].as_str().unwrap().starts_with("+OK"), "{out}");
    for capability in ["SASL", "TOP", "UIDL", "USER", "RESP-CODES", "PIPELINING"] {
        assert!(
            out["capa"].as_array().unwrap().contains(&capability.into()),
            "{out}"
        );
    }
    // No certificate: no STLS offered.
    assert!(
        !out["capa"].as_array().unwrap().contains(&"STLS".into()),
        "{out}"
    );
    assert!(
        out["login"].as_str().unwrap().contains("3 messages"),
        "{out}"
    );
    let total: usize = raws.iter().map(Vec::len).sum();
    assert_eq!(out["stat"], serde_json::json!([3, total]), "{out}");
    // Numbered oldest first; sizes and unique-ids are Letterbox's.
    let list: Vec<String> = (0..3)
        .map(|i| format!("{} {}", i + 1, raws[i].len()))
        .collect();
    assert_eq!(out["list"], serde_json::json!(list), "{out}");
    let uidl: Vec<String> = (0..3).map(|i| format!("{} {}", i + 1, ids[i])).collect();
    assert_eq!(out["uidl"], serde_json::json!(uidl), "{out}");
    assert_eq!(out["uidl_2"], format!("+OK 2 {dotted}"), "{out}");

    let header_end = raws[0].windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(
        b64(&out["top"]),
        &raws[0][..header_end],
        "TOP 1 0: the header and the blank line"
    );
    assert_eq!(
        b64(&out["top_1"]),
        [&raws[0][..header_end], b"one\r\n"].concat()
    );

    let retrieved = out["retr"].as_array().unwrap();
    for (i, raw) in raws.iter().enumerate().take(2) {
        assert_eq!(
            b64(&retrieved[i]["raw"]),
            *raw,
            "message {} byte for byte",
            i + 1
        );
        assert_eq!(retrieved[i]["octets"], raw.len(), "{out}");
        assert_eq!(
            retrieved[i]["response"],
            format!("+OK {} octets", raw.len())
        );
    }
    let crlf = String::from_utf8(raws[2].clone())
        .unwrap()
        .replace('\n', "\r\n");
    assert_eq!(
        b64(&retrieved[2]["raw"]),
        crlf.as_bytes(),
        "bare LF lines go out as CRLF"
    );
    assert_eq!(
        retrieved[2]["response"],
        format!("+OK {} octets", crlf.len())
    );
    // RETR does not delete, and QUIT without DELE deletes nothing.
    assert!(out["quit"].as_str().unwrap().starts_with("+OK"), "{out}");
    assert_eq!(lb.ids().await.len(), 3);
}

const LOGIN_FAILURES: &str = r#"
import base64, json, poplib, sys, time
host, port = sys.argv[1], int(sys.argv[2])
def attempt(send):
    started = time.monotonic()
    try:
        reply = send().decode()
    except poplib.error_proto as e:
        reply = e.args[0].decode()
    return {"reply": reply, "seconds": time.monotonic() - started}
p = poplib.POP3(host, port, timeout=20)
p.user("alice")
out = {"pass": attempt(lambda: p.pass_("wrong"))}
plain = base64.b64encode(b"\0alice\0nope").decode()
out["plain"] = attempt(lambda: p._shortcmd("AUTH PLAIN " + plain))
p.user("nobody")
out["third"] = attempt(lambda: p.pass_("pw"))
try:
    p.noop()
    out["after"] = "open"
except (poplib.error_proto, OSError) as e:
    out["after"] = "closed"
good = poplib.POP3(host, port, timeout=20)
out["good"] = good._shortcmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0pw").decode()).decode()
out["stat"] = list(good.stat())
good.quit()
print(json.dumps(out))
"#;

#[tokio::test]
async fn wrong_passwords_are_refused_slowly_and_auth_plain_logs_in() {
    let lb = with_pop3(&[]);
    send(&lb, DOTTED).await;
    let addr = pop3_addr(&lb);
    let args = [addr.ip().to_string(), addr.port().to_string()];
    let Some(out) = python("login_failures", LOGIN_FAILURES, &args) else {
        return;
    };
    for attempt in ["pass", "plain", "third"] {
        let reply = out[attempt]["reply"].as_str().unwrap();
        assert!(
            reply.starts_with("-ERR [AUTH] wrong user name or password"),
            "{out}"
        );
        assert!(
            out[attempt]["seconds"].as_f64().unwrap() >= 0.9,
            "answered after a delay: {out}"
        );
    }
    assert!(
        out["third"]["reply"].as_str().unwrap().contains("closing"),
        "{out}"
    );
    assert_eq!(out["after"], "closed", "{out}");
    assert!(
        out["good"]
            .as_str()
            .unwrap()
            .starts_with("+OK alice has 1 message"),
        "{out}"
    );
    assert_eq!(out["stat"][0], 1, "{out}");
}

const OVER_TLS: &str = r#"
import base64, json, poplib, ssl, sys
mode, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
context = ssl.create_default_context(cafile=cafile)
if mode == "stls":
    p = poplib.POP3("localhost", port, timeout=20)
    before = sorted(p.capa())
    p.stls(context)
else:
    p = poplib.POP3_SSL("localhost", port, context=context, timeout=20)
    before = sorted(p.capa())
after = sorted(p.capa())
login = p._shortcmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0pw").decode()).decode()
lines = p.retr(1)[1]
print(json.dumps({"before": before, "after": after, "login": login,
                  "tls": p.sock.version(), "raw": base64.b64encode(b"".join(l + b"\r\n" for l in lines)).decode(),
                  "quit": p.quit().decode()}))
"#;

#[tokio::test]
async fn stls_and_pop3s_with_the_test_certificate() {
    let dir = TempDir::new("pop3-tls");
    let (cert, key) = write_self_signed(&dir);
    // POP3 uses the SMTP certificate unless it is given its own.
    let lb = with_pop3(&[
        "--smtp-tls-cert",
        &cert,
        "--smtp-tls-key",
        &key,
        "--pop3s",
        "127.0.0.1:0",
    ]);
    let id = send(&lb, DOTTED).await;
    let raw = lb.raw(&id).await;
    let stls = [
        "stls".to_string(),
        pop3_addr(&lb).port().to_string(),
        cert.clone(),
    ];
    let Some(out) = python("stls", OVER_TLS, &stls) else {
        return;
    };
    assert!(
        out["before"].as_array().unwrap().contains(&"STLS".into()),
        "{out}"
    );
    assert!(
        !out["after"].as_array().unwrap().contains(&"STLS".into()),
        "{out}"
    );
    assert!(out["login"].as_str().unwrap().starts_with("+OK"), "{out}");
    assert!(out["tls"].as_str().unwrap().starts_with("TLSv1."), "{out}");
    assert_eq!(b64(&out["raw"]), raw);

    let pop3s = lb
        .pop3s_addr
        .expect("the POP3S line in the start-up banner");
    let implicit = ["pop3s".to_string(), pop3s.port().to_string(), cert];
    let Some(out) = python("pop3s", OVER_TLS, &implicit) else {
        return;
    };
    assert!(
        !out["before"].as_array().unwrap().contains(&"STLS".into()),
        "{out}"
    );
    assert_eq!(b64(&out["raw"]), raw);
    assert!(out["quit"].as_str().unwrap().starts_with("+OK"), "{out}");
}

// ---------------------------------------------------------------------------
// The wire, from a raw socket
// ---------------------------------------------------------------------------

struct Pop3 {
    stream: BufReader<TcpStream>,
}

impl Pop3 {
    async fn connect(addr: SocketAddr) -> Pop3 {
        let stream = TcpStream::connect(addr).await.expect("connecting to POP3");
        let mut pop3 = Pop3 {
            stream: BufReader::new(stream),
        };
        let greeting = pop3.line().await;
        assert!(greeting.starts_with("+OK"), "{greeting}");
        pop3
    }

    async fn login(addr: SocketAddr, user: &str, password: &str) -> Pop3 {
        let mut pop3 = Pop3::connect(addr).await;
        pop3.ok(&format!("USER {user}")).await;
        pop3.ok(&format!("PASS {password}")).await;
        pop3
    }

    /// One line, with its CRLF; empty when the server closed.
    async fn line(&mut self) -> String {
        let mut line = String::new();
        tokio::time::timeout(TIMEOUT, self.stream.read_line(&mut line))
            .await
            .expect("a POP3 reply in time")
            .expect("reading a POP3 reply");
        line
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream
            .get_mut()
            .write_all(bytes)
            .await
            .expect("sending");
    }

    async fn cmd(&mut self, command: &str) -> String {
        self.send(format!("{command}\r\n").as_bytes()).await;
        self.line().await
    }

    async fn ok(&mut self, command: &str) -> String {
        let reply = self.cmd(command).await;
        assert!(reply.starts_with("+OK"), "{command}: {reply}");
        reply
    }

    /// The lines of a multi-line reply as sent, up to the `.` line.
    async fn body(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line = self.line().await;
            assert!(!line.is_empty(), "the server closed in a multi-line reply");
            if line == ".\r\n" {
                return body;
            }
            body.extend_from_slice(line.as_bytes());
        }
    }

    async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        matches!(
            tokio::time::timeout(TIMEOUT, self.stream.read_to_end(&mut rest)).await,
            Ok(Ok(_))
        )
    }
}

#[tokio::test]
async fn lines_starting_with_a_dot_are_stuffed_on_the_wire() {
    let lb = with_pop3(&[]);
    send(&lb, DOTTED).await;
    let mut pop3 = Pop3::login(pop3_addr(&lb), "alice", "pw").await;
    let reply = pop3.ok("RETR 1").await;
    assert_eq!(reply, format!("+OK {} octets\r\n", DOTTED.len()));
    let expected = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: dots\r\n\
Message-ID: <dots@tests.example.com>\r\n\r\nfirst\r\n..second starts with a dot\r\n...\r\n..\r\nlast\r\n";
    assert_eq!(pop3.body().await, expected);
    pop3.ok("TOP 1 2").await;
    let top = pop3.body().await;
    assert!(
        top.ends_with(b"\r\n\r\nfirst\r\n..second starts with a dot\r\n"),
        "{}",
        String::from_utf8_lossy(&top)
    );
    pop3.ok("QUIT").await;
}

#[tokio::test]
async fn dele_deletes_on_quit_rset_unmarks_and_a_lost_session_deletes_nothing() {
    let lb = with_pop3(&[]);
    let mut ids = Vec::new();
    for n in 1..=4 {
        ids.push(send(&lb, &common::simple_message(&format!("m{n}"), "x")).await);
    }
    let addr = pop3_addr(&lb);

    // Dropped without QUIT: nothing deleted (RFC 1939 §6).
    let mut lost = Pop3::login(addr, "alice", "pw").await;
    lost.ok("DELE 1").await;
    // Hangs up and waits for the server to close its side: the session
    // is over, its maildrop free again.
    lost.stream.get_mut().shutdown().await.unwrap();
    assert!(lost.closed().await);

    let mut pop3 = Pop3::login(addr, "alice", "pw").await;
    pop3.ok("DELE 1").await;
    pop3.ok("DELE 2").await;
    assert!(
        pop3.cmd("DELE 2")
            .await
            .starts_with("-ERR message 2 is already deleted")
    );
    assert!(
        pop3.cmd("RETR 2")
            .await
            .starts_with("-ERR message 2 is already deleted")
    );
    assert_eq!(
        pop3.ok("STAT").await,
        format!(
            "+OK 2 {}\r\n",
            lb.raw(&ids[2]).await.len() + lb.raw(&ids[3]).await.len()
        )
    );
    assert!(pop3.ok("RSET").await.contains("4 messages"));
    pop3.ok("DELE 3").await;
    pop3.ok("LIST").await;
    let listed = String::from_utf8(pop3.body().await).unwrap();
    assert!(
        listed.starts_with("1 ") && !listed.contains("\n3 "),
        "{listed}"
    );
    // Marked, not yet deleted.
    assert_eq!(lb.ids().await.len(), 4);
    assert_eq!(pop3.ok("QUIT").await, "+OK bye, 1 message deleted\r\n");
    let mut left = lb.ids().await;
    left.sort();
    let mut expected = vec![ids[0].clone(), ids[1].clone(), ids[3].clone()];
    expected.sort();
    assert_eq!(left, expected, "only message 3 is gone");
}

#[tokio::test]
async fn a_login_reads_the_inbox_of_its_name_and_a_maildrop_is_locked() {
    let lb = with_pop3(&["--inbox", "billing=to:@billing.example.com"]);
    let bill = b"To: x@billing.example.com\r\nSubject: bill\r\n\r\n1\r\n";
    let billed = send(&lb, bill).await;
    send(&lb, &common::simple_message("other", "2")).await;
    let addr = pop3_addr(&lb);

    let mut billing = Pop3::login(addr, "billing", "pw2").await;
    billing.ok("UIDL").await;
    assert_eq!(billing.body().await, format!("1 {billed}\r\n").as_bytes());
    // One session per maildrop.
    let mut second = Pop3::connect(addr).await;
    second.ok("USER billing").await;
    let refused = second.cmd("PASS pw2").await;
    assert!(refused.starts_with("-ERR [IN-USE]"), "{refused}");
    billing.ok("QUIT").await;
    second.ok("USER billing").await;
    second.ok("PASS pw2").await;

    // No inbox is named alice: alice reads all mail.
    let mut alice = Pop3::login(addr, "alice", "pw").await;
    assert!(alice.ok("STAT").await.starts_with("+OK 2 "));
}

#[tokio::test]
async fn bad_input_gets_a_clear_err_and_too_much_of_it_closes() {
    let lb = with_pop3(&[]);
    let addr = pop3_addr(&lb);
    let mut pop3 = Pop3::connect(addr).await;
    assert_eq!(
        pop3.cmd("STAT").await,
        "-ERR log in first (USER and PASS, or AUTH PLAIN)\r\n"
    );
    assert_eq!(pop3.cmd("PASS pw").await, "-ERR send USER first\r\n");
    assert_eq!(
        pop3.cmd("XYZZY").await,
        "-ERR unknown command \"XYZZY\"\r\n"
    );
    assert_eq!(
        pop3.cmd("AUTH CRAM-MD5").await,
        "-ERR unsupported mechanism CRAM-MD5 (PLAIN is offered)\r\n"
    );
    assert_eq!(
        pop3.cmd("STLS").await,
        "-ERR STLS is not offered: Letterbox has no certificate for POP3\r\n"
    );
    let long = format!("USER {}\r\n", "x".repeat(100_000));
    pop3.send(long.as_bytes()).await;
    assert_eq!(
        pop3.line().await,
        "-ERR line too long (the limit is 2048 octets)\r\n"
    );
    pop3.ok("USER alice").await;
    pop3.ok("PASS pw").await;
    assert_eq!(
        pop3.cmd("RETR 1").await,
        "-ERR no message 1 (there are 0)\r\n"
    );
    assert_eq!(
        pop3.cmd("TOP 1 x").await,
        "-ERR TOP: \"x\" is not a number of lines\r\n"
    );
    assert_eq!(pop3.cmd("USER bob").await, "-ERR already logged in\r\n");
    // Twenty bad lines in all close the session.
    let mut closing = String::new();
    for _ in 0..20 {
        closing = pop3.cmd("NOPE").await;
        if closing.is_empty() || closing.contains("closing") {
            break;
        }
    }
    assert!(
        closing.contains("too many bad commands, closing"),
        "{closing}"
    );
    assert!(pop3.closed().await);
}

#[test]
fn pop3_without_logins_does_not_start() {
    let finished = Launch::default()
        .args(&["--pop3", "127.0.0.1:0"])
        .run_to_exit();
    assert!(!finished.status.success());
    assert!(
        finished.stderr.contains("needs logins: give --pop3-auth"),
        "{}",
        finished.stderr
    );
}

#[tokio::test]
async fn mailpit_variables_start_pop3() {
    let dir = TempDir::new("pop3-mailpit");
    let file = dir.file("logins");
    let hash = bcrypt::hash("hashed-pw", 4).unwrap();
    std::fs::write(&file, format!("# Mailpit's auth file\nalice:{hash}\n")).unwrap();
    let lb = Launch::default()
        .env("MP_POP3_BIND_ADDR", "127.0.0.1:0")
        .env("MP_POP3_AUTH_FILE", &file)
        .start();
    let mut pop3 = Pop3::connect(pop3_addr(&lb)).await;
    pop3.ok("USER alice").await;
    pop3.ok("PASS hashed-pw").await;
}

// ---------------------------------------------------------------------------
// fetchmail
// ---------------------------------------------------------------------------

/// fetchmail pulls every message over STLS (checking the test certificate)
/// into files through an MDA, and deletes them in Letterbox. Each file is
/// the message byte for byte, except that fetchmail hands an MDA lines
/// ending in LF (the local convention) where the message has CRLF; with
/// `--invisible` it adds no `Received:` header, and nothing else is added.
#[tokio::test]
async fn fetchmail_pulls_the_mail_over_stls_byte_for_byte() {
    if Command::new("fetchmail").arg("--version").output().is_err() {
        skip(
            "fetchmail",
            "fetchmail is not installed",
            "apt-get install -y fetchmail",
        );
        return;
    }
    let dir = TempDir::new("fetchmail");
    let (cert, key) = write_self_signed(&dir);
    let lb = with_pop3(&["--smtp-tls-cert", &cert, "--smtp-tls-key", &key]);
    let mut raws = Vec::new();
    for data in [
        DOTTED.to_vec(),
        common::simple_message("second", "two\r\n.three"),
    ] {
        let id = send(&lb, &data).await;
        raws.push(lb.raw(&id).await);
    }
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let rc = dir.file("fetchmailrc");
    let port = pop3_addr(&lb).port();
    std::fs::write(
        &rc,
        format!(
            "set no bouncemail\n\
             poll localhost service {port} protocol POP3 auth password\n  \
             user \"alice\" there with password \"pw\" is \"root\" here\n  \
             mda \"/bin/sh -c 'cat > {}/$$'\"\n  \
             fetchall no rewrite sslproto tls1.2+ sslcertck sslcertfile {cert}\n",
            out.display()
        ),
    )
    .unwrap();
    let mut permissions = std::fs::metadata(&rc).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o600);
    std::fs::set_permissions(&rc, permissions).unwrap();
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("fetchmail")
            .args(["-f", &rc, "--nodetach", "--invisible", "--nosyslog"])
            .env("HOME", dir.path())
            .output()
            .map(|output| (output, dir))
    })
    .await
    .unwrap()
    .expect("running fetchmail");
    let (output, _dir) = output;
    let log = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "fetchmail failed ({}): {log}",
        output.status
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    let mut pulled: Vec<Vec<u8>> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    let mut expected: Vec<Vec<u8>> = raws
        .iter()
        .map(|raw| {
            String::from_utf8(raw.clone())
                .unwrap()
                .replace("\r\n", "\n")
                .into_bytes()
        })
        .collect();
    pulled.sort();
    expected.sort();
    assert_eq!(pulled.len(), 2, "{log}");
    for (got, want) in pulled.iter().zip(&expected) {
        assert_eq!(
            String::from_utf8_lossy(got),
            String::from_utf8_lossy(want),
            "{log}"
        );
    }
    // fetchmail deletes what it fetched (no `keep`): gone from Letterbox.
    assert!(lb.ids().await.is_empty(), "{log}");
}

#[tokio::test]
async fn a_session_is_bounded_in_commands_and_idle_time() {
    let lb = with_pop3(&["--pop3-idle-timeout", "1s", "--pop3-max-messages", "1"]);
    let addr = pop3_addr(&lb);
    let mut pop3 = Pop3::login(addr, "alice", "pw").await;
    // 1,000 commands, or 8 for each message a maildrop may hold if more.
    pop3.send("NOOP\r\n".repeat(1000).as_bytes()).await;
    let mut answered = 2; // USER and PASS
    loop {
        let reply = pop3.line().await;
        if reply != "+OK\r\n" {
            assert_eq!(reply, "-ERR too many commands in one session, closing\r\n");
            break;
        }
        answered += 1;
    }
    assert_eq!(answered, 1000);
    assert!(pop3.closed().await);

    let mut idle = Pop3::connect(addr).await;
    let started = Instant::now();
    assert_eq!(idle.line().await, "-ERR idle for too long, closing\r\n");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(idle.closed().await);
}

#[tokio::test]
async fn shutdown_tells_an_idle_session_and_deletes_nothing_it_marked() {
    let dir = TempDir::new("pop3-shutdown");
    let db = dir.file("letterbox.db");
    let mut lb = with_pop3(&["--db", &db]);
    send(&lb, DOTTED).await;
    let mut pop3 = Pop3::login(pop3_addr(&lb), "alice", "pw").await;
    pop3.ok("DELE 1").await;
    lb.send_sigterm();
    assert_eq!(
        pop3.line().await,
        "-ERR [SYS/TEMP] Letterbox is shutting down, try again later\r\n"
    );
    assert!(pop3.closed().await);
    assert!(lb.wait_exit().success());
    let again = with_pop3(&["--db", &db]);
    assert_eq!(again.ids().await.len(), 1, "no QUIT, no delete");
}
