//! What the hub holds, for the memory budget, and the history eviction it may ask for.

use std::collections::BinaryHeap;

use super::Hub;
use crate::limits::memory::{CONN_STATE, MEMBERSHIP_STATE, ROOM_STATE};

impl Hub {
    /// Bytes of history kept in all rooms.
    pub fn history_bytes(&self) -> usize {
        self.history_bytes
    }

    /// Estimated bytes of connection, room and membership state.
    pub fn state_bytes(&self) -> usize {
        self.live * CONN_STATE
            + self.rooms.len() * ROOM_STATE
            + self.memberships * MEMBERSHIP_STATE
            + self.typing_state_bytes()
    }

    /// The typing-timer heap's share of `state_bytes` (kept allocated when empty).
    pub(crate) fn typing_state_bytes(&self) -> usize {
        self.typing.capacity() * std::mem::size_of::<super::TypingDeadline>()
    }

    /// Frees at least `want` bytes of history, or all of it: the oldest entries
    /// of the largest rooms go first, levelling the largest rooms down
    /// together. Returns the bytes freed. Joiners of an evicted room get
    /// `gap: true` for what is gone, as when the count bound drops entries.
    pub fn evict_history(&mut self, want: usize) -> usize {
        if want == 0 || self.history_bytes == 0 {
            return 0;
        }
        let mut largest: BinaryHeap<(usize, usize)> = self
            .rooms
            .iter()
            .filter(|(_, room)| room.history_bytes > 0)
            .map(|(key, room)| (room.history_bytes, key))
            .collect();
        let mut freed = 0;
        while freed < want {
            let Some((_, key)) = largest.pop() else {
                break;
            };
            let room = &mut self.rooms[key];
            let Some(old) = room.history.pop_front() else {
                continue;
            };
            room.history_bytes -= old.capacity();
            freed += old.capacity();
            if room.history_bytes > 0 {
                largest.push((room.history_bytes, key));
            }
        }
        self.history_bytes -= freed;
        freed
    }
}
