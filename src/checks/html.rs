//! The HTML compatibility check: which of caniemail's HTML, CSS and image
//! features a message's HTML uses, how many email clients support each,
//! and an overall score weighted by how much of the document uses them,
//! in Mailpit's `html-check` shape.
//!
//! Mailpit's weighting: each feature found in `Found` places gets the
//! shares of client versions supporting it fully, partly or not at all
//! (`Score`); the document's `Total` takes the worst partial and the worst
//! unsupported share, each weighted by `Found / Nodes` (at most 1), and the
//! rest is `Supported`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::caniemail::{self, ClientSupport, Support};
use super::css;
use super::markup::{self, Budget, Element, Event};

/// HTML beyond this is not examined (the result says so).
pub const MAX_HTML_BYTES: usize = 4 * 1024 * 1024;
/// A check stops after this long (the result says so).
pub const TIME_LIMIT: Duration = Duration::from_secs(3);
/// Places listed per feature; `Found` still counts all of them.
const MAX_LOCATIONS: usize = 25;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HtmlCheck {
    pub platforms: BTreeMap<String, Vec<String>>,
    pub total: Total,
    pub warnings: Vec<Warning>,
    /// Letterbox's addition, only with `?locations=true`: why the result
    /// is partial, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<Vec<String>>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Total {
    /// caniemail features looked for.
    pub tests: usize,
    /// Elements in the document.
    pub nodes: usize,
    pub supported: f32,
    pub partial: f32,
    pub unsupported: f32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Warning {
    pub slug: String,
    pub title: String,
    pub description: String,
    #[serde(rename = "URL")]
    pub url: String,
    pub category: String,
    pub tags: Vec<String>,
    pub keywords: String,
    pub results: Vec<ClientSupport>,
    pub notes_by_number: BTreeMap<String, String>,
    pub score: Score,
    /// Letterbox's addition, only with `?locations=true`: where in the
    /// HTML the feature is used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locations: Option<Vec<Location>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Score {
    pub found: usize,
    pub supported: f32,
    pub partial: f32,
    pub unsupported: f32,
}

/// A place a feature is used: the line of the HTML and the markup or CSS.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Location {
    pub line: u64,
    pub context: String,
}

/// What was found, before it is joined with the data.
#[derive(Default)]
struct Findings {
    /// slug → (count, first places)
    features: HashMap<String, (usize, Vec<Location>)>,
    nodes: usize,
    notes: Vec<String>,
}

impl Findings {
    fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }
}

impl css::Found for Findings {
    fn found(&mut self, slug: String, line: u64, context: &str) {
        let (count, places) = self.features.entry(slug).or_default();
        *count += 1;
        if places.len() < MAX_LOCATIONS {
            places.push(Location {
                line,
                context: markup::shorten(context),
            });
        }
    }

    fn cut_short(&mut self, why: &'static str) {
        self.note(format!("CSS partly examined: {why}"));
    }
}

/// Runs the check on `html`. `with_locations` adds Letterbox's
/// `Locations` and `Notes`. Never takes much longer than [`TIME_LIMIT`].
pub fn check(html: &str, with_locations: bool) -> HtmlCheck {
    let deadline = Instant::now() + TIME_LIMIT;
    let budget = Budget {
        max_bytes: MAX_HTML_BYTES,
        deadline,
    };
    let mut findings = Findings::default();
    let cut = markup::scan(html, budget, |event| {
        on_event(event, deadline, &mut findings)
    });
    if let Some(cut) = cut {
        findings.note(format!("partial result: {cut}"));
    }
    report(findings, with_locations)
}

fn on_event(event: Event, deadline: Instant, findings: &mut Findings) {
    use css::Found;
    match event {
        Event::Doctype { line } => findings.found("html-doctype".into(), line, "<!DOCTYPE>"),
        Event::Comment { line } => findings.found("html-comments".into(), line, "<!-- -->"),
        Event::Style { css, line } => css::scan_sheet(&css, line, deadline, findings),
        Event::Start(element) => {
            if !matches!(element.name.as_str(), "html" | "head" | "meta") {
                findings.nodes += 1;
            }
            let context = element.context();
            for slug in element_slugs(&element) {
                findings.found(slug, element.line, &context);
            }
            if let Some(style) = element.attr("style") {
                css::scan_inline(style, element.line, deadline, findings);
            }
        }
    }
}

