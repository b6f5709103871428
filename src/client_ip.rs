//! The client's address, as pages, protocol endpoints and the device API see it.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, request::Parts},
};

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
fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| t.to_canonical() == *ip);
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
        .map(|hop| hop.to_canonical())
        .collect();
    hops.into_iter().rev().find(|hop| !is_trusted(hop)).unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 192.0.2.7".parse().unwrap());
        assert_eq!(client_address(proxy, &headers, &[proxy]).to_string(), "192.0.2.7");
        assert_eq!(client_address(proxy, &headers, &[]).to_string(), "10.0.0.1", "an untrusted peer is the client");
        let lb: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(client_address(proxy, &headers, &[proxy, lb]).to_string(), "6.6.6.6", "two trusted hops");
    }

    #[test]
    fn ipv4_clients_of_a_dual_stack_listener_are_their_ipv4_address() {
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_address(mapped, &HeaderMap::new(), &[]).to_string(), "192.0.2.7");
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "::ffff:203.0.113.9".parse().unwrap());
        let mapped_proxy: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_address(mapped_proxy, &headers, &[proxy]).to_string(), "203.0.113.9", "the proxy is trusted");
    }
}
