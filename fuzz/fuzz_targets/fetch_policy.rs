//! URL and address classification, the SSRF guard of every URL input: `AddressClass::of`
//! on arbitrary IPv4/IPv6 addresses (the input's first bytes, and an address as text),
//! `FetchPolicy::refusal` with and without the host allow-listed, `Fetcher::check` on
//! arbitrary URL strings (scheme, host, IP literals; no request is made), `redacted`, and
//! `--allow-fetch-host` values as `Config` parses them.
//!
//! Input: three lines (an IP address, a URL, an `--allow-fetch-host` value); the first
//! 16 bytes are also read as an IPv6 address and the first 4 as an IPv4 one.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use std::time::Duration;

use algo_server::fetch::{AddressClass, RefusalReason, redacted};
use algo_server::{Config, FetchError, FetchPolicy, Fetcher};
use clap::Parser;
use libfuzzer_sys::fuzz_target;

fn fetcher() -> &'static Fetcher {
    static FETCHER: OnceLock<Fetcher> = OnceLock::new();
    FETCHER.get_or_init(|| {
        Fetcher::new(FetchPolicy::new(&[], 1024, Duration::from_secs(1))).expect("fetcher")
    })
}

fn refused(ip: IpAddr) -> bool {
    !matches!(AddressClass::of(ip), AddressClass::Public)
}

/// Every IPv6 form of an IPv4 address is judged as the IPv4 address it reaches.
fn check_v4_forms(v4: Ipv4Addr) {
    let class = AddressClass::of(IpAddr::V4(v4));
    let [a, b, c, d] = v4.octets();
    let low = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
    let forms = [
        ("mapped", v4.to_ipv6_mapped()),
        (
            "NAT64",
            Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, low.0, low.1),
        ),
        ("6to4", Ipv6Addr::new(0x2002, low.0, low.1, 0, 0, 0, 0, 1)),
    ];
    for (name, v6) in forms {
        assert_eq!(
            AddressClass::of(IpAddr::V6(v6)),
            class,
            "{name} {v6} of {v4}"
        );
    }
    // IPv4-compatible `::a.b.c.d`: `::` and `::1` are IPv6's own; all are refused alike.
    let compatible = v4.to_ipv6_compatible();
    assert_eq!(
        refused(IpAddr::V6(compatible)),
        refused(IpAddr::V4(v4)),
        "{compatible} vs {v4}"
    );
}

fn check_ip(ip: IpAddr) {
    let class = AddressClass::of(ip);
    let host = ip.to_string();
    let strict = FetchPolicy::new(&[], 1024, Duration::from_secs(1));
    let open = FetchPolicy::new(std::slice::from_ref(&host), 1024, Duration::from_secs(1));
    let strict_refusal = strict.refusal(&host, ip);
    let open_refusal = open.refusal(&host, ip);
    assert_eq!(
        strict_refusal.is_none(),
        class == AddressClass::Public,
        "{ip}"
    );
    match class {
        // Never fetched, allow-listed or not.
        AddressClass::LinkLocal | AddressClass::Unroutable => {
            let refusal = open_refusal.expect("refused even when allow-listed");
            assert!(matches!(
                refusal.reason,
                RefusalReason::LinkLocal | RefusalReason::Unroutable
            ));
            assert!(!refusal.to_string().contains("--allow-fetch-host"));
        }
        _ => assert!(open_refusal.is_none(), "{ip} allow-listed yet refused"),
    }
    if let Some(refusal) = strict_refusal {
        assert!(refusal.to_string().contains(&host));
    }
    if let IpAddr::V4(v4) = ip {
        check_v4_forms(v4);
    }
}

/// The part of a URL after its first `?`, when it is long enough to stand for a secret
/// (a presigned signature) and appears nowhere else in the URL.
fn secret_of(url: &str) -> Option<&str> {
    let (before, after) = url.split_once('?')?;
    let secret = after.split('#').next().unwrap_or_default();
    (secret.len() >= 12 && !before.contains(secret)).then_some(secret)
}

fn check_url(url: &str) {
    match fetcher().check(url) {
        Ok(parsed) => {
            assert!(matches!(parsed.scheme(), "http" | "https"), "{url}");
            let host = parsed.host_str().expect("a checked URL has a host");
            let literal = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(ip) = literal {
                assert_eq!(AddressClass::of(ip), AddressClass::Public, "{url} passed");
                assert!(fetcher().policy().refusal(host, ip).is_none());
            }
            let shown = redacted(&parsed);
            let again = url::Url::parse(&shown).expect("a redacted URL parses");
            assert!(again.query().is_none() && again.fragment().is_none());
            assert!(again.password().is_none() && again.username().is_empty());
        }
        Err(error) => {
            let message = error.to_string();
            assert!(error.is_caller_fault(), "{error}");
            assert!(matches!(
                error,
                FetchError::BadUrl { .. } | FetchError::Scheme { .. } | FetchError::Refused { .. }
            ));
            if let Some(secret) = secret_of(url.trim()) {
                assert!(
                    !message.contains(secret),
                    "{message:?} shows the query {secret:?}"
                );
            }
        }
    }
}

fn check_allow_host(value: &str) {
    let Ok(config) = Config::try_parse_from([
        "algo-server",
        "--allow-anonymous",
        "--allow-fetch-host",
        value,
    ]) else {
        return;
    };
    for host in &config.allow_fetch_hosts {
        assert!(!host.is_empty(), "{value:?} allowed an empty host");
        assert!(!host.contains('/'), "{value:?} allowed {host:?}");
        assert_eq!(host, &host.to_ascii_lowercase());
    }
    let _ = FetchPolicy::new(&config.allow_fetch_hosts, 1, Duration::from_secs(1));
}

fuzz_target!(|data: &[u8]| {
    if data.len() >= 16 {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&data[..16]);
        check_ip(IpAddr::V6(Ipv6Addr::from(octets)));
    }
    if data.len() >= 4 {
        check_ip(IpAddr::V4(Ipv4Addr::new(
            data[0], data[1], data[2], data[3],
        )));
    }
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(3, '\n');
    if let Some(Ok(ip)) = lines.next().map(|line| line.trim().parse::<IpAddr>()) {
        check_ip(ip);
    }
    if let Some(url) = lines.next() {
        check_url(url);
    }
    if let Some(value) = lines.next() {
        check_allow_host(value);
    }
});
