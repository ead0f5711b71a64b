//! Messages attached as files. A forwarded `.eml` sent with
//! `Content-Disposition: attachment` is one part in the stored index (as in
//! Mailpit's shapes); its own parts are found by parsing it when asked,
//! numbered below the attachment as the index numbers an opened message
//! (`3.0`, `3.1`, ...), so each can be shown and downloaded by that ID.

use super::{Part, PartRole, parse, part_bytes};

/// Attached messages larger than this are not opened: one is parsed again
/// for every request that reaches into it.
pub const MAX_ATTACHED_SIZE: u64 = 10 * 1024 * 1024;
/// How deep messages attached inside attached messages are followed.
const MAX_ATTACHED_DEPTH: usize = 4;

/// An attached message, parsed: its bytes, and its parts renumbered below
/// the attachment's part ID, with offsets into those bytes.
pub struct AttachedMessage {
    pub id: String,
    pub raw: Vec<u8>,
    pub parts: Vec<Part>,
}

/// Whether `part` is a message sent as an attachment (which the index
/// leaves closed), small enough to open.
pub fn is_attached_message(part: &Part) -> bool {
    part.role == PartRole::Attachment
        && matches!(
            part.content_type.as_str(),
            "message/rfc822" | "message/global"
        )
        && part.size <= MAX_ATTACHED_SIZE
}

/// Parses `attachment`, an attached message among the parts of `raw`.
pub fn open_attached(raw: &[u8], attachment: &Part) -> AttachedMessage {
    let inner = part_bytes(raw, attachment);
    let id = attachment.part_id.clone();
    let parts = parse(&inner)
        .parts
        .into_iter()
        .map(|mut part| {
            part.parent_id = Some(match part.parent_id {
                Some(parent) => format!("{id}.{parent}"),
                None => id.clone(),
            });
            part.part_id = format!("{id}.{}", part.part_id);
            part
        })
        .collect();
    AttachedMessage {
        id,
        raw: inner,
        parts,
    }
}

/// The part `part_id` inside a message attached to the message `raw`
/// (whose index is `parts`), through up to [`MAX_ATTACHED_DEPTH`] attached
/// messages: the bytes of the attached message it is in, and the part, its
/// offsets into those bytes.
pub fn find_attached_part(raw: &[u8], parts: &[Part], part_id: &str) -> Option<(Vec<u8>, Part)> {
    let holding = |parts: &[Part]| {
        parts
            .iter()
            .find(|p| {
                is_attached_message(p)
                    && part_id
                        .strip_prefix(p.part_id.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
            .cloned()
    };
    let mut opened = open_attached(raw, &holding(parts)?);
    for _ in 1..MAX_ATTACHED_DEPTH {
        if let Some(part) = opened.parts.iter().find(|p| p.part_id == part_id) {
            return Some((opened.raw, part.clone()));
        }
        opened = open_attached(&opened.raw, &holding(&opened.parts)?);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A forwarded message (text and HTML) attached as `fwd.eml`, base64.
    const FORWARD: &[u8] = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n\
Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"fwd.eml\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n\
U3ViamVjdDogaW5uZXINCkZyb206IGFAYg0KQ29udGVudC1UeXBlOiBtdWx0aXBhcnQvYWx0ZXJu\r\n\
YXRpdmU7IGJvdW5kYXJ5PWMNCg0KLS1jDQpDb250ZW50LVR5cGU6IHRleHQvcGxhaW4NCg0KaGkN\r\n\
Ci0tYw0KQ29udGVudC1UeXBlOiB0ZXh0L2h0bWwNCg0KPHA+aGk8L3A+DQotLWMtLQ0K\r\n--b--\r\n";

    #[test]
    fn a_part_of_an_attached_message_is_found_by_its_id() {
        let parts = parse(FORWARD).parts;
        assert!(parts.iter().all(|p| !p.part_id.starts_with("2.")));
        let (raw, part) = find_attached_part(FORWARD, &parts, "2.2").unwrap();
        assert_eq!(part.content_type, "text/html");
        assert_eq!(part.parent_id.as_deref(), Some("2.0"));
        assert_eq!(part_bytes(&raw, &part), b"<p>hi</p>");
        let (raw, part) = find_attached_part(FORWARD, &parts, "2.1").unwrap();
        assert_eq!(part_bytes(&raw, &part), b"hi");
    }

    #[test]
    fn an_attachment_inside_an_attachment_is_followed() {
        let encoded = base64_lines(FORWARD);
        let outer = format!(
            "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n\
Content-Type: text/plain\r\n\r\nfwd of a fwd\r\n--o\r\n\
Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--o--\r\n"
        );
        let parts = parse(outer.as_bytes()).parts;
        let (raw, part) = find_attached_part(outer.as_bytes(), &parts, "2.2.2").unwrap();
        assert_eq!(part_bytes(&raw, &part), b"<p>hi</p>");
    }

    #[test]
    fn other_ids_are_not_found() {
        let parts = parse(FORWARD).parts;
        for id in ["2.9", "1.1", "3.1", "2", "20.1", "2.1.1"] {
            assert!(find_attached_part(FORWARD, &parts, id).is_none(), "{id}");
        }
    }

    fn base64_lines(bytes: &[u8]) -> String {
        use base64::Engine;
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        let lines: Vec<&str> = text
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        lines.join("\r\n")
    }
}
