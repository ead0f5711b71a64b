//! What the POP3 listeners are told at start: plain values, checked by
//! the configuration before they get here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::logins::Logins;

/// The POP3 side's settings; POP3 runs only when these are given.
#[derive(Debug, Clone)]
pub struct Pop3Settings {
    /// Plain POP3 (with STLS when there is a certificate).
    pub listen: Option<SocketAddr>,
    /// Implicit-TLS POP3 (POP3S, port 995 style); needs a certificate.
    pub listen_tls: Option<SocketAddr>,
    /// `None`: no STLS, and no POP3S listener.
    pub certificate: Option<Pop3Certificate>,
    /// Who may log in: never empty, POP3 hands out the mail.
    pub logins: Arc<Logins>,
    /// The most messages one login sees: the newest this many.
    pub max_messages: usize,
    /// A session idle this long is closed; also how long a command may take
    /// to arrive in full.
    pub idle_timeout: Duration,
    /// Most simultaneous POP3 connections.
    pub max_connections: usize,
}

/// Where the certificate for STLS and POP3S comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pop3Certificate {
    /// The one SMTP's STARTTLS uses (files or made at start).
    SameAsSmtp,
    /// PEM certificate (chain) and private key files of POP3's own.
    Files { cert: PathBuf, key: PathBuf },
}
