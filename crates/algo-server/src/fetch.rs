//! Fetching (and uploading to) URLs that callers pass in, without becoming an SSRF
//! proxy: link-local addresses are always refused, loopback and private ones unless the
//! host is allow-listed, every redirect hop is checked again, and DNS answers are checked
//! at connect time (so a name cannot re-bind to a forbidden address after the check).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{StatusCode, redirect};
use url::Url;

const MAX_REDIRECTS: usize = 5;

/// The fetch rules, from `--allow-fetch-host`, `--fetch-max-bytes`, `--fetch-timeout`.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Hosts (lower-case, as written in URLs) allowed to resolve to loopback/private addresses.
    pub allowed_hosts: Vec<String>,
    pub max_bytes: u64,
    pub timeout: Duration,
}

impl FetchPolicy {
    pub fn new(allowed_hosts: &[String], max_bytes: u64, timeout: Duration) -> Self {
        let allowed_hosts = allowed_hosts
            .iter()
            .map(|host| host.trim().trim_matches(['[', ']']).to_ascii_lowercase())
            .filter(|host| !host.is_empty())
            .collect();
        Self {
            allowed_hosts,
            max_bytes,
            timeout,
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        self.allowed_hosts.contains(&host)
    }

    /// Why `ip` (which `host` resolved to) may not be contacted, if it may not.
    pub fn refusal(&self, host: &str, ip: IpAddr) -> Option<Refusal> {
        let reason = match AddressClass::of(ip) {
            AddressClass::Public => return None,
            AddressClass::LinkLocal => RefusalReason::LinkLocal,
            AddressClass::Unroutable => RefusalReason::Unroutable,
            AddressClass::Loopback | AddressClass::Private if self.host_allowed(host) => {
                return None;
            }
            AddressClass::Loopback => RefusalReason::Loopback,
            AddressClass::Private => RefusalReason::Private,
        };
        Some(Refusal {
            host: host.to_owned(),
            ip,
            reason,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    /// 169.254.0.0/16, fe80::/10: includes the cloud metadata service. Never fetched.
    LinkLocal,
    Loopback,
    /// RFC 1918, carrier-grade NAT, unique-local IPv6, 0.0.0.0/8.
    Private,
    /// Multicast, broadcast, documentation and reserved ranges.
    Unroutable,
}

impl AddressClass {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::of_v4(v4),
            IpAddr::V6(v6) => match embedded_v4(v6) {
                Some(v4) => Self::of_v4(v4),
                None => Self::of_v6(v6),
            },
        }
    }

    fn of_v4(ip: Ipv4Addr) -> Self {
        let [a, b, ..] = ip.octets();
        if ip.is_link_local() {
            Self::LinkLocal
        } else if ip.is_loopback() {
            Self::Loopback
        } else if ip.is_private() || a == 0 || (a == 100 && (64..128).contains(&b)) {
            Self::Private
        } else if ip.is_multicast() || ip.is_broadcast() || ip.is_documentation() || a >= 240 {
            Self::Unroutable
        } else {
            Self::Public
        }
    }

    fn of_v6(ip: Ipv6Addr) -> Self {
        let [first, second, ..] = ip.segments();
        if first & 0xffc0 == 0xfe80 {
            Self::LinkLocal
        } else if ip.is_loopback() {
            Self::Loopback
        } else if ip.is_unspecified()
            || first & 0xfe00 == 0xfc00
            // Site-local (deprecated, still routed inside some networks).
            || first & 0xffc0 == 0xfec0
            // Local-use NAT64, 64:ff9b:1::/48 (RFC 8215).
            || (first == 0x0064 && second == 0xff9b)
        {
            Self::Private
        } else if ip.is_multicast() || first == 0x2001 && ip.segments()[1] == 0x0db8 {
            Self::Unroutable
        } else {
            Self::Public
        }
    }
}

/// The IPv4 address an IPv6 one stands for, where it stands for one: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated), NAT64 (`64:ff9b::/96`,
/// which a NAT64 gateway turns into a.b.c.d) and 6to4 (`2002:aabb:ccdd::/48`). Each is
/// classified as the IPv4 address it reaches.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(low);
    }
    if s[..6] == [0x0064, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    LinkLocal,
    Loopback,
    Private,
    Unroutable,
}

/// A host the policy refuses to contact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct Refusal {
    pub host: String,
    pub ip: IpAddr,
    pub reason: RefusalReason,
}

