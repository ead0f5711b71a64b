//! Which inboxes exist, and confining a query or a selection to one.

use crate::domain::inbox::{DEFAULT_INBOX, InboxName};
use crate::domain::search::Query;
use crate::store::{InboxCounts, Selection, StoreError};

use super::App;

impl App {
    /// Every inbox with its counts: the default inbox first, then by name.
    /// An inbox exists when it is the default, is named by a rule or holds
    /// messages.
    pub async fn inboxes(&self) -> Result<Vec<InboxCounts>, StoreError> {
        let mut counts = self.store().inbox_counts().await?;
        for name in self.inner.inboxes.configured() {
            if !counts.iter().any(|c| c.name == name.as_str()) {
                counts.push(InboxCounts {
                    name: name.into_string(),
                    total: 0,
                    unread: 0,
                });
            }
        }
        counts.sort_by(|a, b| {
            let default = |c: &InboxCounts| c.name != DEFAULT_INBOX;
            (default(a), &a.name).cmp(&(default(b), &b.name))
        });
        Ok(counts)
    }

    /// Whether the inbox exists: named by a rule, or holding messages.
    pub async fn inbox_exists(&self, name: &InboxName) -> Result<bool, StoreError> {
        Ok(self.inner.inboxes.configured().contains(name)
            || self.store().inbox_in_use(name.to_string()).await?)
    }
}

/// A query confined to `inbox` (if given).
pub fn scope_query(query: Option<Query>, inbox: Option<&InboxName>) -> Option<Query> {
    match inbox {
        None => query,
        Some(inbox) => Some(query.unwrap_or_default().in_inbox(inbox.as_str())),
    }
}

/// A selection confined to `inbox` (if given). Message IDs name messages
/// directly, whatever their inbox, so a list of IDs is left as it is.
pub fn scope_selection(selection: Selection, inbox: Option<&InboxName>) -> Selection {
    match (selection, inbox) {
        (selection, None) | (selection @ Selection::Ids(_), _) => selection,
        (Selection::All, Some(inbox)) => {
            Selection::Query(Query::default().in_inbox(inbox.as_str()))
        }
        (Selection::Query(query), Some(inbox)) => Selection::Query(query.in_inbox(inbox.as_str())),
    }
}
