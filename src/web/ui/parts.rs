//! The MIME parts tab: the part index as a tree, and attached messages
//! opened as their own branch.
//!
//! The index opens a `message/rfc822` part only when it is not an
//! attachment (a forwarded `.eml` sent with `Content-Disposition:
//! attachment` stays one attachment, as in Mailpit's shapes). This tab
//! parses such an attachment when it is shown and lists its parts under it,
//! numbered as the index would (`3.0`, `3.1`, ...); the part URL finds them
//! by that ID too, so each opens and downloads on its own.

use std::collections::{HashMap, HashSet};

use super::format;
use super::message::MAX_VALUE_SHOWN;
use crate::domain::message::{AttachedMessage, Part, PartRole, is_attached_message, open_attached};
use crate::web::parts::renders_passively;
use crate::web::webroot;

/// The tab lists this many parts at most: a sender can make a message of
/// a hundred thousand parts, and a browser takes seconds to lay out that
/// many table rows.
const MAX_PARTS_SHOWN: usize = 1000;
/// Attached messages opened per message: each is parsed again every time
/// the tab is shown.
const MAX_ATTACHED_OPENED: usize = 20;

pub struct PartsTab {
    pub rows: Vec<PartRow>,
    /// How many parts the message has, when not all are listed.
    pub total: Option<usize>,
}

pub struct PartRow {
    pub id: String,
    /// Box-drawing prefix that draws the tree.
    pub tree: String,
    pub content_type: String,
    pub role: &'static str,
    pub charset: String,
    pub encoding: String,
    pub disposition: String,
    pub filename: String,
    pub size: String,
    /// Open/download link; `None` for multipart containers.
    pub href: Option<String>,
    /// The browser shows it (else its link only downloads).
    pub opens: bool,
    /// For an attached message: its subject and sender.
    pub enclosed: Option<String>,
    /// An attachment opened here: its parts follow, and can be folded.
    pub branch: bool,
    /// The part ID of the opened attachment this part is inside.
    pub within: Option<String>,
}

/// A part as the tree draws it: where its bytes are, and which opened
/// attachment (if any) it belongs to.
struct Node<'a> {
    part: &'a Part,
    raw: &'a [u8],
    within: Option<&'a str>,
}

