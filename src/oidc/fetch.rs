//! Calling a URL a client gives: fetching its key set (`jwks_uri`), a request object by
//! reference (`request_uri`) or a sector document, and posting its back-channel logout
//! tokens. Anyone who can register a client, or put a `request_uri` in a link, chooses
//! these URLs, so one policy (`[fetch]`) holds for all of them:
//!
//! - https only (plain http to a loopback address when `allow_http_loopback`);
//! - the address connected to must be public: loopback, private, link-local, unique-local,
//!   shared, documentation and other special ranges are refused, IPv4 inside IPv6
//!   included, unless `allow_private_addresses` (loopback also with `allow_http_loopback`).
//!   Names are checked as they resolve, by the resolver the connection itself uses, so a
//!   name cannot pass the check with one address and connect to another;
//! - no redirects, no proxy from the environment;
//! - a size limit read as the body arrives, and a time limit on the whole exchange;
//! - at most `max_concurrent` calls at once per node, so a flood of requests naming slow
//!   URLs cannot hold more than that many sockets. The slots are split in two lanes:
//!   `request_uri` fetches, which anyone with a link can cause, take at most half, so
//!   that they can never starve the calls registered clients need (their keys, their
//!   logout endpoints). A call that finds no slot free within the time limit fails as
//!   busy at once rather than queue without end.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::config::FetchConfig;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("the URL is not an absolute https URL to a public address")]
    Scheme,
    #[error("the document could not be fetched")]
    Unreachable,
    #[error("the server answered status {0}")]
    Status(u16),
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the document took more than {0} seconds")]
    TooSlow(u64),
    #[error("too many calls to clients' URLs are in progress; try again shortly")]
    Busy,
}

/// Who causes a call, which decides the slots it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// A `request_uri` named in an authorization request: anyone with a browser.
    RequestUri,
    /// A registered client's own URLs: its key set, sector document, logout endpoint.
    Client,
}

/// The HTTP client for clients' URLs, under the policy; one per node, in the state.
pub struct Fetcher {
    http: reqwest::Client,
    config: FetchConfig,
    request_uri_slots: Semaphore,
    client_slots: Semaphore,
}

impl Fetcher {
    pub fn new(config: &FetchConfig) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(PublicResolver::new(config))
            .user_agent(concat!("sesame/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        let request_uri_slots = (config.max_concurrent / 2).max(1);
        let client_slots = (config.max_concurrent - config.max_concurrent / 2).max(1);
        Ok(Self {
            http,
            config: config.clone(),
            request_uri_slots: Semaphore::new(request_uri_slots),
            client_slots: Semaphore::new(client_slots),
        })
    }

    /// The body at `uri`; `accept` is the media type asked for.
    pub async fn get(&self, lane: Lane, uri: &str, accept: &str) -> Result<Vec<u8>, FetchError> {
        let request = self.http.get(uri).header(reqwest::header::ACCEPT, accept);
        self.bounded(lane, uri, async move {
            let response = request.send().await.map_err(|_| FetchError::Unreachable)?;
            read(response, self.config.max_bytes).await
        })
        .await
    }

    /// Posts `form` to `uri`; success when the answer is 2xx.
    pub async fn post_form(&self, uri: &str, form: &[(&str, &str)]) -> Result<(), FetchError> {
        let request = self.http.post(uri).form(form);
        self.bounded(Lane::Client, uri, async move {
            let response = request.send().await.map_err(|_| FetchError::Unreachable)?;
            if !response.status().is_success() {
                return Err(FetchError::Status(response.status().as_u16()));
            }
            Ok(())
        })
        .await
    }

    /// Runs `call` when `uri` passes the policy, in one of its lane's slots: at most the
    /// time limit to get a slot (then `Busy`), and the time limit again for the call.
    async fn bounded<T>(
        &self,
        lane: Lane,
        uri: &str,
        call: impl Future<Output = Result<T, FetchError>>,
    ) -> Result<T, FetchError> {
        if !allowed(&self.config, uri) {
            return Err(FetchError::Scheme);
        }
        let timeout = self.config.timeout;
        let slots = match lane {
            Lane::RequestUri => &self.request_uri_slots,
            Lane::Client => &self.client_slots,
        };
        let _slot = match tokio::time::timeout(Duration::from_secs(timeout), slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            Ok(Err(_closed)) => return Err(FetchError::Unreachable),
            Err(_elapsed) => return Err(FetchError::Busy),
        };
        // The call has the whole time limit from when it got its slot: a slot found late
        // must not make a working server look slow (and be remembered as failing).
        tokio::time::timeout(Duration::from_secs(timeout), call).await.unwrap_or(Err(FetchError::TooSlow(timeout)))
    }
}

/// Whether the policy lets `uri` be called at all (its scheme, and its address when the
/// host is an address; a name is checked as it resolves).
pub fn allowed(config: &FetchConfig, uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return false,
    };
    match url.scheme() {
        "https" => literal.is_none_or(|ip| address_allowed(config, ip)),
        "http" if config.allow_http_loopback => literal.is_some_and(|ip| ip.is_loopback()),
        _ => false,
    }
}

