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
        // An IPv4 client of a dual-stack listener arrives as `::ffff:a.b.c.d`: it is the
        // IPv4 address, not one /64 shared by every IPv4 client.
        match ip.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(IpAddr::V6(v6)) => Self::V6((v6.to_bits() >> 64) as u64),
            Ok(IpAddr::V4(v4)) => Self::V4(v4.to_bits()),
            Err(_) => Self::Unknown,
        }
    }
}

/// A fixed window per source: when it began, and the events counted in it.
type Window = (i64, u32);

/// A refusal by a [`RateLimiter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    /// Seconds until the source's window ends.
    pub wait: i64,
    /// The source's first refusal in this window.
    pub first: bool,
}

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
        self.hit(Source::of(ip), now, false).map_err(|limited| limited.wait)
    }

    /// As [`hit_from`](Self::hit_from), and says whether a refusal is the source's first
    /// noted one in its window: worth a line in the audit trail, where the rest of a
    /// flood is not (each line is a row, and refusing costs the flood nothing else).
    /// Refusals through `hit_from` (other pages sharing the limit) are not noted, so
    /// they cannot spend the line of the page that records.
    pub fn hit_from_noting(&self, ip: &str, now: i64) -> Result<(), Limited> {
        self.hit(Source::of(ip), now, true)
    }

    fn hit(&self, source: Source, now: i64, noting: bool) -> Result<(), Limited> {
        let Ok(mut windows) = self.windows.lock() else { return Ok(()) };
        if windows.by_source.len() >= windows.sweep_at {
            self.sweep(&mut windows, now);
        }
        let entry = windows.by_source.entry(source).or_insert((now, 0));
        if now - entry.0 >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            // A noted refusal counts once past the limit, so that the next ones are not
            // the first.
            let first = noting && entry.1 == self.limit;
            if first {
                entry.1 = entry.1.saturating_add(1);
            }
            return Err(Limited { wait: entry.0 + self.window - now, first });
        }
        entry.1 = entry.1.saturating_add(1);
        Ok(())
    }

    /// Drops the windows that ended. Past half of [`MAX_SOURCES`] live ones (a flood from
    /// many addresses), it keeps only the sources being refused, and of those the half
    /// ceiling whose windows began last: the others start a fresh count, while a source
    /// that reached the limit stays refused until its window ends.
    fn sweep(&self, windows: &mut Windows, now: i64) {
        let (window, limit) = (self.window, self.limit);
        windows.sweeps += 1;
        windows.by_source.retain(|_, (start, _)| now - *start < window);
        if windows.by_source.len() > MAX_SOURCES / 2 {
            windows.by_source.retain(|_, (_, count)| *count >= limit);
        }
        if windows.by_source.len() > MAX_SOURCES / 2 {
            // Exactly the oldest ones go: many windows begin in the same second.
            let mut by_start: Vec<(i64, Source)> =
                windows.by_source.iter().map(|(source, (start, _))| (*start, *source)).collect();
            let to_drop = by_start.len() - MAX_SOURCES / 2;
            by_start.select_nth_unstable_by_key(to_drop - 1, |(start, _)| *start);
            for (_, source) in &by_start[..to_drop] {
                windows.by_source.remove(source);
            }
        }
        windows.sweep_at = (windows.by_source.len() * 2).clamp(SWEEP_ABOVE, MAX_SOURCES);
    }
}

/// An address as the owner of a budget, as the database's budgets name it: IPv4 whole,
/// IPv6 by its /64 (what one subscriber is given, so rotating through it gains nothing);
/// `unknown` when there is none or it does not parse.
pub fn source_of(ip: Option<&str>) -> String {
    ip.map_or(Source::Unknown, Source::of).to_string()
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::V4(bits) => std::net::Ipv4Addr::from_bits(bits).fmt(f),
            Self::V6(prefix) => {
                let [a, b, c, d] = [48, 32, 16, 0].map(|shift| (prefix >> shift) & 0xffff);
                write!(f, "{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
            Self::Unknown => f.write_str("unknown"),
        }
    }
}

/// Keys refused until a time, as this node learnt it from the database. Bounded: expired
/// entries are swept as it grows (once it doubled since the last sweep, so that a list
/// full of live entries is not walked at every failure), and past `SWEEP_ABOVE` live ones
/// it starts afresh (the database still refuses what it forgets).
#[derive(Default)]
pub struct BlockList {
    until: Mutex<Blocked>,
}

#[derive(Default)]
struct Blocked {
    by_key: HashMap<String, i64>,
    /// The size at which the next sweep runs.
    sweep_at: usize,
    /// Sweeps run so far.
    sweeps: u64,
}

/// The smallest size at which a block list is swept.
const BLOCK_LIST_FIRST_SWEEP: usize = 1_000;

impl BlockList {
    /// Until when `key` is refused, if it is.
    pub fn blocked(&self, key: &str, now: i64) -> Option<i64> {
        let blocked = self.until.lock().ok()?;
        blocked.by_key.get(key).copied().filter(|until| *until > now)
    }

    /// Whether this node has seen `key` fail (blocked or not).
    pub fn knows(&self, key: &str) -> bool {
        self.until.lock().is_ok_and(|blocked| blocked.by_key.contains_key(key))
    }

