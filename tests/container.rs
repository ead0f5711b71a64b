//! The container image, without a Docker engine: the Dockerfile's final
//! stage says what the README promises, and the static binary it ships
//! runs the way `FROM scratch` runs it — in an empty root (no /etc, no
//! shell, no CA files, no passwd) as uid 65532, with the image's
//! environment — starts, accepts mail and passes its health check.
//!
//! The static binary is built by `.ci/run` (as the Dockerfile builds it)
//! and named by `LETTERBOX_TEST_STATIC_BIN`. Without it, or without root
//! for chroot, the tests say so and skip; under CI they fail instead.

mod common;

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Launch, TempDir, requires, run_with_input};

/// The uid:gid the image runs as.
const IMAGE_USER: &str = "65532:65532";
/// "Keep it under 12 MB" (issue 16, which let the image grow by the
/// checks' image decoders and HTML/CSS tokenizers, about 2 MB): the binary
/// is all of it but two empty folders.
const MAX_IMAGE_BYTES: u64 = 12_000_000;

fn dockerfile() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The instructions of the final stage, continuation lines joined.
fn final_stage(dockerfile: &str) -> Vec<String> {
    let joined = dockerfile.replace("\\\n", " ");
    let instructions: Vec<String> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let last_from = instructions
        .iter()
        .rposition(|l| l.starts_with("FROM "))
        .expect("a FROM instruction");
    instructions[last_from..].to_vec()
}

/// `ENV A=1 B=2` pairs of the final stage.
fn image_env(stage: &[String]) -> Vec<(String, String)> {
    stage
        .iter()
        .filter_map(|l| l.strip_prefix("ENV "))
        .flat_map(|l| l.split_whitespace())
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("ENV NAME=value");
            (name.to_string(), value.to_string())
        })
        .collect()
}

#[test]
fn the_final_stage_is_empty_non_root_and_checks_its_health() {
    let stage = final_stage(&dockerfile());
    let has = |instruction: &str| stage.iter().any(|l| l == instruction);
    assert_eq!(stage[0], "FROM scratch", "{stage:#?}");
    assert!(has(&format!("USER {IMAGE_USER}")), "{stage:#?}");
    assert!(has("VOLUME /data"), "{stage:#?}");
    assert!(has("EXPOSE 1025 8025"), "{stage:#?}");
    assert!(has(r#"ENTRYPOINT ["/letterbox"]"#), "{stage:#?}");
    let healthcheck = stage
        .iter()
        .find(|l| l.starts_with("HEALTHCHECK "))
        .expect("a HEALTHCHECK");
    assert!(
        healthcheck.ends_with(r#"CMD ["/letterbox", "healthcheck"]"#),
        "{healthcheck}"
    );
    assert!(has(&format!(
        "COPY --from=build --chown={IMAGE_USER} /out/data /data"
    )));
    let env = image_env(&stage);
    let value = |name: &str| {
        env.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no ENV {name}"))
    };
    assert_eq!(value("LETTERBOX_SMTP"), "0.0.0.0:1025");
    assert_eq!(value("LETTERBOX_HTTP"), "0.0.0.0:8025");
    assert_eq!(value("LETTERBOX_DB"), "/data/letterbox.db");
}

/// The static binary, or `None` (after saying why) when this machine
/// cannot run the test; under CI that is a failure.
fn static_binary() -> Option<PathBuf> {
    let test = "the container tests";
    let skip = |why: &str| {
        requires::skip(test, why, ".ci/run builds it with the musl target");
        None
    };
    // .ci/run names the reason when the toolchain itself could not be had:
    // then even CI skips (the runner could not reach rustup's servers).
    if let Ok(why) = std::env::var("LETTERBOX_TEST_STATIC_BIN_UNAVAILABLE") {
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
        return None;
    }
    let Some(path) = std::env::var_os("LETTERBOX_TEST_STATIC_BIN") else {
        return skip("LETTERBOX_TEST_STATIC_BIN does not name the static musl binary");
    };
    let path = PathBuf::from(path);
    if !path.is_file() {
        return skip(&format!("{} does not exist", path.display()));
    }
    Some(std::fs::canonicalize(path).expect("resolving the static binary"))
}

fn running_as_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

/// Whether an ELF executable names a dynamic loader (a `PT_INTERP` program
/// header): a binary that does cannot start where no loader exists.
fn needs_a_loader(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(elf[4], 2, "not a 64-bit ELF file");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (entry_size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).any(|i| {
        let at = phoff + i * entry_size;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3 // PT_INTERP
    })
}

#[test]
fn the_static_binary_needs_no_loader_and_fits_the_size_target() {
    let Some(binary) = static_binary() else {
        return;
    };
    let bytes = std::fs::read(&binary).expect("reading the static binary");
    assert!(
        !needs_a_loader(&bytes),
        "{} is dynamically linked",
        binary.display()
    );
    assert!(
        bytes.len() as u64 <= MAX_IMAGE_BYTES,
        "{} is {} bytes, over the image target of {MAX_IMAGE_BYTES}",
        binary.display(),
        bytes.len()
    );
    // The test's own build is dynamic: the check can tell them apart.
    let dynamic = std::fs::read(env!("CARGO_BIN_EXE_letterbox")).unwrap();
    assert!(needs_a_loader(&dynamic));
}

/// The image has the authentication check: DKIM on ring, SPF, DMARC
/// and the DNS client are Letterbox's own code, within the size target.
#[tokio::test]
async fn the_static_binary_checks_authentication() {
    let Some(binary) = static_binary() else {
        return;
    };
    let dir = TempDir::new("static-auth-check");
    let zone = dir.file("zone.txt");
    std::fs::write(
        &zone,
        "example.com TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n\
         _dmarc.example.com TXT \"v=DMARC1; p=reject\"\n",
    )
    .unwrap();
    let lb = Launch::default()
        .via(binary.to_str().expect("a UTF-8 path"), &[])
        .args(&["--auth-zone", &zone, "--spf-ip", "192.0.2.7"])
        .start();
    let id = lb
        .send_raw(
            "app@example.com",
            &["user@example.org"],
            b"From: App <app@example.com>\r\nSubject: receipt\r\n\r\nThanks.\r\n",
        )
        .await;
    let check = lb.get_ok(&format!("/api/v1/message/{id}/auth-check")).await;
    assert_eq!(check["SPF"]["Result"], "pass", "{check}");
    assert_eq!(check["DMARC"]["Result"], "pass", "{check}");
    assert_eq!(check["DKIM"], serde_json::json!([]), "{check}");
}

/// The image's file system: the binary, `/data` owned by the image user,
/// `/tmp` — and nothing else.
fn image_root(binary: &Path) -> TempDir {
    let root = TempDir::new("scratch-root");
    let exe = root.path().join("letterbox");
    std::fs::copy(binary, &exe).expect("copying the binary into the root");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let chown = Command::new("chown")
        .arg(IMAGE_USER)
        .arg(&data)
        .status()
        .unwrap();
    assert!(chown.success(), "chown {IMAGE_USER} {}", data.display());
    let tmp = root.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    root
}

/// Where `chroot` is, found on this process's PATH: the commands run
/// with an empty environment, where it would not be looked up.
fn chroot() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("chroot"))
        .find(|path| path.is_file())
        .expect("chroot (coreutils) on the PATH")
}

/// `chroot --userspec=65532:65532 ROOT /letterbox ARGS...` with exactly
/// `env` as the environment.
fn in_root(root: &TempDir, args: &[&str], env: &[(String, String)]) -> Command {
    let mut command = Command::new(chroot());
    command
        .arg(format!("--userspec={IMAGE_USER}"))
        .arg(root.path())
        .arg("/letterbox")
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)));
    command
}

