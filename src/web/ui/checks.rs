//! `/message/{ID}/checks`: the Checks tab. The page holds only the API
//! routes of the checks; its script (static/checks.js) asks for the HTML
//! and spam checks, the authentication check and the unsubscribe headers
//! when the tab is shown, and for the link check only on a click, since
//! that one makes requests to the servers the links name.

use crate::web::{AppState, webroot};

pub struct ChecksTab {
    /// `/api/v1/message/{ID}/html-check?locations=true`, when the message
    /// has an HTML part to check.
    pub html_check: Option<String>,
    /// `/api/v1/message/{ID}/link-check`, without `follow`.
    pub link_check: String,
    /// `/api/v1/message/{ID}/sa-check`, when Letterbox has a spamd.
    pub spam_check: Option<String>,
    /// `/api/v1/message/{ID}/auth-check`: DKIM, SPF, DMARC, ARC.
    pub auth_check: String,
    /// `/api/v1/message/{ID}`, whose `ListUnsubscribe` the tab shows.
    pub message: String,
}

pub fn checks_tab(state: &AppState, id: &str, has_html: bool) -> ChecksTab {
    let api = format!("{}api/v1/message/{id}", webroot());
    ChecksTab {
        html_check: has_html.then(|| format!("{api}/html-check?locations=true")),
        link_check: format!("{api}/link-check"),
        spam_check: state
            .checks
            .spamd
            .is_some()
            .then(|| format!("{api}/sa-check")),
        auth_check: format!("{api}/auth-check"),
        message: api,
    }
}
