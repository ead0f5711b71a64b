//! Changes of the chaos rules. The rules themselves are the SMTP side's
//! (it consults them in each session); what the rest of Letterbox learns of
//! a change is said here.

use std::sync::Arc;

use crate::events::Event;

use super::App;

impl App {
    /// Tells subscribers (the web UI's banner) that the chaos rules
    /// changed: their text while any is active.
    pub fn chaos_changed(&self, active_rules: Option<Arc<str>>) {
        self.inner.events.publish(Event::ChaosChanged(active_rules));
    }
}
