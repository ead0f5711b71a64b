//! The POP3 server (RFC 1939 with CAPA, UIDL, TOP, USER/PASS, SASL PLAIN
//! and STLS): a mail client logs in and downloads the caught mail, and
//! what it deletes is deleted in Letterbox when it quits.
//!
//! [`session`] is the protocol, a dispatcher with one file per state;
//! [`maildrop`] the numbered snapshot a login works on; [`wire`] the
//! byte-stuffing of messages on their way out; [`listener`] accepts
//! connections and bounds what one may cost.

pub mod command;
pub mod conn;
pub mod listener;
pub mod logins;
pub mod maildrop;
pub mod session;
mod settings;
pub mod wire;

pub use settings::{Pop3Certificate, Pop3Settings};
