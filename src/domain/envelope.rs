//! The SMTP envelope of a message: what the client said outside the message
//! itself, as stored beside it.

/// The SMTP envelope and session facts recorded with every message.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub helo: Option<String>,
    pub client_addr: Option<String>,
    pub tls: bool,
    pub auth_user: Option<String>,
    pub smtputf8: bool,
    pub body_8bitmime: bool,
    /// Commands and replies of the session that led to this message, message
    /// content left out and credentials redacted.
    pub transcript: Vec<String>,
}
