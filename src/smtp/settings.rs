//! What the SMTP listeners are told at start: plain values, checked by
//! the configuration before they get here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::auth::AuthPolicy;
use crate::domain::chaos::Rules;

/// The SMTP side's settings.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Plain SMTP (with STARTTLS when there is a certificate).
    pub listen: SocketAddr,
    /// Implicit-TLS SMTP (SMTPS), if wanted; needs a certificate.
    pub listen_tls: Option<SocketAddr>,
    /// `None`: plain SMTP only.
    pub certificate: Option<SmtpCertificate>,
    /// Refuse MAIL and AUTH before STARTTLS.
    pub require_tls: bool,
    pub auth: AuthPolicy,
    /// Largest message accepted, in bytes.
    pub max_message_size: u64,
    pub max_recipients: usize,
    /// Idle connections are closed after this long; also the grace before
    /// the minimum data rate applies.
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Bytes of message content all sessions together may hold in memory.
    pub data_budget: u64,
    /// Least bytes a second for message content; 0 for no minimum.
    pub min_data_rate: u64,
    /// Failure injection rules to start with.
    pub chaos: Rules,
}

/// Where the certificate for STARTTLS and SMTPS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpCertificate {
    /// PEM certificate (chain) and private key files.
    Files { cert: PathBuf, key: PathBuf },
    /// Made at start for localhost and the host name.
    SelfSigned,
}
