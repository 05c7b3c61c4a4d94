//! The memory budget (`--max-memory`): what the server holds, and what it gives up when full.
//!
//! The reactor and the hub keep running byte counts where they allocate and
//! free (a few additions on paths that already touch the buffers), and this
//! module turns a [`Usage`] into decisions. No allocator hook: the counts are
//! of what the server chose to keep, which is what an attacker can grow.
//!
//! Degradation, in this order:
//! 1. From [`Budget::refuse_at`] (7/8 of the budget) new WebSocket upgrades and
//!    publish requests are answered `503` and closed, so what is left goes to
//!    clients already served (health checks and metrics still answer).
//! 2. Past the budget, the oldest history of the largest rooms is evicted.
//! 3. If that is not enough, the connections holding the most bytes (unsent
//!    output, unfinished input) are closed, the largest first (`1013`).
//!
//! Steps 2 and 3 shed down to [`Budget::shed_to`] (3/4 of the budget), so a
//! server under pressure does not pay for a scan on every message.

/// Bytes held, by what holds them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Client write buffers (unsent output) and the spare-buffer pool.
    pub output: usize,
    /// Unfinished input: partial frames and messages, partial HTTP requests.
    pub input: usize,
    /// Room history (encoded message events).
    pub history: usize,
    /// Connection and room state, estimated from counts and sizes.
    pub state: usize,
    /// Loop buffers: the shared read buffer, the frame scratch, the outbox.
    pub buffers: usize,
}

impl Usage {
    /// Everything counted.
    pub fn total(&self) -> usize {
        self.output + self.input + self.history + self.state + self.buffers
    }
}

/// The `--max-memory` budget and its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    limit: usize,
}

/// What to shed to get back under the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shed {
    /// Bytes to free to reach [`Budget::shed_to`].
    pub bytes: usize,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Budget {
        Budget { limit }
    }

    /// The budget itself.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// From this many bytes on, new connections get 503.
    pub fn refuse_at(&self) -> usize {
        self.limit - self.limit / 8
    }

    /// Where shedding stops.
    pub fn shed_to(&self) -> usize {
        self.limit - self.limit / 4
    }

    /// Whether a new connection may be served now.
    pub fn admits(&self, usage: &Usage) -> bool {
        usage.total() < self.refuse_at()
    }

    /// `Some` when `usage` plus `adding` bytes would pass the budget: how much to free.
    pub fn over(&self, usage: &Usage, adding: usize) -> Option<Shed> {
        let after = usage.total().saturating_add(adding);
        (after > self.limit).then(|| Shed {
            bytes: after - self.shed_to(),
        })
    }
}

/// Estimated bytes of state per connection in the reactor's slab beyond its
/// struct (its timer entry, the hub's per-connection record and short strings).
pub const CONN_STATE: usize = 256;
/// Estimated bytes per room (struct, name twice, index entries).
pub const ROOM_STATE: usize = 256;
/// Estimated bytes per room membership (both sides of the index).
pub const MEMBERSHIP_STATE: usize = 48;
/// Estimated bytes per TLS connection: twice the measured 7.8 KiB of an idle
/// rustls session (`cargo bench --bench tls`, 2026-12-01), for record buffers
/// in use. Counting the worst case (`limits::TLS_BUFFERED` of records, about
/// 96 KiB) for every connection refused a default server's TLS clients past
/// about 580 with `--max-memory 64MiB`; records beyond this estimate are rare
/// and bounded by `TLS_BUFFERED` per connection.
pub const TLS_STATE: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_order_refuse_before_shedding() {
        let b = Budget::new(32 << 20);
        assert!(b.shed_to() < b.refuse_at() && b.refuse_at() < b.limit());
        let mut u = Usage {
            history: b.refuse_at() - 1,
            ..Usage::default()
        };
        assert!(b.admits(&u));
        assert_eq!(b.over(&u, 0), None);
        u.output = 1;
        assert!(!b.admits(&u), "7/8 full: new connections are refused");
        assert_eq!(b.over(&u, 0), None, "but nothing is shed yet");
        // Adding a message that passes the budget asks to free down to 3/4.
        let adding = b.limit() - u.total() + 1;
        let shed = b.over(&u, adding).unwrap();
        assert_eq!(u.total() + adding - shed.bytes, b.shed_to());
        assert_eq!(
            b.over(&u, adding - 1),
            None,
            "exactly full is within budget"
        );
    }

    #[test]
    fn total_adds_every_kind() {
        let u = Usage {
            output: 1,
            input: 2,
            history: 4,
            state: 8,
            buffers: 16,
        };
        assert_eq!(u.total(), 31);
    }
}