impl Refusal {
    fn describe(&self) -> String {
        let Self { host, ip, .. } = self;
        match self.reason {
            RefusalReason::LinkLocal => format!(
                "host {host} is at link-local address {ip} (such as the cloud metadata service), \
                 which algo-server never fetches"
            ),
            RefusalReason::Unroutable => {
                format!("host {host} is at {ip}, a multicast or reserved address")
            }
            RefusalReason::Loopback | RefusalReason::Private => format!(
                "host {host} is at {} address {ip}; start the server with \
                 --allow-fetch-host {host} to allow it",
                if self.reason == RefusalReason::Loopback {
                    "loopback"
                } else {
                    "private"
                }
            ),
        }
    }
}

/// Why a fetch failed. Messages show URLs without their query string (presigned URLs
/// carry credentials there).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url:?} is not a valid URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("URL {url} uses scheme {scheme}:, only http: and https: can be fetched")]
    Scheme { url: String, scheme: String },
    #[error("refused to fetch {url}: {refusal}")]
    Refused { url: String, refusal: Refusal },
    #[error("could not resolve the host of {url}: {reason}")]
    Resolve { url: String, reason: String },
    #[error("{url} is larger than the server's fetch limit of {limit} bytes (--fetch-max-bytes)")]
    TooLarge { url: String, limit: u64 },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: StatusCode },
    #[error("{url} redirected more than {MAX_REDIRECTS} times")]
    TooManyRedirects { url: String },
    #[error("{url} answered with a redirect, which uploads do not follow")]
    RedirectedUpload { url: String },
    #[error("{url} did not answer within {secs} s (--fetch-timeout)")]
    Timeout { url: String, secs: u64 },
    #[error("fetching {url} failed: {reason}")]
    Transport { url: String, reason: String },
}

impl FetchError {
    /// Whether the URL itself is at fault (as opposed to the network or the remote
    /// server). An error status is not: a presigned URL that expired or an object not
    /// yet readable answers 403 or 404, and the caller's retry (a new URL) can pass.
    pub fn is_caller_fault(&self) -> bool {
        matches!(
            self,
            FetchError::BadUrl { .. }
                | FetchError::Scheme { .. }
                | FetchError::Refused { .. }
                | FetchError::TooLarge { .. }
                | FetchError::TooManyRedirects { .. }
                | FetchError::RedirectedUpload { .. }
        )
    }
}

/// `scheme://host/path` of a URL: what error messages and logs may show.
pub fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

