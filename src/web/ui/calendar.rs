//! A calendar invitation (`text/calendar`, RFC 5545) summed up for the
//! message page: method, title, time with its zone, organizer, attendees.
//! Only what is shown is read; anything odd is left out, never an error.

/// Attendees listed at most.
const MAX_ATTENDEES: usize = 50;
/// Longest value kept.
const MAX_VALUE: usize = 1000;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Invite {
    /// `REQUEST`, `CANCEL`, `REPLY`, ... (empty when not given).
    pub method: String,
    pub title: String,
    /// `20260115T100000 (Europe/Berlin)` style: the value as written and
    /// its zone (`UTC` for a trailing `Z`).
    pub start: String,
    pub end: String,
    pub location: String,
    pub organizer: String,
    pub attendees: Vec<String>,
}

/// The first event of the calendar, if it has one.
pub fn invite(ics: &str) -> Option<Invite> {
    let mut invite = Invite::default();
    let mut in_event = false;
    let mut seen_event = false;
    for line in unfolded(ics) {
        let Some((name_and_params, value)) = split_property(&line) else {
            continue;
        };
        let mut params = name_and_params.split(';');
        let name = params.next().unwrap_or_default().to_ascii_uppercase();
        let params: Vec<&str> = params.collect();
        match (name.as_str(), in_event) {
            ("METHOD", _) => invite.method = value.trim().to_ascii_uppercase(),
            ("BEGIN", false) if value.eq_ignore_ascii_case("VEVENT") && !seen_event => {
                in_event = true;
                seen_event = true;
            }
            ("END", true) if value.eq_ignore_ascii_case("VEVENT") => in_event = false,
            ("SUMMARY", true) => invite.title = text(value),
            ("LOCATION", true) => invite.location = text(value),
            ("DTSTART", true) => invite.start = time(value, &params),
            ("DTEND", true) => invite.end = time(value, &params),
            ("ORGANIZER", true) => invite.organizer = person(value, &params),
            ("ATTENDEE", true) if invite.attendees.len() < MAX_ATTENDEES => {
                invite.attendees.push(person(value, &params));
            }
            _ => {}
        }
    }
    seen_event.then_some(invite)
}

/// Lines with RFC 5545 folding (a line end followed by a space or tab)
/// undone.
fn unfolded(ics: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in ics.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match (raw.strip_prefix([' ', '\t']), lines.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => lines.push(raw.to_string()),
        }
    }
    lines
}

/// `NAME;PARAM=x:value` at the first colon outside quotes.
fn split_property(line: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (at, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => return Some((&line[..at], &line[at + 1..])),
            _ => {}
        }
    }
    None
}

fn param<'a>(params: &[&'a str], name: &str) -> Option<&'a str> {
    params.iter().find_map(|p| {
        let (key, value) = p.split_once('=')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim_matches('"'))
    })
}

/// A TEXT value with its escapes undone, cut to [`MAX_VALUE`].
fn text(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n' | 'N') => out.push(' '),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    super::format::shorten(out.trim(), MAX_VALUE)
}

/// `20260115T100000 (Europe/Berlin)`, `20260115T090000Z` → `... (UTC)`,
/// a date alone as it is.
fn time(value: &str, params: &[&str]) -> String {
    let value = super::format::shorten(value.trim(), MAX_VALUE);
    match (value.strip_suffix('Z'), param(params, "TZID")) {
        (Some(utc), _) => format!("{utc} (UTC)"),
        (None, Some(zone)) => format!("{value} ({})", super::format::shorten(zone, MAX_VALUE)),
        (None, None) => value,
    }
}

/// `Name <address>` from a `CN` and a `mailto:` value.
fn person(value: &str, params: &[&str]) -> String {
    let value = value.trim();
    let address = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("mailto:"))
        .map_or(value, |_| &value[7..]);
    let shown = match param(params, "CN") {
        Some(name) if !name.is_empty() => format!("{name} <{address}>"),
        _ => address.to_string(),
    };
    super::format::shorten(&shown, MAX_VALUE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invitation_is_summed_up() {
        let ics = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n\
END:VTIMEZONE\r\nBEGIN:VEVENT\r\nSUMMARY:Planning\\, Q1\r\n \
review\r\nDTSTART;TZID=Europe/Berlin:20260115T100000\r\nDTEND:20260115T100000Z\r\n\
LOCATION:Room 4\r\nORGANIZER;CN=\"Ann: Lead\":mailto:ann@example.com\r\n\
ATTENDEE;CN=Bob;RSVP=TRUE:MAILTO:bob@example.com\r\nATTENDEE:mailto:cat@example.com\r\n\
END:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:second\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        assert_eq!(
            invite(ics),
            Some(Invite {
                method: "REQUEST".into(),
                title: "Planning, Q1review".into(),
                start: "20260115T100000 (Europe/Berlin)".into(),
                end: "20260115T100000 (UTC)".into(),
                location: "Room 4".into(),
                organizer: "Ann: Lead <ann@example.com>".into(),
                attendees: vec!["Bob <bob@example.com>".into(), "cat@example.com".into()],
            })
        );
    }

    #[test]
    fn no_event_no_invite() {
        assert_eq!(invite("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"), None);
        assert_eq!(invite(""), None);
        assert_eq!(invite(":\n;\n\\"), None);
    }
}
