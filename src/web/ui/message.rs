//! `/message/{ID}` and its tabs, each with its own URL: `html` (the
//! default when there is an HTML part), `text`, `headers`, `parts`, `raw`,
//! `envelope` and `checks`.

use std::collections::{HashMap, HashSet};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::format::{self, Segment};
use super::parts::{PartsTab, enclosed_header, part_rows, part_url};
use super::{Chrome, PageError, render};
use crate::domain::Envelope;
use crate::domain::message::part_text;
use crate::domain::message::{Part, PartRole};
use crate::domain::timefmt;
use crate::store::{AttemptOutcome, RelayJob, RelayState, StoredMessage};
use crate::web::lookup::find_with_raw;
use crate::web::parts::renders_passively;
use crate::web::{AppState, webroot};

/// The raw source shown inline is cut here; the download has everything.
const MAX_RAW_SHOWN: usize = 2 * 1024 * 1024;
/// So is the text body.
const MAX_TEXT_SHOWN: usize = 2 * 1024 * 1024;
/// A page lists this many headers, attachments or addresses (and
/// src/web/ui/parts.rs this many MIME parts)
/// per field at most, and shows this much of one header or subject: a
/// sender can make each of them as large as the message, and a browser
/// takes seconds to lay out a hundred thousand table rows.
const MAX_HEADERS_SHOWN: usize = 1000;
const MAX_ATTACHMENTS_SHOWN: usize = 100;
const MAX_ADDRESSES_SHOWN: usize = 100;
pub(super) const MAX_VALUE_SHOWN: usize = 4096;

const TABS: [(&str, &str); 8] = [
    ("html", "HTML"),
    ("source", "HTML source"),
    ("text", "Text"),
    ("headers", "Headers"),
    ("parts", "MIME parts"),
    ("raw", "Raw"),
    ("envelope", "Envelope"),
    ("checks", "Checks"),
];

/// The HTML view's widths: name, label, CSS width.
const WIDTHS: [(&str, &str); 3] = [
    ("desktop", "Desktop"),
    ("tablet", "Tablet"),
    ("phone", "Phone"),
];

pub struct TabLink {
    pub label: &'static str,
    pub href: String,
    pub active: bool,
}

pub struct AttachmentView {
    pub name: String,
    pub content_type: String,
    pub size: String,
    pub href: String,
    pub inline: bool,
    /// A raster image, shown as a thumbnail.
    pub preview: bool,
}

/// Everything above the tabs.
pub struct Heading {
    pub id: String,
    pub read: bool,
    pub subject: String,
    pub from: String,
    /// The search for all mail from this sender, if it has an address.
    pub from_search: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    /// Envelope recipients named in no To, Cc or Bcc header: blind copies
    /// the message itself does not show (lower-cased).
    pub blind: Vec<String>,
    pub reply_to: Vec<String>,
    pub tags: Vec<String>,
    /// The `Date:` header.
    pub date: Option<String>,
    pub received_exact: String,
    pub received_relative: String,
    pub created: String,
    pub size: String,
    /// The `List-Unsubscribe` targets, and whether one-click (RFC 8058) is
    /// declared.
    pub unsubscribe: Option<Unsubscribe>,
    /// Calendar invitations the message carries (its `text/calendar` parts).
    pub invites: Vec<super::calendar::Invite>,
    pub attachments: Vec<AttachmentView>,
    /// Attachments beyond those listed.
    pub more_attachments: usize,
    pub problems: Vec<String>,
}

