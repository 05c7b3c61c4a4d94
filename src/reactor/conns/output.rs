//! The output side of connections: corked write buffers, flushing, the spare-buffer pool.

use std::io;

use mio::{Interest, Registry};

use crate::ClientId;
use crate::metrics::Metrics;
use crate::timers::Millis;

use super::{Client, Conns, Phase, token};

impl Conns {
    /// Appends `bytes` (one or more complete frames) to an open client's output,
    /// closing it with 1013 when its backlog would pass the limit.
    pub fn queue(&mut self, id: ClientId, bytes: &[u8]) {
        self.deliver(id, bytes, &mut |_| 0);
    }

    /// `queue`, for the hub's deliveries: when the memory budget is passed,
    /// `evict` is asked to free history (it returns the bytes freed) before
    /// connections are closed (see `Conns::relieve`).
    pub fn deliver(&mut self, id: ClientId, bytes: &[u8], evict: &mut dyn FnMut(usize) -> usize) {
        let Some(c) = self.slab.get_mut(id.0) else {
            return;
        };
        if !c.is_open() {
            return;
        }
        if c.pending() + bytes.len() > self.max_pending / 2 {
            // Start flushing before judging: a client that reads as fast as we
            // write never reaches the limit, however much one turn produces.
            let _ = flush_one(c, &mut self.metrics);
            compact(c);
            if c.pending() + bytes.len() > self.max_pending / 2 {
                self.pressure = true;
                if !c.pressured {
                    c.pressured = true;
                    self.pressured.push(id);
                }
            }
        }
        if c.pending() + bytes.len() > self.max_pending {
            self.metrics.slow_consumers_dropped += 1;
            log::debug!(
                "client {}: {} bytes pending, closing as slow consumer",
                id.0,
                c.pending()
            );
            self.close_slow(id, "slow consumer");
            return;
        }
        if c.out.capacity() == 0
            && let Some(buf) = self.spare.take()
        {
            self.held_output += buf.capacity();
            c.out = buf;
        }
        let before = c.out.capacity();
        c.out.extend_from_slice(bytes);
        let after = c.out.capacity();
        // Inline `mark_dirty`: this is the per-recipient hot path, one slab lookup.
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(id);
        }
        self.output_resized(before, after);
        if after > before && self.budget.over(&self.usage(), 0).is_some() {
            self.relieve(id, evict);
        }
    }

    /// Appends raw bytes in any phase (HTTP responses, the 101, a close frame).
    pub fn queue_raw(&mut self, id: ClientId, bytes: &[u8]) {
        let Some(c) = self.slab.get_mut(id.0) else {
            return;
        };
        let before = c.out.capacity();
        c.out.extend_from_slice(bytes);
        let after = c.out.capacity();
        self.output_resized(before, after);
        self.mark_dirty(id);
    }

    /// Puts a client on this turn's flush list (once).
    pub(super) fn mark_dirty(&mut self, id: ClientId) {
        let c = &mut self.slab[id.0];
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(id);
        }
    }

    /// A client asked to be written (WRITABLE readiness, or its transport holds wire bytes).
    pub fn want_flush(&mut self, id: ClientId) {
        if let Some(c) = self.slab.get(id.0)
            && (c.pending() > 0 || c.transport.wants_write())
        {
            self.mark_dirty(id);
        }
    }

    /// Ends the spare pool's trim period when due (see `spare`); once per
    /// turn. Returns the bytes freed.
    pub fn trim_spare(&mut self, now: Millis) -> usize {
        self.spare.tick(now)
    }

    /// When the loop must wake for the spare pool's trim.
    pub fn spare_deadline(&self) -> Option<Millis> {
        self.spare.deadline()
    }

    /// Whether output passed the high-water mark since the last call (see `pressure`).
    pub fn take_pressure(&mut self) -> bool {
        std::mem::take(&mut self.pressure)
    }

    /// Whether every client that was over the high-water mark has drained below
    /// it (or is gone, or closing), forgetting those that have.
    pub fn relieved(&mut self) -> bool {
        let high = self.max_pending / 2;
        let slab = &mut self.slab;
        self.pressured.retain(|id| match slab.get_mut(id.0) {
            Some(c) if c.is_open() && c.pending() > high => true,
            Some(c) => {
                c.pressured = false;
                false
            }
            None => false,
        });
        self.pressured.is_empty()
    }

    /// Some client has output that this turn has not flushed yet.
    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Closes a slow consumer with 1013 right after the frame in flight: unsent whole
    /// frames are dropped (and their memory freed), so it learns why at once
    /// instead of after its backlog.
    pub(super) fn close_slow(&mut self, id: ClientId, reason: &str) {
        let c = &mut self.slab[id.0];
        let before = c.out.capacity();
        let keep = frame_boundary_after(&c.out, c.frames_at as usize, c.sent as usize);
        c.out.truncate(keep);
        c.out.shrink_to(keep + 128);
        let after = c.out.capacity();
        self.output_resized(before, after);
        self.close(id, 1013, reason);
    }

    /// Writes every dirty client's output once, then sets WRITABLE interest exactly
    /// for those that did not drain. Returns clients to drop (write error, or done closing).
    pub fn flush_dirty(&mut self, registry: &Registry, dead: &mut Vec<ClientId>) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &id in &dirty {
            let Some(c) = self.slab.get_mut(id.0) else {
                continue;
            };
            c.dirty = false;
            if let Err(e) = flush_one(c, &mut self.metrics) {
                log::debug!("client {}: write failed: {e}", id.0);
                dead.push(id);
                continue;
            }
            if c.pending() == 0 {
                let buf = std::mem::take(&mut c.out);
                c.sent = 0;
                c.frames_at = 0;
                self.held_output -= buf.capacity();
                self.spare.give(buf);
            }
            let drained = c.pending() == 0 && !c.transport.wants_write();
            if drained && matches!(c.phase, Phase::Closing) && !c.fin_sent {
                c.fin_sent = true;
                // FIN after the close frame or response; we keep reading until the peer's EOF.
                let _ = c.transport.shutdown_write();
            }
            if drained && c.eof {
                // The peer ended first and has had its answer: nothing is left to wait for.
                dead.push(id);
                continue;
            }
            if drained == c.writable {
                c.writable = !drained;
                let interest = if c.writable {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                if let Err(e) = registry.reregister(&mut c.transport, token(id), interest) {
                    log::warn!("client {}: reregister failed: {e}", id.0);
                    dead.push(id);
                }
            }
        }
        dirty.clear();
        // Keep the list's allocation for the next turn.
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }
}

