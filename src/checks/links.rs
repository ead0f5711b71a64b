//! The link check, in Mailpit's `link-check` shape: every http(s) link of
//! a message (`<a href>`, `<img src>`, `<link rel=stylesheet href>` and
//! URLs in the text part) with the status its server answers. The only
//! place Letterbox makes requests to the network, and only when asked.
//!
//! At most [`MAX_CONCURRENT`] requests run at once (across all checks),
//! requests to one host are paced, results are cached for [`CACHE_TTL`],
//! and a check ends after [`TIME_LIMIT`] whatever its links do: links it
//! could not get to are reported as not checked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio_rustls::rustls::ClientConfig;

use super::fetch::Fetcher;
use super::markup::{self, Budget, Event};

/// Requests in flight at once, over all checks.
pub const MAX_CONCURRENT: usize = 5;
/// Links checked per message; the rest are reported as not checked.
pub const MAX_LINKS: usize = 200;
/// A check answers within this long.
pub const TIME_LIMIT: Duration = Duration::from_secs(30);
/// How long a link's result is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(300);
/// Results kept in the cache at most.
const CACHE_ENTRIES: usize = 10_000;
/// HTML examined for links, and for how long.
const MAX_HTML_BYTES: usize = 4 * 1024 * 1024;
const SCAN_TIME: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LinkStatus {
    #[serde(rename = "URL")]
    pub url: String,
    /// The HTTP status, or 0 when there was none (refused, DNS, timeout).
    pub status_code: u16,
    /// The status's reason phrase, or why there was no status.
    pub status: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LinkCheck {
    /// Links with a status of 400 or more, or none.
    pub errors: usize,
    pub links: Vec<LinkStatus>,
    /// Why the result is partial, if it is (not part of Mailpit's shape:
    /// the handler passes it on as a header).
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// The http(s) links of a message, each once, in document order: from the
/// HTML first, then from the text part. Also says why the HTML was not
/// examined to its end, if it was not.
pub fn extract(html: &str, text: &str) -> (Vec<String>, Option<markup::Cut>) {
    let mut links = Vec::new();
    let budget = Budget {
        max_bytes: MAX_HTML_BYTES,
        deadline: Instant::now() + SCAN_TIME,
    };
    let cut = markup::scan(html, budget, |event| {
        let Event::Start(element) = event else { return };
        let attr = match element.name.as_str() {
            "a" | "area" => "href",
            "img" => "src",
            "link"
                if element.attr("rel").is_some_and(|rel| {
                    rel.split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("stylesheet"))
                }) =>
            {
                "href"
            }
            _ => return,
        };
        if let Some(url) = element.attr(attr).map(str::trim).filter(|u| is_http(u)) {
            links.push(url.to_string());
        }
    });
    links.extend(text_links(text));
    let mut seen = std::collections::HashSet::new();
    links.retain(|l| seen.insert(l.clone()));
    (links, cut)
}

fn is_http(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// URLs in plain text: from `http://` or `https://` to the next space or
/// angle bracket or quote, less trailing punctuation.
fn text_links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = text.to_ascii_lowercase();
    let mut at = 0;
    while let Some(found) = lower[at..].find("http") {
        let start = at + found;
        at = start + 4;
        if !is_http(&text[start..]) {
            continue;
        }
        let len = text[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\''))
            .unwrap_or(text.len() - start);
        let url =
            text[start..start + len].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
        if url.len() > "https://".len() {
            out.push(url.to_string());
        }
        at = start + len;
    }
    out
}

/// Checks links; one per server, shared by all requests.
pub struct LinkChecker {
    fetcher: Fetcher,
    permits: Arc<Semaphore>,
    /// (URL, follow) → result and when it was had.
    cache: Mutex<HashMap<(String, bool), (LinkStatus, Instant)>>,
}

impl LinkChecker {
    /// `allow_internal`: whether loopback, private and link-local addresses
    /// may be requested.
    pub fn new(tls: Arc<ClientConfig>, allow_internal: bool) -> LinkChecker {
        LinkChecker {
            fetcher: Fetcher::new(tls, allow_internal),
            permits: Arc::new(Semaphore::new(MAX_CONCURRENT)),
            cache: Mutex::default(),
        }
    }

    /// Checks `urls` (the first [`MAX_LINKS`]) within [`TIME_LIMIT`].
    pub async fn check(&self, urls: Vec<String>, follow: bool) -> LinkCheck {
        let deadline = tokio::time::Instant::now() + TIME_LIMIT;
        let mut notes = Vec::new();
        let checked = urls.len().min(MAX_LINKS);
        if urls.len() > MAX_LINKS {
            notes.push(format!(
                "only the first {MAX_LINKS} of {} links were checked",
                urls.len()
            ));
        }
        let results = join_all(urls.iter().take(checked).map(|url| async move {
            match tokio::time::timeout_at(deadline, self.check_one(url, follow)).await {
                Ok(status) => status,
                Err(_) => not_checked(
                    url,
                    format!("the check's {} s time limit ran out", TIME_LIMIT.as_secs()),
                ),
            }
        }))
        .await;
        if results
            .iter()
            .any(|r| r.status.contains("time limit ran out"))
        {
            notes.push(format!(
                "some links were not checked within {} s",
                TIME_LIMIT.as_secs()
            ));
        }
        let mut links = results;
        links.extend(
            urls[checked..]
                .iter()
                .map(|url| not_checked(url, format!("more than {MAX_LINKS} links in the message"))),
        );
        let errors = links
            .iter()
            .filter(|l| l.status_code == 0 || l.status_code >= 400)
            .count();
        LinkCheck {
            errors,
            links,
            notes,
        }
    }

    async fn check_one(&self, url: &str, follow: bool) -> LinkStatus {
        let key = (url.to_string(), follow);
        if let Some(cached) = self.cached(&key) {
            return cached;
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        // Another check may have fetched it while this one waited.
        if let Some(cached) = self.cached(&key) {
            return cached;
        }
        let status = match self.fetcher.status(url, follow).await {
            Ok(code) => LinkStatus {
                url: url.to_string(),
                status_code: code.as_u16(),
                status: code.canonical_reason().unwrap_or("Unknown").to_string(),
            },
            Err(e) => LinkStatus {
                url: url.to_string(),
                status_code: 0,
                status: e.to_string(),
            },
        };
        self.remember(key, status.clone());
        status
    }

    fn cached(&self, key: &(String, bool)) -> Option<LinkStatus> {
        let cache = self.cache.lock().expect("cache lock");
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(status, _)| status.clone())
    }

    fn remember(&self, key: (String, bool), status: LinkStatus) {
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(key, (status, Instant::now()));
    }
}

fn not_checked(url: &str, why: String) -> LinkStatus {
    LinkStatus {
        url: url.to_string(),
        status_code: 0,
        status: format!("not checked: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_from_html_and_text_once_each() {
        let html = r##"<a href="https://a.test/x">a</a><a href="#top">t</a><a href="mailto:x@y">m</a>
            <img src="http://img.test/p.png"><link rel="Stylesheet" href="https://css.test/s.css">
            <link rel="icon" href="https://icon.test/i"><script>var u = "<a href='https://no.test'>"</script>
            <A HREF=" https://a.test/x ">again</A>"##;
        let text = "See https://t.test/path?q=1. Or <https://a.test/x>, (http://p.test/x).";
        let (links, cut) = extract(html, text);
        assert_eq!(cut, None);
        assert_eq!(
            links,
            [
                "https://a.test/x",
                "http://img.test/p.png",
                "https://css.test/s.css",
                "https://t.test/path?q=1",
                "http://p.test/x",
            ]
        );
    }
}
