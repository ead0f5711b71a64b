//! The stub client against fake name servers on loopback sockets, and its
//! reader against hostile messages.

use super::*;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What a fake server sends back for one query: messages, in order.
type Respond = Arc<dyn Fn(&[u8]) -> Vec<Vec<u8>> + Send + Sync>;

/// A name server on 127.0.0.1 answering UDP with `udp` and TCP (same
/// port) with `tcp`.
async fn fake_server(udp: Respond, tcp: Option<Respond>) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    let listener = TcpListener::bind(address).await.unwrap();
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 65535];
        while let Ok((length, from)) = socket.recv_from(&mut buffer).await {
            for reply in udp(&buffer[..length]) {
                let _ = socket.send_to(&reply, from).await;
            }
        }
    });
    if let Some(tcp) = tcp {
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let length = stream.read_u16().await.unwrap();
                let mut query = vec![0u8; usize::from(length)];
                stream.read_exact(&mut query).await.unwrap();
                for reply in tcp(&query) {
                    let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&reply);
                    stream.write_all(&framed).await.unwrap();
                }
            }
        });
    }
    address
}

fn respond(f: impl Fn(&[u8]) -> Vec<Vec<u8>> + Send + Sync + 'static) -> Respond {
    Arc::new(f)
}

/// A name in wire form.
fn wire(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A pointer to the question's name, as servers compress answers.
const AT_QUESTION: [u8; 2] = [0xC0, 12];

struct Record {
    owner: Vec<u8>,
    kind: u16,
    data: Vec<u8>,
}

fn record(owner: &[u8], kind: u16, data: &[u8]) -> Record {
    Record {
        owner: owner.to_vec(),
        kind,
        data: data.to_vec(),
    }
}

/// The query's question section (its name, type and class).
fn question_of(query: &[u8]) -> &[u8] {
    let mut at = 12;
    while query[at] != 0 {
        at += 1 + usize::from(query[at]);
    }
    &query[12..at + 5]
}

fn query_type(query: &[u8]) -> u16 {
    let question = question_of(query);
    u16::from_be_bytes([question[question.len() - 4], question[question.len() - 3]])
}

/// A response to `query` with `flags` (rcode, TC) and `answers`.
fn reply(query: &[u8], flags: u16, answers: &[Record]) -> Vec<u8> {
    let mut out = query[..2].to_vec();
    for word in [0x8180 | flags, 1, answers.len() as u16, 0, 0] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(question_of(query));
    for answer in answers {
        out.extend_from_slice(&answer.owner);
        out.extend_from_slice(&answer.kind.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 1, 44]);
        out.extend_from_slice(&(answer.data.len() as u16).to_be_bytes());
        out.extend_from_slice(&answer.data);
    }
    out
}

fn client(servers: &[SocketAddr]) -> Client {
    Client::new(servers.to_vec()).with_timeout(Duration::from_millis(300))
}

#[tokio::test]
async fn answers_of_every_type_with_compressed_names() {
    let server = fake_server(
        respond(|query| {
            let answers = match query_type(query) {
                1 => vec![
                    record(&AT_QUESTION, 1, &[192, 0, 2, 1]),
                    record(&AT_QUESTION, 1, &[192, 0, 2, 2]),
                    // Another record type in the answer is left out.
                    record(&AT_QUESTION, 46, &[1, 2, 3]),
                ],
                28 => vec![record(
                    &AT_QUESTION,
                    28,
                    &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                )],
                15 => vec![record(
                    &AT_QUESTION,
                    15,
                    &[0, 10, 4, b'm', b'a', b'i', b'l', 0xC0, 12],
                )],
                16 => vec![record(&AT_QUESTION, 16, b"\x07v=spf1 \x04-all\x00")],
                12 => vec![record(&AT_QUESTION, 12, &wire("mx.example.org"))],
                _ => vec![],
            };
            vec![reply(query, 0, &answers)]
        }),
        None,
    )
    .await;
    let client = client(&[server]);
    assert_eq!(
        client.query("Example.COM.", RecordType::A).await,
        Ok(vec![
            Rdata::A([192, 0, 2, 1].into()),
            Rdata::A([192, 0, 2, 2].into())
        ])
    );
    assert_eq!(
        client.query("example.com", RecordType::Aaaa).await,
        Ok(vec![Rdata::Aaaa("2001:db8::1".parse().unwrap())])
    );
    assert_eq!(
        client.query("EXAMPLE.com", RecordType::Mx).await,
        Ok(vec![Rdata::Mx(10, "mail.example.com".into())])
    );
    assert_eq!(
        client.query("example.com", RecordType::Txt).await,
        Ok(vec![Rdata::Txt("v=spf1 -all".into())])
    );
    assert_eq!(
        client
            .query("3.2.0.192.in-addr.arpa", RecordType::Ptr)
            .await,
        Ok(vec![Rdata::Ptr("mx.example.org".into())])
    );
}

