//! The mio reactor: the only loop and the only place with sockets and syscalls.
//!
//! One turn of the loop: wait in `poll` until readiness or the next deadline,
//! accept until `WouldBlock`, read each readable client until `WouldBlock` and
//! feed the bytes through http / codec / hub (which only append to write
//! buffers), run due timers, then flush every dirty client once ("cork").

mod client;
mod routes;
mod ws;

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::config::Config;
use crate::hub::{Hub, HubConfig, Now, Outbox};
use crate::timers::{Millis, Timers};
use client::{Client, Conns, FIRST_CLIENT, Phase};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const SIGNALS: Token = Token(2);

/// Size of the one read buffer shared by every connection.
const READ_BUF: usize = 64 * 1024;
/// Reads per readiness event before moving on, so one flooding client cannot starve the rest.
const READS_PER_TURN: usize = 16;
/// How long a closing connection may take to drain and answer our FIN.
const LINGER_MS: Millis = 5_000;
/// How long graceful shutdown waits for clients to take their close frames.
const SHUTDOWN_MS: Millis = 2_000;
/// Pause before accepting again when the process is out of file descriptors.
const ACCEPT_BACKOFF_MS: Millis = 100;

/// A bound server, ready to `run`.
pub struct Server {
    poll: Poll,
    listener: Option<TcpListener>,
    local_addr: std::net::SocketAddr,
    config: Config,
    conns: Conns,
    hub: Hub,
    outbox: Outbox,
    timers: Timers,
    read_buf: Vec<u8>,
    /// Frames are encoded here once, then copied to each recipient.
    scratch: Vec<u8>,
    /// Clients that still had unread input when their read budget ran out.
    backlog: Vec<usize>,
    started: Instant,
    now: Millis,
    next_generation: u32,
    accept_paused_until: Option<Millis>,
    shutdown_flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
    signals: Option<Signals>,
    shutdown_deadline: Option<Millis>,
}

/// Asks a running server to shut down gracefully, as SIGTERM does.
#[derive(Clone)]
pub struct ShutdownHandle {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl ShutdownHandle {
    /// Starts the graceful shutdown (close 1001 to every client, flush, return).
    pub fn shutdown(&self) {
        self.flag.store(true, Ordering::SeqCst);
        if let Err(e) = self.waker.wake() {
            log::warn!("cannot wake the reactor for shutdown: {e}");
        }
    }
}

impl Server {
    /// Binds the listener of `config.listen` (port 0 picks a free port).
    pub fn bind(config: Config) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(config.listen)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let hub = Hub::new(HubConfig {
            rate_limit: config.rate_limit,
            rate_burst: config.rate_limit.saturating_mul(2),
            history: config.history,
            max_rooms: config.max_rooms,
            broadcast_rate: config.broadcast_rate,
            broadcast_burst: config.broadcast_rate.saturating_mul(2),
            notify_rate: config.notify_rate,
            notify_burst: config.notify_rate.saturating_mul(2),
            ..HubConfig::default()
        });
        Ok(Server {
            local_addr: listener.local_addr()?,
            listener: Some(listener),
            poll,
            conns: Conns::new(config.max_connections, config.max_pending),
            hub,
            outbox: Outbox::default(),
            timers: Timers::with_capacity(config.max_connections),
            // Allocated on the first read, so an idle server does not carry it.
            read_buf: Vec::new(),
            scratch: Vec::with_capacity(4096),
            backlog: Vec::new(),
            started: Instant::now(),
            now: 0,
            next_generation: 0,
            accept_paused_until: None,
            shutdown_flag: Arc::new(AtomicBool::new(false)),
            waker,
            signals: None,
            shutdown_deadline: None,
            config,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local_addr
    }

    /// A handle that stops this server from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            flag: self.shutdown_flag.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Also shut down gracefully on SIGINT and SIGTERM (the binary does this).
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(())
    }

