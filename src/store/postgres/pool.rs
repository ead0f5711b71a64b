//! A small pool of connections to PostgreSQL. A connection that broke (the
//! server restarted, the network dropped) is not given back, so the next
//! caller connects afresh: a node recovers by itself once the database is
//! reachable again.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, Config};

use super::tls::Connector;
use crate::store::StoreError;

/// Connections a node opens at most, besides its listener's.
pub const POOL_SIZE: usize = 16;
/// How long a caller waits for a free connection or a new one.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Pool {
    config: Config,
    tls: Connector,
    idle: Mutex<Vec<Client>>,
    slots: Arc<Semaphore>,
}

/// A connection taken from the pool; going back when dropped.
pub struct Conn {
    client: Option<Client>,
    pool: Arc<Pool>,
    _slot: OwnedSemaphorePermit,
}

impl Pool {
    pub fn new(mut config: Config, tls: Connector) -> Arc<Pool> {
        config
            .connect_timeout(Duration::from_secs(5))
            .keepalives_idle(Duration::from_secs(30))
            .application_name("letterbox");
        Arc::new(Pool {
            config,
            tls,
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(POOL_SIZE)),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The TLS connector every connection of this node uses.
    pub fn tls(&self) -> Connector {
        self.tls.clone()
    }

    /// An idle connection that still works, or a new one.
    pub async fn get(self: &Arc<Self>) -> Result<Conn, StoreError> {
        let slot = tokio::time::timeout(CHECKOUT_TIMEOUT, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::Unavailable("every database connection is busy".into()))?
            .map_err(|_| StoreError::Closed)?;
        let idle = {
            let mut idle = self.idle.lock().expect("pool lock");
            idle.retain(|c| !c.is_closed());
            idle.pop()
        };
        let client = match idle {
            Some(client) => client,
            None => self.connect().await?,
        };
        Ok(Conn {
            client: Some(client),
            pool: self.clone(),
            _slot: slot,
        })
    }

    /// Closes the idle connections; the pool connects again when asked.
    pub fn close_idle(&self) {
        self.idle.lock().expect("pool lock").clear();
    }

    /// Opens a connection, its I/O driven by a task of its own.
    async fn connect(&self) -> Result<Client, StoreError> {
        let (client, connection) = self.config.connect(self.tls()).await?;
        tokio::spawn(async move {
            // Ends when the client is dropped or the server goes away; the
            // client's next call then fails and the pool drops it.
            let _ = connection.await;
        });
        Ok(client)
    }
}

impl Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client.as_ref().expect("a checked-out connection")
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("a checked-out connection")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(client) = self.client.take().filter(|c| !c.is_closed()) {
            self.pool.idle.lock().expect("pool lock").push(client);
        }
    }
}
