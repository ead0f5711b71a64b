//! The SMTP side: a protocol state machine without I/O ([`session`]), the
//! pieces it is built from, and the tokio listener that drives it.

pub mod address;
pub mod auth;
pub mod data;
pub mod guard;
pub mod limits;
pub mod listener;
pub mod policy;
pub mod reply;
pub mod session;
mod settings;

pub use session::{Delivery, Session, SessionConfig, Step};
pub use settings::{SmtpCertificate, SmtpSettings};
