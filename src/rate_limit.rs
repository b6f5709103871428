//! Per-node limits kept in memory. Budgets that must hold across nodes live in the
//! database (`throttle`); these stop one source from trying many identifiers quickly
//! (`RateLimiter`, a fixed window per key) and remember what this node already knows is
//! refused, to spare the database a query on hot paths (`BlockList`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Entries kept before expired windows are swept out.
const SWEEP_ABOVE: usize = 10_000;

/// The most sources one limiter follows at once. Each address of a flood is a new
/// source (an IPv6 client holds 2^16 /64s in a /48, and chooses among them freely), so
/// without a ceiling the map would grow with the flood, and every sweep would walk all
/// of it. 50,000 entries are about 2 MB; an office's logins come from far fewer sources
/// in a minute.
const MAX_SOURCES: usize = 50_000;

/// A budget's owner, as [`source_of`] names it, in a few bytes: the IPv4 address, or
/// the IPv6 client's /64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Source {
    V4(u32),
    V6(u64),
    Unknown,
}

impl Source {
    fn of(ip: &str) -> Self {
        match ip.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(IpAddr::V6(v6)) => Self::V6((v6.to_bits() >> 64) as u64),
            Ok(IpAddr::V4(v4)) => Self::V4(v4.to_bits()),
            Err(_) => Self::Unknown,
        }
    }
}

/// A fixed window per source: when it began, and the events counted in it.
type Window = (i64, u32);

pub struct RateLimiter {
    limit: u32,
    window: i64,
    windows: Mutex<Windows>,
}

struct Windows {
    by_source: HashMap<Source, Window>,
    /// The size at which the next sweep runs: twice what the last one left, so that a
    /// map full of live windows is not walked again at every event (each sweep is paid
    /// for by as many new sources as it kept).
    sweep_at: usize,
    /// Sweeps run so far, each a walk over the map.
    sweeps: u64,
}

impl RateLimiter {
    /// At most `limit` events per `window` seconds for each source.
    pub fn new(limit: u32, window: i64) -> Self {
        Self {
            limit,
            window: window.max(1),
            windows: Mutex::new(Windows { by_source: HashMap::new(), sweep_at: SWEEP_ABOVE, sweeps: 0 }),
        }
    }

    /// Counts one event for the client at address `ip`, counted as its [`source_of`]: an
    /// IPv6 client holds a whole /64, so its addresses share one count. Over the limit,
    /// returns the seconds until its window ends.
    pub fn hit_from(&self, ip: &str, now: i64) -> Result<(), i64> {
        self.hit(Source::of(ip), now)
    }

    fn hit(&self, source: Source, now: i64) -> Result<(), i64> {
        let Ok(mut windows) = self.windows.lock() else { return Ok(()) };
        if windows.by_source.len() >= windows.sweep_at {
            self.sweep(&mut windows, now);
        }
        let entry = windows.by_source.entry(source).or_insert((now, 0));
        if now - entry.0 >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            return Err(entry.0 + self.window - now);
        }
        entry.1 += 1;
        Ok(())
    }

    /// Drops the windows that ended. Past [`MAX_SOURCES`] live ones (a flood from many
    /// addresses), it keeps only the sources being refused, the newest first: the others
    /// start a fresh count, which costs a flood one more request each, while a source
    /// that reached the limit stays refused until its window ends.
    fn sweep(&self, windows: &mut Windows, now: i64) {
        let (window, limit) = (self.window, self.limit);
        windows.sweeps += 1;
        windows.by_source.retain(|_, (start, _)| now - *start < window);
        if windows.by_source.len() > MAX_SOURCES / 2 {
            windows.by_source.retain(|_, (_, count)| *count >= limit);
        }
        if windows.by_source.len() > MAX_SOURCES / 2 {
            let mut starts: Vec<i64> = windows.by_source.values().map(|(start, _)| *start).collect();
            let to_drop = starts.len() - MAX_SOURCES / 2;
            let (_, &mut newest_dropped, _) = starts.select_nth_unstable(to_drop - 1);
            windows.by_source.retain(|_, (start, _)| *start > newest_dropped);
        }
        windows.sweep_at = (windows.by_source.len() * 2).clamp(SWEEP_ABOVE, MAX_SOURCES);
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
    fn limits_per_source_and_window() {
        let limiter = RateLimiter::new(2, 60);
        assert!(limiter.hit_from("192.0.2.1", 100).is_ok());
        assert!(limiter.hit_from("192.0.2.1", 101).is_ok());
        assert_eq!(limiter.hit_from("192.0.2.1", 110), Err(50));
        assert!(limiter.hit_from("192.0.2.2", 110).is_ok(), "another address has its own count");
        assert_eq!(limiter.hit_from("192.0.2.1", 159), Err(1));
        assert!(limiter.hit_from("192.0.2.1", 160).is_ok(), "a new window");
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let limiter = RateLimiter::new(2, 60);
        assert!(limiter.hit_from("2001:db8:1:2::1", 100).is_ok());
        assert!(limiter.hit_from("2001:db8:1:2:ffff::9", 100).is_ok());
        assert!(limiter.hit_from("2001:db8:1:2:abcd::1", 100).is_err(), "another address of the same /64");
        assert!(limiter.hit_from("2001:db8:1:3::1", 100).is_ok(), "another /64 is another client");
        assert!(limiter.hit_from("::ffff:192.0.2.7", 100).is_ok());
        assert!(limiter.hit_from("192.0.2.7", 100).is_ok());
        assert!(limiter.hit_from("192.0.2.7", 100).is_err(), "an IPv4 client of a dual-stack listener is its address");
        assert_eq!(source_of("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(source_of("192.0.2.7"), "192.0.2.7");
        assert_eq!(source_of("not an address"), "unknown");
    }

    /// A flood from a new /64 at every request, as an IPv6 client can send: the map
    /// stays bounded, the sweeps stay rare, and a source that reached the limit before
    /// the flood is still refused within its window.
    #[test]
    fn a_flood_from_ever_new_sources_stays_bounded() {
        let limiter = RateLimiter::new(3, 60);
        for _ in 0..3 {
            assert!(limiter.hit_from("2001:db8:ffff:1::1", 100).is_ok());
        }
        assert!(limiter.hit_from("2001:db8:ffff:1::1", 100).is_err());
        let mut largest = 0;
        const FLOOD: u64 = 400_000;
        for n in 0..FLOOD {
            let ip = std::net::Ipv6Addr::from_bits((0x2001_0db8_0000_0000u128 + u128::from(n)) << 64);
            assert!(
                limiter.hit_from(&ip.to_string(), 100 + (n / 20_000) as i64).is_ok(),
                "a new source is let through"
            );
            largest = largest.max(limiter.windows.lock().map(|windows| windows.by_source.len()).unwrap_or_default());
        }
        assert!(largest <= MAX_SOURCES, "{largest} sources followed at once");
        // Each sweep walks at most MAX_SOURCES entries and comes after at least
        // SWEEP_ABOVE new ones: the flood costs a constant per request.
        let sweeps = limiter.windows.lock().map(|windows| windows.sweeps).unwrap_or_default();
        assert!(sweeps <= FLOOD / SWEEP_ABOVE as u64 + 2, "{sweeps} sweeps for {FLOOD} sources");
        assert_eq!(limiter.hit_from("2001:db8:ffff:1:9::9", 119), Err(41), "still refused after the flood");
        assert!(limiter.hit_from("2001:db8:ffff:1::1", 160).is_ok(), "until its window ends");
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
