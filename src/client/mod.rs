//! The clients Letterbox speaks as: [`smtp`] for the relay and `sendmail`,
//! [`http`] for the command-line helpers that ask a running Letterbox.

pub mod http;
pub mod smtp;
