use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;

fn tcp(host: Host, port: u16) -> Endpoint {
    Endpoint::Tcp { host, port }
}

fn name(n: &str) -> Host {
    Host::Name(n.to_owned())
}

#[test]
fn good_endpoints() {
    assert_eq!(
        parse_endpoint("unix:///tmp/a.sock"),
        Ok(Endpoint::Unix("/tmp/a.sock".into()))
    );
    assert_eq!(
        parse_endpoint("tcp://127.0.0.1:9100"),
        Ok(tcp(Host::Ipv4(Ipv4Addr::LOCALHOST), 9100))
    );
    assert_eq!(
        parse_endpoint("tcp://[::1]:7000"),
        Ok(tcp(Host::Ipv6(Ipv6Addr::LOCALHOST), 7000))
    );
    assert_eq!(
        parse_endpoint("tcp://localhost:1"),
        Ok(tcp(name("localhost"), 1))
    );
    assert_eq!(
        parse_endpoint("tcp://market_data-1.internal:65535"),
        Ok(tcp(name("market_data-1.internal"), 65535))
    );
    assert_eq!(
        parse_endpoint("nats://127.0.0.1:4222/market.data"),
        Ok(Endpoint::Nats {
            host: Host::Ipv4(Ipv4Addr::LOCALHOST),
            port: 4222,
            subject: "market.data".into()
        })
    );
    assert_eq!(
        parse_endpoint("nats://[::1]:4222/a/b.c-d_e").map(|e| e.to_string()),
        Ok("nats://[::1]:4222/a/b.c-d_e".to_owned())
    );
    let fits = format!("unix:///{}", "a".repeat(106));
    assert!(parse_endpoint(&fits).is_ok());
    let longest = format!("nats://h:4222/{}", "a".repeat(MAX_NATS_SUBJECT));
    assert!(parse_endpoint(&longest).is_ok());
    let label = "a".repeat(63);
    assert!(parse_endpoint(&format!("tcp://{label}.b:1")).is_ok());
}

#[test]
fn bad_endpoints() {
    for bad in [
        "",
        "/tmp/a.sock",
        "udp://1.2.3.4:5",
        "TCP://127.0.0.1:5",
        "unix://",
        "unix://tmp/a.sock",
        "unix:///tmp/a\0b",
        "tcp://127.0.0.1",
        "tcp://127.0.0.1:0",
        "tcp://127.0.0.1:65536",
        "tcp://127.0.0.1:",
        "tcp://127.0.0.1:+80",
        "tcp://127.0.0.1:-80",
        "tcp://:80",
        "tcp://::1:80",
        "tcp://[::1]",
        "tcp://[::1:80",
        "tcp://[::1]x:80",
        "tcp://[]:80",
        "tcp://[nope]:80",
        "tcp://[fe80::1%eth0]:80",
        "tcp://a b:80",
        "tcp://127.0.0.1:80/x",
        "tcp://h:80?x",
        "tcp://h:80#x",
        "tcp://-h:80",
        "tcp://h-:80",
        "tcp://a..b:80",
        "tcp://a.:80",
        "tcp://.a:80",
        "tcp://hé:80",
        "nats://127.0.0.1:4222",
        "nats://127.0.0.1:4222/",
        "nats://127.0.0.1:4222/a..b",
        "nats://127.0.0.1:4222/.a",
        "nats://127.0.0.1:4222/a.",
        "nats://127.0.0.1:4222/a.*",
        "nats://127.0.0.1:4222/a.>",
        "nats://127.0.0.1:4222/a b",
        "nats://127.0.0.1:4222/a\tb",
        "nats://127.0.0.1/a",
        "nats://user:pw@h:4222/x",
        "nats://999.1.1.1:4222/x",
    ] {
        assert!(parse_endpoint(bad).is_err(), "{bad:?}");
    }
    assert!(parse_endpoint(&format!("unix:///{}", "a".repeat(107))).is_err());
    assert!(parse_endpoint(&format!("nats://h:1/{}", "a".repeat(MAX_NATS_SUBJECT + 1))).is_err());
    assert!(parse_endpoint(&format!("tcp://{}.b:1", "a".repeat(64))).is_err());
    let long_name = vec!["abcdefghi"; 26].join(".");
    assert!(long_name.len() > 253);
    assert!(parse_endpoint(&format!("tcp://{long_name}:1")).is_err());
}

