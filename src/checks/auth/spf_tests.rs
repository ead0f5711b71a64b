//! SPF against offline zones: RFC 7208's own examples (§7.4's macros,
//! Appendix A's records), each mechanism, the limits and the errors.

use super::record::macro_string;
use super::*;
use crate::checks::auth::zone::parse_zone;

/// RFC 7208 Appendix A's zone (without its SPF records; `www`'s CNAME is
/// left out: zones here hold no CNAMEs).
const APPENDIX_A: &str = "\
example.com MX 10 mx.example.com\nexample.com MX 20 mx2.example.com\n\
mx.example.com A 192.0.2.129\nmx2.example.com A 192.0.2.130\n\
amy.example.com A 192.0.2.65\nbob.example.com A 192.0.2.66\n\
mail-a.example.com A 192.0.2.140\nmail-b.example.com A 192.0.2.141\n\
example.com A 192.0.2.10\nexample.com A 192.0.2.11\n\
example.org MX 10 mx.example.org\nmx.example.org A 192.0.2.140\n\
10.2.0.192.in-addr.arpa PTR example.com\n11.2.0.192.in-addr.arpa PTR example.com\n\
65.2.0.192.in-addr.arpa PTR amy.example.com\n66.2.0.192.in-addr.arpa PTR bob.example.com\n\
129.2.0.192.in-addr.arpa PTR mx.example.com\n130.2.0.192.in-addr.arpa PTR mx2.example.com\n\
140.2.0.192.in-addr.arpa PTR mx.example.org\n";

fn resolver(zone: &str) -> Resolver {
    Resolver::new(&parse_zone(zone).unwrap(), false).unwrap()
}

/// SPF for mail from `sender` at `ip`, with `zone` as all of DNS.
async fn spf(zone: &str, ip: &str, sender: &str) -> SpfOutcome {
    let domain = sender.rsplit_once('@').map_or(sender, |(_, domain)| domain);
    let ip = ip.parse().unwrap();
    check_host(
        &resolver(zone),
        ip,
        domain,
        sender,
        "helo.example.net",
        "mx.example.net",
    )
    .await
}

fn is(result: SpfResult, detail: &str) -> SpfOutcome {
    outcome(result, detail)
}

#[tokio::test]
async fn appendix_a_records_allow_the_hosts_the_rfc_says() {
    let hosts = [10, 11, 65, 66, 129, 130, 140, 141];
    let cases: [(&str, &[u8]); 9] = [
        ("v=spf1 +all", &hosts),
        ("v=spf1 a -all", &[10, 11]),
        ("v=spf1 a:example.org -all", &[]),
        ("v=spf1 mx -all", &[129, 130]),
        ("v=spf1 mx:example.org -all", &[140]),
        ("v=spf1 mx mx:example.org -all", &[129, 130, 140]),
        ("v=spf1 mx/30 mx:example.org/30 -all", &[129, 130, 140, 141]),
        ("v=spf1 ptr -all", &[10, 11, 65, 66, 129, 130]),
        ("v=spf1 ip4:192.0.2.128/28 -all", &[129, 130, 140, 141]),
    ];
    for (record, passing) in cases {
        let zone = format!("{APPENDIX_A}example.com TXT \"{record}\"\n");
        for host in hosts {
            let got = spf(&zone, &format!("192.0.2.{host}"), "user@example.com").await;
            let want = if passing.contains(&host) {
                SpfResult::Pass
            } else {
                SpfResult::Fail
            };
            assert_eq!(got.result, want, "{record} from 192.0.2.{host}: {got:?}");
        }
    }
}

