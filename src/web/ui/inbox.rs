//! `/` and `/?q=...&inbox=...&start=...`: one page of the mail (of every
//! inbox, or of one) or of a search, newest first, paginated in SQL so
//! 100,000 messages cost the same as 50.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::{Chrome, PageError, format, render};
use crate::app::inboxes::scope_query;
use crate::domain::Summary;
use crate::domain::search;
use crate::domain::timefmt;
use crate::store::InboxCounts;
use crate::web::lookup::inbox_param;
use crate::web::{AppState, webroot};

/// Rows per page unless chosen (Mailpit's default page size).
pub const PAGE_SIZE: u64 = 50;
/// The page sizes offered.
const PAGE_SIZES: [u64; 4] = [25, 50, 100, 200];
/// The cookie the page script sets to remember the page size chosen.
const PAGE_SIZE_COOKIE: &str = "letterbox-page-size";

/// A row shows this much of a subject, sender, or recipients: a row is
/// one line, and a sender can make any header megabytes long.
const MAX_FIELD_SHOWN: usize = 1000;
/// Recipients named in a row's tooltip.
const MAX_ADDRESSES_SHOWN: usize = 50;

/// One inbox row, every field ready to print.
#[derive(Default)]
pub struct Row {
    pub id: String,
    pub read: bool,
    pub from: String,
    pub from_full: String,
    pub to: String,
    pub to_full: String,
    pub subject: String,
    pub snippet: String,
    pub tags: Vec<String>,
    /// RFC 3339, for `<time datetime>` and the script's relative times.
    pub created: String,
    pub time_exact: String,
    pub time_relative: String,
    pub size: String,
    pub attachments: u32,
    /// Shown in the list of all inboxes, once there is more than one.
    pub inbox: String,
}

impl Row {
    fn new(s: &Summary, now_ms: i64) -> Row {
        let received = timefmt::parse_datetime_millis(&s.created).unwrap_or(now_ms);
        let to = match s.to.split_first() {
            None => String::new(),
            Some((first, [])) => format::shorten(&format::short_address(first), MAX_FIELD_SHOWN),
            Some((first, rest)) => format!(
                "{} (+{})",
                format::shorten(&format::short_address(first), MAX_FIELD_SHOWN),
                rest.len()
            ),
        };
        Row {
            id: s.id.clone(),
            read: s.read,
            from: format::shorten(&format::short_address(&s.from), MAX_FIELD_SHOWN),
            from_full: format::shorten(&format::address(&s.from), MAX_FIELD_SHOWN),
            to,
            to_full: format::shorten(
                &s.to
                    .iter()
                    .take(MAX_ADDRESSES_SHOWN)
                    .map(format::address)
                    .collect::<Vec<_>>()
                    .join(", "),
                MAX_FIELD_SHOWN,
            ),
            subject: format::shorten(&s.subject, MAX_FIELD_SHOWN),
            snippet: format::shorten(&s.snippet, MAX_FIELD_SHOWN),
            tags: s.tags.clone(),
            created: s.created.clone(),
            time_exact: format::exact_time(received),
            time_relative: format::relative_time(received, now_ms),
            size: format::size(s.size),
            attachments: s.attachments,
            inbox: s.inbox.clone(),
        }
    }
}

/// A link to another page of the same list.
pub struct PageLink {
    pub label: &'static str,
    pub href: String,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    chrome: Chrome,
    rows: Vec<Row>,
    blank: Row,
    start: u64,
    page_size: u64,
    /// Messages in this view: the mailbox, or the matches of the query.
    matched: u64,
    links: Vec<PageLink>,
    page_sizes: [u64; 4],
    /// Why the query was refused, if it was.
    query_error: Option<String>,
    /// Every inbox with its counts, for the switcher.
    inboxes: Vec<InboxCounts>,
    /// Where to send mail, for the empty inbox to say (`127.0.0.1:1025`).
    smtp_target: String,
}

