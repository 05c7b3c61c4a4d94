//! The spare write-buffer pool: drained client buffers kept for the next turn's
//! output, so a broadcast does not malloc and free once per recipient per turn.
//!
//! A pool sized for a burst (10 000 upgrades answered in one second) would
//! otherwise stay allocated while the server sits idle, which is most of a small
//! device's life. So the pool remembers the fewest buffers it held at any point
//! of a trim period (`low`): those were never needed during the whole period,
//! and are freed when it ends. A steady broadcast takes every spare each turn
//! (`low` stays near zero) and keeps its pool; an idle server gives the burst's
//! buffers back within two periods.

use crate::limits::{SPARE_BYTES, SPARE_MAX_CAPACITY, SPARE_TRIM_MS};
use crate::timers::Millis;

/// Spare output buffers, empty but with capacity.
#[derive(Debug, Default)]
pub(super) struct Spare {
    bufs: Vec<Vec<u8>>,
    /// Sum of the buffers' capacities (counted in the memory budget).
    bytes: usize,
    /// The fewest buffers held since the last trim.
    low: usize,
    /// When the current trim period ends; `None` while the pool is empty.
    trim_at: Option<Millis>,
}

impl Spare {
    /// Takes a buffer for a client whose output buffer has no allocation.
    #[inline]
    pub(super) fn take(&mut self) -> Option<Vec<u8>> {
        let buf = self.bufs.pop()?;
        self.bytes -= buf.capacity();
        self.low = self.low.min(self.bufs.len());
        Some(buf)
    }

    /// Keeps a drained buffer unless it grew large or the pool is full (then it is freed).
    pub(super) fn give(&mut self, mut buf: Vec<u8>) {
        let cap = buf.capacity();
        if cap == 0 || cap > SPARE_MAX_CAPACITY || self.bytes + cap > SPARE_BYTES {
            return;
        }
        buf.clear();
        self.bytes += cap;
        self.bufs.push(buf);
    }

    /// Bytes the pool holds.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Ends a trim period when it is due (freeing what the period never used)
    /// and starts one when the pool holds buffers. Called once per loop turn;
    /// returns the bytes freed.
    pub(super) fn tick(&mut self, now: Millis) -> usize {
        let before = self.bytes;
        match self.trim_at {
            None if !self.bufs.is_empty() => {
                self.low = self.bufs.len();
                self.trim_at = Some(now + SPARE_TRIM_MS);
            }
            Some(at) if at <= now => {
                let unused = self.low.min(self.bufs.len());
                for buf in self.bufs.drain(..unused) {
                    self.bytes -= buf.capacity();
                }
                if self.bufs.is_empty() {
                    // The list itself grew for the burst too.
                    self.bufs = Vec::new();
                    self.trim_at = None;
                } else {
                    self.bufs.shrink_to(self.bufs.len() * 2);
                    self.low = self.bufs.len();
                    self.trim_at = Some(now + SPARE_TRIM_MS);
                }
            }
            _ => {}
        }
        before - self.bytes
    }

    /// When the loop must wake to trim, if the pool holds anything.
    pub(super) fn deadline(&self) -> Option<Millis> {
        self.trim_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(n: usize) -> Spare {
        let mut s = Spare::default();
        for _ in 0..n {
            s.give(Vec::with_capacity(128));
        }
        s
    }

    #[test]
    fn an_idle_pool_is_freed_after_a_period() {
        let mut s = filled(100);
        assert_eq!(s.bytes(), 100 * 128);
        s.tick(0);
        assert_eq!(s.deadline(), Some(SPARE_TRIM_MS));
        s.tick(SPARE_TRIM_MS - 1);
        assert_eq!(s.bytes(), 100 * 128, "not before the period ends");
        s.tick(SPARE_TRIM_MS);
        assert_eq!(s.bytes(), 0);
        assert_eq!(s.bufs.capacity(), 0);
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn a_pool_in_steady_use_is_kept() {
        let mut s = filled(100);
        s.tick(0);
        for turn in 1..=3 * SPARE_TRIM_MS {
            // Every turn takes all spares and gives them back after the flush.
            let taken: Vec<_> = std::iter::from_fn(|| s.take()).collect();
            assert_eq!(taken.len(), 100, "turn {turn}");
            taken.into_iter().for_each(|b| s.give(b));
            s.tick(turn);
        }
        assert_eq!(s.bytes(), 100 * 128);
    }

    #[test]
    fn only_the_part_a_period_never_used_is_freed() {
        let mut s = filled(100);
        s.tick(0);
        let taken: Vec<_> = (0..30).filter_map(|_| s.take()).collect();
        taken.into_iter().for_each(|b| s.give(b));
        s.tick(SPARE_TRIM_MS);
        assert_eq!(s.bytes(), 30 * 128);
        // The next idle period frees the rest.
        s.tick(2 * SPARE_TRIM_MS);
        assert_eq!(s.bytes(), 0);
    }

    #[test]
    fn large_buffers_and_overflow_are_not_kept() {
        let mut s = Spare::default();
        s.give(Vec::with_capacity(SPARE_MAX_CAPACITY + 1));
        s.give(Vec::new());
        assert_eq!(s.bytes(), 0);
        for _ in 0..=SPARE_BYTES / SPARE_MAX_CAPACITY {
            s.give(Vec::with_capacity(SPARE_MAX_CAPACITY));
        }
        assert!(s.bytes() <= SPARE_BYTES);
    }
}
