//! Start-up: opens the store, binds every listener and wires SMTP, the
//! relay, the checks and the web side together from plain [`Settings`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::{App, Stats};
use crate::domain::inbox::{Inboxes, Rule};
use crate::events::Events;
use crate::pop3::{self, Pop3Certificate, Pop3Settings};
use crate::relay::{self, RelaySettings};
use crate::smtp::listener::SmtpServer;
use crate::smtp::{self, SessionConfig, SmtpCertificate, SmtpSettings};
use crate::store::{Store, StoreConfig, StoreError};
use crate::web::{self, WebSettings};
use crate::webhook::{Webhook, WebhookSettings};
use crate::{checks, tls};

/// Everything a Letterbox is started with, each feature's part in the
/// layer that uses it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Named in the SMTP greeting, the self-signed certificate and the
    /// relay's EHLO.
    pub hostname: String,
    pub smtp: SmtpSettings,
    pub web: WebSettings,
    pub store: StoreConfig,
    /// `None`: nothing is ever relayed.
    pub relay: Option<RelaySettings>,
    /// `None`: no webhook is sent.
    pub webhook: Option<WebhookSettings>,
    /// Which inbox a message goes to.
    pub inbox_rules: Vec<Rule>,
    /// Let the link check request loopback, private and link-local addresses.
    pub link_check_allow_internal: bool,
    /// spamd's `host:port`: the spam check is offered only with it.
    pub spamassassin: Option<String>,
    /// `None`: no POP3 server.
    pub pop3: Option<Pop3Settings>,
    /// DKIM keys, SPF/DMARC policies and the SPF address of the
    /// authentication check.
    pub auth: checks::auth::AuthSettings,
}

