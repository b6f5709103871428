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
fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    hops.into_iter().rev().find(|hop| !trusted.contains(hop)).unwrap_or(peer)
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
}
