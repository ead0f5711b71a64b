//! The AUTHORIZATION state: USER and PASS (RFC 1939 §7), AUTH PLAIN
//! (RFC 5034, RFC 4616) and STLS (RFC 2595). A failed login is answered
//! only after a delay, and a few of them close the connection.

use std::io;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tracing::info;

use super::{Flow, Session, State};
use crate::pop3::command::Command;
use crate::pop3::conn::{Conn, Line};

/// How long a failed login waits before its answer: guessing passwords
/// takes that long per guess.
pub const FAILED_LOGIN_DELAY: Duration = Duration::from_secs(1);

/// Failed logins a connection may make before it is closed.
pub const MAX_FAILED_LOGINS: usize = 3;

impl Session<'_> {
    pub(super) async fn authorization(
        &mut self,
        command: Command,
        conn: &mut Conn,
    ) -> io::Result<Flow> {
        let State::Authorization { user, .. } = &mut self.state else {
            unreachable!("dispatched in the AUTHORIZATION state");
        };
        match command {
            Command::User(name) => {
                conn.ok(&format!("send the password of {name}"));
                *user = Some(name);
                Ok(Flow::Continue)
            }
            Command::Pass(password) => {
                let Some(name) = user.take() else {
                    conn.err("send USER first");
                    return Ok(Flow::Continue);
                };
                Ok(self.log_in(name, password, conn).await)
            }
            Command::Auth {
                mechanism: None, ..
            } => {
                // Before RFC 5034 clients asked for the mechanisms this way.
                conn.ok("mechanisms follow");
                conn.buffer().extend_from_slice(b"PLAIN\r\n.\r\n");
                Ok(Flow::Continue)
            }
            Command::Auth {
                mechanism: Some(mechanism),
                initial,
            } => {
                if !mechanism.eq_ignore_ascii_case("PLAIN") {
                    conn.err(&format!(
                        "unsupported mechanism {} (PLAIN is offered)",
                        mechanism.chars().take(20).collect::<String>()
                    ));
                    return Ok(Flow::Continue);
                }
                *user = None;
                let response = match initial {
                    Some(initial) => initial,
                    None => {
                        conn.buffer().extend_from_slice(b"+ \r\n");
                        match conn.read_line().await? {
                            Line::Complete(line) => String::from_utf8_lossy(&line).into_owned(),
                            Line::TooLong => {
                                conn.err("the response is too long");
                                return Ok(Flow::Continue);
                            }
                            Line::Closed | Line::TimedOut => return Ok(Flow::Close),
                        }
                    }
                };
                if response.trim() == "*" {
                    conn.err("authentication cancelled");
                    return Ok(Flow::Continue);
                }
                match plain_response(response.trim()) {
                    Ok((name, password)) => Ok(self.log_in(name, password, conn).await),
                    Err(problem) => {
                        conn.err(problem);
                        Ok(Flow::Continue)
                    }
                }
            }
            Command::Stls => Ok(self.start_tls(conn)),
            _ => {
                conn.err("log in first (USER and PASS, or AUTH PLAIN)");
                Ok(Flow::Continue)
            }
        }
    }

    fn start_tls(&mut self, conn: &mut Conn) -> Flow {
        if self.tls {
            conn.err("TLS is already on");
            return Flow::Continue;
        }
        if self.server.tls.is_none() {
            conn.err("STLS is not offered: Letterbox has no certificate for POP3");
            return Flow::Continue;
        }
        conn.ok("begin TLS negotiation");
        Flow::StartTls
    }

    /// Checks a login and opens its maildrop, or answers why not.
    async fn log_in(&mut self, user: String, password: String, conn: &mut Conn) -> Flow {
        let logins = self.server.logins.clone();
        let name = user.clone();
        // A bcrypt check is tens of milliseconds of CPU.
        let good = tokio::task::spawn_blocking(move || logins.check(&name, &password))
            .await
            .unwrap_or(false);
        if !good {
            let State::Authorization { failures, .. } = &mut self.state else {
                unreachable!("logins happen in the AUTHORIZATION state");
            };
            *failures += 1;
            let failures = *failures;
            info!(peer = %self.peer, user = ?user.chars().take(64).collect::<String>(), "POP3 login failed");
            tokio::select! {
                () = tokio::time::sleep(FAILED_LOGIN_DELAY) => {}
                () = self.server.shutdown.cancelled() => {}
            }
            if failures >= MAX_FAILED_LOGINS {
                conn.err("[AUTH] wrong user name or password; too many failed logins, closing");
                return Flow::Close;
            }
            conn.err("[AUTH] wrong user name or password");
            return Flow::Continue;
        }
        self.open_maildrop(user, conn).await;
        Flow::Continue
    }
}

/// The user and password of a PLAIN response (`authzid NUL authcid NUL
/// passwd`, base64). Acting for another user (an authzid that is not the
/// authcid) is not offered.
fn plain_response(response: &str) -> Result<(String, String), &'static str> {
    // "=" is the SASL encoding of an empty response.
    let decoded = if response == "=" {
        Vec::new()
    } else {
        B64.decode(response)
            .map_err(|_| "the PLAIN response is not base64")?
    };
    let text = String::from_utf8(decoded).map_err(|_| "the PLAIN response is not UTF-8")?;
    let mut fields = text.split('\0');
    let (Some(authzid), Some(user), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err("the PLAIN response is not authzid NUL user NUL password");
    };
    if !authzid.is_empty() && authzid != user {
        return Err("[AUTH] logging in for another user is not supported");
    }
    Ok((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_responses() {
        let encode = |s: &str| B64.encode(s);
        assert_eq!(
            plain_response(&encode("\0alice\0pw")),
            Ok(("alice".into(), "pw".into()))
        );
        assert_eq!(
            plain_response(&encode("alice\0alice\0pw with spaces")),
            Ok(("alice".into(), "pw with spaces".into()))
        );
        assert!(plain_response(&encode("bob\0alice\0pw")).is_err());
        assert!(plain_response(&encode("alice:pw")).is_err());
        assert!(plain_response("not base64!").is_err());
        assert!(plain_response("=").is_err());
    }
}
