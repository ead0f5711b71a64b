//! The DNS records the authentication check is given instead of (or before)
//! asking DNS: `--dkim-key NAME=PATH` files and `--auth-zone` zone files,
//! parsed once at start. [`super::lookup::Resolver`] answers from them.

use std::net::{Ipv4Addr, Ipv6Addr};

use base64::Engine as _;

/// One record of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsRecord {
    Txt {
        name: String,
        value: String,
    },
    A {
        name: String,
        addr: Ipv4Addr,
    },
    Aaaa {
        name: String,
        addr: Ipv6Addr,
    },
    Mx {
        name: String,
        preference: u16,
        exchange: String,
    },
    /// `name` is the reverse name (`3.2.0.192.in-addr.arpa.`).
    Ptr {
        name: String,
        target: String,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZoneError {
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("{0}")]
    Key(String),
    #[error("{name}: {reason}")]
    Record { name: String, reason: String },
}

/// A domain name as records are keyed: lowercase, one final dot.
pub fn fqdn(name: &str) -> String {
    let mut name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    name.push('.');
    name
}

/// Reads a zone file: `name TXT "value" ["more"...]`, `name A 192.0.2.1`,
/// `name AAAA 2001:db8::1`, `name MX 10 mail.example.com`,
/// `3.2.0.192.in-addr.arpa PTR mail.example.com`; an optional TTL and class `IN` may stand
/// between the name and the type (as a zone file or `dig` prints them);
/// blank lines and lines starting with `;` or `#` are skipped.
pub fn parse_zone(text: &str) -> Result<Vec<DnsRecord>, ZoneError> {
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_error = |reason: &str| ZoneError::Line {
            line: index + 1,
            reason: reason.to_string(),
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
            continue;
        }
        let mut words = trimmed.split_whitespace();
        let name = words.next().unwrap_or_default();
        let mut rest = trimmed[name.len()..].trim_start();
        // Optional TTL and class.
        let mut kind = "";
        while let Some(word) = rest.split_whitespace().next() {
            rest = rest[word.len()..].trim_start();
            if word.bytes().all(|b| b.is_ascii_digit()) || word.eq_ignore_ascii_case("IN") {
                continue;
            }
            kind = word;
            break;
        }
        let record = match kind.to_ascii_uppercase().as_str() {
            "TXT" => DnsRecord::Txt {
                name: fqdn(name),
                value: txt_strings(rest).map_err(|r| line_error(&r))?,
            },
            "A" => DnsRecord::A {
                name: fqdn(name),
                addr: rest
                    .trim()
                    .parse()
                    .map_err(|_| line_error("an A record needs an IPv4 address"))?,
            },
            "AAAA" => DnsRecord::Aaaa {
                name: fqdn(name),
                addr: rest
                    .trim()
                    .parse()
                    .map_err(|_| line_error("an AAAA record needs an IPv6 address"))?,
            },
            "MX" => {
                let mut fields = rest.split_whitespace();
                let (Some(preference), Some(exchange), None) =
                    (fields.next(), fields.next(), fields.next())
                else {
                    return Err(line_error(
                        "an MX record needs a preference and a host name",
                    ));
                };
                DnsRecord::Mx {
                    name: fqdn(name),
                    preference: preference
                        .parse()
                        .map_err(|_| line_error("an MX preference is a number up to 65535"))?,
                    exchange: fqdn(exchange),
                }
            }
            "PTR" => match rest.split_whitespace().collect::<Vec<_>>()[..] {
                [target] => DnsRecord::Ptr {
                    name: fqdn(name),
                    target: fqdn(target),
                },
                _ => return Err(line_error("a PTR record needs one host name")),
            },
            "" => return Err(line_error("expected `name TXT \"value\"`")),
            other => {
                return Err(line_error(&format!(
                    "{other} records are not used here (TXT, A, AAAA, MX and PTR are)"
                )));
            }
        };
        records.push(record);
    }
    Ok(records)
}

