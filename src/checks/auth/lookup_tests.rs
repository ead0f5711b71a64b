//! The resolver offline, and in front of a fake name server.

use super::*;
use crate::checks::auth::zone::parse_zone;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::UdpSocket;

fn zone() -> Vec<DnsRecord> {
    parse_zone(
        "example.com TXT \"v=spf1 \" \"mx -all\"\n\
         example.com MX 10 Mail.Example.com.\nexample.com MX 20 backup.example.net\n\
         s._domainkey.example.com TXT \"v=DKIM1; p=\"\n\
         mail.example.com A 192.0.2.1\nmail.example.com AAAA 2001:db8::1\n\
         3.2.0.192.in-addr.arpa PTR mail.example.com.\n\
         b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa PTR v6.example.com\n",
    )
    .unwrap()
}

#[tokio::test]
async fn offline_answers_from_the_configuration_only() {
    let resolver = Resolver::new(&zone(), false).unwrap();
    assert!(resolver.is_offline());
    assert!(resolver.has_txt("EXAMPLE.com."));
    assert!(!resolver.has_txt("mail.example.com"));
    assert_eq!(
        resolver.txt("Example.Com").await,
        Ok(vec!["v=spf1 mx -all".to_string()])
    );
    assert_eq!(
        resolver.mx("example.com.").await,
        Ok(vec![
            (10, "mail.example.com".into()),
            (20, "backup.example.net".into())
        ])
    );
    assert_eq!(
        resolver.a("mail.example.com").await,
        Ok(vec![[192, 0, 2, 1].into()])
    );
    assert_eq!(
        resolver.aaaa("mail.example.com").await,
        Ok(vec!["2001:db8::1".parse::<Ipv6Addr>().unwrap()])
    );
    assert_eq!(
        resolver.ptr([192, 0, 2, 3].into()).await,
        Ok(vec!["mail.example.com".into()])
    );
    assert_eq!(
        resolver
            .ptr("4321:0:1:2:3:4:567:89ab".parse().unwrap())
            .await,
        Ok(vec!["v6.example.com".into()])
    );
    // A configured name, and a name above one, exist without other records.
    assert_eq!(resolver.a("example.com").await, Ok(vec![]));
    assert_eq!(resolver.txt("_domainkey.example.com").await, Ok(vec![]));
    assert_eq!(resolver.txt("com").await, Ok(vec![]));
    assert_eq!(
        resolver.txt("other.example.com").await,
        Err(LookupError::NoSuchDomain)
    );
    assert_eq!(
        resolver.a("example.net").await,
        Err(LookupError::NoSuchDomain)
    );
    assert_eq!(
        resolver.a(&format!("{}.example.com", "x".repeat(64))).await,
        Err(LookupError::NoSuchDomain)
    );
    let mut configured: Vec<_> = resolver
        .configured_txt()
        .map(|(name, values)| (name.to_string(), values.to_vec()))
        .collect();
    configured.sort();
    assert_eq!(
        configured,
        vec![
            (
                "example.com".to_string(),
                vec!["v=spf1 mx -all".to_string()]
            ),
            (
                "s._domainkey.example.com".to_string(),
                vec!["v=DKIM1; p=".to_string()]
            ),
        ]
    );
}

#[test]
fn reverse_names() {
    assert_eq!(
        reverse_name([192, 0, 2, 3].into()),
        "3.2.0.192.in-addr.arpa."
    );
    // RFC 3596 §2.5's example.
    assert_eq!(
        reverse_name("4321:0:1:2:3:4:567:89ab".parse().unwrap()),
        "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa."
    );
}

/// A name server answering every A query with 192.0.2.99 and everything
/// else with SERVFAIL, counting the queries.
async fn counting_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    let queries = Arc::new(AtomicUsize::new(0));
    let counted = queries.clone();
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 2048];
        while let Ok((length, from)) = socket.recv_from(&mut buffer).await {
            counted.fetch_add(1, Ordering::SeqCst);
            let query = &buffer[..length];
            let mut end = 12;
            while query[end] != 0 {
                end += 1 + usize::from(query[end]);
            }
            let is_a = query[end + 1..end + 3] == [0, 1];
            let mut reply = query[..2].to_vec();
            reply.extend_from_slice(&[0x81, if is_a { 0x80 } else { 0x82 }, 0, 1]);
            reply.extend_from_slice(&[0, u8::from(is_a), 0, 0, 0, 0]);
            reply.extend_from_slice(&query[12..end + 5]);
            if is_a {
                reply.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 99]);
            }
            let _ = socket.send_to(&reply, from).await;
        }
    });
    (address, queries)
}

#[tokio::test]
async fn with_dns_what_is_not_configured_is_asked() {
    let (server, queries) = counting_server().await;
    let resolver = Resolver::with_servers(&zone(), vec![server]);
    assert!(!resolver.is_offline());
    // Configured (name, type): no query.
    assert_eq!(
        resolver.a("mail.example.com").await,
        Ok(vec![[192, 0, 2, 1].into()])
    );
    assert_eq!(queries.load(Ordering::SeqCst), 0);
    // A configured name, another type: asked.
    assert_eq!(
        resolver.a("example.com").await,
        Ok(vec![[192, 0, 2, 99].into()])
    );
    assert_eq!(
        resolver.a("elsewhere.example").await,
        Ok(vec![[192, 0, 2, 99].into()])
    );
    assert_eq!(queries.load(Ordering::SeqCst), 2);
    let failed = resolver.txt("elsewhere.example").await;
    assert!(
        matches!(&failed, Err(LookupError::Failed(why)) if why.starts_with("TXT elsewhere.example: ") && why.contains("SERVFAIL")),
        "{failed:?}"
    );
    assert_eq!(
        failed.unwrap_err().to_string(),
        format!("DNS lookup failed: TXT elsewhere.example: {server} answered SERVFAIL")
    );
    // A name DNS cannot hold is not asked.
    assert_eq!(resolver.a("a..b").await, Err(LookupError::NoSuchDomain));
    assert_eq!(queries.load(Ordering::SeqCst), 3);
}

#[test]
fn the_resolver_and_its_futures_can_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}
    let resolver = Resolver::new(&[], false).unwrap();
    send_sync(&resolver);
    send(resolver.txt("example.com"));
    send(resolver.ptr([192, 0, 2, 1].into()));
}
