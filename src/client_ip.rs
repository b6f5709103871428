//! The client's address, as pages, protocol endpoints and the device API see it.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, request::Parts},
};

use crate::config::AddressRange;
use crate::state::AppState;

/// The client's address: the peer's, or — when the peer is a trusted reverse proxy or
/// load balancer (`trusted_proxies`) — the last address it added to `X-Forwarded-For`.
/// Absent when Sésame is mounted in an application that gives no connection info.
#[derive(Debug, Clone, Default)]
pub struct ClientIp(pub Option<String>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        Ok(ClientIp(peer.map(|peer| client_address(peer, &parts.headers, &state.config.trusted_proxies).to_string())))
    }
}

/// Walks `X-Forwarded-For` from the nearest hop while the hops are trusted proxies; a
/// client cannot forge its address by sending the header itself.
/// Addresses are canonical: an IPv4 client of a dual-stack listener (`::ffff:a.b.c.d`)
/// is its IPv4 address, for budgets and for the trusted-proxy list alike.
fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[AddressRange]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|range| range.contains(*ip));
    if !is_trusted(&peer) {
        // Only a peer on this machine or the office network can be a forgotten proxy;
        // anyone else sending the header is a client, whose word is not believed and
        // not worth the one warning.
        if headers.contains_key("x-forwarded-for") && could_be_a_proxy(peer) {
            warn_once_of_an_untrusted_forwarder(peer, trusted.is_empty());
        }
        return peer;
    }
    let hops: Vec<Option<IpAddr>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("?").split(','))
        .map(|hop| parse_hop(hop.trim()).map(|hop| hop.to_canonical()))
        .collect();
    // From the nearest hop: the first that a trusted proxy did not add is the client. A
    // hop that does not read as an address ends the walk at the last trusted one, so
    // that garbage the client wrote cannot make its own forged entry the answer.
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            Some(hop) if is_trusted(&hop) => client = hop,
            Some(hop) => return hop,
            None => return client,
        }
    }
    client
}

/// One entry of `X-Forwarded-For`: an address, possibly with a port (`192.0.2.7:51234`,
/// `[2001:db8::1]:443`), as some load balancers write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|address| address.ip())
}

fn could_be_a_proxy(peer: IpAddr) -> bool {
    match peer {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
    }
}

/// A proxy left out of `trusted_proxies` makes every user one address (its own): rate
/// limits then hit everyone at once. Said once per process, in the log, with the fix; a
/// client that sends the header itself only causes this one line.
fn warn_once_of_an_untrusted_forwarder(peer: IpAddr, none_trusted: bool) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    if none_trusted {
        tracing::warn!(
            %peer,
            "X-Forwarded-For arrived but `trusted_proxies` is empty: every request behind a proxy counts as the \
             proxy's address (rate limits, audit). If {peer} is your reverse proxy, add it to `trusted_proxies`"
        );
    } else {
        tracing::warn!(
            %peer,
            "X-Forwarded-For arrived from {peer}, which is not in `trusted_proxies`: ignored. If it is one of your \
             proxies, add it (an address or a CIDR range)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let trusted = |ranges: &[&str]| -> Vec<AddressRange> { ranges.iter().map(|r| r.parse().unwrap()).collect() };
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 192.0.2.7".parse().unwrap());
        assert_eq!(client_address(proxy, &headers, &trusted(&["10.0.0.1"])).to_string(), "192.0.2.7");
        assert_eq!(client_address(proxy, &headers, &[]).to_string(), "10.0.0.1", "an untrusted peer is the client");
        let both = trusted(&["10.0.0.1", "192.0.2.7"]);
        assert_eq!(client_address(proxy, &headers, &both).to_string(), "6.6.6.6", "two trusted hops");
        let ranges = trusted(&["10.0.0.0/24", "192.0.2.0/28"]);
        assert_eq!(client_address(proxy, &headers, &ranges).to_string(), "6.6.6.6", "proxies named by CIDR ranges");
        let one = trusted(&["10.0.0.1"]);
        let mut with_ports = HeaderMap::new();
        with_ports.insert("x-forwarded-for", "6.6.6.6, 192.0.2.7:51234".parse().unwrap());
        assert_eq!(client_address(proxy, &with_ports, &one).to_string(), "192.0.2.7", "a hop with its port");
        with_ports.insert("x-forwarded-for", "[2001:db8::7]:443".parse().unwrap());
        assert_eq!(client_address(proxy, &with_ports, &one).to_string(), "2001:db8::7");
        let mut garbage = HeaderMap::new();
        garbage.insert("x-forwarded-for", "6.6.6.6, not-an-address".parse().unwrap());
        assert_eq!(
            client_address(proxy, &garbage, &one).to_string(),
            "10.0.0.1",
            "an unreadable hop stops the walk: the forged entry before it is not believed"
        );
    }

    #[test]
    fn ipv4_clients_of_a_dual_stack_listener_are_their_ipv4_address() {
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_address(mapped, &HeaderMap::new(), &[]).to_string(), "192.0.2.7");
        let proxy: AddressRange = "10.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "::ffff:203.0.113.9".parse().unwrap());
        let mapped_proxy: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_address(mapped_proxy, &headers, &[proxy]).to_string(), "203.0.113.9", "the proxy is trusted");
    }
}
