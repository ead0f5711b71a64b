//! TLS to PostgreSQL: a cluster of the test's own with `ssl=on` and a
//! certificate from a CA made here, and Letterbox connecting with libpq's
//! `sslmode`s. `verify-full` (with SCRAM channel binding required) stores
//! and serves mail over connections the server lists as TLS; the default
//! (`prefer`) and `verify-ca` connect too, `verify-ca` without checking the
//! host name; `verify-full` refuses a wrong host name or another CA, saying
//! why, and so does `verify-ca` for another CA.
//!
//! Needs PostgreSQL's server binaries (`initdb`, `pg_ctl`, as in Debian's
//! `postgresql` package under /usr/lib/postgresql/N/bin); run as root, the
//! cluster runs as the `postgres` user.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Finished, Launch, Letterbox, TempDir, requires, simple_message};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

const PASSWORD: &str = "tls-test-secret";

/// The newest installed PostgreSQL's `bin` directory.
fn server_binaries() -> Option<PathBuf> {
    let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    versions
        .filter_map(|entry| {
            let dir = entry.ok()?.path();
            let version: u32 = dir.file_name()?.to_str()?.parse().ok()?;
            let bin = dir.join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
}

/// A certificate authority made for the test.
struct Authority {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn authority(name: &str) -> Authority {
    let key = KeyPair::generate().expect("a CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let pem = params.self_signed(&key).expect("the CA certificate").pem();
    Authority {
        pem,
        issuer: Issuer::new(params, key),
    }
}

/// A throw-away cluster on loopback with `ssl=on`, stopped when dropped.
struct Cluster {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    as_root: bool,
}

impl Cluster {
    /// Starts a cluster whose certificate, for `localhost` only, `ca` issued.
    fn start(bin: PathBuf, ca: &Authority) -> Cluster {
        let dir = TempDir::new("pg-tls");
        let as_root = std::fs::metadata(dir.path()).expect("the temp dir").uid() == 0;
        let key = KeyPair::generate().expect("a server key");
        let params = CertificateParams::new(vec!["localhost".to_string()]).expect("parameters");
        let cert = params
            .signed_by(&key, &ca.issuer)
            .expect("the server certificate");
        std::fs::write(dir.file("server.crt"), cert.pem()).expect("server.crt");
        std::fs::write(dir.file("server.key"), key.serialize_pem()).expect("server.key");
        std::fs::write(dir.file("password"), PASSWORD).expect("the password file");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = Cluster {
            bin,
            dir,
            port,
            as_root,
        };
        if as_root {
            run("chown", &["-R", "postgres", cluster.path()]);
        }
        run("chmod", &["600", &cluster.dir.file("server.key")]);
        let d = cluster.path();
        cluster.pg(&format!(
            "initdb -D {d}/data -U postgres --auth-local=trust --auth-host=scram-sha-256 \
             --pwfile={d}/password -E UTF8 >{d}/initdb.log"
        ));
        cluster.pg(&format!(
            "pg_ctl -D {d}/data -l {d}/log -w start -o \"-k {d} -h 127.0.0.1 -p {port} \
             -c ssl=on -c ssl_cert_file={d}/server.crt -c ssl_key_file={d}/server.key\" >/dev/null"
        ));
        cluster
    }

    fn path(&self) -> &str {
        self.dir.path().to_str().expect("a UTF-8 temp path")
    }

    /// Runs one of PostgreSQL's programs, as `postgres` when we are root.
    fn pg(&self, line: &str) {
        let line = format!("{}/{line}", self.bin.display());
        if self.as_root {
            run("su", &["postgres", "-c", &line]);
        } else {
            run("sh", &["-c", &line]);
        }
    }

    /// A URL for Letterbox to `host` with `params`.
    fn url(&self, host: &str, database: &str, params: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@{host}:{}/{database}{params}",
            self.port
        )
    }

    /// The test's own connection, plain: what the server says about
    /// Letterbox's must not depend on Letterbox's TLS.
    async fn admin(&self) -> tokio_postgres::Client {
        let url = self.url("127.0.0.1", "postgres", "?sslmode=disable");
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connecting to the test cluster");
        tokio::spawn(connection);
        client
    }

    /// How many connections Letterbox has open to `database`, and how
    /// many of them use TLS.
    async fn letterbox_connections(&self, database: &str) -> (i64, i64) {
        let row = self
            .admin()
            .await
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE s.ssl) \
                 FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
                 WHERE a.application_name = 'letterbox' AND a.datname = $1",
                &[&database],
            )
            .await
            .expect("reading pg_stat_ssl");
        (row.get(0), row.get(1))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let d = self.path().to_string();
        let line = format!(
            "{}/pg_ctl -D {d}/data -w stop -m immediate",
            self.bin.display()
        );
        let mut stop = if self.as_root {
            let mut c = Command::new("su");
            c.args(["postgres", "-c", &line]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", &line]);
            c
        };
        let _ = stop.output();
    }
}

#[track_caller]
fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Letterbox started on `url` fails, with one line naming `expected`.
#[track_caller]
fn refused(url: &str, expected: &[&str]) {
    let Finished { status, stderr, .. } = Launch::default().args(&["--db", url]).run_to_exit();
    assert!(!status.success(), "started on {url}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "not one line: {stderr:?}");
    for part in expected {
        assert!(
            lines[0].contains(part),
            "{:?} does not say {part:?}",
            lines[0]
        );
    }
}

fn write(dir: &Path, name: &str, contents: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("writing a PEM file");
    path.to_str().expect("a UTF-8 temp path").to_string()
}

#[tokio::test]
async fn letterbox_talks_tls_to_postgresql_as_sslmode_says() {
    let Some(bin) = server_binaries() else {
        requires::skip(
            "TLS to PostgreSQL",
            "PostgreSQL's server (initdb, pg_ctl) is not installed",
            "apt-get install postgresql (.ci/run does)",
        );
        return;
    };
    let ca = authority("Letterbox test CA");
    let cluster = Cluster::start(bin, &ca);
    let pems = TempDir::new("pg-tls-roots");
    let root = write(pems.path(), "root.pem", &ca.pem);
    let other_root = write(pems.path(), "other.pem", &authority("Another CA").pem);
    let admin = cluster.admin().await;
    for name in ["verified", "preferred"] {
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("creating a test database");
    }

    // verify-full, with channel binding required: SCRAM only succeeds if
    // Letterbox reports the certificate's hash as the server computes it.
    let verified = cluster.url(
        "localhost",
        "verified",
        &format!("?sslmode=verify-full&sslrootcert={root}&channel_binding=require"),
    );
    let node = Letterbox::with_args(&["--db", &verified]);
    node.send_raw(
        "a@example.com",
        &["b@example.com"],
        &simple_message("over TLS", "stored through an encrypted connection"),
    )
    .await;
    let message = node.the_one_message().await;
    assert_eq!(message["Subject"], "over TLS");
    let (all, tls) = cluster.letterbox_connections("verified").await;
    assert!(all >= 2, "the pool and the listener are connected: {all}");
    assert_eq!(tls, all, "every connection of Letterbox's uses TLS");

    // Without sslmode, TLS is used when the server offers it.
    let _preferred = Letterbox::with_args(&["--db", &cluster.url("localhost", "preferred", "")]);
    let (all, tls) = cluster.letterbox_connections("preferred").await;
    assert!(all >= 2, "the pool and the listener are connected: {all}");
    assert_eq!(
        tls, all,
        "by default, connections use TLS the server offers"
    );

    // verify-ca trusts the CA whatever the name; verify-full checks it.
    let by_address = |mode: &str, root: &str| {
        cluster.url(
            "127.0.0.1",
            "verified",
            &format!("?sslmode={mode}&sslrootcert={root}"),
        )
    };
    drop(Letterbox::with_args(&[
        "--db",
        &by_address("verify-ca", &root),
    ]));
    refused(
        &by_address("verify-full", &root),
        &[
            "TLS",
            "not valid for name",
            "127.0.0.1",
            "sslmode=verify-full trusts",
        ],
    );
    refused(
        &cluster.url(
            "localhost",
            "verified",
            &format!("?sslmode=verify-full&sslrootcert={other_root}"),
        ),
        &[
            "TLS",
            "UnknownIssuer",
            "sslmode=verify-full trusts",
            &other_root,
        ],
    );
    refused(
        &by_address("verify-ca", &other_root),
        &["UnknownIssuer", "sslmode=verify-ca trusts"],
    );
}
