//! Room state: each room's history, `seq` and `epoch`, behind one small interface.
//!
//! [`History`] (in `memory.rs`) is what the hub asks for a room's state: the
//! next `seq`, appending an encoded message event, the entries after a
//! client's `since`, and the byte count and eviction the memory budget needs.
//! The in-memory history is the default and the hot path; stores that keep
//! state elsewhere too (disk, Redis) sit behind the same calls.

mod memory;

use std::fmt;

pub use memory::History;

/// Identifies one run of a room's history: chosen when the history starts, so
/// a `seq` from another run (a server restart without `--data-dir`, a room
/// that emptied and was made again) is recognised instead of being trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Epoch(u64);

impl Epoch {
    /// A new epoch from a per-process random `seed`, the wall clock and a
    /// counter that is never reused within the process: distinct across
    /// restarts (the seed) and across rooms made in the same millisecond.
    pub fn fresh(seed: u64, unix_ms: u64, serial: u64) -> Epoch {
        let mixed = mix(seed ^ mix(unix_ms ^ mix(serial)));
        // 0 is kept out so a default value is never mistaken for a real epoch.
        Epoch(mixed.max(1))
    }

    /// An epoch read back from storage or from the wire (base 36, as `Display` writes it).
    pub fn parse(text: &str) -> Option<Epoch> {
        if text.is_empty() || text.len() > 13 {
            return None;
        }
        let value = u64::from_str_radix(text, 36).ok()?;
        (value != 0).then_some(Epoch(value))
    }

    /// The epoch a client sent with `since`: text that is no epoch gives a
    /// value that matches no room, so the client gets the whole history and
    /// `gap: true` rather than a silent skip.
    pub fn claimed(text: &str) -> Epoch {
        Epoch::parse(text).unwrap_or(Epoch(0))
    }

    /// The raw value (for storage).
    pub fn get(self) -> u64 {
        self.0
    }

    /// From a raw value (for storage); 0 is not an epoch.
    pub fn from_raw(value: u64) -> Option<Epoch> {
        (value != 0).then_some(Epoch(value))
    }
}

impl fmt::Display for Epoch {
    /// Lower-case base 36, at most 13 characters: short on the wire, and a
    /// string so that JavaScript clients do not round it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut digits = [0u8; 13];
        let mut n = self.0;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize];
            n /= 36;
            if n == 0 {
                break;
            }
        }
        // The digits are ASCII.
        f.write_str(std::str::from_utf8(&digits[i..]).unwrap_or("0"))
    }
}

/// Where a joiner resumes: the last `seq` it saw, and the epoch it saw it in
/// (`None` from clients that predate epochs: then only the seq is checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since {
    /// The last seq the client has.
    pub seq: u64,
    /// The epoch of that seq (see [`Epoch::claimed`]).
    pub epoch: Option<Epoch>,
}

/// splitmix64's finalizer: every input bit moves every output bit.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
