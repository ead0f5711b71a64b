//! A small DNS stub client: one question (TXT, A, AAAA, MX or PTR) to the
//! system's name servers, which do the recursion.
//!
//! Hand-written on purpose. A resolver crate (hickory) adds about 1 MB to
//! the static binary, which has no room for it, and the checks need only
//! this narrow part: UDP with EDNS0, TCP when the answer is truncated, a
//! timeout per server and the next server after it. Everything a server
//! sends is read as hostile: every length is checked against the message,
//! compression pointers must point backwards (so they cannot loop), names
//! stay within 255 bytes and CNAME chains within [`MAX_CNAMES`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long one server has to answer (over UDP, then again over TCP).
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// The UDP payload size offered with EDNS0 (the DNS flag day's advice).
const UDP_PAYLOAD: u16 = 1232;
/// As many as the C library reads.
const MAX_SERVERS: usize = 3;
/// CNAMEs followed within one answer.
pub const MAX_CNAMES: usize = 8;
const RESOLV_CONF: &str = "/etc/resolv.conf";

const CLASS_IN: u16 = 1;
const TYPE_CNAME: u16 = 5;
const TYPE_OPT: u16 = 41;
const FLAG_RESPONSE: u16 = 0x8000;
const FLAG_TRUNCATED: u16 = 0x0200;
const FLAG_RECURSION_DESIRED: u16 = 0x0100;

/// The record types the checks ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    A,
    Aaaa,
    Mx,
    Txt,
    Ptr,
}

impl RecordType {
    fn code(self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::Ptr => 12,
            RecordType::Mx => 15,
            RecordType::Txt => 16,
            RecordType::Aaaa => 28,
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Mx => "MX",
            RecordType::Txt => "TXT",
            RecordType::Ptr => "PTR",
        })
    }
}

/// One record of an answer. Names come lowercase (compression may
/// borrow the question's case), without the final dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Mx(u16, String),
    /// The record's character-strings joined.
    Txt(String),
    Ptr(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("no such domain")]
    NoSuchDomain,
    #[error("not a name DNS can hold")]
    InvalidName,
    #[error("{server} answered {rcode}")]
    Server { server: SocketAddr, rcode: Rcode },
    #[error("no answer from {0} in time")]
    Timeout(SocketAddr),
    #[error("{server}: {reason}")]
    Network { server: SocketAddr, reason: String },
    #[error("{server} sent a malformed answer: {reason}")]
    Malformed {
        server: SocketAddr,
        reason: &'static str,
    },
    #[error("no random numbers for the query's ID")]
    Random,
    #[error("no name servers to ask")]
    NoServers,
}

/// A response code other than NOERROR and NXDOMAIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rcode(pub u8);

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("FORMERR"),
            2 => f.write_str("SERVFAIL"),
            4 => f.write_str("NOTIMP"),
            5 => f.write_str("REFUSED"),
            other => write!(f, "RCODE {other}"),
        }
    }
}

/// Asks the name servers it was given, in order.
pub struct Client {
    servers: Vec<SocketAddr>,
    timeout: Duration,
    random: SystemRandom,
}

impl Client {
    pub fn new(servers: Vec<SocketAddr>) -> Client {
        Client {
            servers,
            timeout: TIMEOUT,
            random: SystemRandom::new(),
        }
    }