/// Hands as much of the client's pending output to its transport as it takes.
pub(super) fn flush_one(c: &mut Client, metrics: &mut Metrics) -> io::Result<()> {
    c.transport.flush_wire()?;
    while (c.sent as usize) < c.out.len() {
        match c.transport.write(&c.out[c.sent as usize..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                // The buffer is bounded by `--max-pending` (< 4 GiB, see `Limits`).
                c.sent += n as u32;
                metrics.bytes_out += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Drops the already-written front of a client's buffer once it is the larger
/// part, so a client that is written to while it reads (never quite drained)
/// keeps a bounded buffer. Cuts only at a frame boundary (or inside the raw
/// prefix), keeping `frames_at` true.
fn compact(c: &mut Client) {
    let mut sent = c.sent as usize;
    compact_parts(&mut c.out, &mut sent, &mut c.frames_at);
    c.sent = sent as u32;
}

fn compact_parts(out: &mut Vec<u8>, sent: &mut usize, frames_at: &mut u32) {
    if *sent < out.len() / 2 {
        return;
    }
    let cut = if *sent <= *frames_at as usize {
        *sent
    } else {
        frame_boundary_before(out, *frames_at as usize, *sent)
    };
    if cut == 0 {
        return;
    }
    out.drain(..cut);
    *sent -= cut;
    // A cut past `frames_at` is itself a frame boundary.
    *frames_at = (*frames_at as usize).saturating_sub(cut) as u32;
}

/// The start of the server frame that contains byte `sent` of `out`, walking
/// whole frames from the boundary `from`.
fn frame_boundary_before(out: &[u8], from: usize, sent: usize) -> usize {
    let mut at = from;
    while at < sent {
        let Some(len) = server_frame_len(&out[at..]) else {
            return at;
        };
        if at + len > sent {
            break;
        }
        at += len;
    }
    at
}

/// The end of the server frame that contains byte `sent` of `out` (or `sent` itself
/// when it sits on a boundary), walking whole frames from the boundary `from`
/// (bytes before it are raw HTTP, kept while unsent): everything after it can be
/// dropped without corrupting the stream. Our own frames are unmasked, so headers
/// are easy to walk.
fn frame_boundary_after(out: &[u8], from: usize, sent: usize) -> usize {
    let mut at = from.min(out.len());
    while at < out.len() && at < sent {
        let Some(len) = server_frame_len(&out[at..]) else {
            return out.len();
        };
        at += len;
    }
    at.min(out.len())
}

/// Total length of the unmasked frame at the start of `b`, if its header is complete.
fn server_frame_len(b: &[u8]) -> Option<usize> {
    let len7 = (*b.get(1)? & 0x7f) as usize;
    match len7 {
        126 => Some(4 + u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize),
        127 => {
            let bytes: [u8; 8] = b.get(2..10)?.try_into().ok()?;
            Some(10 + u64::from_be_bytes(bytes) as usize)
        }
        n => Some(2 + n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_boundary_keeps_the_frame_in_flight() {
        // Two frames: 2+3 bytes and 2+126 (via the 16-bit form: 4+126 bytes).
        let mut out = vec![0x81, 3, b'a', b'b', b'c', 0x82, 126, 0, 126];
        out.extend(std::iter::repeat_n(7u8, 126));
        assert_eq!(frame_boundary_after(&out, 0, 0), 0);
        assert_eq!(frame_boundary_after(&out, 0, 1), 5);
        assert_eq!(frame_boundary_after(&out, 0, 5), 5);
        assert_eq!(frame_boundary_after(&out, 0, 6), out.len());
        assert_eq!(frame_boundary_before(&out, 0, 4), 0);
        assert_eq!(frame_boundary_before(&out, 0, 5), 5);
        assert_eq!(frame_boundary_before(&out, 0, 7), 5);
    }

    #[test]
    fn compaction_cuts_only_at_frame_boundaries() {
        let head = b"HTTP/1.1 101 OK\r\n\r\n".to_vec();
        let frames = [0x81, 2, b'h', b'i', 0x81, 1, b'!'];
        let mut out = [head.clone(), frames.to_vec()].concat();
        // The 101 partly sent: cut exactly what was sent, frames stay put.
        let (mut sent, mut at) = (15, head.len() as u32);
        compact_parts(&mut out, &mut sent, &mut at);
        assert_eq!((sent, at as usize), (0, head.len() - 15));
        assert_eq!(out[at as usize..], frames);
        // Sent into the middle of the second frame: cut before it, not inside it.
        let mut out = [head.clone(), frames.to_vec()].concat();
        let (mut sent, mut at) = (head.len() + 5, head.len() as u32);
        compact_parts(&mut out, &mut sent, &mut at);
        assert_eq!((out.as_slice(), sent, at), (&frames[4..], 1, 0));
        assert_eq!(frame_boundary_after(&out, at as usize, sent), 3);
    }

    #[test]
    fn frame_boundary_skips_the_raw_prefix() {
        // A 101 response still partly unsent, then one frame: the walk must start
        // after the response, or its bytes would be read as frame headers.
        let head = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        let mut out = head.to_vec();
        out.extend([0x81, 2, b'h', b'i', 0x81, 1, b'!']);
        let from = head.len();
        assert_eq!(frame_boundary_after(&out, from, 3), from);
        assert_eq!(frame_boundary_after(&out, from, from + 1), from + 4);
        // Walking from 0 (the old way) reads "HT" as a header and keeps garbage.
        assert_ne!(frame_boundary_after(&out, 0, 3), from);
    }
}
