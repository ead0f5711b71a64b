//! A PostgreSQL server for the tests, named by `LETTERBOX_TEST_POSTGRES`
//! (a `postgres://` URL of a role that may create databases; `.ci/run`
//! starts a throw-away cluster and sets it). Each test works in a database
//! of its own, dropped when the test is done with it.

use std::sync::Mutex;

use tokio_postgres::NoTls;

/// The server's URL, if the tests have one.
pub fn server_url() -> Option<String> {
    std::env::var("LETTERBOX_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.is_empty())
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (head, params) = match url.split_once('?') {
        Some((head, params)) => (head, Some(params)),
        None => (url, None),
    };
    let authority = head.find("://").map_or(0, |i| i + 3);
    let base = match head[authority..].find('/') {
        Some(slash) => &head[..authority + slash],
        None => head,
    };
    match params {
        Some(params) => format!("{base}/{name}?{params}"),
        None => format!("{base}/{name}"),
    }
}

/// Databases created for a test, dropped with it.
#[derive(Default)]
pub struct Databases {
    names: Mutex<Vec<String>>,
}

impl Databases {
    /// Creates an empty database and returns its URL.
    pub async fn create(&self) -> String {
        let server = server_url().expect("LETTERBOX_TEST_POSTGRES is set");
        let name = format!(
            "letterbox_test_{}",
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        );
        let (client, connection) = tokio_postgres::connect(&server, NoTls)
            .await
            .unwrap_or_else(|e| panic!("connecting to LETTERBOX_TEST_POSTGRES: {e}"));
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("creating a test database");
        self.names.lock().unwrap().push(name.clone());
        with_database(&server, &name)
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.names.lock().unwrap());
        let Some(server) = server_url().filter(|_| !names.is_empty()) else {
            return;
        };
        // A runtime of its own, on a thread of its own: this may run
        // inside the test's runtime.
        let dropping = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let Ok((client, connection)) = tokio_postgres::connect(&server, NoTls).await else {
                    return;
                };
                tokio::spawn(connection);
                for name in names {
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        });
        let _ = dropping.join();
    }
}