/// The features an element and its attributes use (not its `style`).
fn element_slugs(element: &Element) -> Vec<String> {
    let mut slugs = Vec::new();
    let name = element.name.as_str();
    let tag_slug = match name {
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => Some("html-h1-h6"),
        "ul" | "ol" | "dl" => Some("html-lists"),
        "object" | "embed" => Some("html-object"),
        "map" => Some("html-image-maps"),
        "article" | "aside" | "details" | "figcaption" | "figure" | "footer" | "header"
        | "main" | "mark" | "nav" | "section" | "summary" | "time" => Some("html-semantics"),
        _ => None,
    };
    match tag_slug {
        Some(slug) => slugs.push(slug.to_string()),
        // html-div, html-table, html-video, ...: unknown names match no
        // feature and are dropped when joined with the data.
        None => slugs.push(format!("html-{name}")),
    }
    let kind = element.attr("type").map(str::to_ascii_lowercase);
    match (name, kind.as_deref()) {
        ("input", Some(t @ ("checkbox" | "hidden" | "radio" | "reset" | "submit" | "text"))) => {
            slugs.push(format!("html-input-{t}"))
        }
        ("button", Some(t @ ("reset" | "submit"))) => slugs.push(format!("html-button-{t}")),
        ("meta", _)
            if element
                .attr("name")
                .is_some_and(|n| n.eq_ignore_ascii_case("color-scheme")) =>
        {
            slugs.push("html-meta-color-scheme".into())
        }
        ("img", _) => {
            if element.attr("usemap").is_some() {
                slugs.push("html-image-maps".into());
            }
            if let Some(src) = element.attr("src") {
                slugs.extend(image_slug(src));
            }
        }
        ("a", _) => {
            let href = element.attr("href").unwrap_or_default().trim();
            if href.starts_with('#') {
                slugs.push("html-anchor-links".into());
            } else if href.len() >= 7 && href[..7].eq_ignore_ascii_case("mailto:") {
                slugs.push("html-mailto-links".into());
            }
        }
        _ => {}
    }
    for (attr, _) in &element.attrs {
        let slug = match attr.as_str() {
            "align" | "background" | "cellpadding" | "cellspacing" | "dir" | "height"
            | "hidden" | "lang" | "popover" | "required" | "role" | "srcset" | "target"
            | "valign" | "width" => {
                format!("html-{attr}")
            }
            "loading" => "html-loading-attribute".into(),
            "inert" => "css-inert-attribute".into(),
            "bgcolor" => "css-background-color".into(),
            a if a.starts_with("aria-") => format!("html-{a}"),
            _ => continue,
        };
        slugs.push(slug);
    }
    slugs
}

/// The image format feature of an `<img src>`.
fn image_slug(src: &str) -> Option<String> {
    let src = src.trim();
    if src.len() >= 11 && src[..11].eq_ignore_ascii_case("data:image/") {
        return Some("image-base64".into());
    }
    let path = src.split(['?', '#']).next().unwrap_or_default();
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    let format = match ext.as_str() {
        "jpeg" | "jpg" => "jpg",
        "tif" | "tiff" => "tiff",
        "heic" | "heif" => "heif",
        "apng" | "avif" | "bmp" | "gif" | "hdr" | "ico" | "mp4" | "png" | "svg" | "webp" => {
            ext.as_str()
        }
        _ => return None,
    };
    Some(format!("image-{format}"))
}

/// Joins the findings with caniemail's data and scores them.
fn report(findings: Findings, with_locations: bool) -> HtmlCheck {
    let data = caniemail::data();
    let nodes = findings.nodes.max(1);
    let mut warnings: Vec<Warning> = findings
        .features
        .into_iter()
        .filter_map(|(slug, (found, places))| {
            let feature = data.feature(&slug)?;
            let (results, support) = data.support(feature);
            Some(warning(
                feature,
                results,
                support,
                found,
                with_locations.then_some(places),
            ))
        })
        .collect();
    let weight = |w: &Warning| (w.score.found as f32 / nodes as f32).min(1.0);
    let worst = |share: fn(&Score) -> f32| {
        warnings
            .iter()
            .map(|w| share(&w.score) * weight(w))
            .fold(0.0f32, f32::max)
    };
    let partial = worst(|s| s.partial);
    let unsupported = worst(|s| s.unsupported);
    let badness = |w: &Warning| (w.score.partial + w.score.unsupported) * weight(w);
    warnings.sort_by(|a, b| {
        badness(b)
            .total_cmp(&badness(a))
            .then_with(|| a.slug.cmp(&b.slug))
    });
    HtmlCheck {
        platforms: data.platforms(),
        total: Total {
            tests: data.data.iter().filter(|f| f.category != "others").count(),
            nodes: findings.nodes,
            supported: (100.0 - partial - unsupported).max(0.0),
            partial,
            unsupported,
        },
        warnings,
        notes: with_locations.then_some(findings.notes),
    }
}