/// Fetches caller-supplied URLs under a [`FetchPolicy`].
pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<FetchPolicy>,
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            // A proxy would connect on our behalf to addresses we never checked.
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver {
                policy: Arc::clone(&policy),
            }))
            .connect_timeout(policy.timeout)
            .timeout(policy.timeout)
            .user_agent(concat!("algo-server/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, policy })
    }

    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// GETs `url`, following up to five redirects (each one checked), reading at most
    /// `max_bytes`.
    pub async fn get(&self, url: &str) -> Result<Bytes, FetchError> {
        let mut current = self.check(url)?;
        for _ in 0..=MAX_REDIRECTS {
            let response = self
                .client
                .get(current.clone())
                .send()
                .await
                .map_err(|error| self.transport(&current, error))?;
            let status = response.status();
            if status.is_redirection() {
                current = self.redirect_target(&current, &response)?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status {
                    url: redacted(&current),
                    status,
                });
            }
            return self.read_capped(&current, response).await;
        }
        Err(FetchError::TooManyRedirects {
            url: redacted(&self.check(url)?),
        })
    }

    /// PUTs `body` to `url` (no redirects followed).
    pub async fn put(
        &self,
        url: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), FetchError> {
        let target = self.check(url)?;
        let response = self
            .client
            .put(target.clone())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .map_err(|error| self.transport(&target, error))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(FetchError::RedirectedUpload {
                url: redacted(&target),
            });
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                url: redacted(&target),
                status,
            });
        }
        Ok(())
    }

    /// Checks `url` as a fetch or upload will, resolving a host name now: for a URL used
    /// only after long work (an `output_url`), so a refused host fails the call at once
    /// instead of after the work. The fetch itself checks again when it connects.
    pub async fn preflight(&self, url: &str) -> Result<Url, FetchError> {
        let parsed = self.check(url)?;
        if let Some(url::Host::Domain(host)) = parsed.host() {
            let port = parsed.port_or_known_default().unwrap_or(80);
            let addresses = tokio::net::lookup_host((host, port))
                .await
                .map_err(|error| FetchError::Transport {
                    url: redacted(&parsed),
                    reason: format!("cannot resolve {host}: {error}"),
                })?;
            for address in addresses {
                if let Some(refusal) = self.policy.refusal(host, address.ip()) {
                    return Err(FetchError::Refused {
                        url: redacted(&parsed),
                        refusal,
                    });
                }
            }
        }
        Ok(parsed)
    }

    /// Parses `url` and checks its scheme and, for IP literals, its address. Names are
    /// checked when they resolve.
    pub fn check(&self, url: &str) -> Result<Url, FetchError> {
        let parsed = Url::parse(url.trim()).map_err(|error| FetchError::BadUrl {
            url: truncated(url),
            reason: error.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::Scheme {
                url: redacted(&parsed),
                scheme: parsed.scheme().to_owned(),
            });
        }
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => {
                return Err(FetchError::BadUrl {
                    url: redacted(&parsed),
                    reason: "it has no host".to_owned(),
                });
            }
        };
        if let (Some(ip), Some(host)) = (literal, parsed.host_str())
            && let Some(refusal) = self.policy.refusal(host, ip)
        {
            return Err(FetchError::Refused {
                url: redacted(&parsed),
                refusal,
            });
        }
        Ok(parsed)
    }

    fn redirect_target(&self, from: &Url, response: &reqwest::Response) -> Result<Url, FetchError> {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| FetchError::Transport {
                url: redacted(from),
                reason: format!("HTTP {} without a Location header", response.status()),
            })?;
        let next = from.join(location).map_err(|error| FetchError::BadUrl {
            url: truncated(location),
            reason: format!("redirect from {}: {error}", redacted(from)),
        })?;
        self.check(next.as_str())
    }

    async fn read_capped(
        &self,
        url: &Url,
        mut response: reqwest::Response,
    ) -> Result<Bytes, FetchError> {
        let limit = self.policy.max_bytes;
        let too_large = || FetchError::TooLarge {
            url: redacted(url),
            limit,
        };
        if response
            .content_length()
            .is_some_and(|length| length > limit)
        {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| self.transport(url, error))?
        {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    fn transport(&self, url: &Url, error: reqwest::Error) -> FetchError {
        let shown = redacted(url);
        if error.is_timeout() {
            return FetchError::Timeout {
                url: shown,
                secs: self.policy.timeout.as_secs(),
            };
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(cause) = source {
            if let Some(refusal) = cause.downcast_ref::<Refusal>() {
                return FetchError::Refused {
                    url: shown,
                    refusal: refusal.clone(),
                };
            }
            if let Some(failure) = cause.downcast_ref::<ResolveFailure>() {
                return FetchError::Resolve {
                    url: shown,
                    reason: failure.0.clone(),
                };
            }
            source = cause.source();
        }
        // reqwest's Display hides the cause; show the innermost one.
        let mut reason = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            reason = cause.to_string();
            source = cause.source();
        }
        FetchError::Transport { url: shown, reason }
    }
}

fn truncated(text: &str) -> String {
    let mut shown: String = text.chars().take(80).collect();
    if let Some(query) = shown.find('?') {
        shown.truncate(query);
    }
    shown
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ResolveFailure(String);

/// Resolves names and drops the connection attempt if any address is forbidden.
struct CheckedResolver {
    policy: Arc<FetchPolicy>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|error| ResolveFailure(format!("{host}: {error}")))?
                .collect();
            if addrs.is_empty() {
                return Err(ResolveFailure(format!("{host} has no addresses")).into());
            }
            if let Some(refusal) = addrs
                .iter()
                .find_map(|addr| policy.refusal(&host, addr.ip()))
            {
                return Err(refusal.into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> FetchPolicy {
        let allowed: Vec<String> = allowed.iter().map(|h| h.to_string()).collect();
        FetchPolicy::new(&allowed, 1024, Duration::from_secs(1))
    }

    #[test]
    fn classifies_addresses() {
        let class = |text: &str| AddressClass::of(text.parse().expect("ip"));
        assert_eq!(class("169.254.169.254"), AddressClass::LinkLocal);
        assert_eq!(class("::ffff:169.254.169.254"), AddressClass::LinkLocal);
        assert_eq!(class("fe80::1"), AddressClass::LinkLocal);
        assert_eq!(class("127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class("::1"), AddressClass::Loopback);
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "fd00:ec2::254",
        ] {
            assert_eq!(class(private), AddressClass::Private, "{private}");
        }
        assert_eq!(class("224.0.0.1"), AddressClass::Unroutable);
        assert_eq!(class("93.184.216.34"), AddressClass::Public);
        assert_eq!(class("2606:4700::1111"), AddressClass::Public);
    }

    #[test]
    fn ipv6_forms_of_ipv4_addresses_are_classified_as_the_address_they_reach() {
        let class = |text: &str| AddressClass::of(text.parse().expect("ip"));
        // NAT64, IPv4-compatible and 6to4 forms of the metadata service, loopback, RFC 1918.
        assert_eq!(class("64:ff9b::169.254.169.254"), AddressClass::LinkLocal);
        assert_eq!(class("64:ff9b::7f00:1"), AddressClass::Loopback);
        assert_eq!(class("64:ff9b::10.0.0.1"), AddressClass::Private);
        assert_eq!(class("::169.254.169.254"), AddressClass::LinkLocal);
        assert_eq!(class("::127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class("::10.1.2.3"), AddressClass::Private);
        assert_eq!(class("2002:a9fe:a9fe::1"), AddressClass::LinkLocal);
        assert_eq!(class("2002:c0a8:0101::1"), AddressClass::Private);
        // Site-local and local-use NAT64 are private; a public IPv4 behind NAT64 is public.
        assert_eq!(class("fec0::1"), AddressClass::Private);
        assert_eq!(class("64:ff9b:1::a00:1"), AddressClass::Private);
        assert_eq!(class("64:ff9b::5db8:d822"), AddressClass::Public);
        assert!(
            policy(&[])
                .refusal("x", "64:ff9b::169.254.169.254".parse().expect("ip"))
                .is_some()
        );
    }

    #[test]
    fn allow_list_opens_loopback_and_private_but_never_link_local() {
        let open = policy(&["127.0.0.1", "Internal.Example"]);
        assert!(
            open.refusal("127.0.0.1", "127.0.0.1".parse().expect("ip"))
                .is_none()
        );
        assert!(
            open.refusal("internal.example", "10.0.0.1".parse().expect("ip"))
                .is_none()
        );
        assert!(
            open.refusal("other", "10.0.0.1".parse().expect("ip"))
                .is_some()
        );
        let metadata = policy(&["169.254.169.254"])
            .refusal("169.254.169.254", "169.254.169.254".parse().expect("ip"))
            .expect("refused");
        assert_eq!(metadata.reason, RefusalReason::LinkLocal);
        let private = policy(&[]).refusal("10.0.0.1", "10.0.0.1".parse().expect("ip"));
        assert!(
            private
                .expect("refused")
                .to_string()
                .contains("--allow-fetch-host 10.0.0.1")
        );
    }

    #[test]
    fn urls_are_checked_and_redacted() {
        let fetcher = Fetcher::new(policy(&[])).expect("client");
        assert!(matches!(
            fetcher.check("ftp://example.com/x"),
            Err(FetchError::Scheme { .. })
        ));
        assert!(matches!(
            fetcher.check("not a url"),
            Err(FetchError::BadUrl { .. })
        ));
        assert!(matches!(
            fetcher.check("http://169.254.169.254/latest/meta-data/"),
            Err(FetchError::Refused { .. })
        ));
        assert!(matches!(
            fetcher.check("http://[::1]:80/"),
            Err(FetchError::Refused { .. })
        ));
        let url =
            Url::parse("https://user:pw@b.s3.amazonaws.com/k.jpg?X-Amz-Signature=s").expect("url");
        assert_eq!(redacted(&url), "https://b.s3.amazonaws.com/k.jpg");
    }

    /// A local origin: `PUT /upload` stores the body, `GET /loop` redirects to itself.
    async fn origin() -> (String, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
        use axum::routing::{get, put};
        let stored = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&stored);
        let app = axum::Router::new()
            .route(
                "/upload",
                put(move |body: bytes::Bytes| async move {
                    if let Ok(mut stored) = sink.lock() {
                        *stored = body.to_vec();
                    }
                    axum::http::StatusCode::OK
                }),
            )
            .route(
                "/loop",
                get(|| async { axum::response::Redirect::temporary("/loop") }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, stored)
    }

    #[tokio::test]
    async fn put_uploads_to_allowed_hosts_only() {
        let (base, stored) = origin().await;
        let open = Fetcher::new(policy(&["127.0.0.1"])).expect("client");
        open.put(
            &format!("{base}/upload?sig=x"),
            b"result".to_vec(),
            "text/plain",
        )
        .await
        .expect("uploaded");
        assert_eq!(stored.lock().expect("lock").as_slice(), b"result");

        let strict = Fetcher::new(policy(&[])).expect("client");
        let refused = strict
            .put(&format!("{base}/upload"), b"x".to_vec(), "text/plain")
            .await
            .expect_err("loopback refused");
        assert!(matches!(refused, FetchError::Refused { .. }), "{refused}");
    }

    #[tokio::test]
    async fn redirect_loops_stop() {
        let (base, _) = origin().await;
        let open = Fetcher::new(policy(&["127.0.0.1"])).expect("client");
        let error = open.get(&format!("{base}/loop")).await.expect_err("loop");
        assert!(
            matches!(error, FetchError::TooManyRedirects { .. }),
            "{error}"
        );
    }
}
