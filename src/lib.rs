//! Letterbox: a mail catcher for developers.
//!
//! Data flows one way: [`smtp`] receives a message, [`ingest`] parses it
//! once ([`domain::message`]) and hands it to the [`store`], whose writer
//! publishes each committed change as an [`events`] entry for the [`web`]
//! side.
//!
//! Modules are layered; each imports only from layers below it:
//!
//! 0. [`domain`]: pure data and rules, no I/O.
//! 1. [`store`], [`events`], [`net`], [`tls`]: storage, publish/subscribe,
//!    socket and TLS helpers.
//! 2. the operations on the store: [`ingest`], [`stats`].
//! 3. [`smtp`], [`client`], [`checks`]: the SMTP server, the client side,
//!    message checks.
//! 4. [`relay`]: releasing mail through an upstream server.
//! 5. [`web`]: the HTTP API, UI and WebSocket.
//! 6. [`server`], [`cli`], [`fuzzing`]: start-up wiring from plain
//!    [`server::Settings`]; the helper commands.
//! 7. [`config`]: the command line and environment, turned once into
//!    those settings. Nothing below imports it.

pub mod checks;
pub mod cli;
pub mod client;
pub mod config;
pub mod domain;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod ingest;
pub mod net;
pub mod relay;
pub mod server;
pub mod smtp;
pub mod stats;
pub mod store;
pub mod tls;
pub mod web;
