//! Letterbox's additions to Mailpit's JSON shapes (a summary's `Inbox`; a
//! message's `Read`, `Created`, `Envelope`, `Problems` and `Inbox`; the
//! WebSocket's `Inboxes` and its `relay`, `chaos` and `resync` events),
//! sent only to a request that asks with `?additions=1`. Mailpit's clients
//! compare whole objects, so by default Mailpit's routes answer with
//! Mailpit's keys alone.

use crate::web::params::Params;

/// The query parameter that asks for the additions.
pub const PARAM: &str = "additions";

/// Whether the request asked for Letterbox's additions.
pub fn requested(params: &Params) -> bool {
    params
        .get(PARAM)
        .is_some_and(|v| matches!(v.as_str(), "1" | "true"))
}
