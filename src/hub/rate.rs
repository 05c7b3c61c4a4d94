//! Per-connection message rate limit: a GCRA token bucket plus a grace period.

use std::time::{Duration, Instant};

/// A client is "still flooding" while its rejections are less than this apart.
use crate::limits::RATE_QUIET as QUIET;

/// What to do with one incoming action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Within the rate.
    Pass,
    /// Over the rate: answer `rate_limited`.
    Limited,
    /// Over the rate for the whole grace period: close with 1008.
    Close,
}

/// The limiter state of one connection (a few words, no allocation).
///
/// GCRA keeps one "theoretical arrival time": each action moves it one
/// emission interval (1/rate) later, and an action is refused while it is
/// more than `burst - 1` intervals ahead of now. So a fresh connection may
/// send `burst` actions at once, then `rate` per second.
#[derive(Debug, Clone)]
pub(crate) struct Rate {
    bucket: Bucket,
    /// First and latest rejection of the current flood.
    flood: Option<(Instant, Instant)>,
}

/// A bare GCRA bucket (one instant, no grace period): for budgets whose
/// excess is refused with an error but never closes the connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    /// The theoretical arrival time of the next action.
    tat: Instant,
}

impl Bucket {
    /// A full bucket at `now`.
    pub(crate) fn new(now: Instant) -> Bucket {
        Bucket { tat: now }
    }

    /// Whether `take` at `now` would succeed, without taking the token.
    pub(crate) fn ready(&self, now: Instant, rate: u32, burst: u32) -> bool {
        self.clone().take(now, rate, burst)
    }

    /// Takes one token at `now` if there is one; `rate` 0 means unlimited.
    pub(crate) fn take(&mut self, now: Instant, rate: u32, burst: u32) -> bool {
        if rate == 0 {
            return true;
        }
        let interval = Duration::from_secs(1) / rate;
        let tolerance = interval * burst.max(1).saturating_sub(1);
        let tat = self.tat.max(now);
        if tat.duration_since(now) <= tolerance {
            self.tat = tat + interval;
            true
        } else {
            false
        }
    }
}

impl Rate {
    /// A limiter with a full bucket at `now`.
    pub(crate) fn new(now: Instant) -> Rate {
        Rate {
            bucket: Bucket::new(now),
            flood: None,
        }
    }

    /// Whether `check` at `now` would pass, without accounting anything.
    pub(crate) fn ready(&self, now: Instant, rate: u32, burst: u32) -> bool {
        self.bucket.ready(now, rate, burst)
    }

    /// Accounts one action at `now`; `rate` 0 means unlimited.
    pub(crate) fn check(
        &mut self,
        now: Instant,
        rate: u32,
        burst: u32,
        grace: Duration,
    ) -> Verdict {
        if self.bucket.take(now, rate, burst) {
            return Verdict::Pass;
        }
        let since = match self.flood {
            Some((since, last)) if now.saturating_duration_since(last) < QUIET => since,
            _ => now,
        };
        self.flood = Some((since, now));
        if now.saturating_duration_since(since) >= grace {
            Verdict::Close
        } else {
            Verdict::Limited
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(5);

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut r = Rate::new(t0);
        for i in 0..100 {
            assert_eq!(r.check(t0, 50, 100, GRACE), Verdict::Pass, "{i}");
        }
        assert_eq!(r.check(t0, 50, 100, GRACE), Verdict::Limited);
        // 20 ms later one more token (1/50 s) has come back.
        let t1 = t0 + Duration::from_millis(20);
        assert_eq!(r.check(t1, 50, 100, GRACE), Verdict::Pass);
        assert_eq!(r.check(t1, 50, 100, GRACE), Verdict::Limited);
        // After two idle seconds the bucket is full again.
        let t2 = t1 + Duration::from_secs(2);
        for _ in 0..100 {
            assert_eq!(r.check(t2, 50, 100, GRACE), Verdict::Pass);
        }
    }

    #[test]
    fn a_bucket_refuses_past_its_burst_and_refills() {
        let t0 = Instant::now();
        let mut b = Bucket::new(t0);
        assert_eq!((0..20).filter(|_| b.take(t0, 5, 10)).count(), 10);
        // 200 ms later one token (1/5 s) has come back.
        let t1 = t0 + Duration::from_millis(200);
        assert!(b.take(t1, 5, 10));
        assert!(!b.take(t1, 5, 10));
        assert!((0..100).all(|_| Bucket::new(t0).take(t0, 0, 0)));
    }

    #[test]
    fn unlimited_when_zero() {
        let t0 = Instant::now();
        let mut r = Rate::new(t0);
        for _ in 0..10_000 {
            assert_eq!(r.check(t0, 0, 0, GRACE), Verdict::Pass);
        }
    }

    #[test]
    fn steady_flood_closes_after_grace_and_a_pause_forgives() {
        let t0 = Instant::now();
        let mut r = Rate::new(t0);
        let mut verdicts = Vec::new();
        // 200 actions/s for 7 s against 50/s with a burst of 100.
        for ms in (0..7000).step_by(5) {
            verdicts.push((ms, r.check(t0 + Duration::from_millis(ms), 50, 100, GRACE)));
        }
        let first_limited = verdicts.iter().find(|v| v.1 == Verdict::Limited).unwrap().0;
        let first_close = verdicts.iter().find(|v| v.1 == Verdict::Close).unwrap().0;
        assert!(first_limited < 1000);
        assert!((5000..5025).contains(&(first_close - first_limited)));

        // A client that was limited once, then behaved, starts a fresh grace.
        let mut r = Rate::new(t0);
        for _ in 0..101 {
            r.check(t0, 50, 100, GRACE);
        }
        let later = t0 + Duration::from_secs(10);
        for _ in 0..101 {
            assert_ne!(r.check(later, 50, 100, GRACE), Verdict::Close);
        }
    }
}