#[tokio::test]
async fn appendix_a_4_requires_both_the_network_and_the_ptr_name() {
    let zone = format!(
        "{APPENDIX_A}example.com TXT \"v=spf1 -include:ip4._spf.%{{d}} -include:ptr._spf.%{{d}} +all\"\n\
         ip4._spf.example.com TXT \"v=spf1 -ip4:192.0.2.0/24 +all\"\n\
         ptr._spf.example.com TXT \"v=spf1 -ptr:example.com +all\"\n"
    );
    let sender = "user@example.com";
    assert_eq!(
        spf(&zone, "192.0.2.65", sender).await,
        is(SpfResult::Pass, "+all")
    );
    let outside = spf(&zone, "198.51.100.1", sender).await;
    assert_eq!(outside, is(SpfResult::Fail, "-include:ip4._spf.%{d}"));
    // In the network, but its name is example.org's.
    let named_elsewhere = spf(&zone, "192.0.2.140", sender).await;
    assert_eq!(
        named_elsewhere,
        is(SpfResult::Fail, "-include:ptr._spf.%{d}")
    );
}

/// The expansion of `text` for RFC 7208 §7.4's sender, domain and `ip`.
async fn expanded(text: &str, ip: &str) -> String {
    let zone = "3.2.0.192.in-addr.arpa PTR mx.example.org\nmx.example.org A 192.0.2.3\n";
    let resolver = resolver(zone);
    let evaluation = Evaluation {
        resolver: &resolver,
        ip: ip.parse().unwrap(),
        sender: "strong-bad@email.example.com".into(),
        local: "strong-bad".into(),
        sender_domain: "email.example.com".into(),
        helo: "helo.example.net".into(),
        receiver: String::new(),
        lookups: 0,
        voids: 0,
    };
    let spec = macro_string(text, true).unwrap();
    evaluation.expand(&spec, "email.example.com").await
}

#[tokio::test]
async fn macros_expand_as_rfc_7208_section_7_4_shows() {
    let v4 = "192.0.2.3";
    for (macro_text, expansion) in [
        ("%{s}", "strong-bad@email.example.com"),
        ("%{o}", "email.example.com"),
        ("%{d}", "email.example.com"),
        ("%{d4}", "email.example.com"),
        ("%{d3}", "email.example.com"),
        ("%{d2}", "example.com"),
        ("%{d1}", "com"),
        ("%{dr}", "com.example.email"),
        ("%{d2r}", "example.email"),
        ("%{l}", "strong-bad"),
        ("%{l-}", "strong.bad"),
        ("%{lr}", "strong-bad"),
        ("%{lr-}", "bad.strong"),
        ("%{l1r-}", "strong"),
        (
            "%{ir}.%{v}._spf.%{d2}",
            "3.2.0.192.in-addr._spf.example.com",
        ),
        ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
        (
            "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
            "bad.strong.lp.3.2.0.192.in-addr._spf.example.com",
        ),
        (
            "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
            "3.2.0.192.in-addr.strong.lp._spf.example.com",
        ),
        (
            "%{d2}.trusted-domains.example.net",
            "example.com.trusted-domains.example.net",
        ),
        // The PTR name of the client IP is mx.example.org.
        ("%{p}", "mx.example.org"),
        ("%{h}|%{c}|%{r}", "helo.example.net|192.0.2.3|unknown"),
        ("%%%_%-", "% %20"),
        ("%{L}", "strong-bad"),
        ("%{S}", "strong-bad%40email.example.com"),
    ] {
        assert_eq!(expanded(macro_text, v4).await, expansion, "{macro_text}");
    }
    assert_eq!(
        expanded("%{ir}.%{v}._spf.%{d2}", "2001:db8::cb01").await,
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
    );
    // No validated name: the PTR's address is not this one.
    assert_eq!(expanded("%{p}", "192.0.2.4").await, "unknown");
    let now = expanded("%{t}", v4).await.parse::<u64>().unwrap();
    assert!(now > 1_700_000_000);
}

