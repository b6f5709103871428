//! Per-node limits kept in memory. Budgets that must hold across nodes live in the
//! database (`throttle`); these stop one source from trying many identifiers quickly
//! (`RateLimiter`, a fixed window per key) and remember what this node already knows is
//! refused, to spare the database a query on hot paths (`BlockList`).

use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept before expired windows are swept out.
const SWEEP_ABOVE: usize = 10_000;

pub struct RateLimiter {
    limit: u32,
    window: i64,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    /// At most `limit` events per `window` seconds for each key.
    pub fn new(limit: u32, window: i64) -> Self {
        Self { limit, window: window.max(1), windows: Mutex::new(HashMap::new()) }
    }

    /// Counts one event for `key`; over the limit, returns the seconds until the window ends.
    pub fn hit(&self, key: &str, now: i64) -> Result<(), i64> {
        let Ok(mut windows) = self.windows.lock() else { return Ok(()) };
        if windows.len() > SWEEP_ABOVE {
            let window = self.window;
            windows.retain(|_, (start, _)| now - *start < window);
        }
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now - entry.0 >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            return Err(entry.0 + self.window - now);
        }
        entry.1 += 1;
        Ok(())
    }
}

impl RateLimiter {
    /// Counts one event for the client at address `ip`, counted as its `source_of`: an
    /// IPv6 client holds a whole /64, so its addresses share one count.
    pub fn hit_from(&self, ip: &str, now: i64) -> Result<(), i64> {
        self.hit(&source_of(ip), now)
    }

    /// Seconds until `key` may act again, without counting an event.
    pub fn retry_after(&self, key: &str, now: i64) -> Option<i64> {
        let windows = self.windows.lock().ok()?;
        let (start, count) = windows.get(key)?;
        (now - start < self.window && *count >= self.limit).then(|| start + self.window - now)
    }
}

/// An address as the owner of a budget: IPv4 whole, IPv6 by its /64 (what one subscriber
/// is given, so rotating through it gains nothing); `unknown` when it does not parse.
pub fn source_of(ip: &str) -> String {
    // An IPv4 client of a dual-stack listener arrives as `::ffff:a.b.c.d`: it is the
    // IPv4 address, not one /64 shared by every IPv4 client.
    match ip.parse::<std::net::IpAddr>().map(|ip| ip.to_canonical()) {
        Ok(std::net::IpAddr::V6(v6)) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
        Ok(v4) => v4.to_string(),
        Err(_) => "unknown".into(),
    }
}

/// Keys refused until a time, as this node learnt it from the database. Bounded: expired
/// entries are swept as it grows, and past `SWEEP_ABOVE` live ones it starts afresh
/// (the database still refuses what it forgets).
#[derive(Default)]
pub struct BlockList {
    until: Mutex<HashMap<String, i64>>,
}

impl BlockList {
    /// Until when `key` is refused, if it is.
    pub fn blocked(&self, key: &str, now: i64) -> Option<i64> {
        let until = self.until.lock().ok()?;
        until.get(key).copied().filter(|until| *until > now)
    }

    /// Whether this node has seen `key` fail (blocked or not).
    pub fn knows(&self, key: &str) -> bool {
        self.until.lock().is_ok_and(|until| until.contains_key(key))
    }

    /// Remembers a failure of `key`, refused until `until` (in the past: not refused).
    pub fn note(&self, key: &str, until: i64, now: i64) {
        let Ok(mut map) = self.until.lock() else { return };
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, until| *until > now);
            if map.len() > SWEEP_ABOVE {
                map.clear();
            }
        }
        map.insert(key.to_string(), until);
    }

    pub fn forget(&self, key: &str) {
        if let Ok(mut map) = self.until.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_window() {
        let limiter = RateLimiter::new(2, 60);
        assert!(limiter.hit("a", 100).is_ok());
        assert!(limiter.hit("a", 101).is_ok());
        assert_eq!(limiter.hit("a", 110), Err(50));
        assert!(limiter.hit("b", 110).is_ok(), "another key has its own count");
        assert_eq!(limiter.retry_after("a", 150), Some(10));
        assert!(limiter.hit("a", 160).is_ok(), "a new window");
        assert_eq!(limiter.retry_after("a", 160), None);
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let limiter = RateLimiter::new(2, 60);
        assert!(limiter.hit_from("2001:db8:1:2::1", 100).is_ok());
        assert!(limiter.hit_from("2001:db8:1:2:ffff::9", 100).is_ok());
        assert!(limiter.hit_from("2001:db8:1:2:abcd::1", 100).is_err(), "another address of the same /64");
        assert!(limiter.hit_from("2001:db8:1:3::1", 100).is_ok(), "another /64 is another client");
        assert_eq!(source_of("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(source_of("192.0.2.7"), "192.0.2.7");
        assert_eq!(source_of("not an address"), "unknown");
    }

    #[test]
    fn block_list_remembers_until_when() {
        let list = BlockList::default();
        list.note("client:a", 160, 100);
        assert_eq!(list.blocked("client:a", 100), Some(160));
        assert_eq!(list.blocked("client:a", 160), None);
        assert!(list.knows("client:a"));
        list.forget("client:a");
        assert!(!list.knows("client:a"));
    }
}
