//! Letterbox: a mail catcher for developers.
//!
//! Data flows one way: [`smtp`] receives a message, [`ingest`] parses it
//! once ([`message`]) and hands it to the [`store`], whose writer publishes
//! each committed change as an [`events`] entry for the [`web`] side.

pub mod checks;
pub mod cli;
pub mod client;
pub mod config;
pub mod domain;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod ingest;
pub mod net;
pub mod relay;
pub mod smtp;
pub mod stats;
pub mod store;
pub mod tls;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use config::{Config, ConfigError, SmtpCertificate};
use events::Events;
use ingest::Ingest;
use smtp::SessionConfig;
use smtp::listener::SmtpServer;
use stats::Stats;
use store::{Store, StoreConfig, StoreError};

/// How long a graceful shutdown waits for SMTP sessions in the middle of a
/// message and for HTTP requests before it closes the store regardless.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
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
    /// The web UI's base URL, e.g. `http://127.0.0.1:8025/`.
    pub web_url: String,
    pub store: Store,
    /// How the SMTP listener offers TLS, for the start-up banner.
    pub smtp_tls: SmtpTlsOffer,
    /// The chaos rules in force (changed at runtime through the API).
    pub chaos: domain::chaos::Chaos,
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
pub async fn start(config: &Config) -> Result<Letterbox, StartError> {
    // Everything that can be wrong in the configuration is found before
    // anything is opened or bound.
    let smtp_certificate = config.smtp_certificate()?;
    let smtp_tls = match smtp_certificate {
        Some(SmtpCertificate::Files(cert, key)) => {
            Some(tls::acceptor(Some((cert, key)), &config.hostname, &[])?)
        }
        Some(SmtpCertificate::SelfSigned) => Some(tls::acceptor(None, &config.hostname, &[])?),
        None => None,
    };
    let data_budget = config.smtp_data_budget()?;
    let ui_tls = match config.ui_tls_files() {
        Some(files) => Some(tls::acceptor(
            Some(files),
            &config.hostname,
            &[b"http/1.1"],
        )?),
        None => None,
    };
    let web_options = web::WebOptions {
        webroot: config.webroot.clone(),
        auth: config.ui_auth()?.map(Arc::new),
        origins: Arc::new(config.origin_policy()?),
        hosts: Arc::new(web::host::HostPolicy::for_listener(
            config.http,
            &config.allowed_hosts,
        )),
    };
    let auth = config.auth_policy()?;
    let chaos = domain::chaos::Chaos::new(config.chaos_rules()?);
    let location = config.store_location()?;
    let relay_settings = config.relay.settings()?;
    if let Some(settings) = &relay_settings {
        let listeners: Vec<SocketAddr> = std::iter::once(config.smtp).chain(config.smtps).collect();
        settings.check_not_self(&listeners)?;
    }

    let smtp_listener = bind(config.smtp)?;
    let smtps_listener = match config.smtps {
        Some(addr) => Some(bind(addr)?),
        None => None,
    };
    let http_listener = bind(config.http)?;
    let metrics_listener = match config.metrics {
        Some(addr) => Some(bind(addr)?),
        None => None,
    };

    let events = Events::default();
    let store = Store::open(
        &StoreConfig {
            location,
            max_messages: config.max_messages,
            max_age: config.max_age,
        },
        events.clone(),
    )?;
    let stats = Arc::new(Stats::default());
    let inboxes = Arc::new(domain::inbox::Inboxes::new(config.inbox_rules.clone()));
    let ingest = Ingest::new(store.clone(), stats.clone(), inboxes.clone());
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let smtp_server = Arc::new(SmtpServer {
        session: Arc::new(SessionConfig {
            hostname: config.hostname.clone(),
            max_message_size: usize::try_from(config.max_message_size).unwrap_or(usize::MAX),
            max_recipients: config.smtp_max_recipients,
            auth,
            starttls: smtp_tls.is_some(),
            require_tls: config.smtp_require_tls,
            data_budget: smtp::limits::DataBudget::counting_in(
                usize::try_from(data_budget).unwrap_or(usize::MAX),
                stats.smtp_data_in_flight(),
            ),
            chaos: chaos.clone(),
        }),
        tls: smtp_tls,
        ingest: ingest.clone(),
        idle_timeout: config.smtp_idle_timeout,
        connections: Arc::new(Semaphore::new(config.smtp_max_connections)),
        client_slots: smtp::limits::ClientSlots::new(config.smtp_max_connections_per_ip()),
        min_data_rate: (config.smtp_min_data_rate > 0).then_some(smtp::limits::MinDataRate {
            bytes_per_second: config.smtp_min_data_rate,
            grace: config.smtp_idle_timeout,
        }),
        shutdown: shutdown.clone(),
        tasks: tasks.clone(),
    });

    let local = |l: &TcpListener| l.local_addr().expect("a bound socket has an address");
    let (smtp_addr, http_addr) = (local(&smtp_listener), local(&http_listener));
    let smtps_addr = smtps_listener.as_ref().map(local);
    let metrics_addr = metrics_listener.as_ref().map(local);
    let scheme = if ui_tls.is_some() { "https" } else { "http" };
    let web_url = format!("{scheme}://{http_addr}{}", config.webroot);

    tasks.spawn(smtp::listener::serve(
        smtp_listener,
        smtp_server.clone(),
        false,
    ));
    if let Some(listener) = smtps_listener {
        tasks.spawn(smtp::listener::serve(listener, smtp_server, true));
    }
    let relay = match relay_settings {
        Some(settings) => Some(relay::Relay::start(
            settings,
            &config.hostname,
            store.clone(),
            &events,
            stats.clone(),
            &shutdown,
            &tasks,
        )?),
        None => None,
    };
    let checks = Arc::new(checks::Checks::new(config.link_check_allow_internal)?);
    let state = web::AppState {
        store: store.clone(),
        ingest,
        events: events.clone(),
        stats,
        max_message_size: config.max_message_size,
        chaos: chaos.clone(),
        inboxes,
        relay,
        smtp_addrs: std::iter::once(smtp_addr).chain(smtps_addr).collect(),
        checks,
    };
    if let Some(listener) = metrics_listener {
        let app = web::metrics_router(state.clone());
        tasks.spawn(web::listener::serve(listener, app, None, shutdown.clone()));
    }
    let app = web::router(state, &web_options);
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
        web_url,
        store,
        smtp_tls: match smtp_certificate {
            None => SmtpTlsOffer::None,
            Some(SmtpCertificate::Files(..)) => SmtpTlsOffer::StartTls,
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