/// The endpoints probed in issue 10 (item 6): each must be refused, with the reason
/// pointing at the part that is wrong.
#[test]
fn probed_endpoints_are_refused_where_they_are_wrong() {
    for (bad, part, message) in [
        (
            "tcp://user@host:80",
            "user@",
            "credentials in tcp endpoints are not supported",
        ),
        (
            "tcp://exa mple:80",
            "exa mple",
            "`exa mple` is not a host name or address",
        ),
        ("tcp://[nope]:80", "nope", "`nope` is not an IPv6 address"),
        ("tcp://h:+80", "+80", "port `+80` is outside 1-65535"),
        ("tcp://h:80/feed", "/feed", "tcp endpoint has a path"),
        ("tcp://h:80?x=1", "?x=1", "tcp endpoint has a path"),
        (
            "tcp://a..b:80",
            "a..b",
            "`a..b` is not a host name or address",
        ),
        ("tcp://-h:80", "-h", "`-h` is not a host name or address"),
        (
            "tcp://h_\u{202e}:80",
            "h_\u{202e}",
            "`h_\u{202e}` is not a host name or address",
        ),
        (
            "tcp://999.999.999.999:80",
            "999.999.999.999",
            "`999.999.999.999` is not an IPv4 address",
        ),
        ("tcp://1.2.3:80", "1.2.3", "`1.2.3` is not an IPv4 address"),
        ("tcp://127.1:80", "127.1", "`127.1` is not an IPv4 address"),
        (
            "tcp://127.0.0.01:80",
            "127.0.0.01",
            "`127.0.0.01` is not an IPv4 address",
        ),
        ("nats://h:4222/a.*", "*", "nats subject contains `*` or `>`"),
        (
            "unix://relative.sock",
            "relative.sock",
            "unix socket path is not absolute",
        ),
        (
            "nats://user@h:4222/x",
            "user@",
            "credentials in nats endpoints are not supported",
        ),
    ] {
        let e = parse_endpoint(bad).expect_err(bad);
        assert_eq!(&bad[e.at.clone()], part, "{bad:?}: {e:?}");
        assert_eq!(e.message, message, "{bad:?}");
        assert!(!e.help.is_empty() && !e.label.is_empty());
    }
}

#[test]
fn errors_without_a_part_to_blame_cover_the_whole_string() {
    let e = parse_endpoint("nowhere").unwrap_err();
    assert_eq!(e.at, 0..7);
    assert_eq!(e.message, "endpoint has no scheme");
    let e = parse_endpoint("").unwrap_err();
    assert_eq!(e.at, 0..0);
    let e = parse_endpoint("tpc://h:1").unwrap_err();
    assert_eq!((e.at, e.help.as_str()), (0..3, "did you mean `tcp://`?"));
}

/// Two spellings of one place are one endpoint, printed one way.
#[test]
fn canonical_form() {
    for (a, b, shown) in [
        ("tcp://[::1]:80", "tcp://[0:0::1]:80", "tcp://[::1]:80"),
        (
            "tcp://[::1]:80",
            "tcp://[0:0:0:0:0:0:0:1]:080",
            "tcp://[::1]:80",
        ),
        (
            "tcp://localhost:80",
            "tcp://LOCALHOST:80",
            "tcp://localhost:80",
        ),
        (
            "tcp://[FE80::A]:1",
            "tcp://[fe80:0::a]:1",
            "tcp://[fe80::a]:1",
        ),
        (
            "nats://Nats.Example:4222/Subj",
            "nats://nats.example:4222/Subj",
            "nats://nats.example:4222/Subj",
        ),
    ] {
        let (x, y) = (parse_endpoint(a).unwrap(), parse_endpoint(b).unwrap());
        assert_eq!(x, y, "{a} vs {b}");
        assert_eq!(x.to_string(), shown);
        assert_eq!(parse_endpoint(shown), Ok(x));
    }
    // Subjects are case-sensitive; different ports or hosts are different places.
    assert_ne!(
        parse_endpoint("nats://h:1/a").unwrap(),
        parse_endpoint("nats://h:1/A").unwrap()
    );
    assert_ne!(
        parse_endpoint("tcp://127.0.0.1:80").unwrap(),
        parse_endpoint("tcp://localhost:80").unwrap()
    );
    assert_eq!(
        parse_endpoint("tcp://[::1]:80")
            .unwrap()
            .authority()
            .as_deref(),
        Some("[::1]:80")
    );
    assert_eq!(parse_endpoint("unix:///a").unwrap().authority(), None);
}