#[tokio::test]
async fn each_mechanism_and_qualifier() {
    let zone = |record: &str| {
        format!(
            "{APPENDIX_A}example.net TXT \"{record}\"\n\
             mail.example.net A 192.0.2.200\nmail.example.net AAAA 2001:db8::200\n\
             example.net MX 5 mail.example.net\n\
             _spf.example.org TXT \"v=spf1 ip4:198.51.100.0/24 -all\"\n\
             _spf2.example.org TXT \"v=spf1 ?all\"\n\
             192.0.2.200.allow.example.org A 127.0.0.2\n"
        )
    };
    let sender = "app@example.net";
    for (record, ip, result, detail) in [
        ("v=spf1 -all", "192.0.2.1", SpfResult::Fail, "-all"),
        ("v=spf1 ~all", "192.0.2.1", SpfResult::SoftFail, "~all"),
        ("v=spf1 ?all", "192.0.2.1", SpfResult::Neutral, "?all"),
        (
            "v=spf1",
            "192.0.2.1",
            SpfResult::Neutral,
            "no mechanism matched",
        ),
        (
            "v=spf1 ip4:192.0.2.0/24 -all",
            "192.0.2.1",
            SpfResult::Pass,
            "ip4:192.0.2.0/24",
        ),
        (
            "v=spf1 ip4:192.0.2.1 -all",
            "192.0.2.2",
            SpfResult::Fail,
            "-all",
        ),
        (
            "v=spf1 ip4:0.0.0.0/0 -all",
            "203.0.113.9",
            SpfResult::Pass,
            "ip4:0.0.0.0/0",
        ),
        (
            "v=spf1 ip6:2001:db8::/32 -all",
            "2001:db8::9",
            SpfResult::Pass,
            "ip6:2001:db8::/32",
        ),
        (
            "v=spf1 ip6:2001:db8::/32 -all",
            "2001:db9::9",
            SpfResult::Fail,
            "-all",
        ),
        (
            "v=spf1 ip4:192.0.2.0/24 -all",
            "::ffff:192.0.2.7",
            SpfResult::Pass,
            "ip4:192.0.2.0/24",
        ),
        (
            "v=spf1 ip6:::ffff:0:0/96 -all",
            "192.0.2.7",
            SpfResult::Fail,
            "-all",
        ),
        ("v=spf1 a -all", "192.0.2.1", SpfResult::Fail, "-all"),
        (
            "v=spf1 a:mail.example.net -all",
            "192.0.2.200",
            SpfResult::Pass,
            "a:mail.example.net",
        ),
        (
            "v=spf1 a:mail.example.net/24 -all",
            "192.0.2.9",
            SpfResult::Pass,
            "a:mail.example.net/24",
        ),
        (
            "v=spf1 a:mail.example.net//64 -all",
            "2001:db8::9",
            SpfResult::Pass,
            "a:mail.example.net//64",
        ),
        (
            "v=spf1 a:mail.example.net/24//64 -all",
            "2001:db8:0:1::9",
            SpfResult::Fail,
            "-all",
        ),
        ("v=spf1 mx -all", "2001:db8::200", SpfResult::Pass, "mx"),
        (
            "v=spf1 mx//120 -all",
            "2001:db8::2ff",
            SpfResult::Pass,
            "mx//120",
        ),
        ("v=spf1 ~mx -all", "192.0.2.200", SpfResult::SoftFail, "~mx"),
        (
            "v=spf1 ptr:example.com -all",
            "192.0.2.65",
            SpfResult::Pass,
            "ptr:example.com",
        ),
        ("v=spf1 ptr -all", "192.0.2.65", SpfResult::Fail, "-all"),
        (
            "v=spf1 exists:%{i}.allow.example.org -all",
            "192.0.2.200",
            SpfResult::Pass,
            "exists:%{i}.allow.example.org",
        ),
        (
            "v=spf1 exists:%{i}.allow.example.org -all",
            "192.0.2.201",
            SpfResult::Fail,
            "-all",
        ),
        (
            "v=spf1 include:_spf.example.org -all",
            "198.51.100.3",
            SpfResult::Pass,
            "include:_spf.example.org",
        ),
        (
            "v=spf1 include:_spf.example.org ~all",
            "192.0.2.3",
            SpfResult::SoftFail,
            "~all",
        ),
        (
            "v=spf1 include:_spf2.example.org -all",
            "192.0.2.3",
            SpfResult::Fail,
            "-all",
        ),
        (
            "v=spf1 redirect=_spf.example.org",
            "198.51.100.3",
            SpfResult::Pass,
            "redirect=_spf.example.org: ip4:198.51.100.0/24",
        ),
        (
            "v=spf1 redirect=_spf.example.org",
            "192.0.2.3",
            SpfResult::Fail,
            "redirect=_spf.example.org: -all",
        ),
        // `all` anywhere: redirect is ignored.
        (
            "v=spf1 ?all redirect=_spf.example.org",
            "198.51.100.3",
            SpfResult::Neutral,
            "?all",
        ),
        (
            "v=spf1 redirect=%{d}.example.org",
            "192.0.2.3",
            SpfResult::PermError,
            "redirect=example.net.example.org: no such domain",
        ),
        (
            "v=spf1 include:nothing.example.org -all",
            "192.0.2.3",
            SpfResult::PermError,
            "include:nothing.example.org: no such domain",
        ),
        (
            "v=spf1 include:mx.example.org -all",
            "192.0.2.3",
            SpfResult::PermError,
            "include:mx.example.org: no SPF record",
        ),
        (
            "v=spf1 exp=explain.%{d} moo=%{c} -all",
            "192.0.2.3",
            SpfResult::Fail,
            "-all",
        ),
        ("V=SPF1 -ALL", "192.0.2.3", SpfResult::Fail, "-ALL"),
    ] {
        let got = spf(&zone(record), ip, sender).await;
        assert_eq!(got, is(result, detail), "{record} from {ip}");
    }
}

