//! An address or a range of addresses in CIDR notation (`10.0.0.1`, `10.0.0.0/8`,
//! `fd00::/8`), as `trusted_proxies` lists them.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

impl AddressRange {
    /// Whether the range is wider than any set of proxies needs (shorter than /16 for
    /// IPv4, /32 for IPv6): it then holds clients too, who could choose their address.
    pub fn is_wide(&self) -> bool {
        if self.network.is_ipv4() { self.prefix < 16 } else { self.prefix < 32 }
    }

    /// Whether `ip` is in the range; an IPv4 address written as `::ffff:a.b.c.d` is
    /// its IPv4 address, on either side.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network.to_canonical(), ip.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for AddressRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("`{text}` is not an address or a range such as 10.0.0.0/8 or fd00::/8");
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| invalid())?;
        // An IPv4 range written in its mapped form is the IPv4 range.
        let (network, bias) = match network {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => (network.to_canonical(), 96),
            _ => (network, 0),
        };
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().ok().and_then(|p| p.checked_sub(bias)).ok_or_else(invalid)?,
            None => width,
        };
        if prefix > width {
            return Err(invalid());
        }
        Ok(Self { network, prefix })
    }
}

impl TryFrom<String> for AddressRange {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<AddressRange> for String {
    fn from(range: AddressRange) -> Self {
        range.to_string()
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = if self.network.is_ipv4() { 32 } else { 128 };
        if self.prefix == width { write!(f, "{}", self.network) } else { write!(f, "{}/{}", self.network, self.prefix) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> AddressRange {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn addresses_and_cidr_ranges() {
        assert!(range("10.0.0.1").contains(ip("10.0.0.1")));
        assert!(!range("10.0.0.1").contains(ip("10.0.0.2")));
        assert!(range("10.0.0.0/8").contains(ip("10.255.1.2")));
        assert!(!range("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(range("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")), "an IPv4 client of a dual-stack listener");
        assert!(range("::ffff:10.0.0.0/104").contains(ip("10.9.9.9")), "a mapped range is the IPv4 range");
        assert!(range("fd00::/8").contains(ip("fd12:3456::1")));
        assert!(!range("fd00::/8").contains(ip("fe80::1")));
        assert!(range("0.0.0.0/0").contains(ip("192.0.2.1")));
        assert!(!range("0.0.0.0/0").contains(ip("2001:db8::1")), "families do not mix");
        assert!(range("::/0").contains(ip("2001:db8::1")));
        for refused in ["10.0.0.0/33", "fd00::/129", "10.0.0.0/", "/8", "ten", "10.0.0.0/8/8", "10.0.0.0/-1"] {
            assert!(refused.parse::<AddressRange>().is_err(), "{refused}");
        }
        assert_eq!(range("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(range("10.0.0.1").to_string(), "10.0.0.1");
        assert!(range("0.0.0.0/0").is_wide() && range("10.0.0.0/8").is_wide() && range("::/0").is_wide());
        assert!(!range("10.1.0.0/16").is_wide() && !range("10.0.0.1").is_wide() && !range("fd00:1:2::/48").is_wide());
    }
}
