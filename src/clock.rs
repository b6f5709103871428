//! Time as a parameter: the edge reads the clock once per request and passes `now`
//! (Unix seconds) to the domain, so tests control expiries, `max_age` and lockouts.

use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the wall clock
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default()
    }
}

/// A monotonic instant, to measure how long something took or to pace a cache; never
/// for expiries, which follow `Clock::now`.
#[allow(clippy::disallowed_methods)] // the one place that reads the monotonic clock
pub fn instant() -> std::time::Instant {
    std::time::Instant::now()
}

/// The system clock shifted by an offset that tests move forward.
#[derive(Default)]
pub struct AdjustableClock {
    offset: AtomicI64,
}

impl AdjustableClock {
    pub fn advance(&self, seconds: i64) {
        self.offset.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for AdjustableClock {
    fn now(&self) -> i64 {
        SystemClock.now() + self.offset.load(Ordering::SeqCst)
    }
}