#[tokio::test]
async fn none_temperror_and_permerror() {
    let sender = "app@example.net";
    let ip = "192.0.2.1";
    assert_eq!(
        spf("", ip, sender).await,
        is(SpfResult::None, "no such domain")
    );
    let not_spf =
        "example.net TXT \"v=spf10 -all\"\nexample.net TXT \"google-site-verification=x\"\n";
    assert_eq!(
        spf(not_spf, ip, sender).await,
        is(SpfResult::None, "no SPF record")
    );
    let two = "example.net TXT \"v=spf1 -all\"\nexample.net TXT \"v=spf1 +all\"\n";
    assert_eq!(
        spf(two, ip, sender).await,
        is(SpfResult::PermError, "more than one SPF record")
    );
    let wrong = "example.net TXT \"v=spf1 ip4:192.0.2.0/33 -all\"\n";
    assert_eq!(
        spf(wrong, ip, sender).await,
        is(
            SpfResult::PermError,
            "syntax error at `ip4:192.0.2.0/33`: a wrong prefix length"
        )
    );
    // A syntax error after the matching term still fails the record.
    let late = "example.net TXT \"v=spf1 +all foo:bar\"\n";
    assert_eq!(spf(late, ip, sender).await.result, SpfResult::PermError);
    let bare = check_host(
        &resolver(""),
        ip.parse().unwrap(),
        "localhost",
        "a@localhost",
        "",
        "",
    )
    .await;
    assert_eq!(bare.result, SpfResult::None);

    // A DNS failure: the name server refuses the connection.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = closed.local_addr().unwrap();
    drop(closed);
    let records = parse_zone("example.net TXT \"v=spf1 a:elsewhere.example -all\"\n").unwrap();
    let failing = Resolver::with_servers(&records, vec![server]);
    let failed = check_host(&failing, ip.parse().unwrap(), "example.net", sender, "", "").await;
    assert_eq!(failed.result, SpfResult::TempError, "{failed:?}");
    assert!(
        failed
            .detail
            .starts_with("DNS lookup failed: A elsewhere.example: "),
        "{failed:?}"
    );
    let unreachable = check_host(&failing, ip.parse().unwrap(), "example.org", "", "", "").await;
    assert_eq!(unreachable.result, SpfResult::TempError);
}

