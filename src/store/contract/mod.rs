//! The contract every store backend keeps: what the rest of Letterbox
//! relies on, operation by operation. Each function opens fresh stores
//! through a [`Backend`] and panics on the first violation.
//! `tests/store_contract.rs` runs all of them against each backend, one
//! line per backend ([`store_contract_tests!`](crate::store_contract_tests)).

mod changes;
mod concurrency;
mod events;
pub mod fixtures;
mod messages;
mod relay;
mod retention;
pub mod search;
mod webhook;

use std::future::Future;
use std::time::Duration;

use super::Store;
use crate::domain::retention::Retention;
use crate::events::Events;

pub use changes::{delete_by_selection, set_read_by_selection, tags};
pub use concurrency::{concurrent_inserts_are_all_readable, read_your_writes};
pub use events::events_for_each_change;
pub use messages::{counts_and_inboxes, insert_get_raw_round_trip, list_pages_and_cursors};
pub use relay::{relay_claims_once, relay_queue_and_outcomes};
pub use retention::{retention_max_age, retention_max_messages};
pub use search::{search_date_ranges, search_paging_and_counts, search_semantics};
pub use webhook::{
    webhook_claims_once, webhook_queue_and_outcomes, webhook_queued_with_its_message,
};

/// Opens fresh, empty stores of one backend.
pub trait Backend: Sync {
    /// A new store holding no messages, keeping what `retention` allows and
    /// publishing its changes to `events`.
    fn open(&self, retention: Retention, events: Events) -> impl Future<Output = Store> + Send;
}

/// A store without retention limits and the events it publishes to.
async fn open(backend: &impl Backend) -> (Store, Events) {
    let events = Events::default();
    (
        backend.open(Retention::default(), events.clone()).await,
        events,
    )
}

/// Waits up to ten seconds for `check` to hold, for what a backend may do
/// after the call that caused it returned (pruning).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within ten seconds");
}

/// Defines one `#[tokio::test]` per contract function in a module named
/// `$module`, each opening its stores with the [`Backend`] `$backend`.
/// With `if $available`, each test first evaluates it and returns at once
/// when it is false (a backend that needs a server the machine lacks).
#[macro_export]
#[doc(hidden)]
macro_rules! store_contract_tests {
    ($module:ident, $backend:expr) => {
        $crate::store_contract_tests!($module, $backend, if true);
    };
    ($module:ident, $backend:expr, if $available:expr) => {
        $crate::store_contract_tests!(@each $module, $backend, $available;
            insert_get_raw_round_trip,
            list_pages_and_cursors,
            counts_and_inboxes,
            search_semantics,
            search_date_ranges,
            search_paging_and_counts,
            set_read_by_selection,
            delete_by_selection,
            tags,
            retention_max_messages,
            retention_max_age,
            relay_queue_and_outcomes,
            relay_claims_once,
            webhook_queue_and_outcomes,
            webhook_claims_once,
            webhook_queued_with_its_message,
            concurrent_inserts_are_all_readable,
            read_your_writes,
            events_for_each_change,
        );
    };
    (@each $module:ident, $backend:expr, $available:expr; $($name:ident,)*) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if !$available {
                        return;
                    }
                    $crate::store::contract::$name(&$backend).await;
                }
            )*
        }
    };
}