    /// Runs the loop until shutdown.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut dead = Vec::new();
        loop {
            let timeout = self.poll_timeout();
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.now = self.started.elapsed().as_millis() as Millis;
            for key in std::mem::take(&mut self.backlog) {
                self.readable(key);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {
                        if self.shutdown_flag.load(Ordering::SeqCst) {
                            self.begin_shutdown();
                        }
                    }
                    SIGNALS => self.signalled(),
                    Token(t) => {
                        let key = t - FIRST_CLIENT;
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.readable(key);
                        }
                        if event.is_writable() {
                            self.writable(key);
                        }
                    }
                }
            }
            self.run_timers();
            self.settle();
            self.conns.flush_dirty(self.poll.registry(), &mut dead);
            for key in dead.drain(..) {
                self.conns.remove(self.poll.registry(), key);
            }
            self.settle();
            if let Some(deadline) = self.shutdown_deadline
                && (self.conns.slab.is_empty() || self.now >= deadline)
            {
                log::info!("shut down ({} connections left)", self.conns.slab.len());
                return Ok(());
            }
        }
    }

    /// How long `poll` may sleep: until the earliest deadline, or forever when there is none.
    fn poll_timeout(&self) -> Option<Duration> {
        if !self.backlog.is_empty() {
            return Some(Duration::ZERO);
        }
        let mut next = self.timers.next();
        let mut consider = |at: Option<Millis>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        };
        consider(self.accept_paused_until);
        consider(self.shutdown_deadline);
        consider(self.hub.poll_timeout().map(|t| self.millis_of(t)));
        let now = self.started.elapsed().as_millis() as Millis;
        // Round up by a millisecond so we never wake just before a deadline and spin.
        next.map(|at| Duration::from_millis(at.saturating_sub(now) + 1))
    }

    fn millis_of(&self, t: Instant) -> Millis {
        t.saturating_duration_since(self.started).as_millis() as Millis
    }

    /// The time for the hub: monotonic from our turn clock, wall clock for `ts`.
    fn hub_now(&self) -> Now {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Now {
            mono: self.started + Duration::from_millis(self.now),
            unix_ms,
        }
    }

    fn accept(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.accept_paused_until = None;
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            let (stream, addr) = match listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // EMFILE/ENFILE/ENOBUFS: the pending connection stays queued and
                    // epoll (edge-triggered) will not repeat itself, so retry on a timer
                    // instead of spinning or stalling.
                    log::warn!("accept failed: {e}; retrying in {ACCEPT_BACKOFF_MS} ms");
                    self.accept_paused_until = Some(self.now + ACCEPT_BACKOFF_MS);
                    return;
                }
            };
            self.admit(stream, addr);
        }
    }

    fn admit(&mut self, mut stream: mio::net::TcpStream, addr: std::net::SocketAddr) {
        let full = self.conns.slab.len() >= self.config.max_connections;
        // Past the limit a few extra slots let us answer 503 politely; beyond them, drop.
        if full && self.conns.slab.len() >= self.config.max_connections + 64 {
            return;
        }
        if let Err(e) = stream.set_nodelay(true) {
            log::debug!("{addr}: set_nodelay failed: {e}");
        }
        let key = self.conns.slab.vacant_entry().key();
        let token = Token(key + FIRST_CLIENT);
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, token, Interest::READABLE)
        {
            log::warn!("{addr}: register failed: {e}");
            return;
        }
        let generation = self.bump_generation();
        self.conns
            .slab
            .insert(Client::new(stream, self.now, generation));
        log::debug!("client {key}: connected from {addr}");
        if full {
            self.conns.metrics.handshake_failures += 1;
            routes::respond(
                &mut self.conns,
                key,
                503,
                "text/plain",
                &[],
                b"server full\n",
            );
            return;
        }
        let deadline = self.now + self.config.handshake_timeout.as_millis() as Millis;
        self.timers.arm(deadline, key, generation);
    }

    fn bump_generation(&mut self) -> u32 {
        self.next_generation = self.next_generation.wrapping_add(1);
        self.next_generation
    }

    /// Reads a client until `WouldBlock` (or its per-turn budget) and feeds every chunk on.
    fn readable(&mut self, key: usize) {
        let mut buf = std::mem::take(&mut self.read_buf);
        if buf.is_empty() {
            buf = vec![0; READ_BUF];
        }
        for _ in 0..READS_PER_TURN {
            let Some(c) = self.conns.slab.get_mut(key) else {
                break;
            };
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    self.peer_closed(key);
                    break;
                }
                Ok(n) => {
                    c.last_seen = self.now;
                    c.pinged = false;
                    self.conns.metrics.bytes_in += n as u64;
                    self.ingest(key, &mut buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.read_buf = buf;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("client {key}: read failed: {e}");
                    self.conns.remove(self.poll.registry(), key);
                    break;
                }
            }
        }
        if self.conns.slab.contains(key) && !self.backlog.contains(&key) {
            // Budget used up with data possibly left: edge-triggered epoll will not
            // tell us again, so come back next turn.
            self.backlog.push(key);
        }
        self.read_buf = buf;
    }

    /// Routes bytes by the connection's phase.
    fn ingest(&mut self, key: usize, bytes: &mut [u8]) {
        match &self.conns.slab[key].phase {
            Phase::Http(_) => self.ingest_http(key, bytes),
            Phase::Open(_) => self.ingest_ws(key, bytes),
            // After our close frame or response, input is only drained until EOF.
            Phase::Closing => {}
        }
    }

    /// EOF from the peer: a closing connection is done; anything else was abandoned.
    fn peer_closed(&mut self, key: usize) {
        log::debug!("client {key}: disconnected");
        self.conns.remove(self.poll.registry(), key);
    }

    fn writable(&mut self, key: usize) {
        if let Some(c) = self.conns.slab.get_mut(key)
            && !c.dirty
            && c.pending() > 0
        {
            c.dirty = true;
            self.conns.dirty.push(key);
        }
    }

    fn signalled(&mut self) {
        let mut stop = false;
        if let Some(signals) = &mut self.signals {
            for signal in signals.pending() {
                log::info!("signal {signal}: shutting down");
                stop = true;
            }
        }
        if stop {
            self.begin_shutdown();
        }
    }

    /// Stops accepting, sends 1001 to every open client, and gives them a short
    /// deadline to take it; the loop returns when all are gone or the time is up.
    fn begin_shutdown(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        let keys: Vec<usize> = self.conns.slab.iter().map(|(k, _)| k).collect();
        for key in keys {
            match self.conns.slab[key].phase {
                Phase::Open(_) => self.conns.close(key, 1001, "server shutting down"),
                Phase::Http(_) => self.conns.remove(self.poll.registry(), key),
                Phase::Closing => {}
            }
        }
        self.shutdown_deadline = Some(self.now + SHUTDOWN_MS);
    }

    /// Fires every due deadline: handshake timeouts, keepalive, lingering closes, the hub's timers.
    fn run_timers(&mut self) {
        let now = self.now;
        while let Some(due) = self.timers.pop_due(now) {
            let Some(c) = self.conns.slab.get_mut(due.key) else {
                continue;
            };
            if c.generation != due.generation {
                continue;
            }
            match c.phase {
                Phase::Http(_) => {
                    log::debug!("client {}: handshake timed out", due.key);
                    self.conns.metrics.handshake_failures += 1;
                    self.conns.remove(self.poll.registry(), due.key);
                }
                Phase::Open(_) => self.keepalive(due.key),
                Phase::Closing => self.conns.remove(self.poll.registry(), due.key),
            }
        }
        if let Some(at) = self.hub.poll_timeout()
            && self.millis_of(at) <= now
        {
            let hub_now = self.hub_now();
            self.hub.handle_timeout(hub_now, &mut self.outbox);
            self.drain_outbox();
        }
        if self.accept_paused_until.is_some_and(|at| at <= now) {
            self.accept();
        }
        let slab = &self.conns.slab;
        self.timers
            .compact(|key, generation| slab.get(key).is_some_and(|c| c.generation == generation));
    }

    /// Pings a quiet client, closes a silent one, and re-arms its next check.
    fn keepalive(&mut self, key: usize) {
        let ping = self.config.ping_interval.as_millis() as Millis;
        let idle_limit = self.config.idle_timeout.as_millis() as Millis;
        let c = &mut self.conns.slab[key];
        let idle = self.now.saturating_sub(c.last_seen);
        if idle >= idle_limit {
            log::debug!("client {key}: idle for {idle} ms, closing");
            self.conns.close(key, 1000, "idle timeout");
            return;
        }
        let generation = c.generation;
        let next = if idle < ping {
            c.last_seen + ping
        } else {
            let send_ping = !c.pinged;
            c.pinged = true;
            let next = c.last_seen + idle_limit;
            if send_ping {
                // If the ping tips a slow consumer over its limit, the close re-arms
                // the slot with a new generation and this entry goes stale.
                self.scratch.clear();
                crate::codec::encode_frame(&mut self.scratch, ws::PING, b"");
                self.conns.queue(key, &self.scratch);
            }
            next
        };
        self.timers.arm(next, key, generation);
    }

    /// After any work: tell the hub about `/ws` clients that left (which may queue
    /// presence events), and arm linger deadlines for clients that started closing.
    fn settle(&mut self) {
        while !self.conns.left_ws.is_empty() {
            let hub_now = self.hub_now();
            for id in std::mem::take(&mut self.conns.left_ws) {
                self.hub.handle_disconnect(hub_now, id, &mut self.outbox);
                self.drain_outbox();
            }
        }
        for key in std::mem::take(&mut self.conns.closing) {
            let Some(c) = self.conns.slab.get_mut(key) else {
                continue;
            };
            if !matches!(c.phase, Phase::Closing) {
                continue;
            }
            self.next_generation = self.next_generation.wrapping_add(1);
            c.generation = self.next_generation;
            self.timers.arm(self.now + LINGER_MS, key, c.generation);
        }
    }
}