/// The value of a TXT record: its quoted strings joined (as DNS joins
/// them), or the bare text when nothing is quoted.
fn txt_strings(text: &str) -> Result<String, String> {
    let text = text.trim();
    if !text.starts_with('"') {
        if text.is_empty() {
            return Err("a TXT record needs a value".into());
        }
        return Ok(text.to_string());
    }
    let mut value = String::new();
    let mut chars = text.chars();
    loop {
        match chars.next() {
            None => return Ok(value),
            Some(c) if c.is_whitespace() => {}
            Some('"') => loop {
                match chars.next() {
                    None => return Err("unterminated quote".into()),
                    Some('"') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            },
            Some(_) => return Err("text outside quotes after a quoted string".into()),
        }
    }
}

/// The TXT record of a `--dkim-key NAME=PATH` file: the file holds the
/// DNS value (`v=DKIM1; k=rsa; p=...`) or a PEM public key (RSA or
/// Ed25519), turned into that value.
pub fn dkim_key_record(name: &str, file: &str) -> Result<DnsRecord, ZoneError> {
    let text = file.trim();
    let value = if text.starts_with("-----BEGIN") {
        pem_to_dkim(text)?
    } else {
        // A value copied from a zone file may still be quoted.
        txt_strings(text).map_err(ZoneError::Key)?
    };
    Ok(DnsRecord::Txt {
        name: fqdn(name),
        value,
    })
}

/// DER of an Ed25519 SubjectPublicKeyInfo up to the 32 key bytes.
const ED25519_SPKI_PREFIX: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn pem_to_dkim(pem: &str) -> Result<String, ZoneError> {
    let label = pem
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("-----BEGIN ")
        .trim_end_matches('-')
        .to_string();
    if label.contains("PRIVATE") {
        return Err(ZoneError::Key(
            "the file holds a private key; give the public key (openssl pkey -pubout)".into(),
        ));
    }
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&body)
        .map_err(|e| ZoneError::Key(format!("the PEM's base64 cannot be read: {e}")))?;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    match label.as_str() {
        "PUBLIC KEY" if der.starts_with(ED25519_SPKI_PREFIX) && der.len() == 44 => {
            Ok(format!("v=DKIM1; k=ed25519; p={}", b64(&der[12..])))
        }
        "PUBLIC KEY" | "RSA PUBLIC KEY" => Ok(format!("v=DKIM1; k=rsa; p={}", b64(&der))),
        other => Err(ZoneError::Key(format!(
            "a PEM {other:?} is not a public key (expected BEGIN PUBLIC KEY)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_lines_as_written_or_as_dig_prints_them() {
        let records = parse_zone(
            "; comment\n\nExample.COM. 300 IN TXT \"v=spf1 \" \"ip4:192.0.2.0/24 -all\"\n\
             _dmarc.example.com TXT v=DMARC1;p=none\nmail.example.com A 192.0.2.1\n\
             mail.example.com 60 IN AAAA 2001:db8::1\nexample.com. MX 10 Mail.Example.com.\n\
             1.2.0.192.in-addr.arpa PTR mail.example.com\n",
        )
        .unwrap();
        assert_eq!(
            records,
            vec![
                DnsRecord::Txt {
                    name: "example.com.".into(),
                    value: "v=spf1 ip4:192.0.2.0/24 -all".into()
                },
                DnsRecord::Txt {
                    name: "_dmarc.example.com.".into(),
                    value: "v=DMARC1;p=none".into()
                },
                DnsRecord::A {
                    name: "mail.example.com.".into(),
                    addr: Ipv4Addr::new(192, 0, 2, 1)
                },
                DnsRecord::Aaaa {
                    name: "mail.example.com.".into(),
                    addr: "2001:db8::1".parse().unwrap()
                },
                DnsRecord::Mx {
                    name: "example.com.".into(),
                    preference: 10,
                    exchange: "mail.example.com.".into()
                },
                DnsRecord::Ptr {
                    name: "1.2.0.192.in-addr.arpa.".into(),
                    target: "mail.example.com.".into()
                },
            ]
        );
        assert!(matches!(
            parse_zone("x TXT \"open\n"),
            Err(ZoneError::Line { line: 1, .. })
        ));
        assert!(parse_zone("x CNAME y\n").is_err());
        for wrong in [
            "x MX mail.example.com",
            "x MX 70000 mail.example.com",
            "x MX 10 a b",
        ] {
            assert!(
                matches!(parse_zone(wrong), Err(ZoneError::Line { line: 1, .. })),
                "{wrong}"
            );
        }
        assert!(parse_zone("x PTR\n").is_err());
    }

    #[test]
    fn key_files_hold_the_dns_value_or_a_pem_public_key() {
        let value = "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA";
        assert_eq!(
            dkim_key_record("s._domainkey.example.com", &format!("\"{value}\"\n")).unwrap(),
            DnsRecord::Txt {
                name: "s._domainkey.example.com.".into(),
                value: value.into()
            }
        );
        // An Ed25519 public key as `openssl pkey -pubout` writes it.
        let pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGkP6ZmcWvk8l0AgeqKUeYp/EnAqxmr0kbPqqnf2x7lU=\n-----END PUBLIC KEY-----\n";
        let DnsRecord::Txt { value, .. } =
            dkim_key_record("e._domainkey.example.com", pem).unwrap()
        else {
            panic!("a TXT record")
        };
        assert_eq!(
            value,
            "v=DKIM1; k=ed25519; p=GkP6ZmcWvk8l0AgeqKUeYp/EnAqxmr0kbPqqnf2x7lU="
        );
        let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
        assert!(dkim_key_record("e._domainkey.example.com", private).is_err());
    }
}