/// The part index as a tree, in document order, up to
/// [`MAX_PARTS_SHOWN`] rows, with attached messages opened. A part whose
/// parent is missing from the index is drawn as a root.
pub fn part_rows(id: &str, parts: &[Part], raw: &[u8]) -> PartsTab {
    let opened = open_all_attached(parts, raw);
    let mut nodes: Vec<Node<'_>> = parts
        .iter()
        .map(|part| Node {
            part,
            raw,
            within: None,
        })
        .collect();
    for attached in &opened {
        nodes.extend(attached.parts.iter().map(|part| Node {
            part,
            raw: &attached.raw,
            within: Some(attached.id.as_str()),
        }));
    }
    let branches: HashMap<&str, &AttachedMessage> =
        opened.iter().map(|o| (o.id.as_str(), o)).collect();
    let known: HashSet<&str> = nodes.iter().map(|n| n.part.part_id.as_str()).collect();
    let mut children: HashMap<Option<&str>, Vec<&Node<'_>>> = HashMap::new();
    for node in &nodes {
        let parent = node.part.parent_id.as_deref().filter(|p| known.contains(p));
        children.entry(parent).or_default().push(node);
    }
    // Depth first, each entry with the prefix its children continue.
    let mut rows = Vec::with_capacity(nodes.len().min(MAX_PARTS_SHOWN));
    let mut stack: Vec<(&Node<'_>, String, String)> = Vec::new();
    let push_children = |stack: &mut Vec<_>, parent: Option<&str>, prefix: &str| {
        let Some(kids) = children.get(&parent) else {
            return;
        };
        for (i, kid) in kids.iter().enumerate().rev() {
            let (tree, continued) = match (parent, i + 1 == kids.len()) {
                (None, _) => (String::new(), String::new()),
                (Some(_), true) => (format!("{prefix}└─ "), format!("{prefix}   ")),
                (Some(_), false) => (format!("{prefix}├─ "), format!("{prefix}│  ")),
            };
            stack.push((*kid, tree, continued));
        }
    };
    push_children(&mut stack, None, "");
    while let Some((node, tree, continued)) = stack.pop() {
        if rows.len() == MAX_PARTS_SHOWN {
            break;
        }
        let branch = branches.get(node.part.part_id.as_str()).copied();
        rows.push(part_row(id, node, tree, branch));
        push_children(&mut stack, Some(&node.part.part_id), &continued);
    }
    PartsTab {
        rows,
        total: (nodes.len() > MAX_PARTS_SHOWN).then_some(nodes.len()),
    }
}

fn open_all_attached(parts: &[Part], raw: &[u8]) -> Vec<AttachedMessage> {
    parts
        .iter()
        .filter(|p| is_attached_message(p))
        .take(MAX_ATTACHED_OPENED)
        .map(|attachment| open_attached(raw, attachment))
        .collect()
}

fn part_row(id: &str, node: &Node<'_>, tree: String, branch: Option<&AttachedMessage>) -> PartRow {
    let part = node.part;
    let role = match part.role {
        _ if branch.is_some() => "attached message",
        PartRole::Container => "container",
        PartRole::Message => "attached message",
        PartRole::Text => "text body",
        PartRole::Html => "HTML body",
        PartRole::Inline => "inline",
        PartRole::Attachment => "attachment",
    };
    let enclosed = match branch {
        Some(opened) => Some(sender_and_subject(|name| header_of(&opened.raw, name))),
        None => (part.role == PartRole::Message)
            .then(|| sender_and_subject(|name| enclosed_header(node.raw, part, name))),
    };
    PartRow {
        id: part.part_id.clone(),
        tree,
        content_type: part.content_type.clone(),
        role,
        charset: part.charset.clone().unwrap_or_default(),
        encoding: part.transfer_encoding.clone(),
        disposition: part.disposition.clone().unwrap_or_default(),
        filename: format::shorten(
            part.filename.as_deref().unwrap_or_default(),
            MAX_VALUE_SHOWN,
        ),
        size: if part.role == PartRole::Container {
            String::new()
        } else {
            format::size(part.size)
        },
        href: (part.role != PartRole::Container).then(|| part_url(id, &part.part_id)),
        opens: renders_passively(&part.content_type),
        enclosed,
        branch: branch.is_some(),
        within: node.within.map(str::to_string),
    }
}

fn sender_and_subject(header: impl Fn(&str) -> String) -> String {
    format!("“{}” from {}", header("Subject"), header("From"))
}

/// A top-level header of a whole message.
fn header_of(message: &[u8], name: &str) -> String {
    crate::domain::message::top_headers(message)
        .ok()
        .and_then(|headers| crate::domain::message::first_value(&headers, name))
        .unwrap_or_default()
}

/// A header of the message attached as `part` (a `message/rfc822` part).
pub fn enclosed_header(raw: &[u8], part: &Part, name: &str) -> String {
    let body = raw
        .get(part.body_start as usize..(part.body_end as usize).min(raw.len()))
        .unwrap_or_default();
    header_of(body, name)
}

pub fn part_url(id: &str, part_id: &str) -> String {
    format!("{}api/v1/message/{id}/part/{part_id}", webroot())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::parse;

    #[test]
    fn the_part_tree_is_drawn() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\
Content-Type: text/plain\r\n\r\nhi\r\n--c\r\n\
Content-Type: text/html\r\n\r\n<p>hi</p>\r\n--c--\r\n--b\r\n\
Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nFrom: a@b\r\n\r\ninner body\r\n--b--\r\n";
        let parsed = parse(raw);
        let rows = part_rows("X", &parsed.parts, raw).rows;
        let drawn: Vec<String> = rows.iter().map(|r| format!("{}{}", r.tree, r.id)).collect();
        assert_eq!(
            drawn,
            ["0", "├─ 1", "│  ├─ 1.1", "│  └─ 1.2", "└─ 2", "   └─ 2.1"]
        );
        assert_eq!(rows[0].href, None);
        assert_eq!(rows[2].href.as_deref(), Some("/api/v1/message/X/part/1.1"));
        assert_eq!(rows[4].enclosed.as_deref(), Some("“inner” from a@b"));
        assert!(rows.iter().all(|r| !r.branch && r.within.is_none()));
    }

    #[test]
    fn an_attached_message_is_its_own_branch() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n\
Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"fwd.eml\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n\
U3ViamVjdDogaW5uZXINCkZyb206IGFAYg0KQ29udGVudC1UeXBlOiBtdWx0aXBhcnQvYWx0ZXJu\r\n\
YXRpdmU7IGJvdW5kYXJ5PWMNCg0KLS1jDQpDb250ZW50LVR5cGU6IHRleHQvcGxhaW4NCg0KaGkN\r\n\
Ci0tYw0KQ29udGVudC1UeXBlOiB0ZXh0L2h0bWwNCg0KPHA+aGk8L3A+DQotLWMtLQ0K\r\n--b--\r\n";
        let parsed = parse(raw);
        assert_eq!(parsed.parts[2].role, PartRole::Attachment);
        let rows = part_rows("X", &parsed.parts, raw).rows;
        let drawn: Vec<String> = rows.iter().map(|r| format!("{}{}", r.tree, r.id)).collect();
        assert_eq!(
            drawn,
            [
                "0",
                "├─ 1",
                "└─ 2",
                "   └─ 2.0",
                "      ├─ 2.1",
                "      └─ 2.2"
            ]
        );
        let attached = &rows[2];
        assert!(attached.branch);
        assert_eq!(attached.role, "attached message");
        assert_eq!(attached.enclosed.as_deref(), Some("“inner” from a@b"));
        assert_eq!(attached.href.as_deref(), Some("/api/v1/message/X/part/2"));
        assert_eq!(rows[4].content_type, "text/plain");
        for row in &rows[3..] {
            assert_eq!(row.within.as_deref(), Some("2"));
        }
        assert_eq!(rows[3].href, None, "a container");
        assert_eq!(rows[4].href.as_deref(), Some("/api/v1/message/X/part/2.1"));
        assert_eq!(rows[5].href.as_deref(), Some("/api/v1/message/X/part/2.2"));
    }
}
