//! The in-memory room history: a ring of encoded message events, bounded by count and bytes.

use std::collections::VecDeque;
use std::collections::vec_deque::Iter;

use super::{Epoch, Since};

/// One room's state: its latest `seq`, its `epoch`, and the last message
/// events exactly as they were sent (encoded once, copied into join answers).
///
/// Entry `i` has seq `seq - len + 1 + i`: entries are only ever dropped from
/// the front (oldest), so what is kept is always the newest contiguous run.
#[derive(Debug)]
pub struct History {
    pub(super) entries: VecDeque<String>,
    /// The latest message's seq (0: none yet).
    seq: u64,
    epoch: Epoch,
    /// Sum of the entries' capacities: what they hold on the heap, for the
    /// byte bound and the memory budget.
    bytes: usize,
    /// Most entries kept (0: none).
    cap: usize,
    /// Most bytes kept; an event larger than this is sent but not kept.
    max_bytes: usize,
}

impl History {
    /// An empty history that starts a new `epoch`, keeping at most `cap`
    /// events and `max_bytes` bytes of them.
    pub fn new(epoch: Epoch, cap: usize, max_bytes: usize) -> History {
        History {
            entries: VecDeque::new(),
            seq: 0,
            epoch,
            bytes: 0,
            cap,
            max_bytes,
        }
    }

    /// A history read back from storage: `entries` are the newest events in
    /// order, the last one with `seq`. Entries over the bounds are dropped
    /// from the front, as if they had been pushed one by one.
    pub fn restore(
        epoch: Epoch,
        seq: u64,
        cap: usize,
        max_bytes: usize,
        entries: Vec<String>,
    ) -> History {
        let mut history = History::new(epoch, cap, max_bytes);
        // A seq below the entry count would give entries seqs under 1.
        history.seq = seq.max(entries.len() as u64) - entries.len() as u64;
        for entry in entries {
            history.seq += 1;
            if history.make_room(entry.len()).is_some() {
                history.bytes += entry.capacity();
                history.entries.push_back(entry);
            }
        }
        history
    }

    /// The latest message's seq (0 before the first).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The seq the next appended event gets.
    pub fn next_seq(&self) -> u64 {
        self.seq + 1
    }

    /// This run of the room's history.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The most events kept.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Events kept now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No event is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `bytes` recounted from the entries, to check the running count.
    pub(crate) fn recount(&self) -> usize {
        self.entries.iter().map(String::capacity).sum()
    }

    /// Bytes of the kept events (their encoded length).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Appends the event for seq [`next_seq`](Self::next_seq), already encoded
    /// (`event` is the frame's payload as sent), and drops the oldest entries
    /// past the bounds. In steady state the dropped entry's buffer is reused,
    /// so appending allocates nothing.
    pub fn push(&mut self, event: &str) {
        self.seq += 1;
        let Some(spare) = self.make_room(event.len()) else {
            return;
        };
        let room = self.max_bytes - self.bytes;
        let entry = match spare {
            // Reused only when it fits and is not much larger, so one big
            // message does not leave big buffers behind small ones; and only
            // when its capacity (what is counted) fits the byte bound too.
            Some(mut old)
                if old.capacity() >= event.len()
                    && old.capacity() <= 2 * event.len() + 64
                    && old.capacity() <= room =>
            {
                old.clear();
                old.push_str(event);
                old
            }
            _ => event.to_owned(),
        };
        self.bytes += entry.capacity();
        self.entries.push_back(entry);
    }

    /// Drops the oldest entries until one of `len` bytes fits; returns the
    /// last dropped buffer (for reuse), or `None` when the entry for `seq`
    /// cannot be kept at all.
    fn make_room(&mut self, len: usize) -> Option<Option<String>> {
        if self.cap == 0 || len > self.max_bytes {
            // Kept entries must end at `seq`: without this one, none can stay.
            self.clear();
            return None;
        }
        let mut spare = None;
        while self.entries.len() >= self.cap || self.bytes + len > self.max_bytes {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= old.capacity();
            spare = Some(old);
        }
        Some(spare)
    }

    /// Forgets every kept event (the seq and epoch stay).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Drops the oldest kept event; returns the bytes freed (0 when empty).
    /// The memory budget calls this on the largest rooms first.
    pub fn evict_oldest(&mut self) -> usize {
        match self.entries.pop_front() {
            Some(old) => {
                self.bytes -= old.capacity();
                old.capacity()
            }
            None => 0,
        }
    }

    /// The kept events a joiner gets, oldest first, and whether it missed
    /// some that are no longer kept (`gap`).
    ///
    /// No `since`: everything kept, no gap. A `since` from another epoch or
    /// above the latest seq (the room's history started over): everything
    /// kept, with a gap. Otherwise the events after `since`, with a gap when
    /// some of those are no longer kept.
    pub fn after(&self, since: Option<Since>) -> (Entries<'_>, bool) {
        let kept = self.entries.len();
        let (skip, gap) = match since {
            None => (0, false),
            Some(s) if s.epoch.is_some_and(|e| e != self.epoch) => (0, true),
            Some(s) if s.seq > self.seq => (0, true),
            Some(s) => match usize::try_from(self.seq - s.seq) {
                Ok(missed) if missed <= kept => (kept - missed, false),
                _ => (0, true),
            },
        };
        let mut iter = self.entries.iter();
        if skip > 0 {
            iter.nth(skip - 1);
        }
        (Entries { iter }, gap)
    }

    /// Every kept event with its seq, oldest first (for storage and checks).
    pub fn iter(&self) -> impl Iterator<Item = (u64, &str)> {
        let first = self.seq + 1 - self.entries.len() as u64;
        (first..).zip(self.entries.iter().map(String::as_str))
    }
}

/// Kept events, oldest first, as encoded when they were sent.
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    iter: Iter<'a, String>,
}

impl<'a> Iterator for Entries<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.iter.next().map(String::as_str)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl ExactSizeIterator for Entries<'_> {}