/// How long a graceful shutdown waits for SMTP sessions in the middle of a
/// message and for HTTP requests before it closes the store regardless.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Checks(#[from] checks::ChecksError),
    #[error(transparent)]
    Relay(#[from] relay::RelayConfigError),
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Whether and how the SMTP listener offers STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTlsOffer {
    /// Plain SMTP only (no certificate given).
    None,
    StartTls,
    /// STARTTLS with a certificate made at start.
    SelfSigned,
}

/// A running Letterbox: its bound addresses and the tasks serving them.
pub struct Letterbox {
    pub smtp_addr: SocketAddr,
    pub smtps_addr: Option<SocketAddr>,
    pub http_addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub pop3_addr: Option<SocketAddr>,
    pub pop3s_addr: Option<SocketAddr>,
    /// The web UI's base URL, e.g. `http://127.0.0.1:8025/`.
    pub web_url: String,
    pub store: Store,
    /// How the SMTP listener offers TLS, for the start-up banner.
    pub smtp_tls: SmtpTlsOffer,
    /// The chaos rules in force (changed at runtime through the API).
    pub chaos: crate::domain::chaos::Chaos,
    events: Events,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// Connections the kernel queues before they are accepted. Beyond it, new
/// connections' SYNs are dropped and retried after a second or more, so a
/// burst (a CI suite opening hundreds at once) would stall; the default
/// of `TcpListener::bind` is 128.
const LISTEN_BACKLOG: u32 = 4096;

fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    let listen = || {
        let socket = match addr {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
        };
        // As `TcpListener::bind` does: a restart may bind while old
        // connections linger in TIME_WAIT.
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(LISTEN_BACKLOG)
    };
    listen().map_err(|source| StartError::Bind { addr, source })
}

/// Opens the store, binds every listener and starts serving.
pub async fn start(settings: &Settings) -> Result<Letterbox, StartError> {
    let smtp = &settings.smtp;
    let web = &settings.web;
    // Everything that can still be wrong (certificate files, a relay into
    // ourselves) is found before anything is opened or bound.
    let smtp_tls = match &smtp.certificate {
        Some(SmtpCertificate::Files { cert, key }) => Some(tls::acceptor(
            Some((cert.as_path(), key.as_path())),
            &settings.hostname,
            &[],
        )?),
        Some(SmtpCertificate::SelfSigned) => Some(tls::acceptor(None, &settings.hostname, &[])?),
        None => None,
    };
    let ui_tls = match &web.tls_files {
        Some((cert, key)) => Some(tls::acceptor(
            Some((cert.as_path(), key.as_path())),
            &settings.hostname,
            &[b"http/1.1"],
        )?),
        None => None,
    };
    let pop3_tls = match settings.pop3.as_ref().and_then(|p| p.certificate.as_ref()) {
        Some(Pop3Certificate::SameAsSmtp) => smtp_tls.clone(),
        Some(Pop3Certificate::Files { cert, key }) => Some(tls::acceptor(
            Some((cert.as_path(), key.as_path())),
            &settings.hostname,
            &[],
        )?),
        None => None,
    };
    let chaos = crate::domain::chaos::Chaos::new(smtp.chaos.clone());
    if let Some(relay) = &settings.relay {
        let listeners: Vec<SocketAddr> = std::iter::once(smtp.listen)
            .chain(smtp.listen_tls)
            .collect();
        relay.check_not_self(&listeners)?;
    }

    let smtp_listener = bind(smtp.listen)?;
    let smtps_listener = match smtp.listen_tls {
        Some(addr) => Some(bind(addr)?),
        None => None,
    };
    let http_listener = bind(web.listen)?;
    let metrics_listener = match web.metrics {
        Some(addr) => Some(bind(addr)?),
        None => None,
    };
    let pop3 = settings.pop3.as_ref();
    let pop3_listener = match pop3.and_then(|p| p.listen) {
        Some(addr) => Some(bind(addr)?),
        None => None,
    };
    let pop3s_listener = match pop3.and_then(|p| p.listen_tls) {
        Some(addr) => Some(bind(addr)?),
        None => None,
    };

    let events = Events::default();
    let store = Store::connect(&settings.store, events.clone()).await?;
    let stats = Arc::new(Stats::default());
    let inboxes = Arc::new(Inboxes::new(settings.inbox_rules.clone()));
    let app = App::new(
        store.clone(),
        events.clone(),
        stats.clone(),
        inboxes,
        |id| smtp::reply::Reply::queued(id).summary(),
    );
    let app = match settings.webhook {
        Some(_) => app.with_webhook(),
        None => app,
    };
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    if store.is_shared() {
        // Chaos rules are the same on every node: this one's --chaos is
        // shared with the others, or theirs are put in force here.
        let given = chaos.rules().active_text().is_some();
        tasks.spawn(app.clone().follow_shared_chaos(chaos.clone(), given));
    }
    let smtp_server = Arc::new(SmtpServer {
        session: Arc::new(SessionConfig {
            hostname: settings.hostname.clone(),
            max_message_size: usize::try_from(smtp.max_message_size).unwrap_or(usize::MAX),
            max_recipients: smtp.max_recipients,
            auth: smtp.auth.clone(),
            starttls: smtp_tls.is_some(),
            require_tls: smtp.require_tls,
            data_budget: smtp::limits::DataBudget::counting_in(
                usize::try_from(smtp.data_budget).unwrap_or(usize::MAX),
                stats.smtp_data_in_flight(),
            ),
            chaos: chaos.clone(),
        }),
        tls: smtp_tls,
        ingest: app.clone(),
        idle_timeout: smtp.idle_timeout,
        connections: Arc::new(Semaphore::new(smtp.max_connections)),
        client_slots: smtp::limits::ClientSlots::new(smtp.max_connections_per_ip),
        min_data_rate: (smtp.min_data_rate > 0).then_some(smtp::limits::MinDataRate {
            bytes_per_second: smtp.min_data_rate,
            grace: smtp.idle_timeout,
        }),
        shutdown: shutdown.clone(),
        tasks: tasks.clone(),
    });

    let local = |l: &TcpListener| l.local_addr().expect("a bound socket has an address");
    let (smtp_addr, http_addr) = (local(&smtp_listener), local(&http_listener));
    let smtps_addr = smtps_listener.as_ref().map(local);
    let metrics_addr = metrics_listener.as_ref().map(local);
    let (pop3_addr, pop3s_addr) = (
        pop3_listener.as_ref().map(local),
        pop3s_listener.as_ref().map(local),
    );
    if let Some(pop3) = pop3 {
        let server = Arc::new(pop3::listener::Pop3Server {
            app: app.clone(),
            logins: pop3.logins.clone(),
            tls: pop3_tls,
            hostname: settings.hostname.clone(),
            max_messages: pop3.max_messages,
            max_commands: pop3::listener::Pop3Server::commands_for(pop3.max_messages),
            idle_timeout: pop3.idle_timeout,
            connections: Arc::new(Semaphore::new(pop3.max_connections)),
            maildrops: Arc::default(),
            shutdown: shutdown.clone(),
            tasks: tasks.clone(),
        });
        if let Some(listener) = pop3_listener {
            tasks.spawn(pop3::listener::serve(listener, server.clone(), false));
        }
        if let Some(listener) = pop3s_listener {
            tasks.spawn(pop3::listener::serve(listener, server, true));
        }
    }
    let scheme = if ui_tls.is_some() { "https" } else { "http" };
    let web_url = format!("{scheme}://{http_addr}{}", web.options.webroot);

    tasks.spawn(smtp::listener::serve(
        smtp_listener,
        smtp_server.clone(),
        false,
    ));
    if let Some(listener) = smtps_listener {
        tasks.spawn(smtp::listener::serve(listener, smtp_server, true));
    }
    let relay = match &settings.relay {
        Some(relay_settings) => Some(relay::Relay::start(
            relay_settings.clone(),
            &settings.hostname,
            app.clone(),
            &shutdown,
            &tasks,
        )?),
        None => None,
    };
    let webhook = match &settings.webhook {
        Some(webhook_settings) => Some(Webhook::start(
            webhook_settings.clone(),
            app.clone(),
            &shutdown,
            &tasks,
        )?),
        None => None,
    };
    let checks = Arc::new(checks::Checks::new(
        settings.link_check_allow_internal,
        settings.spamassassin.clone(),
        &settings.auth,
        &settings.hostname,
    )?);
    let state = web::AppState {
        app,
        max_message_size: smtp.max_message_size,
        chaos: chaos.clone(),
        relay,
        webhook,
        smtp_addrs: std::iter::once(smtp_addr).chain(smtps_addr).collect(),
        checks,
    };
    if let Some(listener) = metrics_listener {
        let app = web::metrics_router(state.clone());
        tasks.spawn(web::listener::serve(listener, app, None, shutdown.clone()));
    }
    let app = web::router(state, &web.options);
    tasks.spawn(web::listener::serve(
        http_listener,
        app,
        ui_tls,
        shutdown.clone(),
    ));

    Ok(Letterbox {
        smtp_addr,
        smtps_addr,
        http_addr,
        metrics_addr,
        pop3_addr,
        pop3s_addr,
        web_url,
        store,
        smtp_tls: match smtp.certificate {
            None => SmtpTlsOffer::None,
            Some(SmtpCertificate::Files { .. }) => SmtpTlsOffer::StartTls,
            Some(SmtpCertificate::SelfSigned) => SmtpTlsOffer::SelfSigned,
        },
        chaos,
        events,
        shutdown,
        tasks,
    })
}

impl Letterbox {
    /// Graceful shutdown: stops accepting connections, closes idle SMTP
    /// sessions with `421` and ends event streams, lets messages being
    /// received finish (up to [`DRAIN_TIMEOUT`]), then waits for the writer
    /// to commit what it has and close the database.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.events.close();
        self.tasks.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "connections still busy after {} s; closing the store anyway",
                DRAIN_TIMEOUT.as_secs()
            );
        }
        self.store.close().await;
    }
}