/// Whether Sésame may connect to `ip` for a client's URL. Loopback is this machine (its
/// own admin ports, its database): only `allow_http_loopback` opens it, never
/// `allow_private_addresses`, which opens the office's network but still not link-local
/// or cloud metadata addresses, unspecified, multicast or broadcast ones. An IPv6
/// address that carries an IPv4 one is judged by both.
pub fn address_allowed(config: &FetchConfig, ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    let carried = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    if ip.is_loopback() || carried.is_some_and(|v4| v4.is_loopback()) {
        return config.allow_http_loopback;
    }
    if config.allow_private_addresses {
        return !is_link_local_or_unroutable(ip) && !carried.is_some_and(is_link_local_or_unroutable);
    }
    is_public(ip)
}

/// Addresses no office network needs a client's URL to reach: link-local (where cloud
/// metadata services answer), the metadata services that clouds put on private
/// addresses, unspecified, multicast, broadcast and 0.0.0.0/8.
fn is_link_local_or_unroutable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_multicast()
                || ip.is_broadcast()
                || ip.octets()[0] == 0
                // Alibaba Cloud's metadata service.
                || ip == Ipv4Addr::new(100, 100, 100, 200)
        }
        IpAddr::V6(ip) => {
            ip.is_unicast_link_local()
                || ip.is_unspecified()
                || ip.is_multicast()
                // AWS (fd00:ec2::254) and Google Cloud (fd20:ce::254) metadata services.
                || ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)
                || ip == Ipv6Addr::new(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254)
        }
    }
}

/// The IPv4 address an IPv6 one carries: mapped, compatible, SIIT-translated, NAT64
/// (well-known and local-use) and 6to4 forms.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let segments = ip.segments();
    let at = |high: usize| {
        let [a, b] = segments[high].to_be_bytes();
        let [c, d] = segments[high + 1].to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match segments {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => Some(at(6)),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] => Some(at(6)),
        [0x2002, ..] => Some(at(1)),
        _ => None,
    }
}