    /// Remembers a failure of `key`, refused until `until` (in the past: not refused).
    pub fn note(&self, key: &str, until: i64, now: i64) {
        let Ok(mut blocked) = self.until.lock() else { return };
        if blocked.by_key.len() >= blocked.sweep_at.max(BLOCK_LIST_FIRST_SWEEP) {
            blocked.sweeps += 1;
            blocked.by_key.retain(|_, until| *until > now);
            // More than the ceiling still refused: start afresh. Either way the next
            // sweep comes after at least as many new entries as this one kept.
            if blocked.by_key.len() > SWEEP_ABOVE {
                blocked.by_key.clear();
            }
            blocked.sweep_at = (blocked.by_key.len() * 2).clamp(BLOCK_LIST_FIRST_SWEEP, 2 * SWEEP_ABOVE);
        }
        blocked.by_key.insert(key.to_string(), until);
    }

    pub fn forget(&self, key: &str) {
        if let Ok(mut blocked) = self.until.lock() {
            blocked.by_key.remove(key);
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
    fn only_the_first_refusal_of_a_window_is_noted_as_first() {
        let limiter = RateLimiter::new(1, 60);
        assert!(limiter.hit_from_noting("192.0.2.1", 100).is_ok());
        assert_eq!(limiter.hit_from_noting("192.0.2.1", 101), Err(Limited { wait: 59, first: true }));
        assert_eq!(limiter.hit_from_noting("192.0.2.1", 102), Err(Limited { wait: 58, first: false }));
        assert_eq!(limiter.hit_from("192.0.2.1", 103), Err(57));
        assert_eq!(limiter.hit_from_noting("192.0.2.1", 104), Err(Limited { wait: 56, first: false }));
        assert!(limiter.hit_from_noting("192.0.2.1", 160).is_ok(), "a new window");
        assert_eq!(limiter.hit_from_noting("192.0.2.1", 161), Err(Limited { wait: 59, first: true }));
    }

    /// Another page sharing the limit (`hit_from`) cannot spend the first refusal that
    /// the recording page notes.
    #[test]
    fn refusals_elsewhere_do_not_spend_the_noted_first() {
        let limiter = RateLimiter::new(1, 60);
        assert!(limiter.hit_from("192.0.2.1", 100).is_ok());
        assert_eq!(limiter.hit_from("192.0.2.1", 101), Err(59));
        assert_eq!(limiter.hit_from("192.0.2.1", 102), Err(58));
        assert_eq!(limiter.hit_from_noting("192.0.2.1", 103), Err(Limited { wait: 57, first: true }));
        assert_eq!(limiter.hit_from_noting("192.0.2.1", 104), Err(Limited { wait: 56, first: false }));
    }

    /// More refused sources than half the ceiling, all in the same second: the sweep
    /// keeps exactly half the ceiling of them, not none.
    #[test]
    fn refused_sources_of_one_second_are_kept_up_to_half_the_ceiling() {
        let limiter = RateLimiter::new(1, 60);
        for n in 0..(MAX_SOURCES as u64 + 10_000) {
            let ip = std::net::Ipv6Addr::from_bits((0x2001_0db8_0000_0000u128 + u128::from(n)) << 64).to_string();
            // The second is refused, unless a sweep between the two dropped this source
            // among the many of its second.
            let _ = (limiter.hit_from(&ip, 100), limiter.hit_from(&ip, 100));
        }
        let kept = limiter.windows.lock().map(|windows| windows.by_source.len()).unwrap_or_default();
        assert!((MAX_SOURCES / 2..=MAX_SOURCES).contains(&kept), "{kept} refused sources kept");
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
        assert_eq!(source_of(Some("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(source_of(Some("192.0.2.7")), "192.0.2.7");
        assert_eq!(source_of(Some("not an address")), "unknown");
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

    /// Ten thousand sources refused, then failures that refuse nothing (`until` already
    /// past) one after another: the list stays under its ceiling and is walked once per
    /// thousand new entries or more, never at every failure.
    #[test]
    fn a_block_list_full_of_live_entries_is_not_walked_at_every_failure() {
        let list = BlockList::default();
        for n in 0..SWEEP_ABOVE {
            list.note(&format!("client:a:ip:{n}"), 10_000, 100);
        }
        const FAILURES: u64 = 100_000;
        let mut largest = 0;
        for n in 0..FAILURES {
            list.note(&format!("client:b:ip:{n}"), 100, 100);
            largest = largest.max(list.until.lock().map(|blocked| blocked.by_key.len()).unwrap_or_default());
        }
        assert!(largest <= 2 * SWEEP_ABOVE, "{largest} entries");
        let sweeps = list.until.lock().map(|blocked| blocked.sweeps).unwrap_or_default();
        let most = (FAILURES + SWEEP_ABOVE as u64) / BLOCK_LIST_FIRST_SWEEP as u64 + 2;
        assert!(sweeps <= most, "{sweeps} sweeps for {FAILURES} failures");
        list.note("client:c:ip:1", 10_000, 100);
        assert_eq!(list.blocked("client:c:ip:1", 100), Some(10_000), "a new refusal is remembered");
    }
}
