//! A message as DKIM and ARC read it (RFC 6376 §3.4): its header fields
//! with their exact bytes, its body, and the "simple" and "relaxed"
//! canonical forms both are hashed in. Line ends are taken as CRLF
//! whether the message has CRLF or bare LF, as a message that crossed a
//! Unix mailbox may.

/// One header field: its name and every byte of it up to, not including,
/// the line end that closes it (folded lines included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a str,
    pub raw: &'a [u8],
}

impl Field<'_> {
    /// The value after the colon, unfolded as text (for tag lists).
    pub fn value(&self) -> String {
        let colon = self.raw.iter().position(|&b| b == b':').unwrap_or(0);
        String::from_utf8_lossy(&self.raw[colon + 1..]).into_owned()
    }
}

/// The header fields in order, and the body after the empty line.
#[derive(Debug)]
pub struct Message<'a> {
    pub fields: Vec<Field<'a>>,
    pub body: &'a [u8],
}

/// Splits `raw` at the empty line. A line that is neither a field nor a
/// continuation is skipped (it can be neither signed nor verified).
pub fn split(raw: &[u8]) -> Message<'_> {
    let mut fields: Vec<Field<'_>> = Vec::new();
    let mut start = 0;
    // (start of the current field, end of its last line before the break)
    let mut open: Option<(usize, usize)> = None;
    while start < raw.len() {
        let end = memchr::memchr(b'\n', &raw[start..]).map_or(raw.len(), |i| start + i);
        let line_end = if end > start && raw[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        let line = &raw[start..line_end];
        let next = (end + 1).min(raw.len());
        if line.is_empty() {
            close(raw, &mut fields, open.take());
            return Message {
                fields,
                body: &raw[next..],
            };
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some((from, _)) = open {
                open = Some((from, line_end));
            }
        } else {
            close(raw, &mut fields, open.take());
            open = Some((start, line_end));
        }
        start = end + 1;
    }
    close(raw, &mut fields, open);
    Message {
        fields,
        body: &raw[raw.len()..],
    }
}

