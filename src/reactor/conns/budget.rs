//! The connections' share of the memory budget: what they hold, the per-address
//! cap, and shedding (write now, evict history, close the biggest holders).
//!
//! `Conns` keeps two running sums, updated where buffers change size: the
//! capacity of every client's output buffer, and the unfinished input of every
//! client (a partial request or frame). Everything else the budget covers
//! (history, state, loop buffers) is refreshed into `others` by the server
//! after each step, so the check on the output path is two additions and a
//! comparison.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::ClientId;
use crate::limits::memory::{Budget, Usage};

use super::output::flush_one;
use super::{Client, Conns, Phase};

/// Bytes of unfinished input a client holds on the heap.
pub(super) fn input_of(c: &Client) -> usize {
    match &c.phase {
        Phase::Http(Some(req)) => std::mem::size_of_val(&**req) + req.buf.capacity(),
        Phase::Open(state) => state.buffered(),
        Phase::Http(None) | Phase::Closing => 0,
    }
}

/// Connections per client address, for `--max-connections-per-ip`.
#[derive(Debug, Default)]
pub(super) struct PerIp {
    counts: HashMap<IpAddr, u32>,
    /// Each slot's address, indexed by the dense slab key.
    of: Vec<Option<IpAddr>>,
}

impl PerIp {
    /// Counts a new connection from `ip` in slot `id`, unless `ip` holds `max` already.
    pub(super) fn enter(&mut self, id: ClientId, ip: IpAddr, max: usize) -> bool {
        let n = self.counts.entry(ip).or_insert(0);
        if *n as usize >= max {
            if *n == 0 {
                self.counts.remove(&ip);
            }
            return false;
        }
        *n += 1;
        if self.of.len() <= id.0 {
            self.of.resize(id.0 + 1, None);
        }
        self.of[id.0] = Some(ip);
        true
    }

    /// Forgets slot `id`'s connection.
    pub(super) fn leave(&mut self, id: ClientId) {
        let Some(ip) = self.of.get_mut(id.0).and_then(Option::take) else {
            return;
        };
        if let Some(n) = self.counts.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(&ip);
            }
        }
        while self.of.last() == Some(&None) {
            self.of.pop();
        }
    }
}

impl Conns {
    /// The budget in force.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// Output buffers (client buffers and the spare pool) and unfinished input, in bytes.
    pub fn held(&self) -> (usize, usize) {
        (self.held_output + self.spare.bytes(), self.held_input)
    }

    /// `held` recounted from every client, to check the running sums (tests, debug builds).
    pub fn recount(&self) -> (usize, usize) {
        let output = self
            .slab
            .iter()
            .map(|(_, c)| c.out.capacity())
            .sum::<usize>();
        let input = self.slab.iter().map(|(_, c)| input_of(c)).sum();
        (output + self.spare.bytes(), input)
    }

    /// Bytes of the slab and its per-connection state (transport sessions
    /// included), for the budget's `state`.
    pub fn state_bytes(&self) -> usize {
        self.held_transport
            + self.slab.capacity() * std::mem::size_of::<Client>()
            + self.per_ip.as_ref().map_or(0, |p| {
                p.of.capacity() * std::mem::size_of::<Option<IpAddr>>() + p.counts.len() * 64
            })
    }

    /// Tells the output path what the rest of the process holds now (history,
    /// state, loop buffers), so it can check the budget without asking.
    pub fn set_others(&mut self, others: usize) {
        self.others = others;
    }

    /// Usage as the output path sees it.
    pub(super) fn usage(&self) -> Usage {
        Usage {
            output: self.held_output + self.spare.bytes(),
            input: self.held_input,
            state: self.others,
            ..Usage::default()
        }
    }

    /// Records a change of a client's output buffer capacity.
    pub(super) fn output_resized(&mut self, before: usize, after: usize) {
        self.held_output = self.held_output + after - before;
    }

    /// Records a change of a client's unfinished input.
    pub fn input_resized(&mut self, before: usize, after: usize) {
        self.held_input = self.held_input + after - before;
    }

    /// The unfinished input `id` holds now (0 when it is gone).
    pub fn input_held(&self, id: ClientId) -> usize {
        self.slab.get(id.0).map_or(0, input_of)
    }

    /// Over the budget after `id`'s output grew: first hand `id`'s output to the
    /// socket now (a client that reads takes it, and the kernel's buffer is not
    /// ours), then evict history with `evict` (it returns the bytes freed),
    /// then close the connections holding the most bytes.
    pub(super) fn relieve(&mut self, id: ClientId, evict: &mut dyn FnMut(usize) -> usize) {
        if let Some(c) = self.slab.get_mut(id.0) {
            let before = c.out.capacity();
            if flush_one(c, &mut self.metrics).is_ok() && c.pending() == 0 {
                c.out = Vec::new();
                c.sent = 0;
                c.frames_at = 0;
            }
            let after = c.out.capacity();
            self.output_resized(before, after);
        }
        let Some(shed) = self.budget.over(&self.usage(), 0) else {
            return;
        };
        let freed = evict(shed.bytes);
        self.others = self.others.saturating_sub(freed);
        self.metrics.history_evicted_bytes += freed as u64;
        if freed < shed.bytes {
            self.close_biggest(shed.bytes - freed);
        }
    }

    /// Closes open connections, the ones holding the most bytes (unsent output
    /// plus unfinished input) first, until `want` bytes are freed or none is left.
    pub fn close_biggest(&mut self, want: usize) -> usize {
        let mut holders: Vec<(usize, ClientId)> = self
            .slab
            .iter()
            .filter(|(_, c)| matches!(c.phase, Phase::Open(_) | Phase::Http(Some(_))))
            .map(|(k, c)| (c.out.capacity() + input_of(c), ClientId(k)))
            .filter(|(held, _)| *held > 0)
            .collect();
        holders.sort_unstable_by(|a, b| b.cmp(a));
        let mut freed = 0;
        for (held, id) in holders {
            if freed >= want {
                break;
            }
            log::debug!("client {}: holds {held} bytes, closed for memory", id.0);
            self.metrics.memory_closed += 1;
            let before = self.slab[id.0].out.capacity() + input_of(&self.slab[id.0]);
            if self.slab[id.0].is_open() {
                self.close_slow(id, "server memory budget");
            } else {
                // A request still arriving: answer it, and drop what it sent.
                super::super::routes::respond(
                    self,
                    id,
                    503,
                    "text/plain",
                    &[],
                    b"server busy: memory budget reached\n",
                );
            }
            let c = &self.slab[id.0];
            freed += before.saturating_sub(c.out.capacity() + input_of(c));
        }
        freed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_counts_and_forgets() {
        let mut p = PerIp::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(p.enter(ClientId(0), a, 2));
        assert!(p.enter(ClientId(1), a, 2));
        assert!(!p.enter(ClientId(2), a, 2));
        assert!(p.enter(ClientId(2), b, 2));
        p.leave(ClientId(0));
        p.leave(ClientId(0));
        assert!(p.enter(ClientId(3), a, 2));
        for k in 1..4 {
            p.leave(ClientId(k));
        }
        assert!(p.counts.is_empty() && p.of.is_empty(), "{p:?}");
    }
}
