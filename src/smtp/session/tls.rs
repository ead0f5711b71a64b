//! STARTTLS.

use super::{Phase, Session, Step};
use crate::smtp::reply::Reply;

impl Session {
    pub(super) fn starttls(&mut self) -> Step {
        if self.tls {
            return self.reply(Reply::new(503, "5.5.1", "TLS already active"));
        }
        if !self.config.starttls {
            return self.reply(Reply::new(
                502,
                "5.5.1",
                "STARTTLS not available: no certificate is configured",
            ));
        }
        // Anything pipelined after STARTTLS was sent in the clear and must not
        // be acted on after the handshake (RFC 3207 section 4.2).
        self.input.truncate(self.pos);
        self.phase = Phase::TlsHandshake;
        self.reply(Reply::new(220, "2.0.0", "Ready to start TLS"))
    }
}
