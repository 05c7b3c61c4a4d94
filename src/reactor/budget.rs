//! The memory budget in the loop: what the server holds, refusing new
//! connections near the budget, and shedding past it (see `limits::memory`).

use crate::limits::memory::Usage;
use crate::limits::{LOOP_BUFFER_KEEP, RELEASE_AFTER, SCRATCH_KEEP};

use super::Server;

impl Server {
    /// Everything counted against `--max-memory` now.
    pub(super) fn usage(&self) -> Usage {
        let (output, input) = self.conns.held();
        let buffers = self.read_buf.capacity() + self.scratch.capacity() + self.outbox.heap_bytes();
        // With --redis, the engine's link buffers and waited-for replies too.
        #[cfg(feature = "redis")]
        let buffers = buffers + self.hub.engine_bytes();
        Usage {
            output,
            input,
            history: self.hub.history_bytes(),
            state: self.hub.state_bytes() + self.conns.state_bytes(),
            buffers,
        }
    }

    /// Whether a new connection may be served (below 7/8 of the budget).
    pub(super) fn memory_admits(&self) -> bool {
        self.conns.budget().admits(&self.usage())
    }

    /// After each step (a message handled, timers, a flush): brings usage back
    /// under the budget if it passed it, history first, then the biggest
    /// holders; and tells the output path what the rest holds now.
    pub(super) fn enforce_budget(&mut self) {
        let usage = self.usage();
        if let Some(shed) = self.conns.budget().over(&usage, 0) {
            let freed = self.hub.evict_history(shed.bytes);
            self.conns.metrics.history_evicted_bytes += freed as u64;
            if freed < shed.bytes {
                self.conns.close_biggest(shed.bytes - freed);
            }
        }
        let usage = self.usage();
        self.conns
            .set_others(usage.history + usage.state + usage.buffers);
    }

    /// End of a turn: loop buffers that grew for one large message shrink back.
    pub(super) fn shrink_buffers(&mut self) {
        if self.scratch.capacity() > SCRATCH_KEEP {
            self.scratch = Vec::with_capacity(SCRATCH_KEEP);
        }
        self.outbox.shrink(LOOP_BUFFER_KEEP);
        let mut freed = self.conns.trim_spare(self.now);
        // No connection left to read: the shared read buffer goes too (it
        // comes back with the next reader), so a server whose clients all
        // left holds what a fresh one holds.
        if self.conns.is_empty() && self.read_buf.capacity() > 0 {
            freed += self.read_buf.capacity();
            self.read_buf = Vec::new();
        }
        if freed >= RELEASE_AFTER
            && let Some(release) = self.release
        {
            release();
        }
    }

    /// Sets what to call after the loop freed a burst's buffers. The binary
    /// passes glibc's `malloc_trim`: freed small buffers sit between live
    /// allocations, so without it the pages stay resident while the server
    /// idles. (The library cannot call it itself: it has no `unsafe`.)
    pub fn on_release(&mut self, release: fn()) {
        self.release = Some(release);
    }
}