impl InboxPage {
    fn page_title(&self) -> String {
        let what = if self.chrome.query.is_empty() {
            "Inbox"
        } else {
            "Search"
        };
        match self.chrome.inbox.as_str() {
            "" => what.to_string(),
            inbox => format!("{what}: {inbox}"),
        }
    }

    /// The switcher shows once there is a choice (or one was made).
    fn show_switcher(&self) -> bool {
        self.inboxes.len() > 1 || !self.chrome.inbox.is_empty()
    }

    /// Whether the list mixes inboxes, so each row names its own.
    fn mixed(&self) -> bool {
        self.inboxes.len() > 1 && self.chrome.inbox.is_empty()
    }

    fn inbox_href(&self, name: &str) -> String {
        href("", name, 0, self.page_size)
    }

    /// `Page 2 of 41`.
    fn page_of(&self) -> String {
        let pages = self.matched.div_ceil(self.page_size).max(1);
        format!("Page {} of {pages}", self.start / self.page_size + 1)
    }

    /// `1–50 of 1,234`.
    fn range(&self) -> String {
        if self.rows.is_empty() {
            return format!("0 of {}", self.matched);
        }
        format!(
            "{}–{} of {}",
            self.start + 1,
            self.start + self.rows.len() as u64,
            self.matched
        )
    }
}

/// The query string of the page starting at `start` of `query` in `inbox`,
/// `size` rows long.
fn href(query: &str, inbox: &str, start: u64, size: u64) -> String {
    let mut params = Vec::new();
    if !query.is_empty() {
        params.push(format!("q={}", format::query_value(query)));
    }
    if !inbox.is_empty() {
        params.push(format!("inbox={}", format::query_value(inbox)));
    }
    if start > 0 {
        params.push(format!("start={start}"));
    }
    if size != PAGE_SIZE {
        params.push(format!("limit={size}"));
    }
    let root = webroot();
    if params.is_empty() {
        root.to_string()
    } else {
        format!("{root}?{}", params.join("&"))
    }
}

/// The address to send mail to, as the empty inbox names it: the SMTP
/// listener's, or, when it listens on every address (`0.0.0.0`), the host
/// this page was asked for by with the SMTP port.
fn smtp_target(listener: std::net::SocketAddr, headers: &HeaderMap) -> String {
    if !listener.ip().is_unspecified() {
        return listener.to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|host| match host.find(']') {
            Some(end) if host.starts_with('[') => &host[..=end],
            _ => host.split(':').next().unwrap_or_default(),
        })
        .filter(|host| !host.is_empty())
        .unwrap_or("localhost");
    format!("{host}:{}", listener.port())
}

/// Where the last page of `matched` messages starts.
fn last_page_start(matched: u64, size: u64) -> u64 {
    matched.saturating_sub(1) / size * size
}

fn page_links(query: &str, inbox: &str, start: u64, matched: u64, size: u64) -> Vec<PageLink> {
    let link = |label, start| PageLink {
        label,
        href: href(query, inbox, start, size),
    };
    let mut links = Vec::new();
    if start > 0 {
        links.push(link("Newest", 0));
        links.push(link("Newer", start.saturating_sub(size)));
    }
    if start + size < matched {
        links.push(link("Older", start + size));
        links.push(link("Oldest", last_page_start(matched, size)));
    }
    links
}

/// The page size asked for in `?limit=`, else the one remembered in the
/// cookie, else the default; only the sizes offered.
fn page_size(params: &HashMap<String, String>, headers: &HeaderMap) -> u64 {
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            pair.trim()
                .strip_prefix(PAGE_SIZE_COOKIE)?
                .strip_prefix('=')
        });
    params
        .get("limit")
        .map(String::as_str)
        .or(cookie)
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| PAGE_SIZES.contains(n))
        .unwrap_or(PAGE_SIZE)
}

