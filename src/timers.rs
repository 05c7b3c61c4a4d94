//! One deadline structure for every per-client timer: a min-heap with lazy invalidation.
//!
//! Each client has at most one live entry, its next check time. An entry whose
//! generation no longer matches the client (the slot was reused, or the client
//! re-armed) is skipped when it surfaces, so re-arming never searches the heap.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Milliseconds since the reactor started: compact (8 bytes) and totally ordered.
pub type Millis = u64;

/// A due timer: which slot, and the generation it was armed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    pub key: usize,
    pub generation: u32,
}

/// Deadlines keyed by slot and generation, earliest first.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Millis, u32, u32)>>,
    /// Entries left after the last compaction: the next one is due at twice this.
    compacted_len: usize,
}

/// Below this many entries stale ones are never worth a sweep.
const COMPACT_MIN: usize = 1024;

impl Timers {
    /// Room for `n` entries up front, so arming never reallocates in the steady state.
    #[cold] // start-up only: grouped with the other cold code, off the loop's pages
    pub fn with_capacity(n: usize) -> Timers {
        Timers {
            heap: BinaryHeap::with_capacity(n),
            compacted_len: 0,
        }
    }

    /// Arms a deadline at `at` for slot `key` in generation `generation`.
    pub fn arm(&mut self, at: Millis, key: usize, generation: u32) {
        // Slot keys fit in u32: the slab never holds more than max_connections.
        self.heap.push(Reverse((at, key as u32, generation)));
    }

    /// The earliest armed deadline (possibly stale; a stale one only causes an early wake-up).
    pub fn next(&self) -> Option<Millis> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Pops one entry due at or before `now`; the caller checks the generation.
    pub fn pop_due(&mut self, now: Millis) -> Option<Expired> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => {
                let Reverse((_, key, generation)) = self.heap.pop()?;
                Some(Expired {
                    key: key as usize,
                    generation,
                })
            }
            _ => None,
        }
    }

    /// Drops stale entries once they outnumber the live ones, so heavy connection
    /// churn costs memory in proportion to live clients, not to the churn rate
    /// times the longest deadline. Amortized O(1) per `arm`.
    pub fn compact(&mut self, mut live: impl FnMut(usize, u32) -> bool) {
        if self.heap.len() < COMPACT_MIN.max(2 * self.compacted_len) {
            return;
        }
        self.heap
            .retain(|Reverse((_, key, generation))| live(*key as usize, *generation));
        self.compacted_len = self.heap.len();
        if self.heap.capacity() > 4 * self.heap.len().max(COMPACT_MIN) {
            self.heap.shrink_to(2 * self.heap.len().max(COMPACT_MIN));
        }
    }

    /// Entries held, live or stale.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// No entries at all.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let mut t = Timers::default();
        t.arm(300, 3, 1);
        t.arm(100, 1, 1);
        t.arm(200, 2, 7);
        assert_eq!(t.next(), Some(100));
        assert_eq!(t.pop_due(99), None);
        assert_eq!(
            t.pop_due(250),
            Some(Expired {
                key: 1,
                generation: 1
            })
        );
        assert_eq!(
            t.pop_due(250),
            Some(Expired {
                key: 2,
                generation: 7
            })
        );
        assert_eq!(t.pop_due(250), None);
        assert_eq!(t.next(), Some(300));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn compaction_drops_stale_entries_once_they_dominate() {
        let mut t = Timers::default();
        for key in 0..3000 {
            t.arm(1000 + key as Millis, key, 1);
        }
        // Only even keys are still live in generation 1.
        t.compact(|key, generation| key % 2 == 0 && generation == 1);
        assert_eq!(t.len(), 1500);
        // Not again until the heap has doubled.
        t.arm(5000, 1, 1);
        t.compact(|_, _| false);
        assert_eq!(t.len(), 1501);
        assert_eq!(
            t.pop_due(1000),
            Some(Expired {
                key: 0,
                generation: 1
            })
        );
    }

    #[test]
    fn stale_generations_surface_for_the_caller_to_skip() {
        let mut t = Timers::default();
        t.arm(10, 5, 1);
        t.arm(20, 5, 2);
        let first = t.pop_due(30).unwrap();
        let second = t.pop_due(30).unwrap();
        assert_eq!((first.generation, second.generation), (1, 2));
        assert!(t.is_empty());
    }
}