/// Whether `ip` is an ordinary address of the Internet: not loopback, private,
/// link-local, unique-local, shared (carrier NAT), documentation, benchmarking,
/// multicast, reserved or unspecified; an IPv6 address that carries an IPv4 one
/// (mapped, compatible, NAT64, 6to4) is judged by the IPv4 one, and Teredo is refused.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let judged_by_v4 = || embedded_v4(ip).is_some_and(is_public_v4);
    if ip.to_ipv4_mapped().is_some() {
        return judged_by_v4();
    }
    match segments {
        // IPv4-compatible (deprecated) ::a.b.c.d, and :: and ::1 among them.
        [0, 0, 0, 0, 0, 0, _, _] => false,
        // IPv4-translated (SIIT) ::ffff:0:a.b.c.d: translated to any IPv4 address.
        [0, 0, 0, 0, 0xffff, 0, _, _] => false,
        // NAT64 64:ff9b::/96: the IPv4 address decides.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => judged_by_v4(),
        // Local-use NAT64 64:ff9b:1::/48 translates to the site's own addresses.
        [0x64, 0xff9b, 1, ..] => false,
        // Discard-only 100::/64.
        [0x100, 0, 0, 0, ..] => false,
        // 6to4 2002::/16 carries an IPv4 address in its second and third groups.
        [0x2002, _, _, _, _, _, _, _] => judged_by_v4(),
        // IETF protocol assignments 2001::/23 (Teredo 2001::/32, which tunnels to
        // anywhere, among them) and documentation 2001:db8::/32.
        [0x2001, second, ..] if second < 0x200 => false,
        [0x2001, 0xdb8, ..] => false,
        // Documentation 3fff::/20 (RFC 9637).
        [0x3fff, second, ..] if second < 0x1000 => false,
        _ => {
            !(ip.is_multicast()
                || ip.is_unique_local()
                || ip.is_unicast_link_local()
                // Site-local fec0::/10, deprecated but still routed by some networks.
                || (segments[0] & 0xffc0) == 0xfec0)
        }
    }
}

/// Resolves names as the system does, then keeps only the addresses the policy allows;
/// a name left with none fails to connect. Any client of URLs that others choose (Web
/// Push endpoints too) connects through it.
pub struct PublicResolver {
    config: FetchConfig,
}

