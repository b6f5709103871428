//! Per-node rate limits on guessable values, by key (a client IP, a client id): a fixed
//! window counter. Account lockouts, which must hold across nodes, live in the database
//! (see `accounts::record_login_failure`); this limiter stops one source from trying
//! many accounts or many client secrets quickly.

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
    /// Seconds until `key` may act again, without counting an event.
    pub fn retry_after(&self, key: &str, now: i64) -> Option<i64> {
        let windows = self.windows.lock().ok()?;
        let (start, count) = windows.get(key)?;
        (now - start < self.window && *count >= self.limit).then(|| start + self.window - now)
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
}
