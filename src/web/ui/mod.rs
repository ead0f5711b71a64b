//! The web UI: server-rendered pages (askama templates in `templates/`)
//! that read without JavaScript; `static/*.js` adds live updates, actions
//! and keyboard use on top.

mod calendar;
mod checks;
mod format;
mod inbox;
mod message;
mod parts;
mod source;
mod view;

use askama::Template;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::store::StoreError;
use crate::web::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(inbox::page))
        .route("/message/{id}", get(message::first_tab))
        .route("/message/{id}/{tab}", get(message::tab))
        .route("/view/{file}", get(view::view))
        .route("/view/{id}/part/{part_id}", get(view::part))
}

/// The search help's examples: a term, and what it finds.
pub const SEARCH_EXAMPLES: [(&str, &str); 12] = [
    (
        "from:alice@example.com",
        "From that sender (any part of a name or address)",
    ),
    (
        "to:@example.com",
        "To anyone at that domain; also cc:, bcc:, reply-to:, addressed:",
    ),
    (
        "subject:\"password reset\"",
        "Subject containing the phrase",
    ),
    ("is:unread", "Unread; also is:read, is:tagged"),
    ("has:attachment", "With attachments; also has:inline"),
    ("tag:signup", "Tagged signup"),
    ("larger:1M", "Larger than 1 MB; also smaller:500K"),
    (
        "after:2026-11-22",
        "Received after that day (UTC); also before:",
    ),
    (
        "header:X-Mailer",
        "With that header; header:X-Mailer:php for a value",
    ),
    ("message-id:abc123", "Message-ID containing abc123"),
    ("inbox:billing", "In that inbox"),
    ("-from:noreply@", "Negated: not from noreply@"),
];

/// What the frame around every page shows.
pub struct Chrome {
    /// Where links start: `/` or the `--webroot`.
    pub webroot: std::sync::Arc<str>,
    pub unread: u64,
    /// The search box's text.
    pub query: String,
    /// The chaos rules in their textual form, while any is active: the
    /// banner saying that SMTP sessions may fail on purpose.
    pub chaos: Option<String>,
    /// The inbox the page is confined to; empty for every inbox.
    pub inbox: String,
}

impl Chrome {
    /// The list of mail matching `term` (in this page's inbox).
    pub fn search_href(&self, term: &str) -> String {
        let mut href = format!("{}?q={}", self.webroot, format::query_value(term));
        if !self.inbox.is_empty() {
            href.push_str(&format!("&inbox={}", format::query_value(&self.inbox)));
        }
        href
    }

    /// The list without the search (in this page's inbox).
    pub fn clear_href(&self) -> String {
        match self.inbox.as_str() {
            "" => self.webroot.to_string(),
            inbox => format!("{}?inbox={}", self.webroot, format::query_value(inbox)),
        }
    }

    /// The list's mail (the search's matches, in this page's inbox) as an
    /// mbox download.
    pub fn mbox_href(&self) -> String {
        let mut href = format!("{}api/v1/search/mbox", self.webroot);
        let mut separator = '?';
        for (name, value) in [("query", &self.query), ("inbox", &self.inbox)] {
            if !value.is_empty() {
                href.push_str(&format!("{separator}{name}={}", format::query_value(value)));
                separator = '&';
            }
        }
        href
    }

    async fn load(state: &AppState, query: &str) -> Result<Chrome, PageError> {
        let counts = state.app.counts().await?;
        Ok(Chrome {
            webroot: crate::web::webroot(),
            unread: counts.unread,
            query: query.to_string(),
            chaos: state
                .chaos
                .rules()
                .active_text()
                .map(|text| text.to_string()),
            inbox: String::new(),
        })
    }
}

/// Why a page could not be shown; rendered as an HTML error page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{message}")]
    Status { status: StatusCode, message: String },
    #[error("rendering the page failed: {0}")]
    Render(#[from] askama::Error),
}

impl PageError {
    fn not_found(message: impl Into<String>) -> Self {
        PageError::Status {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> Self {
        PageError::Status {
            status: err.status,
            message: err.message,
        }
    }
}

impl From<StoreError> for PageError {
    fn from(err: StoreError) -> Self {
        ApiError::from(err).into()
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    webroot: std::sync::Arc<str>,
    status: u16,
    reason: &'a str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match &self {
            PageError::Status { status, .. } => *status,
            PageError::Render(err) => {
                tracing::error!(%err, "rendering a page");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let page = ErrorPage {
            webroot: crate::web::webroot(),
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message: self.to_string(),
        };
        match page.render() {
            Ok(html) => html_page(status, html),
            Err(_) => (status, self.to_string()).into_response(),
        }
    }
}

/// Our pages run only our own scripts and styles: should a message's text
/// ever slip through unescaped, it still could not run.
const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A page's HTML with our policy. Pages show live data, so the browser asks
/// again each time instead of showing a stale copy.
fn html_page(status: StatusCode, html: String) -> Response {
    let headers = [
        (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    (status, headers, Html(html)).into_response()
}

fn render(template: &impl Template) -> Result<Response, PageError> {
    Ok(html_page(StatusCode::OK, template.render()?))
}
