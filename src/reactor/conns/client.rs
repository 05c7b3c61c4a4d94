//! One connection's state: kept small, because an idle one should cost almost nothing.

use crate::codec::DecodeState;
use crate::timers::Millis;

use super::super::transport::Transport;

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

/// Where the connection is in its life. Moves forward only, and only through
/// `Conns` (`open`, `enter_closing`); the reactor may update the data inside
/// a phase (the partial request, the decoder state).
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

/// One connection. Lifecycle fields are private to `Conns`, which owns them.
#[derive(Debug)]
pub struct Client {
    pub(in crate::reactor) transport: Transport,
    pub(in crate::reactor) phase: Phase,
    /// Unsent output is `out[sent..]`; the Vec has no allocation while nothing is pending.
    pub(super) out: Vec<u8>,
    /// u32 like `frames_at`: the buffer is bounded by `--max-pending`, which is
    /// below 4 GiB, and 4 bytes less per connection matter at 10 000 of them.
    pub(super) sent: u32,
    /// A frame boundary in `out` at or before `sent`: bytes before it are raw
    /// HTTP (the 101) or already sent, bytes from it are whole WebSocket frames.
    pub(super) frames_at: u32,
    /// When the peer last sent anything (for keepalive): reactor milliseconds,
    /// truncated to 32 bits (see `Client::idle_for`).
    last_seen: u32,
    /// Bumped whenever the slot's timer is re-armed for another purpose; stale timers are skipped.
    pub(super) generation: u32,
    pub(super) kind: Kind,
    /// WRITABLE interest is registered (only while output is pending).
    pub(super) writable: bool,
    /// Queued in the dirty list for this turn's flush.
    pub(super) dirty: bool,
    /// FIN already sent in the Closing phase.
    pub(super) fin_sent: bool,
    /// The peer's end of stream was read: drop the connection once its output is out.
    pub(super) eof: bool,
    /// Listed in `Conns::pressured` (its queue passed the high-water mark).
    pub(super) pressured: bool,
    /// A ping is out and unanswered (avoids pinging a silent client twice per interval).
    pub(in crate::reactor) pinged: bool,
    /// permessage-deflate was negotiated: RSV1 input is inflated, large output compressed.
    pub(in crate::reactor) deflate: bool,
}

impl Client {
    pub(super) fn new(transport: Transport, now: Millis, generation: u32) -> Client {
        Client {
            transport,
            phase: Phase::Http(None),
            out: Vec::new(),
            sent: 0,
            frames_at: 0,
            last_seen: now as u32,
            generation,
            kind: Kind::Http,
            writable: false,
            dirty: false,
            fin_sent: false,
            eof: false,
            pressured: false,
            pinged: false,
            deflate: false,
        }
    }

    /// Notes that the peer sent something at `now`.
    pub(in crate::reactor) fn seen(&mut self, now: Millis) {
        self.last_seen = now as u32;
    }

    /// Milliseconds since the peer last sent anything. The stamp wraps every
    /// 49 days; the wrapping difference stays exact because keepalive looks at
    /// every open connection at least once per `--idle-timeout`, far below that.
    pub(in crate::reactor) fn idle_for(&self, now: Millis) -> Millis {
        (now as u32).wrapping_sub(self.last_seen) as Millis
    }

    /// Output queued but not yet handed to the transport.
    pub fn pending(&self) -> usize {
        self.out.len() - self.sent as usize
    }

    /// An open WebSocket.
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open(_))
    }

    /// What the connection is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The generation its current timer was armed for.
    pub fn generation(&self) -> u32 {
        self.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_state_stays_small() {
        // The idle-connection budget is 256 bytes in user space, slab entry included.
        assert!(std::mem::size_of::<slab::Slab<Client>>() > 0);
        assert!(
            std::mem::size_of::<Client>() <= if cfg!(debug_assertions) { 96 } else { 80 },
            "{}",
            std::mem::size_of::<Client>()
        );
    }
}
