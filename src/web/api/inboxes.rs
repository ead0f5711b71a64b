//! `GET /api/v1/inboxes` and the `inbox` parameter that confines list,
//! search, wait, read and delete requests to one inbox.

use axum::Json;
use axum::extract::State;

use super::params::Params;
use crate::domain::inbox::InboxName;
use crate::domain::search::Query;
use crate::store::{InboxCounts, Selection};
use crate::web::{ApiError, AppState};

/// Every inbox with its counts: the default inbox first, then by name.
/// An inbox exists when it is the default, is named by a rule or holds
/// messages.
pub async fn inboxes(state: &AppState) -> Result<Vec<InboxCounts>, ApiError> {
    let mut counts = state.store.inbox_counts().await?;
    for name in state.inboxes.configured() {
        if !counts.iter().any(|c| c.name == name.as_str()) {
            counts.push(InboxCounts {
                name: name.into_string(),
                total: 0,
                unread: 0,
            });
        }
    }
    counts.sort_by(|a, b| {
        let default = |c: &InboxCounts| c.name != crate::domain::inbox::DEFAULT_INBOX;
        (default(a), &a.name).cmp(&(default(b), &b.name))
    });
    Ok(counts)
}

/// `[{"Name": "default", "Total": 3, "Unread": 1}, ...]`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<InboxCounts>>, ApiError> {
    Ok(Json(inboxes(&state).await?))
}

/// Checks an inbox name: 400 when it cannot be a name, 404 when no such
/// inbox exists.
pub async fn existing(state: &AppState, name: &str) -> Result<InboxName, ApiError> {
    let name = InboxName::parse(name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let configured = state.inboxes.configured().contains(&name);
    if configured || state.store.inbox_in_use(name.to_string()).await? {
        Ok(name)
    } else {
        Err(ApiError::not_found(format!("inbox {name} not found")))
    }
}

/// The `inbox` parameter, checked; `None` when absent or blank (every
/// inbox, as before inboxes existed).
pub async fn param(state: &AppState, params: &Params) -> Result<Option<InboxName>, ApiError> {
    match params.get("inbox").map(|v| v.trim()) {
        None | Some("") => Ok(None),
        Some(name) => existing(state, name).await.map(Some),
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
