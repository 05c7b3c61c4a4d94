//! The one owner of connection lifecycles: admission, generations, the phase
//! moves (Http -> Open -> Closing), open/close counting, and removal.
//!
//! Everything that changes whether a client exists or what it is goes through
//! here, so the counts (`open`, metrics) and the lists the loop acts on later
//! (`left`: the hub must hear of it; `closing`: a linger deadline is due) can
//! never disagree with the slab. The output side (queueing, corked flushing,
//! the spare-buffer pool) is in `output`.

mod budget;
mod client;
mod output;
mod spare;

use mio::{Interest, Registry, Token};
use slab::Slab;

use crate::ClientId;
use crate::codec::{self, DecodeState};
use crate::limits::memory::Budget;
use crate::limits::{Limits, OVERFLOW_SLOTS};
use crate::metrics::Metrics;
use crate::timers::Millis;

pub use client::{Client, HttpConn, Kind, Phase};

use super::transport::Transport;

/// Tokens below this are the listener, the waker and the signal pipe.
const FIRST_CLIENT: usize = 3;

/// The mio token of a client.
pub fn token(id: ClientId) -> Token {
    Token(id.0 + FIRST_CLIENT)
}

/// The client a token names, if it names one.
pub fn client_of(token: Token) -> Option<ClientId> {
    token.0.checked_sub(FIRST_CLIENT).map(ClientId)
}

/// A connection that was let in.
#[derive(Debug, Clone, Copy)]
pub struct Admitted {
    pub id: ClientId,
    pub generation: u32,
    /// Past `--max-connections`: it is to be answered 503 and closed.
    pub over_limit: bool,
    /// Its address holds `--max-connections-per-ip` already: 503 and closed.
    pub over_ip: bool,
}

/// Every connection plus what the output path needs: the dirty list, spare buffers, limits.
pub struct Conns {
    slab: Slab<Client>,
    /// Source of generations; never reused within a slot's lifetime of timers.
    next_generation: u32,
    /// Open WebSocket connections (all kinds).
    open: usize,
    /// Clients with output appended this turn (flushed once at the end of the turn).
    dirty: Vec<ClientId>,
    /// Clients that left the Open phase; the hub hears of them after the current delivery.
    left: Vec<(ClientId, Kind)>,
    /// Clients that entered Closing and need a linger deadline armed.
    closing: Vec<ClientId>,
    spare: spare::Spare,
    max_pending: usize,
    max_connections: usize,
    /// The memory budget, and what connections hold of it (see `budget`).
    budget: Budget,
    /// Capacity of every client's output buffer.
    held_output: usize,
    /// Unfinished input of every client (partial requests and frames).
    held_input: usize,
    /// What the rest of the process holds, as last told by `set_others`.
    others: usize,
    /// Transport state of every client (TLS sessions), as estimated by the transport.
    held_transport: usize,
    /// Connections per address, when `--max-connections-per-ip` is set.
    per_ip: Option<budget::PerIp>,
    max_per_ip: usize,
    /// Some client's output passed the high-water mark this turn even after an
    /// early flush: the reader of the input that caused it should pause.
    pressure: bool,
    /// Clients whose queue passed the high-water mark even after an early
    /// flush; input that feeds them waits until they drain (or briefly).
    pressured: Vec<ClientId>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
}

impl Conns {
    /// No connections yet; room for `limits.max_connections` of them.
    #[cold] // start-up only: grouped with the other cold code, off the loop's pages
    pub fn new(limits: &Limits) -> Conns {
        let capacity = limits.max_connections;
        Conns {
            slab: Slab::with_capacity(capacity),
            next_generation: 0,
            open: 0,
            dirty: Vec::with_capacity(capacity.min(4096)),
            left: Vec::new(),
            closing: Vec::new(),
            spare: spare::Spare::default(),
            max_pending: limits.max_pending,
            max_connections: limits.max_connections,
            budget: Budget::new(limits.max_memory),
            held_output: 0,
            held_input: 0,
            held_transport: 0,
            others: 0,
            per_ip: (limits.max_connections_per_ip > 0).then(budget::PerIp::default),
            max_per_ip: limits.max_connections_per_ip,
            pressure: false,
            pressured: Vec::new(),
            metrics: Metrics::default(),
        }
    }

    /// Whether a new connection can get a slot now (served, or answered 503).
    /// When not, the caller leaves connections queued in the listen backlog
    /// rather than dropping them unanswered.
    pub fn has_room(&self) -> bool {
        self.slab.len() < self.max_connections + OVERFLOW_SLOTS
    }

    /// Takes a freshly accepted stream in, registered for reading. `None` when it
    /// was dropped (too many past the limit to even answer, or registration failed).
    pub fn admit(
        &mut self,
        registry: &Registry,
        mut transport: Transport,
        ip: std::net::IpAddr,
        now: Millis,
    ) -> Option<Admitted> {
        let over_limit = self.slab.len() >= self.max_connections;
        // Past the limit a few extra slots let us answer 503 politely; callers
        // check `has_room` first, so this drop is only a last resort.
        if !self.has_room() {
            return None;
        }
        let id = ClientId(self.slab.vacant_entry().key());
        if let Err(e) = registry.register(&mut transport, token(id), Interest::READABLE) {
            log::warn!("register failed: {e}");
            return None;
        }
        let generation = self.bump_generation();
        self.held_transport += transport.heap_estimate();
        self.slab.insert(Client::new(transport, now, generation));
        let max_per_ip = self.max_per_ip;
        let over_ip = !over_limit
            && self
                .per_ip
                .as_mut()
                .is_some_and(|p| !p.enter(id, ip, max_per_ip));
        Some(Admitted {
            id,
            generation,
            over_limit,
            over_ip,
        })
    }

