//! The one resolver every authentication check asks: the configured
//! records first (`--dkim-key`, `--auth-zone`), then, with `--auth-dns`
//! only, the system's name servers through [`super::dns`].
//!
//! Offline (the default) a name the configuration does not hold does not
//! exist, so no lookup a message could trigger leaves the process. A name
//! above a configured one (`example.com` when only `_dmarc.example.com`
//! is given) exists without records, as it would in DNS.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::dns::{Client, DnsError, Rdata, RecordType};
use super::zone::{DnsRecord, fqdn};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// NXDOMAIN, or a name that cannot be in DNS (an empty label, a label
    /// over 63 bytes, more than 255 bytes).
    #[error("no such domain")]
    NoSuchDomain,
    /// SERVFAIL, a timeout, the network, a malformed answer: a
    /// `temperror` for the checks.
    #[error("DNS lookup failed: {0}")]
    Failed(String),
}

/// `Ok(empty)`: the name exists but has no such records.
pub type Answer<T> = Result<Vec<T>, LookupError>;

#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    #[error("the system's DNS configuration (/etc/resolv.conf): {0}")]
    SystemConfig(String),
}

/// Configured records by type, keyed by [`fqdn`].
#[derive(Default)]
struct Configured {
    txt: HashMap<String, Vec<String>>,
    a: HashMap<String, Vec<Ipv4Addr>>,
    aaaa: HashMap<String, Vec<Ipv6Addr>>,
    mx: HashMap<String, Vec<(u16, String)>>,
    ptr: HashMap<String, Vec<String>>,
    /// Every configured name and every name above it: the names that exist
    /// offline.
    names: HashSet<String>,
}

impl Configured {
    fn new(records: &[DnsRecord]) -> Configured {
        let mut configured = Configured::default();
        let bare = |name: &str| name.trim_end_matches('.').to_string();
        for record in records {
            let name = match record {
                DnsRecord::Txt { name, value } => {
                    configured
                        .txt
                        .entry(fqdn(name))
                        .or_default()
                        .push(value.clone());
                    name
                }
                DnsRecord::A { name, addr } => {
                    configured.a.entry(fqdn(name)).or_default().push(*addr);
                    name
                }
                DnsRecord::Aaaa { name, addr } => {
                    configured.aaaa.entry(fqdn(name)).or_default().push(*addr);
                    name
                }
                DnsRecord::Mx {
                    name,
                    preference,
                    exchange,
                } => {
                    let mx = (*preference, bare(exchange));
                    configured.mx.entry(fqdn(name)).or_default().push(mx);
                    name
                }
                DnsRecord::Ptr { name, target } => {
                    configured
                        .ptr
                        .entry(fqdn(name))
                        .or_default()
                        .push(bare(target));
                    name
                }
            };
            let mut name = fqdn(name);
            while name != "." && configured.names.insert(name.clone()) {
                name = match name.split_once('.') {
                    Some((_, above)) if !above.is_empty() => above.to_string(),
                    _ => break,
                };
            }
        }
        configured
    }
}

/// Answers lookups from the configuration, then (with DNS) from the
/// system's name servers. `Send + Sync`; its futures are `Send`.
pub struct Resolver {
    configured: Configured,
    /// `None`: offline.
    client: Option<Client>,
}

impl Resolver {
    /// `dns`: also ask the system's name servers (/etc/resolv.conf) for
    /// what `records` do not hold; else offline: a name not configured has
    /// no records (NoSuchDomain), and nothing leaves the process.
    pub fn new(records: &[DnsRecord], dns: bool) -> Result<Resolver, ResolverError> {
        let client = if dns {
            Some(Client::system().map_err(|e| ResolverError::SystemConfig(e.to_string()))?)
        } else {
            None
        };
        Ok(Resolver {
            configured: Configured::new(records),
            client,
        })
    }

    /// Asks `servers` for what `records` do not hold.
    pub fn with_servers(records: &[DnsRecord], servers: Vec<SocketAddr>) -> Resolver {
        Resolver::with_client(records, Client::new(servers))
    }

    /// Asks `client` (its servers and timeout) for what `records` do not hold.
    pub fn with_client(records: &[DnsRecord], client: Client) -> Resolver {
        Resolver {
            configured: Configured::new(records),
            client: Some(client),
        }
    }

