//! caniemail.com's data on which email clients support which HTML and CSS
//! features (MIT, see `caniemail/LICENSE`), embedded zstd-compressed and
//! decoded once, on first use.
//!
//! To refresh it: `zstd -19 -f data.json -o src/checks/caniemail/data.json.zst`
//! with a `data.json` in the shape of caniemail.com's `/api/data.json`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

const COMPRESSED: &[u8] = include_bytes!("caniemail/data.json.zst");

/// The parts of the data file the check uses.
#[derive(Debug, Deserialize)]
pub struct Data {
    pub nicenames: NiceNames,
    pub data: Vec<Feature>,
}

#[derive(Debug, Deserialize)]
pub struct NiceNames {
    pub family: BTreeMap<String, String>,
    pub platform: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub struct Feature {
    pub slug: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    pub url: String,
    pub category: String,
    /// A space-separated string in caniemail's front matter, a list in
    /// its API; either is read.
    #[serde(default, deserialize_with = "words")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub keywords: Option<String>,
    /// family → platform → version → `y`, `n`, `a` or `u`, maybe followed
    /// by ` #N` note references.
    pub stats: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    #[serde(default)]
    pub notes_by_num: Option<BTreeMap<String, String>>,
}

fn words<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Words {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Option::<Words>::deserialize(d)? {
        None => Vec::new(),
        Some(Words::List(list)) => list,
        Some(Words::Text(text)) => text.split_whitespace().map(str::to_string).collect(),
    })
}

/// One client version's support of a feature, in Mailpit's shape.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientSupport {
    pub name: String,
    pub platform: String,
    pub family: String,
    pub version: String,
    /// `yes`, `no` or `partial` (also for support the data calls unknown).
    pub support: &'static str,
    /// The note the data attaches to this result, or empty.
    pub note_number: String,
}

/// The share of client versions supporting a feature, in percent.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Support {
    pub supported: f32,
    pub partial: f32,
    pub unsupported: f32,
}

/// The data, decoded on first use. The file is part of the binary, so a
/// failure to read it is a build defect.
pub fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let json = zstd::decode_all(COMPRESSED).expect("the embedded caniemail data decompresses");
        serde_json::from_slice(&json).expect("the embedded caniemail data is valid")
    })
}

impl Data {
    pub fn feature(&self, slug: &str) -> Option<&Feature> {
        self.data.iter().find(|f| f.slug == slug)
    }

    /// Every platform with the client families the data knows on it, as
    /// Mailpit's `Platforms`.
    pub fn platforms(&self) -> BTreeMap<String, Vec<String>> {
        let mut platforms: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for feature in &self.data {
            for (family, by_platform) in &feature.stats {
                let nice = self.family_name(family);
                for platform in by_platform.keys() {
                    let families = platforms.entry(platform.clone()).or_default();
                    if !families.contains(&nice) {
                        families.push(nice.clone());
                    }
                }
            }
        }
        for families in platforms.values_mut() {
            families.sort();
        }
        platforms
    }

    fn family_name(&self, family: &str) -> String {
        self.nicenames
            .family
            .get(family)
            .cloned()
            .unwrap_or_else(|| family.to_string())
    }

    /// Each client version's support of `feature`, and the shares.
    pub fn support(&self, feature: &Feature) -> (Vec<ClientSupport>, Support) {
        let mut results = Vec::new();
        let (mut yes, mut no, mut partial) = (0u32, 0u32, 0u32);
        for (family, by_platform) in &feature.stats {
            for (platform, by_version) in by_platform {
                for (version, value) in by_version {
                    let (support, note_number) = parse_support(value);
                    match support {
                        "yes" => yes += 1,
                        "no" => no += 1,
                        _ => partial += 1,
                    }
                    let platform_name = self
                        .nicenames
                        .platform
                        .get(platform)
                        .map_or(platform.as_str(), String::as_str);
                    results.push(ClientSupport {
                        name: format!("{} {platform_name} ({version})", self.family_name(family)),
                        platform: platform.clone(),
                        family: family.clone(),
                        version: version.clone(),
                        support,
                        note_number,
                    });
                }
            }
        }
        let total = (yes + no + partial).max(1) as f32;
        let share = |n: u32| n as f32 / total * 100.0;
        (
            results,
            Support {
                supported: share(yes),
                partial: share(partial),
                unsupported: share(no),
            },
        )
    }
}

/// `"a #2"` → (`partial`, `"2"`).
fn parse_support(value: &str) -> (&'static str, String) {
    let mut words = value.split_whitespace();
    let support = match words.next() {
        Some("y") => "yes",
        Some("n") => "no",
        _ => "partial",
    };
    let note = words
        .find_map(|w| w.strip_prefix('#'))
        .unwrap_or_default()
        .to_string();
    (support, note)
}

/// The data's descriptions and notes are Markdown; Mailpit serves them as
/// HTML. They use code spans and links only, so those are converted and
/// everything else is escaped.
pub fn markdown_to_html(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text.trim();
    while let Some(c) = rest.chars().next() {
        if c == '`'
            && let Some(end) = rest[1..].find('`')
        {
            out.push_str("<code>");
            out.push_str(&escape(&rest[1..1 + end]));
            out.push_str("</code>");
            rest = &rest[end + 2..];
            continue;
        }
        if c == '['
            && let Some((label, url, used)) = link_at(rest)
        {
            out.push_str(&format!(
                "<a href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">{}</a>",
                escape(url),
                escape(label)
            ));
            rest = &rest[used..];
            continue;
        }
        out.push_str(&escape(&rest[..c.len_utf8()]));
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// `[label](http...)` at the start of `text`: the label, the URL and the
/// bytes it spans.
fn link_at(text: &str) -> Option<(&str, &str, usize)> {
    let close = text.find("](")?;
    let label = &text[1..close];
    if label.contains(['[', ']']) {
        return None;
    }
    let url_start = close + 2;
    let url_len = text[url_start..].find(')')?;
    let url = &text[url_start..url_start + url_len];
    if !(url.starts_with("https://") || url.starts_with("http://"))
        || url.contains(char::is_whitespace)
    {
        return None;
    }
    Some((label, url, url_start + url_len + 1))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_data_loads() {
        let data = data();
        assert!(data.data.len() > 300);
        let flex = data.feature("css-display-flex").expect("a known feature");
        let (results, support) = data.support(flex);
        assert!(!results.is_empty());
        let sum = support.supported + support.partial + support.unsupported;
        assert!((sum - 100.0).abs() < 0.01, "{sum}");
        let tagged = data.feature("html-aria-label").expect("a known feature");
        assert_eq!(tagged.tags, ["accessibility"]);
        assert!(
            data.platforms()
                .get("ios")
                .is_some_and(|f| f.contains(&"Gmail".to_string()))
        );
    }

    #[test]
    fn support_values_and_notes() {
        assert_eq!(parse_support("y"), ("yes", String::new()));
        assert_eq!(parse_support("a #2"), ("partial", "2".into()));
        assert_eq!(parse_support("n #1"), ("no", "1".into()));
        assert_eq!(parse_support("u"), ("partial", String::new()));
    }

    #[test]
    fn markdown_spans_and_links_only() {
        assert_eq!(
            markdown_to_html("Use `<b>` [see](https://x.test/a) & <i>"),
            "Use <code>&lt;b&gt;</code> <a href=\"https://x.test/a\" target=\"_blank\" \
             rel=\"noopener noreferrer\">see</a> &amp; &lt;i&gt;"
        );
        assert_eq!(
            markdown_to_html("[x](javascript:alert(1))"),
            "[x](javascript:alert(1))"
        );
    }
}