#[tokio::test]
async fn the_static_binary_runs_in_an_empty_root_as_the_image_user() {
    let Some(binary) = static_binary() else {
        return;
    };
    if !running_as_root() {
        requires::skip(
            "the_static_binary_runs_in_an_empty_root_as_the_image_user",
            "chroot needs root",
            "run the tests as root, as .ci/run does",
        );
        return;
    }
    let root = image_root(&binary);
    let mut listing: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    listing.sort();
    assert_eq!(listing, ["data", "letterbox", "tmp"], "no /etc, no shell");

    // The image's environment, except that tests listen on free loopback
    // ports instead of every interface.
    let mut env = image_env(&final_stage(&dockerfile()));
    for (name, value) in &mut env {
        if name == "LETTERBOX_SMTP" || name == "LETTERBOX_HTTP" {
            *value = "127.0.0.1:0".into();
        }
    }
    let root_arg = root.path().to_str().expect("a UTF-8 path");
    let chroot = chroot();
    let mut launch = Launch::default().clear_env().via(
        chroot.to_str().expect("a UTF-8 path"),
        &[&format!("--userspec={IMAGE_USER}"), root_arg, "/letterbox"],
    );
    for (name, value) in &env {
        launch = launch.env(name, value);
    }
    let mut lb = launch.start();
    let store = lb.next_stdout_line().expect("a Store line");
    assert_eq!(store.trim(), "Store  /data/letterbox.db");

    let id = lb.send_simple("from scratch").await;
    assert_eq!(lb.ids().await, std::slice::from_ref(&id));

    // The health check, run as Docker's HEALTHCHECK runs it: inside the
    // same root, same user, the image's variables naming the server.
    let mut check_env = env.clone();
    for (name, value) in &mut check_env {
        if name == "LETTERBOX_HTTP" {
            *value = lb.http_addr.to_string();
        }
    }
    let check = run_with_input(&mut in_root(&root, &["healthcheck"], &check_env), b"");
    assert!(
        check.status.success(),
        "healthcheck: {}{}",
        check.stdout,
        check.stderr
    );

    // sendmail from inside the root, too.
    let mut sendmail_env = env.clone();
    sendmail_env.push((
        "LETTERBOX_SENDMAIL_SMTP_ADDR".into(),
        lb.smtp_addr.to_string(),
    ));
    let sent = run_with_input(
        &mut in_root(&root, &["sendmail", "-t", "-i"], &sendmail_env),
        b"To: ops@example.com\nFrom: cron@example.com\nSubject: from scratch sendmail\n\nok\n",
    );
    assert!(sent.status.success(), "sendmail: {}", sent.stderr);
    assert_eq!(
        lb.message("latest").await["Subject"],
        "from scratch sendmail"
    );

    let db = root.path().join("data/letterbox.db");
    let owner = std::fs::metadata(&db)
        .expect("the database is on the volume")
        .uid();
    assert_eq!(owner.to_string(), IMAGE_USER.split(':').next().unwrap());

    let status = lb.terminate();
    let stderr = lb.stderr();
    assert!(
        status.success(),
        "exit status {status:?}; stderr:\n{stderr}"
    );
    // SQLite allocates through mimalloc only if nothing initialised it
    // before the store set its allocator (src/store/sqlite/allocator.rs).
    assert!(
        !stderr.contains("before its allocator could be set"),
        "SQLite kept musl's allocator:\n{stderr}"
    );
}