/// Adds the field at `open` (its byte range) if it is one: a name, then
/// a colon.
fn close<'a>(raw: &'a [u8], fields: &mut Vec<Field<'a>>, open: Option<(usize, usize)>) {
    let Some((from, to)) = open else { return };
    let raw = &raw[from..to];
    let Some(colon) = raw.iter().position(|&b| b == b':') else {
        return;
    };
    if let Ok(name) = std::str::from_utf8(&raw[..colon]) {
        let name = name.trim_end_matches([' ', '\t']);
        if !name.is_empty() && !name.contains([' ', '\t']) {
            fields.push(Field { name, raw });
        }
    }
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Appends `field` in the canonical form, with its closing CRLF.
pub fn header(field: &[u8], relaxed: bool, out: &mut Vec<u8>) {
    if !relaxed {
        // Simple: unchanged, except that every line end is CRLF.
        let mut previous = 0u8;
        for &b in field {
            if b == b'\n' && previous != b'\r' {
                out.push(b'\r');
            }
            out.push(b);
            previous = b;
        }
        out.extend_from_slice(b"\r\n");
        return;
    }
    let colon = field.iter().position(|&b| b == b':').unwrap_or(field.len());
    let name = &field[..colon];
    let end = name.iter().rposition(|&b| !is_wsp(b)).map_or(0, |i| i + 1);
    out.extend(name[..end].iter().map(u8::to_ascii_lowercase));
    out.push(b':');
    let value = field.get(colon + 1..).unwrap_or_default();
    // Unfold, turn each run of blanks into one space, trim both ends.
    let mut pending_space = false;
    let mut started = false;
    for &b in value {
        match b {
            b'\r' | b'\n' => {}
            b' ' | b'\t' => pending_space = started,
            _ => {
                if pending_space {
                    out.push(b' ');
                    pending_space = false;
                }
                out.push(b);
                started = true;
            }
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// The body in the canonical form (RFC 6376 §3.4.3, §3.4.4).
pub fn body(body: &[u8], relaxed: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 32);
    // Length of `out` after the last line that was not empty: trailing
    // empty lines are dropped.
    let mut kept = 0;
    let mut start = 0;
    while start < body.len() {
        let end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |i| start + i);
        let mut line = &body[start..end];
        if let [rest @ .., b'\r'] = line
            && end < body.len()
        {
            line = rest;
        }
        let line_start = out.len();
        if relaxed {
            // Runs of blanks become one space; blanks at the end go.
            let mut pending_space = false;
            for &b in line {
                if is_wsp(b) {
                    pending_space = true;
                } else {
                    if pending_space {
                        out.push(b' ');
                        pending_space = false;
                    }
                    out.push(b);
                }
            }
        } else {
            out.extend_from_slice(line);
        }
        let empty = out.len() == line_start;
        out.extend_from_slice(b"\r\n");
        if !empty {
            kept = out.len();
        }
        start = end + 1;
    }
    out.truncate(kept);
    if out.is_empty() && !relaxed {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `field` with the value of its `b=` tag removed, as the signature's own
/// header is hashed (RFC 6376 §3.7); everything else is kept byte for byte.
pub fn without_signature(field: &[u8]) -> Vec<u8> {
    let Some(colon) = field.iter().position(|&b| b == b':') else {
        return field.to_vec();
    };
    let mut out = field[..=colon].to_vec();
    let value = &field[colon + 1..];
    let mut rest = value;
    while !rest.is_empty() {
        let semicolon = rest.iter().position(|&b| b == b';');
        let (tag, next) = match semicolon {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, &rest[rest.len()..]),
        };
        let equals = tag.iter().position(|&b| b == b'=');
        let name_is_b = equals.is_some_and(|i| {
            tag[..i]
                .iter()
                .filter(|b| !b.is_ascii_whitespace())
                .eq(b"b".iter())
        });
        match equals {
            Some(i) if name_is_b => out.extend_from_slice(&tag[..=i]),
            _ => out.extend_from_slice(tag),
        }
        if let Some(&semi) = next.first() {
            out.push(semi);
            rest = &next[1..];
        } else {
            rest = next;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_their_folding_and_the_body_starts_after_the_empty_line() {
        let raw =
            b"From: a@example.com\r\nSubject: one\r\n two\r\nbroken line\r\nX:y\n\r\nbody\r\n";
        let message = split(raw);
        let names: Vec<_> = message.fields.iter().map(|f| f.name).collect();
        assert_eq!(names, ["From", "Subject", "X"]);
        assert_eq!(message.fields[1].raw, b"Subject: one\r\n two");
        assert_eq!(message.body, b"body\r\n");
        let headers_only = split(b"From: a\r\nTo: b");
        assert_eq!(headers_only.fields.len(), 2);
        assert!(headers_only.body.is_empty());
    }

    // RFC 6376 §3.4.5's example.
    #[test]
    fn the_rfc_example_in_both_forms() {
        let raw = b"A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n";
        let message = split(raw);
        let mut relaxed = Vec::new();
        let mut simple = Vec::new();
        for field in &message.fields {
            header(field.raw, true, &mut relaxed);
            header(field.raw, false, &mut simple);
        }
        assert_eq!(relaxed, b"a:X\r\nb:Y Z\r\n");
        assert_eq!(simple, b"A: X\r\nB : Y\t\r\n\tZ  \r\n");
        assert_eq!(body(message.body, true), b" C\r\nD E\r\n");
        assert_eq!(body(message.body, false), b" C \r\nD \t E\r\n");
    }

    #[test]
    fn empty_and_unterminated_bodies() {
        assert_eq!(body(b"", false), b"\r\n");
        assert_eq!(body(b"", true), b"");
        assert_eq!(body(b"\r\n\r\n", false), b"\r\n");
        assert_eq!(body(b" \r\n\t\r\n", true), b"");
        assert_eq!(body(b"end", false), b"end\r\n");
        assert_eq!(body(b"a\nb\n\n", true), b"a\r\nb\r\n");
        assert_eq!(body(b"x \r\n \r\n", true), b"x\r\n");
    }

    #[test]
    fn only_the_b_tag_loses_its_value() {
        let field = b"DKIM-Signature: v=1; bh=abc=; b=sig\r\n nature==; d=example.com";
        assert_eq!(
            without_signature(field),
            b"DKIM-Signature: v=1; bh=abc=; b=; d=example.com".to_vec()
        );
        assert_eq!(
            without_signature(b"DKIM-Signature: a=rsa-sha256;\r\n b = xyz"),
            b"DKIM-Signature: a=rsa-sha256;\r\n b =".to_vec()
        );
    }
}