fn warning(
    feature: &caniemail::Feature,
    results: Vec<ClientSupport>,
    support: Support,
    found: usize,
    locations: Option<Vec<Location>>,
) -> Warning {
    Warning {
        slug: feature.slug.clone(),
        title: feature.title.clone(),
        description: caniemail::markdown_to_html(
            feature.description.as_deref().unwrap_or_default(),
        ),
        url: feature.url.clone(),
        category: feature.category.clone(),
        tags: feature.tags.clone(),
        keywords: feature.keywords.clone().unwrap_or_default(),
        results,
        notes_by_number: feature
            .notes_by_num
            .iter()
            .flatten()
            .map(|(n, note)| (n.clone(), caniemail::markdown_to_html(note)))
            .collect(),
        score: Score {
            found,
            supported: support.supported,
            partial: support.partial,
            unsupported: support.unsupported,
        },
        locations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slugs(check: &HtmlCheck) -> Vec<&str> {
        check.warnings.iter().map(|w| w.slug.as_str()).collect()
    }

    #[test]
    fn elements_attributes_and_css_are_found_with_places() {
        let html = "<!DOCTYPE html>\n<html><head><style>\n.a:hover { display: flex }\n</style></head>\n\
                    <body>\n<div style=\"border-radius: 4px\"><p>x</p>\n<img src=\"a.webp\" width=\"10\">\n\
                    <a href=\"#top\">t</a><svg></svg></div></body></html>";
        let check = check(html, true);
        let found = slugs(&check);
        for want in [
            "html-doctype",
            "html-style",
            "css-pseudo-class-hover",
            "css-display-flex",
            "html-div",
            "css-border-radius",
            "css-unit-px",
            "html-p",
            "image-webp",
            "html-width",
            "html-anchor-links",
            "html-svg",
            "html-body",
            "html-img",
        ] {
            assert!(found.contains(&want), "{want} in {found:?}");
        }
        // style, body, div, p, img, a, svg
        assert_eq!(check.total.nodes, 7);
        let flex = check
            .warnings
            .iter()
            .find(|w| w.slug == "css-display-flex")
            .unwrap();
        let places = flex.locations.as_ref().unwrap();
        assert_eq!(places[0].line, 3);
        assert_eq!(places[0].context, "display: flex");
        let radius = check
            .warnings
            .iter()
            .find(|w| w.slug == "css-border-radius")
            .unwrap();
        assert_eq!(radius.locations.as_ref().unwrap()[0].line, 6);
        assert!(check.total.supported + check.total.partial + check.total.unsupported <= 100.01);
        assert!(check.total.unsupported > 0.0);
        assert_eq!(check.notes.as_deref(), Some(&[][..]));
    }

    #[test]
    fn the_worst_features_come_first() {
        let check = check("<p>a</p><p>b</p><svg></svg>", false);
        let badness = |w: &Warning| w.score.partial + w.score.unsupported;
        let first = &check.warnings[0];
        assert!(
            check
                .warnings
                .iter()
                .all(|w| badness(w) * (w.score.found as f32)
                    <= badness(first) * (first.score.found as f32) + 0.01)
        );
        assert!(check.notes.is_none() && first.locations.is_none());
    }

    #[test]
    fn huge_html_gets_a_partial_result_with_a_note() {
        let html = "<div style=\"color:red\">x</div>".repeat(MAX_HTML_BYTES / 20);
        let check = check(&html, true);
        let notes = check.notes.unwrap();
        assert!(
            notes.iter().any(|n| n.starts_with("partial result:")),
            "{notes:?}"
        );
        assert!(check.total.nodes > 0);
    }
}