    /// Switches an upgraded client to WebSocket; returns the generation to arm its keepalive with.
    pub fn open(&mut self, id: ClientId, kind: Kind) -> u32 {
        let generation = self.bump_generation();
        let c = &mut self.slab[id.0];
        c.phase = Phase::Open(DecodeState::default());
        c.kind = kind;
        c.generation = generation;
        // Whatever is queued now (the 101) is raw HTTP; frames start after it.
        c.frames_at = c.out.len() as u32;
        self.open += 1;
        self.metrics.connections_total += 1;
        generation
    }

    /// Starts closing an open WebSocket: the close frame follows everything queued.
    pub fn close(&mut self, id: ClientId, code: u16, reason: &str) {
        let Some(c) = self.slab.get_mut(id.0) else {
            return;
        };
        if !c.is_open() {
            return;
        }
        let before = c.out.capacity();
        codec::encode_close(&mut c.out, code, reason);
        let after = c.out.capacity();
        self.output_resized(before, after);
        self.enter_closing(id);
    }

    /// Moves a client to the Closing phase (its output is flushed, then FIN, then dropped).
    pub fn enter_closing(&mut self, id: ClientId) {
        let Some(c) = self.slab.get_mut(id.0) else {
            return;
        };
        if matches!(c.phase, Phase::Closing) {
            return;
        }
        self.leave_open(id);
        let input = budget::input_of(&self.slab[id.0]);
        self.input_resized(input, 0);
        let c = &mut self.slab[id.0];
        c.phase = Phase::Closing;
        self.mark_dirty(id);
        self.closing.push(id);
    }

    /// The peer ended its stream. A client with nothing queued is dropped now;
    /// one with an answer still queued (a response, the 101) gets it first, then
    /// FIN, and is dropped once it is out (or at the linger deadline).
    pub fn peer_closed(&mut self, registry: &Registry, id: ClientId) {
        let Some(c) = self.slab.get_mut(id.0) else {
            return;
        };
        if c.pending() == 0 && !c.transport.wants_write() {
            self.remove(registry, id);
            return;
        }
        c.eof = true;
        self.enter_closing(id);
        self.mark_dirty(id);
    }

    /// Drops a client now: deregisters and closes the socket.
    pub fn remove(&mut self, registry: &Registry, id: ClientId) {
        if !self.slab.contains(id.0) {
            return;
        }
        self.leave_open(id);
        let mut c = self.slab.remove(id.0);
        self.output_resized(c.out.capacity(), 0);
        self.input_resized(budget::input_of(&c), 0);
        self.held_transport -= c.transport.heap_estimate();
        if let Some(p) = &mut self.per_ip {
            p.leave(id);
        }
        let _ = registry.deregister(&mut c.transport);
    }

    /// Bookkeeping for a client that stops being an open WebSocket.
    fn leave_open(&mut self, id: ClientId) {
        let c = &self.slab[id.0];
        if c.is_open() {
            self.open -= 1;
            if matches!(c.kind, Kind::Ws | Kind::Broadcast) {
                self.left.push((id, c.kind));
            }
        }
    }

    /// Gives a client's slot a new generation (its pending timers go stale).
    pub fn rearm(&mut self, id: ClientId) -> Option<u32> {
        let generation = self.bump_generation();
        let c = self.slab.get_mut(id.0)?;
        c.generation = generation;
        Some(generation)
    }

    fn bump_generation(&mut self) -> u32 {
        self.next_generation = self.next_generation.wrapping_add(1);
        self.next_generation
    }

    /// Clients (of hub kinds) that stopped being open since the last call.
    pub fn take_left(&mut self) -> Vec<(ClientId, Kind)> {
        std::mem::take(&mut self.left)
    }

    /// Clients that started closing since the last call.
    pub fn take_closing(&mut self) -> Vec<ClientId> {
        std::mem::take(&mut self.closing)
    }

    /// Some client's departure has not been told to the hub yet.
    pub fn has_left(&self) -> bool {
        !self.left.is_empty()
    }

    /// A client, if it is still connected.
    pub fn get(&self, id: ClientId) -> Option<&Client> {
        self.slab.get(id.0)
    }

    /// A client, if it is still connected.
    pub fn get_mut(&mut self, id: ClientId) -> Option<&mut Client> {
        self.slab.get_mut(id.0)
    }

    /// Connections of any phase.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// No connections at all.
    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// Open WebSocket connections (all kinds).
    pub fn open_count(&self) -> usize {
        self.open
    }

    /// Every connected client.
    pub fn ids(&self) -> Vec<ClientId> {
        self.slab.iter().map(|(k, _)| ClientId(k)).collect()
    }

    /// Whether `id` still holds the timer generation `generation`.
    pub fn is_current(&self, id: ClientId, generation: u32) -> bool {
        self.slab
            .get(id.0)
            .is_some_and(|c| c.generation == generation)
    }
}
