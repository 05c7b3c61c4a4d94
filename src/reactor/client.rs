//! Per-connection state and the output side: corked write buffers, flushing, closing.

use std::io::{self, Write};
use std::net::Shutdown;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use slab::Slab;

use crate::ClientId;
use crate::codec::{self, DecodeState};
use crate::metrics::Metrics;
use crate::timers::Millis;

/// Tokens below this are the listener, the waker and the signal pipe.
pub const FIRST_CLIENT: usize = 3;

/// Bytes of drained write buffers kept for reuse, so a busy turn does not malloc
/// per client; small enough not to matter on a small device.
const SPARE_BYTES: usize = 256 * 1024;
/// Buffers that grew past this are freed rather than kept as spares.
const SPARE_MAX_CAPACITY: usize = 8 * 1024;

/// What the connection is, which decides what its messages do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Still an HTTP request (or a plain HTTP response being sent).
    Http,
    /// `/broadcast`: raw hub.
    Broadcast,
    /// `/echo`.
    Echo,
    /// `/ws` and `/socket`: the JSON hub.
    Ws,
}

/// Where the connection is in its life.
#[derive(Debug)]
pub enum Phase {
    /// Reading the request head (and body); the box exists only while bytes are partial.
    Http(Option<Box<HttpConn>>),
    /// WebSocket open.
    Open(DecodeState),
    /// A close frame or an HTTP response is queued: flush, send FIN, drop at EOF or deadline.
    Closing,
}

/// A request whose head (or body) is still arriving.
#[derive(Debug, Default)]
pub struct HttpConn {
    /// Bytes received so far, from the start of the request.
    pub buf: Vec<u8>,
    /// The parsed head and its length, once complete (the body is still arriving).
    pub head: Option<(crate::http::Request, usize)>,
}

/// One connection: kept small, because an idle one should cost almost nothing.
#[derive(Debug)]
pub struct Client {
    pub stream: TcpStream,
    pub phase: Phase,
    /// Unsent output is `out[sent..]`; the Vec has no allocation while nothing is pending.
    pub out: Vec<u8>,
    pub sent: usize,
    /// When the peer last sent anything (for keepalive), in reactor milliseconds.
    pub last_seen: Millis,
    /// Bumped whenever the slot's timer is re-armed for another purpose; stale timers are skipped.
    pub generation: u32,
    /// Index in the `/broadcast` member list, or `u32::MAX`.
    pub member: u32,
    pub kind: Kind,
    /// WRITABLE interest is registered (only while output is pending).
    pub writable: bool,
    /// Queued in the dirty list for this turn's flush.
    pub dirty: bool,
    /// FIN already sent in the Closing phase.
    pub fin_sent: bool,
    /// A ping is out and unanswered (avoids pinging a silent client twice per interval).
    pub pinged: bool,
    /// permessage-deflate was negotiated: RSV1 input is inflated, large output compressed.
    pub deflate: bool,
}

impl Client {
    pub fn new(stream: TcpStream, now: Millis, generation: u32) -> Client {
        Client {
            stream,
            phase: Phase::Http(None),
            out: Vec::new(),
            sent: 0,
            last_seen: now,
            generation,
            member: u32::MAX,
            kind: Kind::Http,
            writable: false,
            dirty: false,
            fin_sent: false,
            pinged: false,
            deflate: false,
        }
    }

    /// Output queued but not yet written.
    pub fn pending(&self) -> usize {
        self.out.len() - self.sent
    }

    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open(_))
    }
}

/// Every connection plus what the output path needs: the dirty list, spare buffers, limits.
pub struct Conns {
    pub slab: Slab<Client>,
    /// Clients with output appended this turn (flushed once at the end of the turn).
    pub dirty: Vec<usize>,
    /// `/broadcast` members, for a fan-out that touches only them.
    pub broadcast: Vec<u32>,
    /// `/ws` clients that left the Open phase; the hub hears of them after the current delivery.
    pub left_ws: Vec<ClientId>,
    /// Clients that entered Closing this turn and need a linger deadline armed.
    pub closing: Vec<usize>,
    spare: Vec<Vec<u8>>,
    /// Sum of the spare buffers' capacities.
    spare_bytes: usize,
    pub max_pending: usize,
    pub metrics: Metrics,
    /// Open WebSocket connections (all kinds).
    pub open: usize,
}

impl Conns {
    pub fn new(capacity: usize, max_pending: usize) -> Conns {
        Conns {
            slab: Slab::with_capacity(capacity),
            dirty: Vec::with_capacity(capacity.min(4096)),
            broadcast: Vec::new(),
            left_ws: Vec::new(),
            closing: Vec::new(),
            spare: Vec::new(),
            spare_bytes: 0,
            max_pending,
            metrics: Metrics::default(),
            open: 0,
        }
    }