#[tokio::test]
async fn cnames_are_followed_as_the_answer_gives_them() {
    let server = fake_server(
        respond(|query| {
            let mut alias = wire("host");
            alias.pop();
            alias.extend_from_slice(&[0xC0, 12 + 4]); // "host" + "example.com"
            let answers = [
                record(&AT_QUESTION, 5, &alias),
                record(&wire("host.example.com"), 1, &[192, 0, 2, 7]),
                // Not on the chain: left out.
                record(&wire("other.example.com"), 1, &[192, 0, 2, 8]),
            ];
            vec![reply(query, 0, &answers)]
        }),
        None,
    )
    .await;
    assert_eq!(
        client(&[server])
            .query("www.example.com", RecordType::A)
            .await,
        Ok(vec![Rdata::A([192, 0, 2, 7].into())])
    );
}

#[tokio::test]
async fn nxdomain_and_servfail() {
    let nxdomain = fake_server(respond(|query| vec![reply(query, 3, &[])]), None).await;
    let servfail = fake_server(respond(|query| vec![reply(query, 2, &[])]), None).await;
    let empty = fake_server(respond(|query| vec![reply(query, 0, &[])]), None).await;
    assert_eq!(
        client(&[nxdomain])
            .query("nowhere.example", RecordType::Txt)
            .await,
        Err(DnsError::NoSuchDomain)
    );
    assert_eq!(
        client(&[empty]).query("example.com", RecordType::Txt).await,
        Ok(vec![])
    );
    let failed = client(&[servfail])
        .query("example.com", RecordType::Txt)
        .await;
    assert_eq!(
        failed,
        Err(DnsError::Server {
            server: servfail,
            rcode: Rcode(2)
        })
    );
    assert!(failed.unwrap_err().to_string().contains("SERVFAIL"));
    // A failing server makes way for the next.
    assert_eq!(
        client(&[servfail, empty])
            .query("example.com", RecordType::Txt)
            .await,
        Ok(vec![])
    );
}

#[tokio::test]
async fn a_truncated_answer_is_asked_again_over_tcp() {
    let server = fake_server(
        respond(|query| vec![reply(query, FLAG_TRUNCATED, &[])]),
        Some(respond(|query| {
            vec![reply(
                query,
                0,
                &[record(&AT_QUESTION, 16, b"\x0bover TCP ok")],
            )]
        })),
    )
    .await;
    assert_eq!(
        client(&[server])
            .query("big.example.com", RecordType::Txt)
            .await,
        Ok(vec![Rdata::Txt("over TCP ok".into())])
    );
}

#[tokio::test]
async fn answers_with_another_id_or_question_are_not_taken() {
    let server = fake_server(
        respond(|query| {
            let mut wrong_id = reply(query, 0, &[record(&AT_QUESTION, 1, &[6, 6, 6, 6])]);
            wrong_id[1] ^= 1;
            let mut other_question = query.to_vec();
            other_question[13] ^= 0x20 ^ 0x01; // another first letter
            let mut wrong_question = reply(
                &other_question,
                0,
                &[record(&AT_QUESTION, 1, &[6, 6, 6, 7])],
            );
            wrong_question[..2].copy_from_slice(&query[..2]);
            vec![
                wrong_id,
                wrong_question,
                b"garbage".to_vec(),
                reply(query, 0, &[record(&AT_QUESTION, 1, &[192, 0, 2, 9])]),
            ]
        }),
        None,
    )
    .await;
    assert_eq!(
        client(&[server]).query("example.com", RecordType::A).await,
        Ok(vec![Rdata::A([192, 0, 2, 9].into())])
    );
}

#[tokio::test]
async fn a_silent_server_times_out_and_the_next_one_answers() {
    let silent = fake_server(respond(|_| Vec::new()), None).await;
    let answering = fake_server(
        respond(|query| vec![reply(query, 0, &[record(&AT_QUESTION, 1, &[192, 0, 2, 1])])]),
        None,
    )
    .await;
    let started = std::time::Instant::now();
    assert_eq!(
        client(&[silent]).query("example.com", RecordType::A).await,
        Err(DnsError::Timeout(silent))
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        client(&[]).query("example.com", RecordType::A).await,
        Err(DnsError::NoServers)
    );
    assert_eq!(
        client(&[silent, answering])
            .query("example.com", RecordType::A)
            .await,
        Ok(vec![Rdata::A([192, 0, 2, 1].into())])
    );
}

