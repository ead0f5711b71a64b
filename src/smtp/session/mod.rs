//! The SMTP session as a state machine without I/O.
//!
//! The connection driver feeds received bytes in with [`Session::feed`] and
//! then calls [`Session::advance`] until it answers [`Step::NeedInput`], writing
//! every reply it is given. Pipelined commands therefore get their replies
//! in order, and the driver decides when to flush. A finished message comes
//! out as [`Step::Deliver`]; the driver stores it and reports the outcome
//! with [`Session::delivered`], which yields the reply to send.
//!
//! This file holds the state and `Session::command`, the one match from
//! command to handler; each command group has its own file. Whether a
//! stage fails on purpose (chaos rules, `fail-CODE@` addresses) is asked
//! of the [`Policy`] at that stage (`Session::consult`), nowhere else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use smtp_proto::{Error as ProtoError, Request};

use super::auth::{self, AuthPolicy, Exchange};
use super::data::DataReceiver;
use super::guard;
use super::limits::{DataBudget, Held};
use super::policy::{Context, Injection, Policy, Stage};
use super::reply::Reply;
use crate::domain::Envelope;
use crate::domain::chaos::Chaos;
use transcript::redact_command;

mod authenticate;
mod greeting;
mod injected;
mod input;
mod mail;
mod message;
mod tls;
mod transcript;

/// Longest command line accepted, including its line ending.
pub const MAX_LINE: usize = 4096;
/// Transcript lines kept per phase, so a hostile client cannot grow it forever.
const MAX_TRANSCRIPT_LINES: usize = 200;

/// Settings shared by every session of a listener.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Our name in the greeting and EHLO reply.
    pub hostname: String,
    pub max_message_size: usize,
    pub max_recipients: usize,
    pub auth: AuthPolicy,
    /// A certificate is loaded: STARTTLS is offered.
    pub starttls: bool,
    /// MAIL and AUTH are refused until the connection is encrypted.
    pub require_tls: bool,
    /// Message content all sessions may hold in memory together.
    pub data_budget: DataBudget,
    /// Failure injection rules, read at every stage (they change at runtime).
    pub chaos: Chaos,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            hostname: "letterbox".into(),
            max_message_size: 50 * 1024 * 1024,
            max_recipients: 1000,
            auth: AuthPolicy::AcceptAny,
            starttls: true,
            require_tls: false,
            data_budget: DataBudget::default(),
            chaos: Chaos::default(),
        }
    }
}

/// What the driver must do next.
#[derive(Debug)]
pub enum Step {
    /// Send this reply (it may be buffered until `NeedInput`).
    Reply(Reply),
    /// A message is complete: store it, then call [`Session::delivered`].
    Deliver(Box<Delivery>),
    /// The `220` for STARTTLS has been given: flush, run the TLS handshake,
    /// then call [`Session::tls_started`].
    StartTls,
    /// Flush pending replies and read more input.
    NeedInput,
    /// Flush pending replies and close the connection.
    Close,
    /// A failure injected by a chaos rule or a `fail-CODE@` address: send
    /// its reply, or drop the connection; count it either way.
    Inject(Injection),
    /// A chaos rule slows this stage down: flush pending replies and wait
    /// `delay` before advancing again.
    Pause { stage: Stage, delay: Duration },
}

/// A received message with everything known about how it arrived.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub envelope: Envelope,
    pub data: Vec<u8>,
}

#[derive(Debug)]
enum Phase {
    Command,
    Data(DataReceiver),
    /// Reading `remaining` bytes of a BDAT chunk. With `refusal` the chunk
    /// is read and thrown away, and that is the reply (BDAT out of order,
    /// or an injected failure).
    Bdat {
        remaining: usize,
        last: bool,
        refusal: Option<Step>,
    },
    Auth(Exchange),
    /// A message has been handed out; waiting for [`Session::delivered`].
    Delivering,
    /// The `220` for STARTTLS was given; the handshake comes next.
    TlsHandshake,
    Closed,
}

/// A mail transaction between MAIL and the end of the message.
#[derive(Debug, Default)]
struct Transaction {
    mail_from: String,
    rcpt_to: Vec<String>,
    smtputf8: bool,
    body_8bitmime: bool,
    body: Vec<u8>,
    /// Bytes received for this message, including any over the limit.
    received: usize,
    /// A BDAT chunk has been received: DATA is no longer allowed.
    chunked: bool,
    /// A RCPT command was given (accepted or not): DATA then needs an
    /// accepted recipient, as RFC 5321 says. Without any RCPT, DATA is
    /// taken and the recipients come from the headers, as MailHog does.
    rcpt_given: bool,
    /// The content, counted against the data budget.
    held: Option<Held>,
    /// The content went past the data budget: it is read to its end and
    /// refused with `452 4.3.1`.
    over_budget: bool,
}

impl Transaction {
    /// Counts what the body grew by since it was `before` long against the
    /// data budget; past the budget the body is dropped. False once over.
    fn count_growth(&mut self, before: usize) -> bool {
        if self.over_budget {
            return false;
        }
        let grown = self.body.len().saturating_sub(before);
        if self.held.as_mut().is_none_or(|held| held.grow(grown)) {
            return true;
        }
        // What this message held is given back at once, so the others in
        // flight can finish instead of all failing together.
        self.over_budget = true;
        self.body = Vec::new();
        self.held = None;
        false
    }
}

#[derive(Debug)]
pub struct Session {
    config: Arc<SessionConfig>,
    phase: Phase,
    input: Vec<u8>,
    /// Read position in `input`.
    pos: usize,
    /// Skipping the rest of an over-long line.
    discarding_line: bool,
    helo: Option<String>,
    esmtp: bool,
    tls: bool,
    auth_user: Option<String>,
    client_addr: Option<SocketAddr>,
    /// Nonce for CRAM-MD5 challenges, supplied by the driver.
    nonce: String,
    txn: Option<Transaction>,
    /// Transcript up to the first transaction (greeting, EHLO, STARTTLS, AUTH).
    prelude: Vec<String>,
    /// Transcript since the previous message.
    recent: Vec<String>,
    in_transaction_log: bool,
    /// `recent` shows an injected failure or delay.
    recent_injected: bool,
    /// Transcript of earlier transactions on this connection that were
    /// ended by an injected failure, for the next message's transcript: an
    /// app's retry then shows what it retried after.
    carried: Vec<String>,
    /// Chaos rules and `fail-CODE@` addresses, consulted at each stage.
    policy: Policy,
    /// A chaos delay asked for while handling the current input.
    pending_delay: Option<(Stage, Duration)>,
    /// The step that comes after a [`Step::Pause`].
    queued: Option<Step>,
    /// Bytes a second this connection is limited to by a chaos rule.
    link_speed: Option<u64>,
    /// The data budget held by the message being stored.
    delivering: Option<Held>,
    /// Unrecognized commands since the last recognized one.
    unknown_in_a_row: usize,
    /// Transactions begun on this connection (MAIL accepted).
    transactions: u64,
}

