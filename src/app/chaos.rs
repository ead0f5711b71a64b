//! Changes of the chaos rules. The rules themselves are the SMTP side's
//! (it consults them in each session); what the rest of Letterbox learns of
//! a change is said here. On a store shared by several nodes the rules
//! are shared too: stored, and a change made on one node is put in force
//! on all.

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

    /// Keeps this node's chaos rules the same as the other nodes', until
    /// the events close. At start, rules given to this node (`--chaos`)
    /// are shared with all; without them, the stored ones are put in
    /// force. Then every change another node makes is, and after a lost
    /// connection (a resync) the stored rules are read again.
    pub async fn follow_shared_chaos(self, chaos: Chaos, given_at_start: bool) {
        let mut events = self.subscribe();
        if given_at_start {
            if let Err(err) = self.store().share_chaos(chaos.rules().active_text()).await {
                warn!(%err, "sharing this node's chaos rules failed");
            }
        } else {
            self.adopt_stored_chaos(&chaos).await;
        }
        loop {
            match events.recv().await {
                Ok(Event::ChaosChanged(text)) => adopt(&chaos, text),
                Ok(Event::Resync) | Err(RecvError::Lagged(_)) => {
                    self.adopt_stored_chaos(&chaos).await;
                }
                Ok(_) => continue,
                Err(RecvError::Closed) => return,
            }
        }
    }

    async fn adopt_stored_chaos(&self, chaos: &Chaos) {
        match self.store().shared_chaos().await {
            Ok(Some(text)) => {
                let before = chaos.rules().active_text();
                adopt(chaos, text.map(Arc::from));
                let after = chaos.rules().active_text();
                if after != before {
                    // This node's browsers learn of it as of any change.
                    self.inner.events.publish(Event::ChaosChanged(after));
                }
            }
            Ok(None) => {}
            Err(err) => warn!(%err, "reading the shared chaos rules failed"),
        }
    }
}

/// Puts `text` (another node's rules) in force, unless they already are.
fn adopt(chaos: &Chaos, text: Option<Arc<str>>) {
    if chaos.rules().active_text() == text {
        return;
    }
    match text.as_deref().map(Rules::parse).transpose() {
        Ok(rules) => chaos.replace(rules.unwrap_or_default()),
        Err(err) => warn!(%err, "another node's chaos rules do not parse here"),
    }
}