    /// Appends `bytes` (one or more complete frames) to a client's output, closing
    /// it with 1013 when its backlog would pass the limit.
    pub fn queue(&mut self, key: usize, bytes: &[u8]) {
        let Some(c) = self.slab.get_mut(key) else {
            return;
        };
        if !c.is_open() {
            return;
        }
        if c.pending() + bytes.len() > self.max_pending {
            self.metrics.slow_consumers_dropped += 1;
            log::debug!(
                "client {key}: {} bytes pending, closing as slow consumer",
                c.pending()
            );
            self.close_slow(key);
            return;
        }
        if c.out.capacity() == 0
            && let Some(buf) = self.spare.pop()
        {
            c.out = buf;
        }
        c.out.extend_from_slice(bytes);
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(key);
        }
    }

    /// Appends raw bytes in any phase (HTTP responses, the 101, a close frame).
    pub fn queue_raw(&mut self, key: usize, bytes: &[u8]) {
        let Some(c) = self.slab.get_mut(key) else {
            return;
        };
        c.out.extend_from_slice(bytes);
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(key);
        }
    }

    /// Starts closing an open WebSocket: the close frame follows everything queued.
    pub fn close(&mut self, key: usize, code: u16, reason: &str) {
        let Some(c) = self.slab.get_mut(key) else {
            return;
        };
        if !c.is_open() {
            return;
        }
        codec::encode_close(&mut c.out, code, reason);
        self.enter_closing(key);
    }

    /// Closes a slow consumer with 1013 right after the frame in flight: unsent whole
    /// frames are dropped, so it learns why at once instead of after its backlog.
    fn close_slow(&mut self, key: usize) {
        let c = &mut self.slab[key];
        let keep = frame_boundary_after(&c.out, c.sent);
        c.out.truncate(keep);
        self.close(key, 1013, "slow consumer");
    }

    /// Moves a client to the Closing phase (its output is flushed, then FIN, then dropped).
    pub fn enter_closing(&mut self, key: usize) {
        let Some(c) = self.slab.get_mut(key) else {
            return;
        };
        if matches!(c.phase, Phase::Closing) {
            return;
        }
        self.leave_open(key);
        let c = &mut self.slab[key];
        c.phase = Phase::Closing;
        // Broadcast membership ends in `remove`, not here: a fan-out may be walking the
        // member list right now, and `queue` already skips clients that are not open.
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(key);
        }
        self.closing.push(key);
    }

    /// Bookkeeping for a client that stops being an open WebSocket.
    fn leave_open(&mut self, key: usize) {
        let c = &self.slab[key];
        if c.is_open() {
            self.open -= 1;
            if c.kind == Kind::Ws {
                self.left_ws.push(ClientId(key));
            }
        }
    }

    pub fn join_broadcast(&mut self, key: usize) {
        self.slab[key].member = self.broadcast.len() as u32;
        self.broadcast.push(key as u32);
    }

    fn leave_broadcast(&mut self, key: usize) {
        let idx = std::mem::replace(&mut self.slab[key].member, u32::MAX) as usize;
        self.broadcast.swap_remove(idx);
        if let Some(&moved) = self.broadcast.get(idx) {
            self.slab[moved as usize].member = idx as u32;
        }
    }

    /// Drops a client now: deregisters and closes the socket.
    pub fn remove(&mut self, registry: &Registry, key: usize) {
        if !self.slab.contains(key) {
            return;
        }
        self.leave_open(key);
        if self.slab[key].member != u32::MAX {
            self.leave_broadcast(key);
        }
        let c = self.slab.remove(key);
        let _ = registry.deregister(&mut { c.stream });
    }

    /// Writes every dirty client's output once, then sets WRITABLE interest exactly
    /// for those that did not drain. Returns clients to drop (write error, or done closing).
    pub fn flush_dirty(&mut self, registry: &Registry, dead: &mut Vec<usize>) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &key in &dirty {
            let Some(c) = self.slab.get_mut(key) else {
                continue;
            };
            c.dirty = false;
            match flush_one(c, &mut self.metrics) {
                Ok(()) => {}
                Err(e) => {
                    log::debug!("client {key}: write failed: {e}");
                    dead.push(key);
                    continue;
                }
            }
            let drained = c.pending() == 0;
            if drained {
                let buf = std::mem::take(&mut c.out);
                c.sent = 0;
                let cap = buf.capacity();
                if cap <= SPARE_MAX_CAPACITY && self.spare_bytes + cap <= SPARE_BYTES {
                    let mut buf = buf;
                    buf.clear();
                    self.spare_bytes += cap;
                    self.spare.push(buf);
                }
                if matches!(c.phase, Phase::Closing) && !c.fin_sent {
                    c.fin_sent = true;
                    // FIN after the close frame or response; we keep reading until the peer's EOF.
                    let _ = c.stream.shutdown(Shutdown::Write);
                }
            }
            if drained == c.writable {
                c.writable = !drained;
                let interest = if c.writable {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                if let Err(e) =
                    registry.reregister(&mut c.stream, Token(key + FIRST_CLIENT), interest)
                {
                    log::warn!("client {key}: reregister failed: {e}");
                    dead.push(key);
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

/// Writes as much of the client's pending output as the socket takes.
fn flush_one(c: &mut Client, metrics: &mut Metrics) -> io::Result<()> {
    while c.sent < c.out.len() {
        match c.stream.write(&c.out[c.sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                c.sent += n;
                metrics.bytes_out += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The end of the server frame that contains byte `sent` of `out` (or `sent` itself
/// when it sits on a boundary): everything after it can be dropped without
/// corrupting the stream. Our own frames are unmasked, so headers are easy to walk.
fn frame_boundary_after(out: &[u8], sent: usize) -> usize {
    let mut at = 0;
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
        assert_eq!(frame_boundary_after(&out, 0), 0);
        assert_eq!(frame_boundary_after(&out, 1), 5);
        assert_eq!(frame_boundary_after(&out, 5), 5);
        assert_eq!(frame_boundary_after(&out, 6), out.len());
    }

    #[test]
    fn client_state_stays_small() {
        // The idle-connection budget is 256 bytes in user space, slab entry included.
        assert!(std::mem::size_of::<slab::Slab<Client>>() > 0);
        assert!(
            std::mem::size_of::<Client>() <= 96,
            "{}",
            std::mem::size_of::<Client>()
        );
    }
}