pub async fn page(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let size = page_size(&params, &headers);
    let text = params.get("q").map(|q| q.trim()).unwrap_or("");
    // A page link is only ever a whole multiple of the page size; anything
    // else (hand-edited, garbage) shows the first page.
    let start = params
        .get("start")
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&s| i64::try_from(s).is_ok())
        .unwrap_or(0);
    let mut chrome = Chrome::load(&state, text).await?;
    // An unknown inbox is a 404 page, as in the API.
    let inbox = inbox_param(&state, &params).await?;
    let (query, query_error) = match search::Query::parse(text) {
        Ok(query) => (scope_query(Some(query), inbox.as_ref()), None),
        Err(err) => (None, Some(err.to_string())),
    };
    chrome.inbox = inbox.map(|i| i.into_string()).unwrap_or_default();
    let found = match query {
        Some(query) => Some(state.app.search(query, start, size).await?),
        None => None,
    };
    // Past the end (a bookmark from when there was more mail): the last page.
    if let Some(page) = &found
        && page.messages.is_empty()
        && start > 0
        && page.matched > 0
    {
        let last = href(
            text,
            &chrome.inbox,
            last_page_start(page.matched, size),
            size,
        );
        return Ok(Redirect::to(&last).into_response());
    }
    let now = timefmt::now_millis();
    let (rows, matched) = match found {
        Some(page) => (
            page.messages.iter().map(|s| Row::new(s, now)).collect(),
            page.matched,
        ),
        None => (Vec::new(), 0),
    };
    render(&InboxPage {
        links: page_links(text, &chrome.inbox, start, matched, size),
        page_sizes: PAGE_SIZES,
        inboxes: state.app.inboxes().await?,
        smtp_target: state
            .smtp_addrs
            .first()
            .map(|addr| smtp_target(*addr, &headers))
            .unwrap_or_default(),
        chrome,
        rows,
        // The empty row the script clones for messages that arrive live,
        // so the markup exists once, in `row.html`.
        blank: Row::default(),
        start,
        page_size: size,
        matched,
        query_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smtp_target_is_one_a_client_can_reach() {
        let host = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, value.parse().unwrap());
            headers
        };
        let none = HeaderMap::new();
        assert_eq!(
            smtp_target("127.0.0.1:1025".parse().unwrap(), &host("x:8025")),
            "127.0.0.1:1025"
        );
        assert_eq!(
            smtp_target("[::1]:2525".parse().unwrap(), &none),
            "[::1]:2525"
        );
        assert_eq!(
            smtp_target("0.0.0.0:1025".parse().unwrap(), &host("mail.test:8025")),
            "mail.test:1025"
        );
        assert_eq!(
            smtp_target("[::]:1025".parse().unwrap(), &host("[fd00::1]:8025")),
            "[fd00::1]:1025"
        );
        assert_eq!(
            smtp_target("0.0.0.0:1025".parse().unwrap(), &none),
            "localhost:1025"
        );
    }

    #[test]
    fn page_links_keep_the_query() {
        let labels = |links: &[PageLink]| {
            links
                .iter()
                .map(|l| (l.label, l.href.clone()))
                .collect::<Vec<_>>()
        };
        assert!(page_links("", "", 0, 50, 50).is_empty());
        assert_eq!(
            labels(&page_links("", "", 0, 120, 50)),
            [
                ("Older", "/?start=50".into()),
                ("Oldest", "/?start=100".into())
            ]
        );
        assert_eq!(
            labels(&page_links("to:a b&c", "", 100, 120, 50)),
            [
                ("Newest", "/?q=to%3Aa+b%26c".into()),
                ("Newer", "/?q=to%3Aa+b%26c&start=50".into())
            ]
        );
        assert_eq!(
            labels(&page_links("x", "billing", 50, 120, 50)),
            [
                ("Newest", "/?q=x&inbox=billing".into()),
                ("Newer", "/?q=x&inbox=billing".into()),
                ("Older", "/?q=x&inbox=billing&start=100".into()),
                ("Oldest", "/?q=x&inbox=billing&start=100".into())
            ]
        );
    }
}
