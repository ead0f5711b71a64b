//! Changes of the chaos rules. The rules themselves are the SMTP side's
//! (it consults them in each session); what the rest of Letterbox learns of
//! a change is said here. On a store shared by several nodes the rules
//! are shared too: a change made on one node is put in force on all.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tracing::warn;

use crate::domain::chaos::{Chaos, Rules};
use crate::events::Event;

use super::App;

impl App {
    /// Tells subscribers (the web UI's banner) that the chaos rules
    /// changed: their text while any is active; and the other nodes, if
    /// the store is shared.
    pub fn chaos_changed(&self, active_rules: Option<Arc<str>>) {
        self.inner
            .events
            .publish(Event::ChaosChanged(active_rules.clone()));
        if self.store().is_shared() {
            let store = self.store().clone();
            tokio::spawn(async move {
                if let Err(err) = store.share_chaos(active_rules).await {
                    warn!(%err, "telling the other nodes of the chaos rules failed");
                }
            });
        }
    }

    /// Puts in force here the chaos rules another node set, until the
    /// events close. Rules already in force are left as they are.
    pub async fn follow_shared_chaos(self, chaos: Chaos) {
        let mut events = self.subscribe();
        loop {
            let text = match events.recv().await {
                Ok(Event::ChaosChanged(text)) => text,
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            };
            if chaos.rules().active_text() == text {
                continue;
            }
            match text.as_deref().map(Rules::parse).transpose() {
                Ok(rules) => chaos.replace(rules.unwrap_or_default()),
                Err(err) => warn!(%err, "another node's chaos rules do not parse here"),
            }
        }
    }
}