impl PublicResolver {
    pub fn new(config: &FetchConfig) -> Arc<Self> {
        Arc::new(Self { config: config.clone() })
    }
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let config = self.config.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = resolved.filter(|address| address_allowed(&config, address.ip())).collect();
            if allowed.is_empty() {
                tracing::info!(host, "a client's URL names a host without a public address: not called");
                return Err("the host has no public address".into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

async fn read(mut response: reqwest::Response, max_bytes: usize) -> Result<Vec<u8>, FetchError> {
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    // A declared length over the limit is refused before anything is read; an
    // undeclared one is counted as it comes.
    if response.content_length().is_some_and(|length| length > max_bytes as u64) {
        return Err(FetchError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| FetchError::Unreachable)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(FetchError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_always_http_only_to_loopback_when_allowed() {
        let strict = FetchConfig::default();
        let loose = FetchConfig { allow_http_loopback: true, ..FetchConfig::default() };
        assert!(allowed(&strict, "https://rp.example/request.jwt"));
        assert!(!allowed(&strict, "http://127.0.0.1:8000/request.jwt"));
        assert!(allowed(&loose, "http://127.0.0.1:8000/request.jwt"));
        assert!(allowed(&loose, "http://[::1]:8000/request.jwt"));
        for refused in [
            "http://rp.example/r",
            "http://localhost/r",
            "http://10.0.0.1/r",
            "ftp://rp.example/r",
            "file:///etc/passwd",
            "urn:x:y",
        ] {
            assert!(!allowed(&loose, refused), "{refused}");
        }
    }

    #[test]
    fn an_address_in_the_url_must_be_public() {
        let strict = FetchConfig::default();
        for refused in [
            "https://127.0.0.1/r",
            "https://10.1.2.3/r",
            "https://172.16.0.1/r",
            "https://192.168.1.10/r",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/r",
            "https://0.0.0.0/r",
            "https://[::1]/r",
            "https://[::ffff:127.0.0.1]/r",
            "https://[::ffff:169.254.169.254]/r",
            "https://[fd00::1]/r",
            "https://[fe80::1]/r",
            "https://[64:ff9b::a00:1]/r",
            "https://[2002:c0a8:0101::1]/r",
            "https://[2001:db8::1]/r",
            "https://[2001::1]/r",
            "https://[2001:1ff::1]/r",
            "https://[::ffff:0:a00:1]/r",
            "https://[64:ff9b:1::a00:1]/r",
            "https://[100::1]/r",
            "https://[3fff::1]/r",
        ] {
            assert!(!allowed(&strict, refused), "{refused}");
        }
        for public in [
            "https://93.184.215.14/r",
            "https://[2606:4700::1111]/r",
            "https://[64:ff9b::5db8:d70e]/r",
            "https://[2001:4860:4860::8888]/r",
        ] {
            assert!(allowed(&strict, public), "{public}");
        }
    }

    #[test]
    fn private_addresses_open_the_office_network_not_this_machine_nor_metadata() {
        let office = FetchConfig { allow_private_addresses: true, ..FetchConfig::default() };
        for opened in ["https://192.168.1.10/r", "https://10.0.0.5/r", "https://[fd00::5]/r", "https://100.64.0.1/r"] {
            assert!(allowed(&office, opened), "{opened}");
        }
        for refused in [
            "https://127.0.0.1:8080/admin",
            "https://[::1]/r",
            "https://[::ffff:127.0.0.1]/r",
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:169.254.169.254]/r",
            "https://[fe80::1]/r",
            "https://0.0.0.0/r",
            "https://0.1.2.3/r",
            "https://255.255.255.255/r",
            "https://224.0.0.1/r",
            "https://[ff02::1]/r",
            "https://[::]/r",
            "https://[::169.254.169.254]/r",
            "https://[::127.0.0.1]/r",
            "https://[64:ff9b::a9fe:a9fe]/r",
            "https://[2002:a9fe:a9fe::1]/r",
            "https://[::ffff:0:a9fe:a9fe]/r",
            "https://[2002:7f00:1::1]/r",
            "https://[fd00:ec2::254]/latest/meta-data",
            "https://[fd20:ce::254]/r",
            "https://100.100.100.200/latest/meta-data",
        ] {
            assert!(!allowed(&office, refused), "{refused}");
        }
        let developer = FetchConfig { allow_http_loopback: true, ..office };
        assert!(allowed(&developer, "https://127.0.0.1:8443/r"), "loopback is the developer's switch");
    }

    /// However many `request_uri` fetches hang, registered clients' calls still get a
    /// slot; and a call that finds its lane full fails as busy within the time limit.
    #[tokio::test]
    async fn request_uri_calls_cannot_take_the_slots_of_client_calls() {
        let config = FetchConfig { allow_http_loopback: true, max_concurrent: 4, timeout: 1, ..FetchConfig::default() };
        let fetcher = Fetcher::new(&config).unwrap();
        let held: Vec<_> = (0..2).map(|_| fetcher.request_uri_slots.try_acquire().unwrap()).collect();
        assert!(fetcher.request_uri_slots.try_acquire().is_err(), "request_uri has half the slots");
        // No listener on this port: a call that gets a slot fails to connect, fast.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let uri = format!("http://127.0.0.1:{closed}/jwks");
        assert_eq!(fetcher.get(Lane::Client, &uri, "application/json").await, Err(FetchError::Unreachable));
        let started = crate::clock::instant();
        assert_eq!(fetcher.get(Lane::RequestUri, &uri, "application/json").await, Err(FetchError::Busy));
        assert!(started.elapsed() < Duration::from_secs(2), "the wait for a slot is bounded by the time limit");
        drop(held);
    }

    /// A name that resolves to a loopback address is refused as it resolves: nothing
    /// connects to the listener.
    #[tokio::test]
    async fn a_name_that_resolves_to_a_private_address_is_never_connected_to() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = tokio::spawn(async move { listener.accept().await.is_ok() });
        let fetcher = Fetcher::new(&FetchConfig::default()).unwrap();
        let refused = fetcher.get(Lane::Client, &format!("https://localhost:{port}/r"), "application/json").await;
        assert_eq!(refused, Err(FetchError::Unreachable));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!accepted.is_finished(), "Sésame connected to a loopback address");
        accepted.abort();
    }
}
