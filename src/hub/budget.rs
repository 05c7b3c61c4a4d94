//! What the hub holds beyond history, for the memory budget (history and its
//! eviction are in `rooms`, over the room-state store).

use super::Hub;
use crate::limits::memory::{CONN_STATE, MEMBERSHIP_STATE, ROOM_STATE};

impl Hub {
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
}
