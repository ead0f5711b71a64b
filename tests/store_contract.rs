//! The store contract (`letterbox::store::contract`) run against every
//! backend: one line per backend below, one test per contract function.

use letterbox::domain::retention::Retention;
use letterbox::events::Events;
use letterbox::store::contract::Backend;
use letterbox::store::{Durability, Location, Store, StoreConfig};

#[path = "common/postgres.rs"]
mod postgres;
#[path = "common/requires.rs"]
mod requires;

/// SQLite in a database file of its own, removed when the store closes.
struct SqliteTemporary;

impl Backend for SqliteTemporary {
    async fn open(&self, retention: Retention, events: Events) -> Store {
        sqlite_at(Location::Temporary, retention, events)
    }
}

/// SQLite at a path given as a file, in a fresh directory under the
/// target directory (left there, like other test output).
struct SqliteFile;

impl Backend for SqliteFile {
    async fn open(&self, retention: Retention, events: Events) -> Store {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "letterbox-contract-{}-{}",
            std::process::id(),
            ulid::Ulid::new()
        ));
        sqlite_at(
            Location::File(dir.join("nested/letterbox.db")),
            retention,
            events,
        )
    }
}

fn sqlite_at(location: Location, retention: Retention, events: Events) -> Store {
    let config = StoreConfig {
        location,
        max_messages: retention.max_messages,
        max_age: retention.max_age,
        durability: Durability::default(),
    };
    Store::open(&config, events).expect("opening the store")
}

letterbox::store_contract_tests!(sqlite_temporary, crate::SqliteTemporary);
letterbox::store_contract_tests!(sqlite_file, crate::SqliteFile);

/// PostgreSQL at `LETTERBOX_TEST_POSTGRES`, each store in a fresh database
/// dropped when its test ends.
#[derive(Default)]
struct Postgres(postgres::Databases);

impl Backend for Postgres {
    async fn open(&self, retention: Retention, events: Events) -> Store {
        let config = StoreConfig {
            location: Location::Postgres(self.0.create().await),
            max_messages: retention.max_messages,
            max_age: retention.max_age,
            durability: Durability::default(),
        };
        Store::connect(&config, events)
            .await
            .expect("opening the store")
    }
}

/// Whether a PostgreSQL server is there to test on.
fn postgres_available() -> bool {
    let available = postgres::server_url().is_some();
    if !available {
        requires::skip(
            "store contract on PostgreSQL",
            "LETTERBOX_TEST_POSTGRES is not set",
            "set it to a postgres:// URL of a role that may create databases (.ci/run starts one)",
        );
    }
    available
}

letterbox::store_contract_tests!(
    postgres_contract,
    crate::Postgres::default(),
    if crate::postgres_available()
);
