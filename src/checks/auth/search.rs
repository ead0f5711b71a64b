//! `auth:METHOD=RESULT` in a search. The store cannot answer it: a result
//! is computed from the raw message and the configured keys. So the store
//! answers the rest of the query, and its newest [`WINDOW`] matches are
//! checked (each result kept, as the API's) and filtered here. A backend
//! needs nothing for it.

use crate::app::App;
use crate::domain::search::{AuthTerm, Query};
use crate::store::{Page, StoreError};

use super::AuthChecker;

/// How many of the store's newest matches `auth:` terms are checked on.
pub const WINDOW: u64 = 1000;

/// A page of the messages matching `query` and every `auth:` term, and a
/// note when more messages matched the rest than were checked.
pub async fn search(
    app: &App,
    checker: &AuthChecker,
    query: Query,
    terms: &[AuthTerm],
    start: u64,
    limit: u64,
) -> Result<(Page, Option<String>), StoreError> {
    let mut page = app.search(query, 0, WINDOW).await?;
    let note = (page.matched > WINDOW).then(|| {
        format!(
            "auth: was checked on the newest {WINDOW} of the {} messages matching the rest of the query",
            page.matched
        )
    });
    let mut kept = Vec::new();
    for summary in std::mem::take(&mut page.messages) {
        let Some((message, raw)) = app.message_with_raw(summary.id.clone()).await? else {
            continue; // deleted meanwhile
        };
        let check = checker.check(&summary.id, &raw, &message.envelope).await;
        let holds = terms.iter().all(|term| {
            check.results(&term.method).contains(&term.result.as_str()) != term.negated
        });
        if holds {
            kept.push(summary);
        }
    }
    page.matched = kept.len() as u64;
    page.matched_unread = kept.iter().filter(|s| !s.read).count() as u64;
    page.messages = kept
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    Ok((page, note))
}