    pub fn is_offline(&self) -> bool {
        self.client.is_none()
    }

    /// Whether the configuration holds a TXT record at `name`.
    pub fn has_txt(&self, name: &str) -> bool {
        self.configured.txt.contains_key(&fqdn(name))
    }

    /// The configured TXT records by name (lowercase, without the final
    /// dot), to be validated at start.
    pub fn configured_txt(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.configured
            .txt
            .iter()
            .map(|(name, values)| (name.trim_end_matches('.'), values.as_slice()))
    }

    /// Each TXT record's character-strings joined.
    pub async fn txt(&self, name: &str) -> Answer<String> {
        self.lookup(
            name,
            RecordType::Txt,
            &self.configured.txt,
            |rdata| match rdata {
                Rdata::Txt(text) => Some(text),
                _ => None,
            },
        )
        .await
    }

    pub async fn a(&self, name: &str) -> Answer<Ipv4Addr> {
        self.lookup(
            name,
            RecordType::A,
            &self.configured.a,
            |rdata| match rdata {
                Rdata::A(addr) => Some(addr),
                _ => None,
            },
        )
        .await
    }

    pub async fn aaaa(&self, name: &str) -> Answer<Ipv6Addr> {
        self.lookup(
            name,
            RecordType::Aaaa,
            &self.configured.aaaa,
            |rdata| match rdata {
                Rdata::Aaaa(addr) => Some(addr),
                _ => None,
            },
        )
        .await
    }

    /// Preference and exchange (lowercase, without the final dot) of each
    /// MX record.
    pub async fn mx(&self, name: &str) -> Answer<(u16, String)> {
        self.lookup(
            name,
            RecordType::Mx,
            &self.configured.mx,
            |rdata| match rdata {
                Rdata::Mx(preference, exchange) => Some((preference, exchange)),
                _ => None,
            },
        )
        .await
    }

    /// The names (lowercase, without the final dot) at `ip`'s reverse name.
    pub async fn ptr(&self, ip: IpAddr) -> Answer<String> {
        let name = reverse_name(ip);
        self.lookup(
            &name,
            RecordType::Ptr,
            &self.configured.ptr,
            |rdata| match rdata {
                Rdata::Ptr(name) => Some(name),
                _ => None,
            },
        )
        .await
    }

    async fn lookup<T: Clone>(
        &self,
        name: &str,
        kind: RecordType,
        configured: &HashMap<String, Vec<T>>,
        pick: fn(Rdata) -> Option<T>,
    ) -> Answer<T> {
        let key = fqdn(name);
        if !can_be_in_dns(&key) {
            return Err(LookupError::NoSuchDomain);
        }
        if let Some(records) = configured.get(&key) {
            return Ok(records.clone());
        }
        let Some(client) = &self.client else {
            return if self.configured.names.contains(&key) {
                Ok(Vec::new())
            } else {
                Err(LookupError::NoSuchDomain)
            };
        };
        match client.query(&key, kind).await {
            Ok(records) => Ok(records.into_iter().filter_map(pick).collect()),
            Err(DnsError::NoSuchDomain | DnsError::InvalidName) => Err(LookupError::NoSuchDomain),
            Err(e) => Err(LookupError::Failed(format!(
                "{kind} {}: {e}",
                key.trim_end_matches('.')
            ))),
        }
    }
}

/// Whether `name` (with its final dot) fits DNS: labels of 1 to 63 bytes,
/// 255 bytes in all.
fn can_be_in_dns(name: &str) -> bool {
    let Some(bare) = name.strip_suffix('.') else {
        return false;
    };
    !bare.is_empty()
        && bare.len() < 254
        && bare.split('.').all(|label| (1..=63).contains(&label.len()))
}

/// `3.2.0.192.in-addr.arpa.` for 192.0.2.3, nibbles under `ip6.arpa.`.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, c, d] = ip.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa.")
        }
        IpAddr::V6(ip) => {
            let mut name = String::with_capacity(73);
            for byte in ip.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0xF, byte >> 4));
            }
            name.push_str("ip6.arpa.");
            name
        }
    }
}

#[cfg(test)]
#[path = "lookup_tests.rs"]
mod tests;