#[test]
fn names_dns_cannot_hold_are_not_asked() {
    for name in ["", ".", "a..b", &"x".repeat(64), &["abc"; 64].join(".")] {
        assert!(
            matches!(
                Question::new(name, RecordType::A),
                Err(DnsError::InvalidName)
            ),
            "{name}"
        );
    }
    let question = Question::new("_spf.Example.com.", RecordType::Txt).unwrap();
    let message = question.message(0x1234);
    assert_eq!(&message[..4], &[0x12, 0x34, 0x01, 0x00]);
    // One question, one additional record: the EDNS0 OPT with 1232 bytes.
    assert_eq!(&message[4..12], &[0, 1, 0, 0, 0, 0, 0, 1]);
    assert_eq!(
        &message[message.len() - 11..message.len() - 6],
        &[0, 0, 41, 0x04, 0xD0]
    );
}

#[test]
fn resolv_conf_name_servers() {
    let text = "# comment\nsearch example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n\
                nameserver fe80::1%eth0\nnameserver 192.0.2.54\nnameserver 192.0.2.55\n";
    assert_eq!(
        servers_of_resolv_conf(text),
        vec![
            "192.0.2.53:53".parse::<SocketAddr>().unwrap(),
            "[2001:db8::53]:53".parse().unwrap(),
            "192.0.2.54:53".parse().unwrap(),
        ]
    );
    assert_eq!(
        servers_of_resolv_conf("options ndots:2\n"),
        vec!["127.0.0.1:53".parse::<SocketAddr>().unwrap()]
    );
}

/// The header and question of a response with ID 7 to `example.com A`,
/// announcing `answers` answers.
fn response_head(answers: u16) -> Vec<u8> {
    let mut out = vec![0, 7, 0x81, 0x80, 0, 1];
    out.extend_from_slice(&answers.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&wire("example.com"));
    out.extend_from_slice(&[0, 1, 0, 1]);
    out
}

fn question() -> Question {
    Question::new("example.com", RecordType::A).unwrap()
}

#[test]
fn hostile_messages_are_refused_without_panic_or_loop() {
    let malformed = |tail: &[u8], answers: u16| {
        let mut message = response_head(answers);
        let at = message.len();
        message.extend_from_slice(tail);
        (at, parse_response(&message, 7, &question()))
    };
    // A pointer to itself, two pointing at each other, one pointing ahead.
    let (at, parsed) = malformed(&[], 1);
    assert!(matches!(parsed, Parsed::Malformed(_)), "{parsed:?}");
    let to = |offset: usize| [0xC0 | (offset >> 8) as u8, offset as u8];
    for tail in [
        to(at).to_vec(),
        [&[1, b'a'][..], &to(at + 4), &to(at)].concat(),
        to(at + 2).to_vec(),
        // A label running past the end; a length past the end.
        vec![40, b'a'],
        [&AT_QUESTION[..], &[0, 1, 0, 1, 0, 0, 0, 1, 0xFF, 0xFF, 1]].concat(),
        // An unknown label type.
        vec![0x80, 1],
    ] {
        let parsed = malformed(&tail, 1).1;
        assert!(
            matches!(parsed, Parsed::Malformed(_)),
            "{tail:?}: {parsed:?}"
        );
    }
    // A name past 255 bytes through a chain of backward pointers.
    let mut tail = Vec::new();
    let mut previous = None;
    for _ in 0..70 {
        let here = at + tail.len();
        tail.extend_from_slice(&[3, b'a', b'b', b'c']);
        match previous {
            Some(offset) => tail.extend_from_slice(&to(offset)),
            None => tail.push(0),
        }
        previous = Some(here);
    }
    tail.extend_from_slice(&to(previous.unwrap()));
    let mut message = response_head(1);
    message.extend_from_slice(&tail);
    let mut reader = Reader {
        message: &message,
        at: message.len() - 2,
    };
    assert_eq!(reader.name(), Err("a name longer than 255 bytes"));
    // A TXT string longer than its record.
    assert_eq!(txt_data(b"\x05abc"), Err("TXT string length"));

    // Random bytes after a good head, and random messages: no panic, and
    // each parse ends (pointers only go back, lengths are checked).
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    };
    for round in 0..20_000 {
        let length = usize::from(random()) % 200;
        let mut message = if round % 2 == 0 {
            response_head(u16::from(random()))
        } else {
            Vec::new()
        };
        message.extend((0..length).map(|_| random()));
        let _ = parse_response(&message, 7, &question());
    }
}