impl Session {
    pub fn new(
        config: Arc<SessionConfig>,
        client_addr: Option<SocketAddr>,
        tls: bool,
        nonce: String,
    ) -> Self {
        let policy = Policy::new(config.chaos.clone(), &nonce);
        Session {
            config,
            phase: Phase::Command,
            input: Vec::new(),
            pos: 0,
            discarding_line: false,
            helo: None,
            esmtp: false,
            tls,
            auth_user: None,
            client_addr,
            txn: None,
            prelude: Vec::new(),
            recent: Vec::new(),
            in_transaction_log: false,
            recent_injected: false,
            carried: Vec::new(),
            policy,
            nonce,
            pending_delay: None,
            queued: None,
            link_speed: None,
            delivering: None,
            unknown_in_a_row: 0,
            transactions: 0,
        }
    }

    /// Bytes a second the listener lets through each way, when a chaos rule
    /// made this connection slow (decided with the greeting).
    pub fn link_speed(&self) -> Option<u64> {
        self.link_speed
    }

    /// The `220` greeting, sent when the connection opens (unless a chaos
    /// rule at `connect` refuses it, which also closes the session).
    pub fn greeting(&mut self) -> Step {
        self.link_speed = self.policy.link_speed();
        if let Some(speed) = self.link_speed {
            self.log(format!(
                "(link limited to {speed} bytes a second by a chaos rule)"
            ));
        }
        let step = match self.consult(Stage::Connect, &Context::default()) {
            Some(step) => self.emit(step),
            None => self.reply(Reply::bare(
                220,
                vec![format!("{} ESMTP Letterbox ready", self.config.hostname)],
            )),
        };
        self.delayed(step)
    }

    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos == self.input.len() {
            self.input.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 && self.pos * 2 > self.input.len() {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// The reply for an idle connection; the session is closed afterwards.
    pub fn timed_out(&mut self) -> Reply {
        self.phase = Phase::Closed;
        let reply = Reply::new(
            421,
            "4.4.2",
            format!("{} Idle timeout, closing connection", self.config.hostname),
        );
        self.log_reply(&reply);
        reply
    }

    /// The reply for a client whose message content arrives slower than
    /// `bytes_per_second`; the session is closed afterwards.
    pub fn too_slow(&mut self, bytes_per_second: u64) -> Reply {
        self.phase = Phase::Closed;
        let reply = Reply::new(
            421,
            "4.4.2",
            format!(
                "{} Message content arrives slower than {bytes_per_second} bytes a second, closing connection",
                self.config.hostname
            ),
        );
        self.log_reply(&reply);
        reply
    }

    /// True between MAIL and the reply to the message (or RSET), and during
    /// an AUTH exchange: the client is in the middle of something that a
    /// graceful shutdown lets it finish.
    pub fn is_busy(&self) -> bool {
        self.txn.is_some() || !matches!(self.phase, Phase::Command | Phase::Closed)
    }

    /// True while message content (DATA or a BDAT chunk) is being read,
    /// where every byte is progress; elsewhere only a whole command is.
    pub fn is_receiving_content(&self) -> bool {
        matches!(self.phase, Phase::Data(_) | Phase::Bdat { .. })
    }

    /// The current transaction's number on this connection and the bytes
    /// of message content it has received, once its content has begun
    /// (DATA accepted, or a first BDAT chunk); `None` before that and after
    /// the message is answered.
    pub fn content_received(&self) -> Option<(u64, usize)> {
        let received = match (&self.phase, &self.txn) {
            (Phase::Data(rx), _) => rx.received(),
            (Phase::Bdat { .. }, Some(txn)) => txn.received,
            (_, Some(txn)) if txn.chunked => txn.received,
            _ => return None,
        };
        Some((self.transactions, received))
    }

    /// The reply for an idle connection when the server shuts down; the
    /// session is closed afterwards.
    pub fn shutting_down(&mut self) -> Reply {
        self.phase = Phase::Closed;
        let reply = Reply::new(
            421,
            "4.3.2",
            format!(
                "{} Service shutting down, try again later",
                self.config.hostname
            ),
        );
        self.log_reply(&reply);
        reply
    }

    /// Advances the session as far as the buffered input allows.
    pub fn advance(&mut self) -> Step {
        if let Some(step) = self.queued.take() {
            return step;
        }
        let step = self.advance_input();
        self.delayed(step)
    }

    /// `step`, or a [`Step::Pause`] before it when a chaos rule asked for
    /// a delay.
    fn delayed(&mut self, step: Step) -> Step {
        match self.pending_delay.take() {
            Some((stage, delay)) => {
                self.queued = Some(step);
                Step::Pause { stage, delay }
            }
            None => step,
        }
    }

    /// Reports how storing the delivered message went and gives the reply.
    /// `Ok(id)` means the message is durably committed under `id`.
    pub fn delivered(&mut self, outcome: Result<String, Reply>) -> Reply {
        debug_assert!(matches!(self.phase, Phase::Delivering));
        self.phase = Phase::Command;
        self.delivering = None;
        let reply = match outcome {
            Ok(id) => Reply::queued(&id),
            Err(reply) => reply,
        };
        // The reply belongs to the message just handled (ingest records it
        // in that message's transcript); the next transcript starts clean.
        self.recent.clear();
        self.recent_injected = false;
        reply
    }

    /// The TLS handshake finished: per RFC 3207 the session starts over.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.helo = None;
        self.esmtp = false;
        self.txn = None;
        self.auth_user = None;
        self.prelude.push("(TLS handshake completed)".into());
    }

    // ---- the dispatcher ----

    /// Handles one complete line. `None` means "no reply, keep going".
    fn line(&mut self, line: &[u8]) -> Option<Step> {
        if let Phase::Auth(exchange) = &self.phase {
            let exchange = exchange.clone();
            self.log_client("(SASL response redacted)".into());
            let text = String::from_utf8_lossy(line);
            let step = auth::respond(exchange, &text, &self.config.auth);
            return Some(self.auth_step(step));
        }
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            return Some(self.reply(Reply::new(500, "5.5.2", "Empty command")));
        }
        if guard::looks_like_http(text) {
            // A web page making the browser talk to this port: nothing
            // after this line is read, not even a pipelined QUIT.
            self.log_client("(HTTP request line or header, not SMTP)".into());
            return Some(self.close_with(Reply::new(
                554,
                "5.7.0",
                "This is an SMTP server, not HTTP: closing the connection",
            )));
        }
        if text
            .as_bytes()
            .get(..4)
            .is_some_and(|v| v.eq_ignore_ascii_case(b"MAIL"))
        {
            // From the first MAIL on, the transcript is per transaction.
            self.in_transaction_log = true;
        }
        self.log_client(redact_command(text));
        let mut bytes = line.iter();
        let request = Request::parse(&mut bytes);
        Some(match request {
            Ok(request) => {
                self.unknown_in_a_row = 0;
                self.command(request.into_owned(), text)
            }
            Err(ProtoError::UnknownCommand) => {
                self.unknown_in_a_row += 1;
                if self.unknown_in_a_row >= guard::MAX_UNKNOWN_COMMANDS {
                    return Some(self.close_with(Reply::new(
                        421,
                        "4.5.0",
                        format!(
                            "{} Too many unrecognized commands, closing the connection",
                            self.config.hostname
                        ),
                    )));
                }
                self.reply(parse_error_reply(ProtoError::UnknownCommand, text))
            }
            Err(err) => self.reply(parse_error_reply(err, text)),
        })
    }

