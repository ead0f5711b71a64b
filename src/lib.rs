//! Letterbox: a mail catcher for developers.
//!
//! Data flows one way: [`smtp`] receives a message, [`app`] parses it once
//! ([`domain::message`]) and hands it to the [`store`], whose backend
//! publishes each committed change through [`events`] to the [`web`] side.
//!
//! Modules are layered; each uses only modules of a lower layer
//! (`tests/layers.rs` enforces it, README "Layout" explains it):
//!
//! 0. [`domain`]: what a message, envelope, search and inbox are; no I/O.
//! 1. [`events`], [`net`], [`tls`]: publish/subscribe, sockets, TLS.
//! 2. [`store`]: one storage interface, SQLite behind it.
//! 3. [`app`]: each operation's store work, counters and events.
//! 4. [`smtp`], [`client`], [`checks`], [`pop3`]: the SMTP server, the SMTP
//!    client, message checks, the POP3 server.
//! 5. [`relay`], [`webhook`]: releasing mail through an upstream server;
//!    announcing new mail to an HTTP receiver.
//! 6. [`web`]: the HTTP API, UI and WebSocket.
//! 7. [`server`], [`cli`], [`fuzzing`]: start-up from plain
//!    [`server::Settings`]; the helper commands.
//! 8. [`config`]: the command line and environment, turned once into those
//!    settings.

pub mod app;
pub mod checks;
pub mod cli;
pub mod client;
pub mod config;
pub mod domain;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod net;
pub mod pop3;
pub mod relay;
pub mod server;
pub mod smtp;
pub mod store;
pub mod tls;
pub mod web;
pub mod webhook;