    /// The name servers of `/etc/resolv.conf` (127.0.0.1 when it names
    /// none or does not exist, as the C library does).
    pub fn system() -> std::io::Result<Client> {
        let text = match std::fs::read_to_string(RESOLV_CONF) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        Ok(Client::new(servers_of_resolv_conf(&text)))
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// The records of type `kind` at `name`, after the CNAMEs the answer
    /// gives. `Ok(empty)`: the name exists without such records. A server
    /// that fails, refuses or stays silent makes way for the next one.
    pub async fn query(&self, name: &str, kind: RecordType) -> Result<Vec<Rdata>, DnsError> {
        let question = Question::new(name, kind)?;
        let mut last = DnsError::NoServers;
        for &server in &self.servers {
            match self.ask(server, &question).await {
                Ok(Reply::Records(records)) => return Ok(records),
                Ok(Reply::NoSuchDomain) => return Err(DnsError::NoSuchDomain),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn ask(&self, server: SocketAddr, question: &Question) -> Result<Reply, DnsError> {
        let network = |e: std::io::Error| DnsError::Network {
            server,
            reason: e.to_string(),
        };
        let id = self.id()?;
        let mut parsed = tokio::time::timeout(self.timeout, udp_exchange(server, question, id))
            .await
            .map_err(|_| DnsError::Timeout(server))?
            .map_err(network)?;
        if let Parsed::Truncated = parsed {
            let id = self.id()?;
            parsed = tokio::time::timeout(self.timeout, tcp_exchange(server, question, id))
                .await
                .map_err(|_| DnsError::Timeout(server))?
                .map_err(network)?;
        }
        match parsed {
            Parsed::Response(response) => {
                response.map_err(|rcode| DnsError::Server { server, rcode })
            }
            Parsed::Malformed(reason) => Err(DnsError::Malformed { server, reason }),
            // Only over TCP, where the one message must be the answer.
            Parsed::Truncated | Parsed::NotOurs => Err(DnsError::Malformed {
                server,
                reason: "the TCP answer is not one to the question",
            }),
        }
    }

    fn id(&self) -> Result<u16, DnsError> {
        let mut bytes = [0u8; 2];
        self.random.fill(&mut bytes).map_err(|_| DnsError::Random)?;
        Ok(u16::from_be_bytes(bytes))
    }
}

/// The `nameserver` lines of a resolv.conf, at most [`MAX_SERVERS`].
pub fn servers_of_resolv_conf(text: &str) -> Vec<SocketAddr> {
    let mut servers: Vec<SocketAddr> = text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then_some(())?;
            let ip: IpAddr = words.next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .take(MAX_SERVERS)
        .collect();
    if servers.is_empty() {
        servers.push(SocketAddr::from((Ipv4Addr::LOCALHOST, 53)));
    }
    servers
}

/// A question, encoded once.
struct Question {
    /// The name as asked, without the final dot, to compare with answers.
    name: String,
    wire_name: Vec<u8>,
    kind: RecordType,
}

impl Question {
    fn new(name: &str, kind: RecordType) -> Result<Question, DnsError> {
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty() {
            return Err(DnsError::InvalidName);
        }
        let mut wire_name = Vec::with_capacity(name.len() + 2);
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(DnsError::InvalidName);
            }
            wire_name.push(label.len() as u8);
            wire_name.extend_from_slice(label.as_bytes());
        }
        wire_name.push(0);
        if wire_name.len() > 255 {
            return Err(DnsError::InvalidName);
        }
        Ok(Question {
            name: name.to_string(),
            wire_name,
            kind,
        })
    }

    /// The query message: this question and an EDNS0 OPT record.
    fn message(&self, id: u16) -> Vec<u8> {
        let mut message = Vec::with_capacity(12 + self.wire_name.len() + 4 + 11);
        for word in [id, FLAG_RECURSION_DESIRED, 1, 0, 0, 1] {
            message.extend_from_slice(&word.to_be_bytes());
        }
        message.extend_from_slice(&self.wire_name);
        message.extend_from_slice(&self.kind.code().to_be_bytes());
        message.extend_from_slice(&CLASS_IN.to_be_bytes());
        // OPT: root name, type, payload size as class, TTL 0, no options.
        message.push(0);
        message.extend_from_slice(&TYPE_OPT.to_be_bytes());
        message.extend_from_slice(&UDP_PAYLOAD.to_be_bytes());
        message.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        message
    }
}

#[derive(Debug)]
enum Reply {
    Records(Vec<Rdata>),
    NoSuchDomain,
}

/// What one received message is to the question asked.
#[derive(Debug)]
enum Parsed {
    /// NOERROR or NXDOMAIN, else the error code.
    Response(Result<Reply, Rcode>),
    Truncated,
    /// Another ID or question, or not a response: not an answer at all.
    NotOurs,
    Malformed(&'static str),
}

async fn udp_exchange(server: SocketAddr, question: &Question, id: u16) -> std::io::Result<Parsed> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    socket.send(&question.message(id)).await?;
    let mut buffer = vec![0u8; 65535];
    loop {
        let length = socket.recv(&mut buffer).await?;
        match parse_response(&buffer[..length], id, question) {
            Parsed::NotOurs => continue,
            parsed => return Ok(parsed),
        }
    }
}

async fn tcp_exchange(server: SocketAddr, question: &Question, id: u16) -> std::io::Result<Parsed> {
    let mut stream = TcpStream::connect(server).await?;
    let message = question.message(id);
    let mut framed = (message.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&message);
    stream.write_all(&framed).await?;
    let length = stream.read_u16().await?;
    let mut buffer = vec![0u8; usize::from(length)];
    stream.read_exact(&mut buffer).await?;
    Ok(parse_response(&buffer, id, question))
}

/// Reads a response to `question` sent with `id`.
fn parse_response(message: &[u8], id: u16, question: &Question) -> Parsed {
    let mut reader = Reader { message, at: 0 };
    let Ok(header) = reader.words::<6>() else {
        return Parsed::NotOurs;
    };
    let [answer_id, flags, questions, answers, _, _] = header;
    if answer_id != id || flags & FLAG_RESPONSE == 0 || (flags >> 11) & 0xF != 0 || questions != 1 {
        return Parsed::NotOurs;
    }
    let Ok(name) = reader.name() else {
        return Parsed::NotOurs;
    };
    match reader.words::<2>() {
        Ok([kind, CLASS_IN])
            if kind == question.kind.code() && name.eq_ignore_ascii_case(&question.name) => {}
        _ => return Parsed::NotOurs,
    }
    if flags & FLAG_TRUNCATED != 0 {
        return Parsed::Truncated;
    }
    match (flags & 0xF) as u8 {
        0 => match read_answers(&mut reader, answers, question) {
            Ok(records) => Parsed::Response(Ok(Reply::Records(records))),
            Err(reason) => Parsed::Malformed(reason),
        },
        3 => Parsed::Response(Ok(Reply::NoSuchDomain)),
        rcode => Parsed::Response(Err(Rcode(rcode))),
    }
}

/// The records of the asked type at the end of the CNAME chain the
/// answer section gives.
fn read_answers(
    reader: &mut Reader<'_>,
    count: u16,
    question: &Question,
) -> Result<Vec<Rdata>, &'static str> {
    let mut cnames: Vec<(String, String)> = Vec::new();
    let mut records: Vec<(String, Rdata)> = Vec::new();
    for _ in 0..count {
        let owner = reader.name()?;
        let [kind, class] = reader.words::<2>()?;
        reader.bytes(4)?; // TTL
        let [length] = reader.words::<1>()?;
        let start = reader.at;
        let data = reader.bytes(usize::from(length))?;
        if class != CLASS_IN {
            continue;
        }
        let message = reader.message;
        let name_at = |offset: usize| Reader {
            message,
            at: start + offset,
        };
        if kind == TYPE_CNAME {
            cnames.push((owner, name_at(0).name()?));
            continue;
        }
        if kind != question.kind.code() {
            continue;
        }
        let rdata = match question.kind {
            RecordType::A => Rdata::A(<[u8; 4]>::try_from(data).map_err(|_| "A length")?.into()),
            RecordType::Aaaa => Rdata::Aaaa(
                <[u8; 16]>::try_from(data)
                    .map_err(|_| "AAAA length")?
                    .into(),
            ),
            RecordType::Mx => {
                let preference = name_at(0).words::<1>()?[0];
                Rdata::Mx(preference, name_at(2).name()?)
            }
            RecordType::Ptr => Rdata::Ptr(name_at(0).name()?),
            RecordType::Txt => Rdata::Txt(txt_data(data)?),
        };
        records.push((owner, rdata));
    }
    let mut target = question.name.as_str();
    for _ in 0..MAX_CNAMES {
        match cnames
            .iter()
            .find(|(owner, _)| owner.eq_ignore_ascii_case(target))
        {
            Some((_, alias)) => target = alias,
            None => break,
        }
    }
    Ok(records
        .into_iter()
        .filter(|(owner, _)| owner.eq_ignore_ascii_case(target))
        .map(|(_, rdata)| rdata)
        .collect())
}

/// A TXT record's character-strings joined.
fn txt_data(mut data: &[u8]) -> Result<String, &'static str> {
    let mut text = Vec::with_capacity(data.len());
    while let Some((&length, rest)) = data.split_first() {
        let length = usize::from(length);
        if length > rest.len() {
            return Err("TXT string length");
        }
        text.extend_from_slice(&rest[..length]);
        data = &rest[length..];
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// A cursor that never reads past the message.
struct Reader<'m> {
    message: &'m [u8],
    at: usize,
}

impl<'m> Reader<'m> {
    fn bytes(&mut self, count: usize) -> Result<&'m [u8], &'static str> {
        let end = self.at.checked_add(count).ok_or("length")?;
        let bytes = self
            .message
            .get(self.at..end)
            .ok_or("a length past the end")?;
        self.at = end;
        Ok(bytes)
    }