    /// Runs a parsed command; `line` is its text, for what the parser loses.
    fn command(&mut self, request: Request<String>, line: &str) -> Step {
        match request {
            Request::Ehlo { host } => self.hello(host, true),
            Request::Helo { host } => self.hello(host, false),
            Request::Mail { from } => self.mail(from, line),
            Request::Rcpt { to } => self.rcpt(to, line),
            Request::Data => self.data(),
            Request::Bdat {
                chunk_size,
                is_last,
            } => self.bdat(chunk_size, is_last),
            Request::Rset => self.rset(),
            Request::StartTls => self.starttls(),
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response),
            Request::Quit => self.quit(),
            Request::Lhlo { .. }
            | Request::Noop { .. }
            | Request::Vrfy { .. }
            | Request::Expn { .. }
            | Request::Help { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.fixed_reply(&request),
        }
    }
}

fn parse_error_reply(err: ProtoError, line: &str) -> Reply {
    match err {
        ProtoError::UnknownCommand => {
            let verb: String = line
                .split_whitespace()
                .next()
                .unwrap_or("")
                .chars()
                .take(32)
                .collect();
            Reply::new(500, "5.5.1", format!("Command unrecognized: {verb}"))
        }
        ProtoError::InvalidSenderAddress => Reply::new(501, "5.1.7", "Invalid sender address"),
        ProtoError::InvalidRecipientAddress => {
            Reply::new(501, "5.1.3", "Invalid recipient address")
        }
        ProtoError::SyntaxError { syntax } => {
            Reply::new(501, "5.5.4", format!("Syntax error, expected: {syntax}"))
        }
        ProtoError::InvalidParameter { param } => {
            Reply::new(501, "5.5.4", format!("Invalid parameter: {param}"))
        }
        ProtoError::UnsupportedParameter { param } => {
            let param: String = param.chars().take(64).collect();
            Reply::new(555, "5.5.4", format!("Unsupported parameter: {param}"))
        }
        ProtoError::NeedsMoreData { .. }
        | ProtoError::ResponseTooLong
        | ProtoError::InvalidResponse { .. } => Reply::new(500, "5.5.2", "Syntax error"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::mail::declared_size;
    use super::*;
    use crate::domain::chaos::Rules;
    use crate::smtp::policy::Outcome;

    /// Drives a session over byte buffers and records what it did.
    struct Harness {
        session: Session,
        delivered: Vec<Delivery>,
        tls_started: usize,
        /// The greeting's step, for the first `send` to report.
        greeting: Option<Step>,
    }

    impl Harness {
        fn new(config: SessionConfig) -> Self {
            let mut session = Session::new(Arc::new(config), None, false, "nonce".into());
            assert!(matches!(session.greeting(), Step::Reply(r) if r.code == 220));
            Harness {
                session,
                delivered: Vec::new(),
                tls_started: 0,
                greeting: None,
            }
        }

        fn default() -> Self {
            Self::new(SessionConfig::default())
        }

        /// Feeds `input` and returns every reply as `code status` (or the
        /// code alone), in order, until the session needs input or closes.
        fn send(&mut self, input: &[u8]) -> Vec<String> {
            self.session.feed(input);
            let mut replies = Vec::new();
            loop {
                let step = self.greeting.take();
                match step.unwrap_or_else(|| self.session.advance()) {
                    Step::Reply(r) => replies.push(short(&r)),
                    Step::Deliver(d) => {
                        self.delivered.push(*d);
                        let id = format!("ID{}", self.delivered.len());
                        replies.push(short(&self.session.delivered(Ok(id))));
                    }
                    Step::StartTls => {
                        self.tls_started += 1;
                        self.session.tls_started();
                    }
                    Step::NeedInput => return replies,
                    Step::Close => {
                        replies.push("CLOSE".into());
                        return replies;
                    }
                    Step::Inject(Injection {
                        outcome: Outcome::Reply(r),
                        ..
                    }) => replies.push(short(&r)),
                    Step::Inject(Injection {
                        outcome: Outcome::Disconnect,
                        ..
                    }) => {
                        replies.push("DROP".into());
                        return replies;
                    }
                    Step::Pause { stage, delay } => {
                        replies.push(format!("PAUSE {stage} {}ms", delay.as_millis()))
                    }
                }
            }
        }

        fn ehlo(&mut self) {
            let replies = self.send(b"EHLO client.test\r\n");
            assert_eq!(replies, ["250"]);
        }
    }

    fn short(r: &Reply) -> String {
        match r.status {
            Some(s) => format!("{} {s}", r.code),
            None => r.code.to_string(),
        }
    }

    fn ehlo_lines(h: &mut Harness) -> Vec<String> {
        h.session.feed(b"EHLO c\r\n");
        match h.session.advance() {
            Step::Reply(r) => r.lines,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ehlo_advertises_extensions() {
        let mut h = Harness::default();
        let lines = ehlo_lines(&mut h);
        for ext in [
            "PIPELINING",
            "SIZE 52428800",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "CHUNKING",
            "STARTTLS",
            "AUTH PLAIN LOGIN CRAM-MD5",
        ] {
            assert!(
                lines.iter().any(|l| l == ext),
                "{ext} missing from {lines:?}"
            );
        }
    }

    #[test]
    fn helo_gives_a_plain_250() {
        let mut h = Harness::default();
        assert_eq!(h.send(b"HELO client\r\n"), ["250"]);
        assert_eq!(h.send(b"MAIL FROM:<a@b>\r\n"), ["250 2.1.0"]);
    }

    #[test]
    fn a_whole_pipelined_transaction_is_answered_in_order() {
        let mut h = Harness::default();
        let replies = h.send(
            b"EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n",
        );
        assert_eq!(
            replies,
            ["250", "250 2.1.0", "250 2.1.5", "250 2.1.5", "354 2.0.0"]
        );
        let replies = h.send(b"Subject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n");
        assert_eq!(replies, ["250 2.0.0", "221 2.0.0", "CLOSE"]);
        let d = &h.delivered[0];
        assert_eq!(d.data, b"Subject: hi\r\n\r\n.dot\r\n");
        assert_eq!(d.envelope.mail_from, "a@example.com");
        assert_eq!(d.envelope.rcpt_to, ["b@example.com", "c@example.com"]);
        assert_eq!(d.envelope.helo.as_deref(), Some("c"));
    }

    #[test]
    fn queued_reply_names_the_id() {
        let mut h = Harness::default();
        h.ehlo();
        h.session
            .feed(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n");
        let mut last = None;
        loop {
            match h.session.advance() {
                Step::Deliver(_) => last = Some(h.session.delivered(Ok("01ABC".into()))),
                Step::NeedInput => break,
                _ => {}
            }
        }
        assert_eq!(last.unwrap().lines, ["Ok: queued as 01ABC"]);
    }

    #[test]
    fn storage_failure_reply_is_passed_through() {
        let mut h = Harness::default();
        h.ehlo();
        h.session
            .feed(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n");
        loop {
            match h.session.advance() {
                Step::Deliver(_) => {
                    let r = h
                        .session
                        .delivered(Err(Reply::new(451, "4.3.0", "try later")));
                    assert_eq!(short(&r), "451 4.3.0");
                }
                Step::NeedInput => break,
                _ => {}
            }
        }
        // The session is ready for the next transaction.
        assert_eq!(h.send(b"MAIL FROM:<a@b>\r\n"), ["250 2.1.0"]);
    }

    #[test]
    fn many_messages_on_one_connection() {
        let mut h = Harness::default();
        h.ehlo();
        for i in 0..5 {
            let msg = format!("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nmessage {i}\r\n.\r\n");
            let replies = h.send(msg.as_bytes());
            assert_eq!(replies.last().unwrap(), "250 2.0.0");
        }
        assert_eq!(h.delivered.len(), 5);
        assert_eq!(h.delivered[4].data, b"message 4\r\n");
    }

    #[test]
    fn bdat_chunks_including_zero_last() {
        let mut h = Harness::default();
        h.ehlo();
        assert_eq!(
            h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"),
            ["250 2.1.0", "250 2.1.5"]
        );
        assert_eq!(h.send(b"BDAT 5\r\nhel"), Vec::<String>::new());
        assert_eq!(h.send(b"lo"), ["250 2.0.0"]);
        assert_eq!(
            h.send(b"BDAT 10\r\n\r\n.world\r\nBDAT 0 LAST\r\n"),
            ["250 2.0.0", "250 2.0.0"]
        );
        // BDAT content is taken as is: no dot-unstuffing.
        assert_eq!(h.delivered[0].data, b"hello\r\n.world\r\n");
    }

    #[test]
    fn bdat_last_in_one_go() {
        let mut h = Harness::default();
        h.ehlo();
        let replies = h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3 LAST\r\nabcNOOP\r\n");
        assert_eq!(
            replies,
            ["250 2.1.0", "250 2.1.5", "250 2.0.0", "250 2.0.0"]
        );
        assert_eq!(h.delivered[0].data, b"abc");
    }

    #[test]
    fn bdat_out_of_order_consumes_the_chunk() {
        let mut h = Harness::default();
        h.ehlo();
        // Without the chunk being skipped, "QUIT" would be read as data or
        // "abcd" as a command.
        assert_eq!(
            h.send(b"BDAT 4\r\nabcdNOOP\r\n"),
            ["503 5.5.1", "250 2.0.0"]
        );
    }

    #[test]
    fn data_after_bdat_is_refused() {
        let mut h = Harness::default();
        h.ehlo();
        let replies = h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 1\r\nxDATA\r\n");
        assert_eq!(replies.last().unwrap(), "503 5.5.1");
    }

    #[test]
    fn wrong_order_is_503() {
        let mut h = Harness::default();
        assert_eq!(h.send(b"MAIL FROM:<a@b>\r\n"), ["503 5.5.1"]);
        h.ehlo();
        assert_eq!(h.send(b"RCPT TO:<a@b>\r\n"), ["503 5.5.1"]);
        assert_eq!(h.send(b"DATA\r\n"), ["503 5.5.1"]);
        assert_eq!(h.send(b"MAIL FROM:<a@b>\r\n"), ["250 2.1.0"]);
        assert_eq!(h.send(b"MAIL FROM:<a@b>\r\n"), ["503 5.5.1"]);
        assert_eq!(
            h.send(b"RCPT TO:<>\r\nDATA\r\n"),
            ["501 5.1.3", "554 5.5.1"]
        );
    }

    #[test]
    fn data_without_any_rcpt_takes_the_recipients_from_the_headers() {
        // What BusyBox's `sendmail` without -t does, and MailHog accepts.
        let mut h = Harness::default();
        h.ehlo();
        let replies = h.send(
            b"MAIL FROM:<nobody@host>\r\nDATA\r\nTo: A <a@example.org>, b@example.org\r\n\
              Cc: =?utf-8?B?5pel5pys?= <cc@example.org>\r\nBcc: a@example.org, <bad@>\r\n\
              Subject: s\r\n\r\nbody\r\n.\r\n",
        );
        assert_eq!(replies, ["250 2.1.0", "354 2.0.0", "250 2.0.0"]);
        let envelope = &h.delivered[0].envelope;
        assert_eq!(
            envelope.rcpt_to,
            ["a@example.org", "b@example.org", "cc@example.org"]
        );
        // No header recipients: stored all the same.
        h.send(b"MAIL FROM:<nobody@host>\r\nDATA\r\nSubject: s\r\n\r\nx\r\n.\r\n");
        assert_eq!(h.delivered.len(), 2);
        assert!(h.delivered[1].envelope.rcpt_to.is_empty());
    }

    #[test]
    fn http_ends_the_connection_at_the_first_line() {
        let mut h = Harness::default();
        let replies =
            h.send(b"POST / HTTP/1.1\r\nHost: 127.0.0.1:1025\r\n\r\nEHLO x\r\nMAIL FROM:<a@b>\r\n");
        assert_eq!(replies, ["554 5.7.0", "CLOSE"]);
        let mut h = Harness::default();
        h.ehlo();
        assert_eq!(h.send(b"Host: example.com\r\n"), ["554 5.7.0", "CLOSE"]);
    }

    #[test]
    fn unknown_commands_in_a_row_end_the_connection() {
        let mut h = Harness::default();
        let once = vec!["500 5.5.1"; guard::MAX_UNKNOWN_COMMANDS - 1];
        assert_eq!(
            h.send(&b"FOO\r\n".repeat(guard::MAX_UNKNOWN_COMMANDS - 1)),
            once
        );
        // A recognized command starts the count over.
        assert_eq!(h.send(b"NOOP\r\n"), ["250 2.0.0"]);
        assert_eq!(
            h.send(&b"FOO\r\n".repeat(guard::MAX_UNKNOWN_COMMANDS - 1)),
            once
        );
        assert_eq!(h.send(b"BAR\r\nNOOP\r\n"), ["421 4.5.0", "CLOSE"]);
    }

    #[test]
    fn addresses_are_stored_quoted_as_they_must_be_sent() {
        let mut h = Harness::default();
        h.ehlo();
        let replies = h.send(
            b"MAIL FROM:<\"odd sender\"@x.test>\r\nRCPT TO:<\"attacker@evil.com> ORCPT=rfc822;x\"@example.com>\r\nDATA\r\nx\r\n.\r\n",
        );
        assert_eq!(
            replies,
            ["250 2.1.0", "250 2.1.5", "354 2.0.0", "250 2.0.0"]
        );
        let envelope = &h.delivered[0].envelope;
        assert_eq!(envelope.mail_from, r#""odd sender"@x.test"#);
        assert_eq!(
            envelope.rcpt_to,
            [r#""attacker@evil.com> ORCPT=rfc822;x"@example.com"#]
        );
        let replies = h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<a@b> NOTIFY=NEVER>\r\n");
        assert_eq!(replies[0], "250 2.1.0");
        assert!(replies[1].starts_with('5'), "{replies:?}");
    }

    #[test]
    fn the_data_budget_refuses_new_transactions_and_a_message_past_it() {
        let budget = DataBudget::new(100);
        let config = SessionConfig {
            data_budget: budget.clone(),
            ..SessionConfig::default()
        };
        let mut first = Harness::new(config.clone());
        let mut second = Harness::new(config);
        first.ehlo();
        second.ehlo();
        first.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
        first.send(&[b'x'; 60]);
        // The second message goes past what is left: read to its end and
        // refused, so its client tries again; nothing of it is kept.
        second.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
        second.send(&[b'y'; 30]);
        assert_eq!(budget.in_use(), 90);
        assert_eq!(second.send(&[b'y'; 20]), Vec::<String>::new());
        // What it held is given back as soon as it goes over, so the first
        // message can still finish.
        assert_eq!(budget.in_use(), 60);
        assert_eq!(second.send(b"\r\n.\r\n"), ["452 4.3.1"]);
        assert!(second.delivered.is_empty());
        // With the budget used up, a new transaction is refused at MAIL.
        first.send(&[b'x'; 38]);
        first.send(b"\r\n");
        assert!(budget.is_exhausted());
        assert_eq!(second.send(b"MAIL FROM:<a@b>\r\n"), ["452 4.3.1"]);
        // The first message is stored whole, and its budget given back.
        assert_eq!(first.send(b".\r\n"), ["250 2.0.0"]);
        assert_eq!(first.delivered[0].data.len(), 100);
        assert_eq!(budget.in_use(), 0);
        assert_eq!(second.send(b"MAIL FROM:<a@b>\r\n"), ["250 2.1.0"]);
    }

    #[test]
    fn pipelining_past_a_failed_command() {
        let mut h = Harness::default();
        h.ehlo();
        let replies = h.send(b"RCPT TO:<x@y>\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
        assert_eq!(
            replies,
            ["503 5.5.1", "250 2.1.0", "250 2.1.5", "354 2.0.0"]
        );
    }

    #[test]
    fn syntax_errors() {
        let mut h = Harness::default();
        assert_eq!(h.send(b"FOO bar\r\n"), ["500 5.5.1"]);
        assert_eq!(h.send(b"\r\n"), ["500 5.5.2"]);
        h.ehlo();
        assert_eq!(h.send(b"MAIL TO:<a@b>\r\n"), ["501 5.5.4"]);
        assert_eq!(
            h.send(b"MAIL FROM:<a@b> FOO=BAR\r\n")[0].split(' ').next(),
            Some("555")
        );
        assert_eq!(h.send(b"MAIL FROM:<a@b> RET=HDRS\r\n"), ["555 5.5.4"]);
    }

    #[test]
    fn null_sender_is_accepted() {
        let mut h = Harness::default();
        h.ehlo();
        assert_eq!(h.send(b"MAIL FROM:<>\r\n"), ["250 2.1.0"]);
    }

    #[test]
    fn vrfy_expn_help_noop_rset() {
        let mut h = Harness::default();
        assert_eq!(h.send(b"VRFY someone\r\n"), ["252 2.5.0"]);
        assert_eq!(h.send(b"EXPN list\r\n"), ["502 5.5.1"]);
        assert_eq!(h.send(b"HELP\r\n"), ["214 2.0.0"]);
        assert_eq!(h.send(b"NOOP\r\n"), ["250 2.0.0"]);
        h.ehlo();
        assert_eq!(
            h.send(b"MAIL FROM:<a@b>\r\nRSET\r\nRCPT TO:<c@d>\r\n"),
            ["250 2.1.0", "250 2.0.0", "503 5.5.1"]
        );
    }

    #[test]
    fn quit_ignores_anything_after_it() {
        let mut h = Harness::default();
        assert_eq!(h.send(b"QUIT\r\nNOOP\r\n"), ["221 2.0.0", "CLOSE"]);
    }

    #[test]
    fn over_long_lines_get_500_and_the_session_recovers() {
        let mut h = Harness::default();
        let mut line = vec![b'A'; 5000];
        line.extend_from_slice(b"\r\nNOOP\r\n");
        assert_eq!(h.send(&line), ["500 5.5.2", "250 2.0.0"]);
        // Without a line end, across several reads: one reply only.
        assert_eq!(h.send(&[b'B'; 3000]), Vec::<String>::new());
        assert_eq!(h.send(&[b'B'; 3000]), ["500 5.5.2"]);
        assert_eq!(h.send(&[b'B'; 9000]), Vec::<String>::new());
        assert_eq!(h.send(b"tail\r\nNOOP\r\n"), ["250 2.0.0"]);
    }

    #[test]
    fn bare_lf_commands_and_data() {
        let mut h = Harness::default();
        let replies = h.send(b"EHLO c\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\nline\n.\n");
        assert_eq!(
            replies,
            ["250", "250 2.1.0", "250 2.1.5", "354 2.0.0", "250 2.0.0"]
        );
        assert_eq!(h.delivered[0].data, b"line\n");
    }

    #[test]
    fn smtputf8_and_eight_bit() {
        let mut h = Harness::default();
        h.ehlo();
        let replies = h.send("MAIL FROM:<jösé@exämple.com> SMTPUTF8 BODY=8BITMIME\r\nRCPT TO:<δοκιμή@παράδειγμα.δοκιμή>\r\nDATA\r\n".as_bytes());
        assert_eq!(replies, ["250 2.1.0", "250 2.1.5", "354 2.0.0"]);
        let body = "Subject: ünïcödé\r\n\r\n\u{1F600} \u{00ff}\r\n".as_bytes();
        let mut input = body.to_vec();
        input.extend_from_slice(b".\r\n");
        assert_eq!(h.send(&input), ["250 2.0.0"]);
        let d = &h.delivered[0];
        assert_eq!(d.data, body);
        assert_eq!(d.envelope.mail_from, "jösé@exämple.com");
        assert!(d.envelope.smtputf8 && d.envelope.body_8bitmime);
    }

    #[test]
    fn size_limits() {
        let mut h = Harness::new(SessionConfig {
            max_message_size: 10,
            ..SessionConfig::default()
        });
        h.ehlo();
        assert_eq!(h.send(b"MAIL FROM:<a@b> SIZE=11\r\n"), ["552 5.3.4"]);
        assert_eq!(
            h.send(b"MAIL FROM:<a@b> SIZE=10\r\nRCPT TO:<c@d>\r\nDATA\r\n")
                .len(),
            3
        );
        assert_eq!(h.send(b"0123456789ABCDEF\r\n.\r\n"), ["552 5.3.4"]);
        assert!(h.delivered.is_empty());
        // The connection goes on; BDAT is limited the same way.
        let replies =
            h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 20 LAST\r\n01234567890123456789");
        assert_eq!(replies, ["250 2.1.0", "250 2.1.5", "552 5.3.4"]);
        assert!(h.delivered.is_empty());
    }

    #[test]
    fn recipient_limit() {
        let mut h = Harness::new(SessionConfig {
            max_recipients: 2,
            ..SessionConfig::default()
        });
        h.ehlo();
        let replies =
            h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<1@x>\r\nRCPT TO:<2@x>\r\nRCPT TO:<3@x>\r\n");
        assert_eq!(
            replies,
            ["250 2.1.0", "250 2.1.5", "250 2.1.5", "452 4.5.3"]
        );
    }

    #[test]
    fn starttls_discards_pipelined_plaintext_and_resets() {
        let mut h = Harness::default();
        h.ehlo();
        assert_eq!(
            h.send(b"STARTTLS\r\nMAIL FROM:<injected@x>\r\n"),
            ["220 2.0.0"]
        );
        assert_eq!(h.tls_started, 1);
        // The injected MAIL was dropped, and EHLO is needed again.
        assert_eq!(h.send(b"MAIL FROM:<a@b>\r\n"), ["503 5.5.1"]);
        let lines = ehlo_lines(&mut h);
        assert!(!lines.iter().any(|l| l == "STARTTLS"));
        assert_eq!(h.send(b"STARTTLS\r\n"), ["503 5.5.1"]);
    }

    #[test]
    fn require_tls() {
        let mut h = Harness::new(SessionConfig {
            require_tls: true,
            ..SessionConfig::default()
        });
        h.ehlo();
        assert_eq!(h.send(b"MAIL FROM:<a@b>\r\n"), ["530 5.7.0"]);
        assert_eq!(h.send(b"AUTH PLAIN AGEAYg==\r\n"), ["530 5.7.0"]);
        h.send(b"STARTTLS\r\n");
        h.ehlo();
        assert_eq!(h.send(b"MAIL FROM:<a@b>\r\n"), ["250 2.1.0"]);
    }

    fn with_credentials() -> Harness {
        Harness::new(SessionConfig {
            auth: AuthPolicy::Credentials(HashMap::from([("alice".into(), "s3cret".into())])),
            ..SessionConfig::default()
        })
    }

    #[test]
    fn auth_required_when_credentials_are_configured() {
        let mut h = with_credentials();
        h.ehlo();
        assert_eq!(h.send(b"MAIL FROM:<a@b>\r\n"), ["530 5.7.0"]);
        // "\0alice\0wrong"
        assert_eq!(h.send(b"AUTH PLAIN AGFsaWNlAHdyb25n\r\n"), ["535 5.7.8"]);
        // "\0alice\0s3cret"
        assert_eq!(
            h.send(b"AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n"),
            ["235 2.7.0"]
        );
        assert_eq!(
            h.send(b"AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n"),
            ["503 5.5.1"]
        );
        assert_eq!(
            h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n")
                .last()
                .unwrap(),
            "250 2.0.0"
        );
        assert_eq!(h.delivered[0].envelope.auth_user.as_deref(), Some("alice"));
    }

    #[test]
    fn auth_login_exchange_and_redacted_transcript() {
        let mut h = with_credentials();
        h.ehlo();
        assert_eq!(h.send(b"AUTH LOGIN\r\n"), ["334"]);
        assert_eq!(h.send(b"YWxpY2U=\r\n"), ["334"]);
        assert_eq!(h.send(b"czNjcmV0\r\n"), ["235 2.7.0"]);
        h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n");
        let transcript = h.delivered[0].envelope.transcript.join("\n");
        assert!(
            !transcript.contains("YWxpY2U=") && !transcript.contains("czNjcmV0"),
            "{transcript}"
        );
        assert!(transcript.contains("C: AUTH LOGIN"));
        assert!(
            transcript.contains("C: (1 octets") || transcript.contains("octets of message content")
        );
    }

    #[test]
    fn auth_errors() {
        let mut h = Harness::default();
        assert_eq!(h.send(b"AUTH PLAIN\r\n"), ["503 5.5.1"]);
        h.ehlo();
        assert_eq!(h.send(b"AUTH GSSAPI\r\n"), ["504 5.5.4"]);
        assert_eq!(h.send(b"AUTH PLAIN\r\n"), ["334"]);
        assert_eq!(h.send(b"!!!notbase64\r\n"), ["501 5.5.2"]);
        assert_eq!(h.send(b"AUTH LOGIN\r\n"), ["334"]);
        assert_eq!(h.send(b"*\r\n"), ["501 5.7.0"]);
        // Any credentials pass by default, even on a plain connection.
        assert_eq!(h.send(b"AUTH PLAIN AGJvYgB4\r\n"), ["235 2.7.0"]);
    }

    #[test]
    fn cram_md5_uses_the_nonce() {
        let mut h = Harness::default();
        h.ehlo();
        h.session.feed(b"AUTH CRAM-MD5\r\n");
        let Step::Reply(r) = h.session.advance() else {
            panic!()
        };
        use base64::Engine as _;
        let challenge = base64::engine::general_purpose::STANDARD
            .decode(&r.lines[0])
            .unwrap();
        assert_eq!(challenge, b"<nonce@letterbox>");
    }

    #[test]
    fn busy_from_mail_until_the_message_is_answered() {
        let mut h = Harness::default();
        h.ehlo();
        assert!(!h.session.is_busy());
        h.send(b"MAIL FROM:<a@example.com>\r\n");
        assert!(h.session.is_busy(), "after MAIL");
        h.send(b"RCPT TO:<b@example.com>\r\nDATA\r\nSubject: x\r\n");
        assert!(h.session.is_busy(), "in DATA");
        h.send(b"\r\nbody\r\n.\r\n");
        assert!(!h.session.is_busy(), "after the message was answered");
        h.send(b"MAIL FROM:<a@example.com>\r\nRSET\r\n");
        assert!(!h.session.is_busy(), "after RSET");
    }

    #[test]
    fn shutting_down_closes_with_421() {
        let mut h = Harness::default();
        let reply = h.session.shutting_down();
        assert_eq!((reply.code, reply.status), (421, Some("4.3.2")));
        assert!(h.session.is_closed());
    }

    #[test]
    fn timeout_closes() {
        let mut h = Harness::default();
        assert_eq!(short(&h.session.timed_out()), "421 4.4.2");
        assert!(h.session.is_closed());
        assert!(matches!(h.session.advance(), Step::Close));
    }

    #[test]
    fn transcript_is_bounded() {
        let mut h = Harness::default();
        h.ehlo();
        h.send(&b"NOOP\r\n".repeat(1000));
        h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n");
        let t = &h.delivered[0].envelope.transcript;
        assert!(t.len() <= 2 * MAX_TRANSCRIPT_LINES + 2, "{}", t.len());
        assert!(t.iter().any(|l| l == "(transcript truncated)"));
    }

    #[test]
    fn absurd_declared_sizes_are_refused() {
        let mut h = Harness::default();
        h.ehlo();
        let replies = h.send(b"MAIL FROM:<a@b> SIZE=99999999999999999999999\r\n");
        assert_eq!(replies, ["552 5.3.4"]);
        assert_eq!(
            declared_size("MAIL FROM:<a@b> size=42 BODY=8BITMIME"),
            Some(42)
        );
        assert_eq!(declared_size("MAIL FROM:<a@b>"), None);
    }

    #[test]
    fn postmaster_without_domain() {
        let mut h = Harness::default();
        h.ehlo();
        let replies = h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<Postmaster>\r\nRCPT TO:<>\r\n");
        assert_eq!(replies, ["250 2.1.0", "250 2.1.5", "501 5.1.3"]);
    }

    #[test]
    fn each_transcript_covers_its_own_transaction() {
        let mut h = Harness::default();
        h.ehlo();
        h.send(b"MAIL FROM:<first@x>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n");
        h.send(b"MAIL FROM:<second@x>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n");
        let second = h.delivered[1].envelope.transcript.join("\n");
        assert!(second.contains("C: EHLO client.test"), "{second}");
        assert!(
            second.contains("second@x") && !second.contains("first@x"),
            "{second}"
        );
        assert!(!second.contains("queued as"), "{second}");
    }

    #[test]
    fn injected_failures_at_each_stage() {
        let mut h = Harness::default();
        h.ehlo();
        assert_eq!(h.send(b"MAIL FROM:<fail-451@x>\r\n"), ["451 4.3.0"]);
        assert_eq!(h.send(b"MAIL FROM:<app@x>\r\n"), ["250 2.1.0"]);
        // At RCPT: that recipient is refused, the others are fine.
        let replies = h.send(b"RCPT TO:<fail-550@x>\r\nRCPT TO:<ok@x>\r\n");
        assert_eq!(replies, ["550 5.1.1", "250 2.1.5"]);
        assert_eq!(h.send(b"DATA\r\nx\r\n.\r\n"), ["354 2.0.0", "250 2.0.0"]);
        assert_eq!(h.delivered[0].envelope.rcpt_to, ["ok@x"]);
        // At DATA.
        let replies = h.send(b"MAIL FROM:<a@x>\r\nRCPT TO:<fail-452-data@x>\r\nDATA\r\n");
        assert_eq!(replies, ["250 2.1.0", "250 2.1.5", "452 4.3.1"]);
        // After the data: received, refused, not delivered.
        let replies =
            h.send(b"MAIL FROM:<a@x>\r\nRCPT TO:<fail-554-after-data@x>\r\nDATA\r\nbody\r\n.\r\n");
        assert_eq!(
            replies,
            ["250 2.1.0", "250 2.1.5", "354 2.0.0", "554 5.7.1"]
        );
        assert_eq!(h.delivered.len(), 1);
        // The session goes on.
        assert_eq!(h.send(b"MAIL FROM:<a@x>\r\n"), ["250 2.1.0"]);
    }

    #[test]
    fn injected_failures_with_bdat_and_421() {
        let mut h = Harness::default();
        h.ehlo();
        let replies =
            h.send(b"MAIL FROM:<a@x>\r\nRCPT TO:<fail-451-data@x>\r\nBDAT 4\r\nabcdNOOP\r\n");
        assert_eq!(
            replies,
            ["250 2.1.0", "250 2.1.5", "451 4.3.0", "250 2.0.0"]
        );
        let replies = h.send(b"MAIL FROM:<a@x>\r\nRCPT TO:<fail-421@x>\r\nNOOP\r\n");
        assert_eq!(replies, ["250 2.1.0", "421 4.3.2", "CLOSE"]);
        assert!(h.delivered.is_empty());
    }

    fn with_rules(text: &str) -> Harness {
        let config = SessionConfig {
            chaos: Chaos::new(Rules::parse(text).unwrap()),
            ..SessionConfig::default()
        };
        let mut session = Session::new(Arc::new(config), None, false, "nonce".into());
        let greeting = session.greeting();
        Harness {
            session,
            delivered: Vec::new(),
            tls_started: 0,
            greeting: Some(greeting),
        }
    }

    #[test]
    fn chaos_at_connect_refuses_and_closes() {
        let mut h = with_rules("connect=421");
        assert_eq!(h.send(b""), ["421 4.3.2", "CLOSE"]);
        let mut h = with_rules("connect=disconnect");
        assert_eq!(h.send(b""), ["DROP"]);
        let mut h = with_rules("connect=delay:250ms");
        assert_eq!(h.send(b""), ["PAUSE connect 250ms", "220"]);
    }

    #[test]
    fn chaos_at_each_command_stage() {
        let mut h = with_rules("helo=554");
        assert_eq!(h.send(b""), ["220"]);
        assert_eq!(h.send(b"EHLO c\r\n"), ["554 5.7.1"]);
        let mut h = with_rules("auth=535,mail=451");
        h.send(b"");
        h.ehlo();
        assert_eq!(h.send(b"AUTH PLAIN AGJvYgB4\r\n"), ["535 5.7.8"]);
        assert_eq!(h.send(b"MAIL FROM:<a@b>\r\n"), ["451 4.3.0"]);
        let mut h = with_rules("rcpt=452");
        h.send(b"");
        h.ehlo();
        let replies = h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
        assert_eq!(replies, ["250 2.1.0", "452 4.3.1", "554 5.5.1"]);
    }

    #[test]
    fn chaos_at_data_and_after_it() {
        let mut h = with_rules("data=554");
        h.send(b"");
        h.ehlo();
        let replies = h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
        assert_eq!(replies, ["250 2.1.0", "250 2.1.5", "554 5.7.1"]);
        // BDAT: the chunk is read and thrown away.
        let replies = h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 4\r\nabcdNOOP\r\n");
        assert_eq!(
            replies,
            ["250 2.1.0", "250 2.1.5", "554 5.7.1", "250 2.0.0"]
        );
        let mut h = with_rules("after-data=disconnect");
        h.send(b"");
        h.ehlo();
        let replies = h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n");
        assert_eq!(replies, ["250 2.1.0", "250 2.1.5", "354 2.0.0", "DROP"]);
        assert!(h.delivered.is_empty());
        assert!(h.session.is_closed());
    }

    #[test]
    fn chaos_delay_comes_before_the_reply() {
        let mut h = with_rules("rcpt=delay:2s,after-data=delay:10ms");
        h.send(b"");
        h.ehlo();
        let replies = h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nx\r\n.\r\n");
        assert_eq!(
            replies,
            [
                "250 2.1.0",
                "PAUSE rcpt 2000ms",
                "250 2.1.5",
                "354 2.0.0",
                "PAUSE after-data 10ms",
                "250 2.0.0"
            ]
        );
        let transcript = h.delivered[0].envelope.transcript.join("\n");
        assert!(
            transcript.contains("(reply delayed 2000 ms by a chaos rule at rcpt)"),
            "{transcript}"
        );
    }

    #[test]
    fn a_retry_after_an_injected_failure_carries_it_in_its_transcript() {
        let h = &mut with_rules("");
        h.send(b"");
        h.ehlo();
        h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<fail-451@x>\r\nRSET\r\n");
        h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<ok@x>\r\nDATA\r\nx\r\n.\r\n");
        let transcript = h.delivered[0].envelope.transcript.join("\n");
        assert!(
            transcript.contains("(failure injected at rcpt by the address)\nS: 451 4.3.0"),
            "{transcript}"
        );
        assert!(transcript.contains("C: RCPT TO:<ok@x>"), "{transcript}");
        // Once only: the next message starts clean.
        h.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<ok@x>\r\nDATA\r\nx\r\n.\r\n");
        let second = h.delivered[1].envelope.transcript.join("\n");
        assert!(!second.contains("injected"), "{second}");
    }
}
