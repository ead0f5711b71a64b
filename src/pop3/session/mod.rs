//! The POP3 protocol for one connection: a dispatcher over the session's
//! state (RFC 1939 §3), with one file per state and one for opening a
//! maildrop. The AUTHORIZATION state takes USER/PASS, AUTH PLAIN and
//! STLS ([`authorization`]); TRANSACTION reads and marks the maildrop
//! ([`transaction`]); QUIT from TRANSACTION enters UPDATE, where the
//! marked messages are deleted ([`update`]).

mod authorization;
mod login;
mod transaction;
mod update;

use std::io;
use std::net::SocketAddr;

use tracing::debug;

pub use login::Maildrops;

use super::command::Command;
use super::conn::{Conn, Line, MAX_LINE};
use super::listener::Pop3Server;
use super::maildrop::Maildrop;

/// Bad lines (unknown commands, wrong arguments, lines too long) a
/// session may send before it is closed.
pub const MAX_BAD_COMMANDS: usize = 20;

/// How a session (or its plain-text part) ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The client asked for TLS: hand the stream to a handshake, then run
    /// the session on over it.
    StartTls,
    Close,
}

enum State {
    Authorization {
        /// The name a USER gave, waiting for its PASS.
        user: Option<String>,
        failures: usize,
    },
    Transaction {
        user: String,
        maildrop: Maildrop,
        /// Held until the session ends: one session per maildrop.
        _lock: login::MaildropLock,
    },
}

pub struct Session<'a> {
    server: &'a Pop3Server,
    peer: SocketAddr,
    tls: bool,
    state: State,
    commands: usize,
    bad: usize,
}

impl<'a> Session<'a> {
    pub fn new(server: &'a Pop3Server, peer: SocketAddr, tls: bool) -> Session<'a> {
        Session {
            server,
            peer,
            tls,
            state: State::Authorization {
                user: None,
                failures: 0,
            },
            commands: 0,
            bad: 0,
        }
    }

    /// The greeting (RFC 1939 §4); not repeated after STLS.
    pub fn greet(&self, conn: &mut Conn) {
        conn.ok(&format!(
            "{} Letterbox POP3 server ready",
            self.server.hostname
        ));
    }

    /// TLS is up: the client starts over in the AUTHORIZATION state.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.state = State::Authorization {
            user: None,
            failures: 0,
        };
    }

    /// Reads and answers commands until the session ends or asks for TLS.
    /// An ended session lets go of its maildrop before the connection
    /// closes, so the client can log in again at once.
    pub async fn run(&mut self, conn: &mut Conn) -> io::Result<Flow> {
        let flow = self.commands(conn).await;
        if !matches!(flow, Ok(Flow::StartTls)) {
            self.state = State::Authorization {
                user: None,
                failures: 0,
            };
        }
        flow
    }

    async fn commands(&mut self, conn: &mut Conn) -> io::Result<Flow> {
        loop {
            let line = tokio::select! {
                line = conn.read_line() => line?,
                () = self.server.shutdown.cancelled() => {
                    // Without QUIT nothing marked is deleted (RFC 1939 §6).
                    conn.err("[SYS/TEMP] Letterbox is shutting down, try again later");
                    conn.flush().await?;
                    return Ok(Flow::Close);
                }
            };
            let line = match line {
                Line::Complete(line) => line,
                Line::Closed => return Ok(Flow::Close),
                Line::TimedOut => {
                    conn.err("idle for too long, closing");
                    conn.flush().await?;
                    return Ok(Flow::Close);
                }
                Line::TooLong => {
                    let text = format!("line too long (the limit is {MAX_LINE} octets)");
                    if self.bad_command(conn, &text) {
                        conn.flush().await?;
                        return Ok(Flow::Close);
                    }
                    continue;
                }
            };
            self.commands += 1;
            if self.commands > self.server.max_commands {
                conn.err("too many commands in one session, closing");
                conn.flush().await?;
                return Ok(Flow::Close);
            }
            let flow = match Command::parse(&line) {
                Ok(command) => self.dispatch(command, conn).await?,
                Err(err) if self.bad_command(conn, &err.to_string()) => Flow::Close,
                Err(_) => Flow::Continue,
            };
            if flow != Flow::Continue {
                conn.flush().await?;
                return Ok(flow);
            }
        }
    }

    /// Answers a bad line; true when there have been too many.
    fn bad_command(&mut self, conn: &mut Conn, text: &str) -> bool {
        self.bad += 1;
        if self.bad >= MAX_BAD_COMMANDS {
            debug!(peer = %self.peer, "POP3 session closed after {MAX_BAD_COMMANDS} bad commands");
            conn.err(&format!("{text}; too many bad commands, closing"));
            return true;
        }
        conn.err(text);
        false
    }

    async fn dispatch(&mut self, command: Command, conn: &mut Conn) -> io::Result<Flow> {
        match command {
            Command::Capa => {
                self.capabilities(conn);
                Ok(Flow::Continue)
            }
            Command::Quit => {
                self.quit(conn).await;
                Ok(Flow::Close)
            }
            command => match self.state {
                State::Authorization { .. } => self.authorization(command, conn).await,
                State::Transaction { .. } => {
                    self.transaction(command, conn).await?;
                    Ok(Flow::Continue)
                }
            },
        }
    }

    /// CAPA (RFC 2449): what this server offers in the current state.
    fn capabilities(&self, conn: &mut Conn) {
        conn.ok("capability list follows");
        let mut lines = vec!["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"];
        if matches!(self.state, State::Authorization { .. }) {
            lines.extend(["USER", "SASL PLAIN"]);
            if self.server.tls.is_some() && !self.tls {
                lines.push("STLS");
            }
        }
        lines.push("IMPLEMENTATION Letterbox");
        let out = conn.buffer();
        for line in lines {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(super::wire::TERMINATOR);
    }
}

/// "1 message", "2 messages": how many messages, in words.
fn count_of(count: usize) -> String {
    match count {
        1 => "1 message".to_string(),
        n => format!("{n} messages"),
    }
}