    fn words<const N: usize>(&mut self) -> Result<[u16; N], &'static str> {
        let bytes = self.bytes(2 * N)?;
        Ok(std::array::from_fn(|i| {
            u16::from_be_bytes([bytes[2 * i], bytes[2 * i + 1]])
        }))
    }

    /// A possibly compressed name, lowercase, without the final dot. Every pointer
    /// must point before the previous one (or before the name's start), so
    /// a chain of them ends.
    fn name(&mut self) -> Result<String, &'static str> {
        let mut name = String::new();
        let mut at = self.at;
        let mut before = self.at;
        let mut end = None;
        let mut wire_length = 1;
        loop {
            let length = usize::from(*self.message.get(at).ok_or("a name past the end")?);
            match length & 0xC0 {
                0x00 if length == 0 => break,
                0x00 => {
                    let label = self
                        .message
                        .get(at + 1..at + 1 + length)
                        .ok_or("a label past the end")?;
                    wire_length += 1 + length;
                    if wire_length > 255 {
                        return Err("a name longer than 255 bytes");
                    }
                    if !name.is_empty() {
                        name.push('.');
                    }
                    name.push_str(&String::from_utf8_lossy(label).to_ascii_lowercase());
                    at += 1 + length;
                }
                0xC0 => {
                    let low = *self.message.get(at + 1).ok_or("a pointer past the end")?;
                    let target = (length & 0x3F) << 8 | usize::from(low);
                    if target >= before {
                        return Err("a compression pointer that does not point back");
                    }
                    end.get_or_insert(at + 2);
                    before = target;
                    at = target;
                }
                _ => return Err("an unknown label type"),
            }
        }
        self.at = end.unwrap_or(at + 1);
        Ok(name)
    }
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;
