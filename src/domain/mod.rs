//! The domain: what a message, an envelope, a search and an inbox are, and
//! the rules over them. Plain data and pure functions: nothing here opens a
//! file or a socket, and nothing here imports another Letterbox module
//! (`tests/layers.rs` holds it to that).

pub mod archive;
pub mod bcc;
pub mod chaos;
pub mod compose;
pub mod der;
pub mod envelope;
pub mod events;
pub mod extract;
pub mod inbox;
pub mod message;
pub mod retention;
pub mod search;
pub mod secret;
pub mod summary;
pub mod timefmt;
pub mod units;
pub mod unsubscribe;

pub use envelope::Envelope;
pub use summary::Summary;