pub struct Unsubscribe {
    /// The URIs in the header's angle brackets, in its order.
    pub targets: Vec<String>,
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` with an https
    /// target: a client may unsubscribe with one POST.
    pub one_click: bool,
    /// What is wrong with the headers: the Checks tab says what.
    pub problems: usize,
    pub checks_href: String,
}

/// The message's `List-Unsubscribe` header (RFC 2369) and RFC 8058's
/// one-click declaration, as the domain reads them for the Checks tab.
fn unsubscribe(raw: &[u8], id: &str) -> Option<Unsubscribe> {
    let read = crate::domain::unsubscribe::of_message(raw);
    if read.links.is_empty() {
        return None;
    }
    Some(Unsubscribe {
        one_click: read.declares_one_click(),
        problems: read.errors.len(),
        checks_href: format!("{}message/{id}/checks", webroot()),
        targets: read
            .links
            .iter()
            .take(MAX_ADDRESSES_SHOWN)
            .map(|uri| format::shorten(uri, MAX_VALUE_SHOWN))
            .collect(),
    })
}

/// Whether a URI may be a link on our page: only these schemes.
fn is_web_or_mail(uri: &str) -> bool {
    let lower = uri.to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:")
}

pub struct Toggle {
    pub label: &'static str,
    pub href: String,
    pub active: bool,
}

pub struct HtmlTab {
    /// The sandboxed document's URL; `None` when there is no HTML part.
    pub src: Option<String>,
    pub width: &'static str,
    pub widths: Vec<Toggle>,
    pub remote: bool,
    pub remote_toggle: String,
    /// The HTML loads something from other servers: only then is there
    /// remote content to load.
    pub has_remote: bool,
}

pub struct HeaderRow {
    pub name: String,
    /// Unfolded, RFC 2047 words decoded; cut at [`MAX_VALUE_SHOWN`].
    pub value: String,
    /// As it stands in the message, when that differs from `value`.
    pub raw: Option<String>,
    /// How long the whole value is, when `value` shows only its start.
    pub cut_from: Option<String>,
}

pub struct HeadersTab {
    pub rows: Vec<HeaderRow>,
    /// How many headers the message has, when not all are listed.
    pub total: Option<usize>,
}

pub struct TextTab {
    pub segments: Vec<Segment>,
    /// How much is shown, when the text is cut.
    pub cut_at: Option<String>,
}

pub struct RawTab {
    pub text: String,
    pub truncated: bool,
    pub shown: String,
}

/// The HTML body's source, highlighted, cut at [`MAX_TEXT_SHOWN`].
pub struct SourceTab {
    pub lines: Vec<Vec<super::source::Token>>,
    /// How much is shown, when the source is cut.
    pub cut_at: Option<String>,
    /// The HTML part's download.
    pub download: String,
}

pub enum TabBody {
    Html(HtmlTab),
    Source(Option<SourceTab>),
    Text(Option<TextTab>),
    Headers(Result<HeadersTab, String>),
    Parts(PartsTab),
    Raw(RawTab),
    Envelope(Box<Envelope>),
    Checks(super::checks::ChecksTab),
}

/// The Release button and the message's releases.
pub struct RelayView {
    /// The relay's `host:port`, when one is configured.
    pub server: Option<String>,
    /// Prefilled recipients: the message's To addresses.
    pub default_to: String,
    pub releases: Vec<ReleaseView>,
    /// A release is still queued or being sent: the page keeps it fresh.
    pub pending: bool,
}

pub struct ReleaseView {
    pub state: &'static str,
    pub to: String,
    pub created: String,
    pub attempts: Vec<AttemptView>,
}

pub struct AttemptView {
    pub at: String,
    pub outcome: &'static str,
    pub reply: String,
}

fn state_label(state: RelayState) -> &'static str {
    match state {
        RelayState::Queued => "queued",
        RelayState::Sending => "sending",
        RelayState::Sent => "sent",
        RelayState::Failed => "failed",
    }
}

fn relay_view(state: &AppState, message: &StoredMessage, jobs: Vec<RelayJob>) -> RelayView {
    let pending = jobs
        .iter()
        .any(|j| matches!(j.state, RelayState::Queued | RelayState::Sending));
    let releases = jobs
        .into_iter()
        .map(|job| ReleaseView {
            state: state_label(job.state),
            to: job.recipients.join(", "),
            created: format::exact_time(job.created_ms),
            attempts: job
                .attempts
                .into_iter()
                .map(|a| AttemptView {
                    at: a.at,
                    outcome: match a.outcome {
                        AttemptOutcome::Sent => "sent",
                        AttemptOutcome::Temporary => "temporary failure",
                        AttemptOutcome::Permanent => "permanent failure",
                    },
                    reply: a.reply,
                })
                .collect(),
        })
        .collect();
    let to = &message.summary.to;
    let default_to = if to.is_empty() {
        message.envelope.rcpt_to.join(", ")
    } else {
        to.iter()
            .map(|a| a.address.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    RelayView {
        server: state.relay.as_ref().map(|r| r.settings().server.clone()),
        default_to,
        releases,
        pending,
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    chrome: Chrome,
    m: Heading,
    /// The page's script marks the message read: it was opened from our
    /// own pages or by the user (see [`opened_by_user`]).
    mark_read: bool,
    relay: RelayView,
    tabs: Vec<TabLink>,
    body: TabBody,
}

impl Heading {
    fn links_to(&self, uri: &str) -> bool {
        is_web_or_mail(uri)
    }

    /// Whether an envelope recipient is a blind copy (see `blind`).
    fn is_blind(&self, rcpt: &impl std::fmt::Display) -> bool {
        let rcpt = rcpt.to_string().trim().to_ascii_lowercase();
        self.blind.contains(&rcpt)
    }
}

impl MessagePage {
    fn page_title(&self) -> &str {
        if self.m.subject.is_empty() {
            "(no subject)"
        } else {
            &self.m.subject
        }
    }
}

type Params = HashMap<String, String>;

/// `/message/{ID}`: the HTML view, or the text view when there is no HTML.
pub async fn first_tab(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    show(state, id, None, params, opened_by_user(&headers)).await
}

pub async fn tab(
    State(state): State<AppState>,
    Path((id, tab)): Path<(String, String)>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some(&(name, _)) = TABS.iter().find(|(name, _)| *name == tab) else {
        return Err(PageError::not_found(format!("there is no {tab:?} tab")));
    };
    show(state, id, Some(name), params, opened_by_user(&headers)).await
}

/// Whether this navigation came from one of our own pages or from the user
/// (address bar, bookmark, reload), as the browser's `Sec-Fetch-Site` says;
/// clients that do not send it are not browsers a page can steer. Another
/// site opening a message must not mark it read: the mark would tell that
/// site, through the unread count, which message it found.
fn opened_by_user(headers: &HeaderMap) -> bool {
    match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
        None => true,
        Some(site) => site == b"same-origin" || site == b"none",
    }
}

async fn show(
    state: AppState,
    id: String,
    tab: Option<&'static str>,
    params: Params,
    mark_read: bool,
) -> Result<Response, PageError> {
    let (message, raw) = find_with_raw(&state, id, &params).await?;
    let chrome = Chrome::load(&state, "").await?;
    let jobs = state.app.releases(message.summary.id.clone()).await?;
    let relay = relay_view(&state, &message, jobs);
    let has_html = message.parts.iter().any(|p| p.role == PartRole::Html);
    let tab = tab.unwrap_or(if has_html { "html" } else { "text" });
    let id = &message.summary.id;
    let body = match tab {
        "html" => {
            let has_remote = message
                .parts
                .iter()
                .find(|p| p.role == PartRole::Html)
                .is_some_and(|p| super::source::has_remote_content(&part_text(&raw, p)));
            TabBody::Html(html_tab(id, has_html, has_remote, &params))
        }
        "source" => TabBody::Source(message.parts.iter().find(|p| p.role == PartRole::Html).map(
            |p| {
                let html = part_text(&raw, p);
                let (shown, cut) = format::cut(&html, MAX_TEXT_SHOWN);
                SourceTab {
                    lines: super::source::highlight(shown),
                    cut_at: cut.then(|| format::size(shown.len() as u64)),
                    download: format!("{}?dl=1", part_url(id, &p.part_id)),
                }
            },
        )),
        "text" => TabBody::Text(
            message
                .parts
                .iter()
                .find(|p| p.role == PartRole::Text)
                .map(|p| text_tab(&part_text(&raw, p))),
        ),
        "headers" => TabBody::Headers(header_rows(&raw)),
        "parts" => TabBody::Parts(part_rows(id, &message.parts, &raw)),
        "raw" => TabBody::Raw(raw_tab(&raw)),
        "checks" => TabBody::Checks(super::checks::checks_tab(&state, id, has_html)),
        _ => TabBody::Envelope(Box::new(message.envelope.clone())),
    };
    let tabs = TABS
        .iter()
        .map(|&(name, label)| TabLink {
            label,
            href: format!("{}message/{id}/{name}", webroot()),
            active: name == tab,
        })
        .collect();
    render(&MessagePage {
        chrome,
        m: heading(&message, &raw),
        mark_read,
        relay,
        tabs,
        body,
    })
}

fn heading(message: &StoredMessage, raw: &[u8]) -> Heading {
    let s = &message.summary;
    let addresses = |list: &[crate::domain::message::Address]| {
        let mut shown: Vec<String> = list
            .iter()
            .take(MAX_ADDRESSES_SHOWN)
            .map(|a| format::shorten(&format::address(a), MAX_VALUE_SHOWN))
            .collect();
        if list.len() > MAX_ADDRESSES_SHOWN {
            shown.push(format!(
                "and {} more (see the Headers tab)",
                list.len() - MAX_ADDRESSES_SHOWN
            ));
        }
        shown
    };
    let now = timefmt::now_millis();
    // The summary's Bcc holds the Bcc header's addresses and, since they
    // are blind copies too, envelope recipients no header names; the page
    // marks the latter, so the header is read to tell them apart.
    let bcc_header = crate::domain::message::top_headers(raw)
        .ok()
        .and_then(|headers| crate::domain::message::first_value(&headers, "Bcc"))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (in_header, _): (Vec<_>, Vec<_>) = s
        .bcc
        .iter()
        .cloned()
        .partition(|a| bcc_header.contains(&a.address.trim().to_ascii_lowercase()));
    let named: HashSet<String> =
        s.to.iter()
            .chain(&s.cc)
            .chain(&in_header)
            .map(|a| a.address.trim().to_ascii_lowercase())
            .collect();
    let blind: Vec<String> = message
        .envelope
        .rcpt_to
        .iter()
        .map(|r| r.to_string().trim().to_ascii_lowercase())
        .filter(|r| !named.contains(r))
        .collect();
    let mut bcc = addresses(&in_header);
    bcc.extend(
        blind
            .iter()
            .take(MAX_ADDRESSES_SHOWN)
            .map(|r| format!("{} (envelope only)", format::shorten(r, MAX_VALUE_SHOWN))),
    );
    let mut attachments = attachments(&s.id, &message.parts, raw);
    let more_attachments = attachments.len().saturating_sub(MAX_ATTACHMENTS_SHOWN);
    attachments.truncate(MAX_ATTACHMENTS_SHOWN);
    Heading {
        id: s.id.clone(),
        read: s.read,
        subject: format::shorten(&s.subject, MAX_VALUE_SHOWN),
        from: format::shorten(&format::address(&s.from), MAX_VALUE_SHOWN),
        from_search: Some(s.from.address.trim())
            .filter(|a| !a.is_empty() && a.len() <= MAX_VALUE_SHOWN)
            .map(|a| format::search_term("from", a)),
        to: addresses(&s.to),
        cc: addresses(&s.cc),
        bcc,
        blind,
        reply_to: addresses(&s.reply_to),
        tags: s.tags.clone(),
        date: message.date.map(|secs| format::exact_time(secs * 1000)),
        received_exact: format::exact_time(message.received_at_ms),
        received_relative: format::relative_time(message.received_at_ms, now),
        created: s.created.clone(),
        size: format::size(s.size),
        unsubscribe: unsubscribe(raw, &s.id),
        invites: message
            .parts
            .iter()
            .filter(|p| p.content_type.eq_ignore_ascii_case("text/calendar"))
            .take(3)
            .filter_map(|p| super::calendar::invite(&part_text(raw, p)))
            .collect(),
        attachments,
        more_attachments,
        problems: message.problems.clone(),
    }
}

/// Attachments and inline parts of the message itself, and attached
/// messages as a whole (not the parts inside them).
fn attachments(id: &str, parts: &[Part], raw: &[u8]) -> Vec<AttachmentView> {
    let enclosing: Vec<String> = parts
        .iter()
        .filter(|p| p.role == PartRole::Message)
        .map(|p| format!("{}.", p.part_id))
        .collect();
    parts
        .iter()
        .filter(|p| {
            matches!(
                p.role,
                PartRole::Attachment | PartRole::Inline | PartRole::Message
            )
        })
        .filter(|p| !enclosing.iter().any(|prefix| p.part_id.starts_with(prefix)))
        .map(|p| AttachmentView {
            name: p
                .filename
                .clone()
                .or_else(|| p.content_id.clone())
                .or_else(|| {
                    (p.role == PartRole::Message).then(|| {
                        match enclosed_header(raw, p, "Subject") {
                            subject if subject.is_empty() => "attached message".to_string(),
                            subject => format!("{subject}.eml"),
                        }
                    })
                })
                .unwrap_or_else(|| format!("part {}", p.part_id)),
            content_type: p.content_type.clone(),
            size: format::size(p.size),
            href: part_url(id, &p.part_id),
            inline: p.role == PartRole::Inline,
            preview: p.content_type.starts_with("image/") && renders_passively(&p.content_type),
        })
        .collect()
}

fn html_tab(id: &str, has_html: bool, has_remote: bool, params: &Params) -> HtmlTab {
    let flag = |name: &str| params.get(name).is_some_and(|v| v == "1");
    let remote = flag("remote");
    let width = params
        .get("width")
        .and_then(|w| WIDTHS.iter().find(|(name, _)| name == w))
        .map_or("desktop", |(name, _)| name);
    let href = |width: &str, remote: bool| {
        let mut href = format!("{}message/{id}/html?width={width}", webroot());
        if remote {
            href.push_str("&remote=1");
        }
        href
    };
    HtmlTab {
        src: has_html.then(|| {
            let remote = if remote { "&remote=1" } else { "" };
            format!("{}view/{id}.html?embed=1{remote}", webroot())
        }),
        width,
        widths: WIDTHS
            .iter()
            .map(|&(name, label)| Toggle {
                label,
                href: href(name, remote),
                active: name == width,
            })
            .collect(),
        remote,
        remote_toggle: href(width, !remote),
        has_remote,
    }
}

/// Every header of the top-level message, in order, duplicates kept.
/// The first [`MAX_HEADERS_SHOWN`], each value cut at [`MAX_VALUE_SHOWN`].
fn header_rows(raw: &[u8]) -> Result<HeadersTab, String> {
    let headers = crate::domain::message::top_headers(raw)
        .map_err(|e| format!("The header block could not be parsed: {e}"))?;
    let rows = headers
        .iter()
        .take(MAX_HEADERS_SHOWN)
        .map(|h| {
            let value = crate::domain::message::header_value(h);
            let raw = String::from_utf8_lossy(h.get_value_raw());
            // Folding and runs of spaces are not a different form.
            let same = raw.split_whitespace().eq(value.split_whitespace());
            let (shown, cut) = format::cut(&value, MAX_VALUE_SHOWN);
            HeaderRow {
                name: format::shorten(&h.get_key(), MAX_VALUE_SHOWN),
                raw: (!same).then(|| format::shorten(&raw, MAX_VALUE_SHOWN)),
                cut_from: cut.then(|| format::size(value.len() as u64)),
                value: shown.to_string(),
            }
        })
        .collect();
    Ok(HeadersTab {
        rows,
        total: (headers.len() > MAX_HEADERS_SHOWN).then_some(headers.len()),
    })
}

fn text_tab(text: &str) -> TextTab {
    let (shown, cut) = format::cut(text, MAX_TEXT_SHOWN);
    TextTab {
        segments: format::linkify(shown),
        cut_at: cut.then(|| format::size(shown.len() as u64)),
    }
}

fn raw_tab(raw: &[u8]) -> RawTab {
    let shown = &raw[..raw.len().min(MAX_RAW_SHOWN)];
    RawTab {
        text: String::from_utf8_lossy(shown).into_owned(),
        truncated: shown.len() < raw.len(),
        shown: format::size(shown.len() as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_order_duplicates_and_raw_form() {
        let raw = b"Received: from a\r\nSubject: =?UTF-8?B?SGVsbG8=?=\r\nReceived: from b\r\n\tby c\r\n\r\nbody";
        let rows = header_rows(raw).unwrap().rows;
        let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["Received", "Subject", "Received"]);
        assert_eq!(rows[1].value, "Hello");
        assert_eq!(rows[1].raw.as_deref(), Some("=?UTF-8?B?SGVsbG8=?="));
        assert_eq!(rows[0].raw, None);
        assert_eq!(rows[2].raw, None, "folding alone is not a different form");
    }
}