#[test]
fn display_is_one_line() {
    let e = parse_endpoint("tcp://h").unwrap_err();
    assert_eq!(
        e.to_string(),
        "tcp endpoint has no port; help: add the port: `tcp://h:<port>`"
    );
}

#[test]
fn websocket_endpoints() {
    let ws = |secure, host, port, path: &str| Endpoint::Ws {
        secure,
        host,
        port,
        path: path.to_owned(),
    };
    assert_eq!(
        parse_endpoint("ws://127.0.0.1:9100/feed"),
        Ok(ws(false, Host::Ipv4(Ipv4Addr::LOCALHOST), 9100, "/feed"))
    );
    assert_eq!(
        parse_endpoint("wss://Feed.Example:443/a/b-c_d.e~f%20g;h=i:j@k"),
        Ok(ws(
            true,
            name("feed.example"),
            443,
            "/a/b-c_d.e~f%20g;h=i:j@k"
        ))
    );
    assert_eq!(
        parse_endpoint("ws://[::1]:80"),
        Ok(ws(false, Host::Ipv6(Ipv6Addr::LOCALHOST), 80, "/"))
    );
    // No path and `/` are one place, printed with the `/`.
    assert_eq!(parse_endpoint("ws://h:1"), parse_endpoint("ws://h:1/"));
    for (text, shown) in [
        ("ws://H:1", "ws://h:1/"),
        ("wss://[0::1]:8443/x", "wss://[::1]:8443/x"),
    ] {
        let e = parse_endpoint(text).unwrap();
        assert_eq!(e.to_string(), shown);
        assert_eq!(parse_endpoint(shown), Ok(e));
    }
    assert_eq!(
        parse_endpoint("wss://[::1]:8443/x")
            .unwrap()
            .authority()
            .as_deref(),
        Some("[::1]:8443")
    );
    // ws and wss are different places; so are paths (case-sensitive).
    assert_ne!(parse_endpoint("ws://h:1/"), parse_endpoint("wss://h:1/"));
    assert_ne!(parse_endpoint("ws://h:1/a"), parse_endpoint("ws://h:1/A"));
}

#[test]
fn websocket_mistakes_are_refused_where_they_are_wrong() {
    for (bad, part, message) in [
        ("ws://h/feed", "h", "ws endpoint has no port"),
        ("wss://h:0/", "0", "port `0` is outside 1-65535"),
        (
            "ws://user:pw@h:80/x",
            "user:pw@",
            "credentials in ws endpoints are not supported",
        ),
        ("ws://h:80/x?token=1", "?token=1", "ws endpoint has a query"),
        ("wss://h:80?token=1", "?token=1", "wss endpoint has a query"),
        ("ws://h:80/x#top", "#top", "ws endpoint has a fragment"),
        ("ws://h:80/a b", " ", "ws endpoint path contains ` `"),
        ("ws://h:80/a\"b", "\"", "ws endpoint path contains `\"`"),
        ("ws://::1:80/", "::1:80", "IPv6 address without brackets"),
        ("ws:///x", "", "ws endpoint has no host"),
    ] {
        let e = parse_endpoint(bad).expect_err(bad);
        assert_eq!(&bad[e.at.clone()], part, "{bad:?}: {e:?}");
        assert_eq!(e.message, message, "{bad:?}");
        assert!(!e.help.is_empty() && !e.label.is_empty());
    }
    let long = format!("ws://h:1/{}", "a".repeat(super::ws::MAX_WS_PATH));
    assert!(parse_endpoint(&long).is_err());
    let e = parse_endpoint("http://h:80/x").unwrap_err();
    assert_eq!(e.help, "did you mean `ws://`?");
    let e = parse_endpoint("wws://h:80/x").unwrap_err();
    assert_eq!(e.help, "did you mean `ws://`?");
}