#[tokio::test]
async fn the_lookup_limits() {
    // A chain of 10 includes is allowed; 11 is one too many.
    let chain = |length: usize| {
        let mut zone = String::new();
        for n in 0..length {
            zone.push_str(&format!(
                "s{n}.example.net TXT \"v=spf1 include:s{}.example.net\"\n",
                n + 1
            ));
        }
        zone.push_str(&format!("s{length}.example.net TXT \"v=spf1 +all\"\n"));
        zone
    };
    assert_eq!(
        spf(&chain(10), "192.0.2.1", "a@s0.example.net")
            .await
            .result,
        SpfResult::Pass
    );
    assert_eq!(
        spf(&chain(11), "192.0.2.1", "a@s0.example.net")
            .await
            .detail,
        "include:s1.example.net: include:s2.example.net: include:s3.example.net: \
         include:s4.example.net: include:s5.example.net: include:s6.example.net: \
         include:s7.example.net: include:s8.example.net: include:s9.example.net: \
         include:s10.example.net: more than 10 DNS lookups"
    );
    let flat = |count: usize| {
        let terms = vec!["a"; count].join(" ");
        format!("example.net TXT \"v=spf1 {terms} -all\"\nexample.net A 192.0.2.9\n")
    };
    assert_eq!(
        spf(&flat(10), "192.0.2.1", "a@example.net").await,
        is(SpfResult::Fail, "-all")
    );
    assert_eq!(
        spf(&flat(11), "192.0.2.1", "a@example.net").await,
        is(SpfResult::PermError, "more than 10 DNS lookups")
    );
    // Void lookups: two are allowed, the third is an error.
    let voids = |count: usize| {
        let terms: Vec<String> = (0..count).map(|n| format!("a:v{n}.example.net")).collect();
        format!("example.net TXT \"v=spf1 {} -all\"\n", terms.join(" "))
    };
    assert_eq!(
        spf(&voids(2), "192.0.2.1", "a@example.net").await,
        is(SpfResult::Fail, "-all")
    );
    assert_eq!(
        spf(&voids(3), "192.0.2.1", "a@example.net").await,
        is(SpfResult::PermError, "more than 2 void DNS lookups")
    );
    // Ten MX names are looked at; eleven are an error.
    let exchanges = |count: usize| {
        let mut zone = "example.net TXT \"v=spf1 mx -all\"\n".to_string();
        for n in 0..count {
            zone.push_str(&format!(
                "example.net MX {n} mx{n}.example.net\nmx{n}.example.net A 192.0.2.{n}\n"
            ));
        }
        zone
    };
    assert_eq!(
        spf(&exchanges(10), "192.0.2.9", "a@example.net").await,
        is(SpfResult::Pass, "mx")
    );
    assert_eq!(
        spf(&exchanges(11), "192.0.2.9", "a@example.net").await,
        is(SpfResult::PermError, "more than 10 MX names at example.net")
    );
    // Only the first ten PTR names are validated.
    let mut names = "example.net TXT \"v=spf1 ptr -all\"\n".to_string();
    for n in 0..11 {
        names.push_str(&format!("1.2.0.192.in-addr.arpa PTR h{n}.example.net\n"));
    }
    names.push_str("h10.example.net A 192.0.2.1\n");
    assert_eq!(
        spf(&names, "192.0.2.1", "a@example.net").await.result,
        SpfResult::Fail
    );
    names.push_str("h9.example.net A 192.0.2.1\n");
    assert_eq!(
        spf(&names, "192.0.2.1", "a@example.net").await,
        is(SpfResult::Pass, "ptr")
    );
}

