//! The authentication check's DNS stub client against an independent DNS
//! implementation: a name server written with Python's dnspython, which
//! parses our queries (and insists on EDNS0 with a 1232-byte payload) and
//! writes answers its own way (name compression, CNAMEs, NXDOMAIN, TC when
//! an answer does not fit).

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use common::{TempDir, requires};
use letterbox::checks::auth::dns::{Client, DnsError, Rdata, RecordType};
use letterbox::checks::auth::lookup::Resolver;
use letterbox::checks::auth::spf::{SpfResult, check_host};

/// Answers from a small zone over UDP (as much as the query's EDNS0
/// payload allows, else TC) and TCP on the same port, printed first.
const SERVER: &str = r#"
import socket, struct, threading
import dns.exception, dns.flags, dns.message, dns.rcode, dns.rdatatype, dns.rrset
zone = {
    ("example.com.", "TXT"): ['"v=spf1 ip4:192.0.2.0/24" " -all"', '"other"'],
    ("example.com.", "MX"): ["10 mail.example.com.", "20 mx2.example.com."],
    ("mail.example.com.", "A"): ["192.0.2.1", "192.0.2.2"],
    ("mail.example.com.", "AAAA"): ["2001:db8::1"],
    ("3.2.0.192.in-addr.arpa.", "PTR"): ["mx.example.org."],
    ("big.example.com.", "TXT"): ['"%s"' % (chr(97 + i) * 200) for i in range(10)],
}
cnames = {"www.example.com.": "mail.example.com."}

def answer(wire, limit):
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    name = query.question[0].name.to_text().lower()
    kind = dns.rdatatype.to_text(query.question[0].rdtype)
    if name in cnames:
        response.answer.append(dns.rrset.from_text(name, 300, "IN", "CNAME", cnames[name]))
        name = cnames[name]
    if (name, kind) in zone:
        response.answer.append(dns.rrset.from_text(name, 300, "IN", kind, *zone[(name, kind)]))
    elif not any(owner == name for owner, _ in zone):
        response.set_rcode(dns.rcode.NXDOMAIN)
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        response.answer = []
        response.flags |= dns.flags.TC
        return response.to_wire()

# One port number for UDP and TCP: the UDP port the system picks may be
# taken for TCP by another test running meanwhile, so pick again then.
for _ in range(100):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    tcp = socket.socket()
    try:
        tcp.bind(("127.0.0.1", port))
        break
    except OSError:
        udp.close()
        tcp.close()
else:
    raise SystemExit("no port free for both UDP and TCP")
tcp.listen()

def serve_tcp():
    while True:
        conn, _ = tcp.accept()
        length = struct.unpack(">H", conn.recv(2))[0]
        data = b""
        while len(data) < length:
            data += conn.recv(length - len(data))
        out = answer(data, 65535)
        conn.sendall(struct.pack(">H", len(out)) + out)
        conn.close()

threading.Thread(target=serve_tcp, daemon=True).start()
print(port, flush=True)
while True:
    data, peer = udp.recvfrom(4096)
    query = dns.message.from_wire(data)
    if query.edns == 0 and query.payload == 1232:
        udp.sendto(answer(data, query.payload), peer)
"#;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The dnspython server, or `None` (skipped) without it.
fn dnspython_server(dir: &TempDir) -> Option<(Server, SocketAddr)> {
    let has_dnspython = Command::new("python3")
        .args(["-c", "import dns.message"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !has_dnspython {
        requires::skip(
            "dns_interop",
            "python3 with dnspython is missing",
            "pip install dnspython (or run .ci/run)",
        );
        return None;
    }
    let script = dir.file("server.py");
    std::fs::write(&script, SERVER).unwrap();
    let mut child = Command::new("python3")
        .arg(&script)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("the server prints its port");
    Some((Server(child), SocketAddr::from(([127, 0, 0, 1], port))))
}

fn sorted(mut records: Vec<Rdata>) -> Vec<Rdata> {
    records.sort_by_key(|r| format!("{r:?}"));
    records
}

#[tokio::test]
async fn the_stub_client_reads_dnspython_answers() {
    let dir = TempDir::new("dns-interop");
    let Some((_server, address)) = dnspython_server(&dir) else {
        return;
    };
    let client = Client::new(vec![address]);
    let query = |name: &'static str, kind| {
        let client = &client;
        async move { client.query(name, kind).await.map(sorted) }
    };
    assert_eq!(
        query("example.com", RecordType::Txt).await,
        Ok(vec![
            Rdata::Txt("other".into()),
            Rdata::Txt("v=spf1 ip4:192.0.2.0/24 -all".into())
        ])
    );
    assert_eq!(
        query("Example.COM", RecordType::Mx).await,
        Ok(vec![
            Rdata::Mx(10, "mail.example.com".into()),
            Rdata::Mx(20, "mx2.example.com".into())
        ])
    );
    let mail = Ok(vec![
        Rdata::A([192, 0, 2, 1].into()),
        Rdata::A([192, 0, 2, 2].into()),
    ]);
    assert_eq!(query("mail.example.com", RecordType::A).await, mail);
    assert_eq!(query("www.example.com", RecordType::A).await, mail);
    assert_eq!(
        query("mail.example.com", RecordType::Aaaa).await,
        Ok(vec![Rdata::Aaaa("2001:db8::1".parse().unwrap())])
    );
    assert_eq!(
        query("3.2.0.192.in-addr.arpa", RecordType::Ptr).await,
        Ok(vec![Rdata::Ptr("mx.example.org".into())])
    );
    assert_eq!(query("example.com", RecordType::A).await, Ok(vec![]));
    assert_eq!(
        query("nowhere.example.com", RecordType::A).await,
        Err(DnsError::NoSuchDomain)
    );
    // Over 2 KB: only TCP can carry it after the UDP answer's TC bit.
    let big = query("big.example.com", RecordType::Txt).await.unwrap();
    assert_eq!(big.len(), 10);
    assert!(
        big.iter()
            .all(|r| matches!(r, Rdata::Txt(t) if t.len() == 200))
    );

    let resolver = Resolver::with_servers(&[], vec![address]);
    let spf = check_host(
        &resolver,
        [192, 0, 2, 7].into(),
        "example.com",
        "app@example.com",
        "",
        "",
    )
    .await;
    assert_eq!(
        (spf.result, spf.detail.as_str()),
        (SpfResult::Pass, "ip4:192.0.2.0/24")
    );
}
