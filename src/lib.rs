//! Letterbox: a mail catcher for developers.
//!
//! Data flows one way: [`smtp`] receives a message, [`ingest`] parses it
//! once ([`message`]) and hands it to the [`store`], whose writer publishes
//! each committed change as an [`events`] entry for the [`web`] side.

pub mod cli;
pub mod client;
pub mod compose;
pub mod config;
pub mod events;
pub mod extract;
pub mod ingest;
pub mod message;
pub mod search;
pub mod smtp;
pub mod stats;
pub mod store;
pub mod timefmt;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use config::{Config, ConfigError};
use events::Events;
use ingest::Ingest;
use smtp::SessionConfig;
use smtp::listener::SmtpServer;
use stats::Stats;
use store::{Store, StoreConfig, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] smtp::tls::TlsError),
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running Letterbox: its bound addresses and the tasks serving them.
pub struct Letterbox {
    pub smtp_addr: SocketAddr,
    pub smtps_addr: Option<SocketAddr>,
    pub http_addr: SocketAddr,
    pub store: Store,
    pub self_signed_tls: bool,
    tasks: JoinSet<()>,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// Opens the store, binds every listener and starts serving.
pub async fn start(config: &Config) -> Result<Letterbox, StartError> {
    let events = Events::default();
    let store = Store::open(
        &StoreConfig {
            location: config.store_location()?,
            max_messages: config.max_messages,
        },
        events.clone(),
    )?;
    let stats = Arc::new(Stats::default());
    let ingest = Ingest::new(store.clone(), stats.clone());
    let tls = smtp::tls::acceptor(config.tls_files(), &config.hostname)?;
    let smtp_server = Arc::new(SmtpServer {
        session: Arc::new(SessionConfig {
            hostname: config.hostname.clone(),
            max_message_size: usize::try_from(config.max_message_size).unwrap_or(usize::MAX),
            max_recipients: config.smtp_max_recipients,
            auth: config.auth_policy()?,
            starttls_available: true,
            require_tls: config.smtp_require_tls,
        }),
        tls,
        ingest: ingest.clone(),
        idle_timeout: config.smtp_idle_timeout,
        connections: Arc::new(Semaphore::new(config.smtp_max_connections)),
    });

    let smtp_listener = bind(config.smtp).await?;
    let smtps_listener = match config.smtps {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let http_listener = bind(config.http).await?;
    let local = |l: &TcpListener| l.local_addr().expect("a bound socket has an address");
    let (smtp_addr, http_addr) = (local(&smtp_listener), local(&http_listener));
    let smtps_addr = smtps_listener.as_ref().map(local);

    let mut tasks = JoinSet::new();
    tasks.spawn(smtp::listener::serve(
        smtp_listener,
        smtp_server.clone(),
        false,
    ));
    if let Some(listener) = smtps_listener {
        tasks.spawn(smtp::listener::serve(listener, smtp_server, true));
    }
    let app = web::app(web::AppState {
        store: store.clone(),
        ingest,
        events,
        stats,
        max_message_size: config.max_message_size,
    });
    tasks.spawn(async move {
        if let Err(err) = axum::serve(http_listener, app).await {
            tracing::error!(%err, "HTTP server stopped");
        }
    });

    Ok(Letterbox {
        smtp_addr,
        smtps_addr,
        http_addr,
        store,
        self_signed_tls: config.tls_files().is_none(),
        tasks,
    })
}

impl Letterbox {
    /// Stops the listeners and waits for the writer to commit what it has.
    pub async fn shutdown(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.store.close().await;
    }
}