#[test]
fn records_that_parse_and_records_that_do_not() {
    for good in [
        "v=spf1",
        "v=spf1 +all",
        "v=spf1 mx/30 mx:example.org/30 -all",
        "v=spf1 a/24//64 a//64 a:example.com/0 ip6:2001:db8::/32 ip6:::1 ip4:192.0.2.1",
        "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all",
        "v=spf1 include:example.com include:example.net -all",
        "v=spf1 ptr ptr:example.com. ?exists:%{d}",
        "v=spf1 redirect=_spf.example.com exp=explain._spf.%{d}",
        "v=spf1 unknown-modifier=%{c}%{r}%{t} -all",
        "v=spf1  -all ",
        "v=spf1 a:foo.123-bar",
    ] {
        assert!(parse(good).is_ok(), "{good}: {:?}", parse(good));
    }
    assert_eq!(parse("v=spf10 -all"), Err(SpfError::NotSpf));
    assert_eq!(parse("spf1 -all"), Err(SpfError::NotSpf));
    for (bad, term) in [
        ("v=spf1 ip4:192.0.2.0/33", "ip4:192.0.2.0/33"),
        ("v=spf1 ip4:192.0.2.0/024", "ip4:192.0.2.0/024"),
        ("v=spf1 ip4:192.0.2", "ip4:192.0.2"),
        ("v=spf1 ip4:2001:db8::1", "ip4:2001:db8::1"),
        ("v=spf1 ip6:2001:db8::/129", "ip6:2001:db8::/129"),
        ("v=spf1 a/33", "a/33"),
        ("v=spf1 mx//129", "mx//129"),
        ("v=spf1 a:museum", "a:museum"),
        ("v=spf1 a:example.123", "a:example.123"),
        ("v=spf1 a:example.com-", "a:example.com-"),
        ("v=spf1 include", "include"),
        ("v=spf1 include:", "include:"),
        ("v=spf1 all:example.com", "all:example.com"),
        ("v=spf1 foo", "foo"),
        ("v=spf1 -", "-"),
        ("v=spf1 exists:%{x}.example.com", "exists:%{x}.example.com"),
        ("v=spf1 exists:%{c}.example.com", "exists:%{c}.example.com"),
        (
            "v=spf1 exists:%{d0}.example.com",
            "exists:%{d0}.example.com",
        ),
        (
            "v=spf1 exists:%{d2!}.example.com",
            "exists:%{d2!}.example.com",
        ),
        ("v=spf1 exists:%{d.example.com", "exists:%{d.example.com"),
        ("v=spf1 exists:100%.example.com", "exists:100%.example.com"),
        (
            "v=spf1 redirect=a.example redirect=b.example",
            "redirect=b.example",
        ),
        ("v=spf1 exp=a.example exp=b.example", "exp=b.example"),
        ("v=spf1 moo=%", "moo=%"),
        ("v=spf1 a:example.com\t-all", "a:example.com\t-all"),
    ] {
        match parse(bad) {
            Err(SpfError::Syntax { term: at, .. }) => assert_eq!(at, term, "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

#[test]
fn results_in_authentication_results_words() {
    let all = [
        (SpfResult::Pass, "pass"),
        (SpfResult::Fail, "fail"),
        (SpfResult::SoftFail, "softfail"),
        (SpfResult::Neutral, "neutral"),
        (SpfResult::None, "none"),
        (SpfResult::TempError, "temperror"),
        (SpfResult::PermError, "permerror"),
    ];
    for (result, word) in all {
        assert_eq!(result.as_str(), word);
    }
    // The check runs inside the web server's handlers.
    fn send<T: Send>(_: T) {}
    let resolver = resolver("");
    send(check_host(
        &resolver,
        [192, 0, 2, 1].into(),
        "example.com",
        "",
        "",
        "",
    ));
}
