//! The mio reactor: the only loop and the only place with sockets and syscalls.
//!
//! Layout: `conns` owns every connection's lifecycle and its output (corked
//! write buffers); `transport` is the byte pipe under a connection (plain TCP
//! today); `phases` holds the steps of one loop turn (see [`Server::turn`]);
//! `routes` answers HTTP; `ws` carries decoded WebSocket messages to the hub
//! and the hub's outbox back to the clients.

mod conns;
mod phases;
mod routes;
mod transport;
mod ws;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::ClientId;
use crate::config::Config;
use crate::hub::{Hub, Now, Outbox};
use crate::limits::Limits;
use crate::timers::{Millis, Timers};
use conns::Conns;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const SIGNALS: Token = Token(2);

/// A bound server, ready to `run`.
///
/// # One turn of the loop
///
/// `run` waits in `poll` until readiness or the next deadline
/// ([`Server::poll_timeout`]), then runs [`Server::turn`], whose phases are,
/// in order:
///
/// 1. **catch up**: read clients whose read budget ran out last turn (the backlog);
/// 2. **dispatch** each event: accept (after a settle, so a slot is never reused
///    before the hub heard its previous owner left), read and ingest
///    (http / codec / hub only append to write buffers), writable readiness
///    marks the client for flushing;
/// 3. **timers**: handshake, keepalive and linger deadlines, the hub's timers,
///    a paused accept;
/// 4. **settle**: the hub hears of clients that stopped being open (which may
///    queue presence events), linger deadlines are armed for clients that
///    started closing;
/// 5. **flush**: every dirty client is written once ("cork"); clients whose
///    write failed or whose close is done are removed;
/// 6. **settle** again, for the clients removed while flushing.
///
/// The invariant that ends a turn: after the last settle, no client is dirty,
/// or the next `poll_timeout` is zero (output queued by that settle, such as a
/// `left` event after a write error, goes out on the next turn at once).
pub struct Server {
    poll: Poll,
    listener: Option<TcpListener>,
    local_addr: std::net::SocketAddr,
    config: Config,
    limits: Limits,
    conns: Conns,
    hub: Hub,
    outbox: Outbox,
    timers: Timers,
    read_buf: Vec<u8>,
    /// Frames are encoded here once, then copied to each recipient.
    scratch: Vec<u8>,
    /// Clients that still had unread input when their read budget ran out.
    backlog: Vec<ClientId>,
    /// Clients removed while flushing, reaped after it.
    dead: Vec<ClientId>,
    started: Instant,
    now: Millis,
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
    /// Binds the listener of `config.listen` (port 0 picks a free port),
    /// opening the `--data-dir` store if there is one.
    pub fn bind(config: Config) -> io::Result<Server> {
        let store = crate::hub::store::open(&config).map_err(io::Error::other)?;
        Server::bind_with(config, store)
    }

    /// As [`Server::bind`], with the room store already opened.
    pub fn bind_with(
        config: Config,
        store: Option<Box<dyn crate::hub::store::Store>>,
    ) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(config.listen)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let limits = Limits::from_config(&config);
        let mut hub = Hub::new(limits.hub.clone());
        if let Some(store) = store {
            hub.set_store(store);
        }
        Ok(Server {
            local_addr: listener.local_addr()?,
            listener: Some(listener),
            poll,
            conns: Conns::new(&limits),
            hub,
            outbox: Outbox::default(),
            timers: Timers::with_capacity(limits.max_connections),
            // Allocated on the first read, so an idle server does not carry it.
            read_buf: Vec::new(),
            scratch: Vec::with_capacity(4096),
            backlog: Vec::new(),
            dead: Vec::new(),
            started: Instant::now(),
            now: 0,
            accept_paused_until: None,
            shutdown_flag: Arc::new(AtomicBool::new(false)),
            waker,
            signals: None,
            shutdown_deadline: None,
            limits,
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
        loop {
            let timeout = self.poll_timeout();
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            self.turn(&events);
            if let Some(deadline) = self.shutdown_deadline
                && (self.conns.is_empty() || self.now >= deadline)
            {
                self.hub.close_store(self.hub_now());
                log::info!("shut down ({} connections left)", self.conns.len());
                return Ok(());
            }
        }
    }

    /// One loop turn after `poll` returned; the phases are listed at [`Server`].
    fn turn(&mut self, events: &Events) {
        self.now = self.started.elapsed().as_millis() as Millis;
        self.catch_up();
        for event in events.iter() {
            self.dispatch(event);
        }
        self.run_timers();
        self.settle();
        // Group commit: this turn's room changes are stored before its output is sent.
        self.hub.commit(self.hub_now());
        self.flush();
        self.settle();
        debug_assert!(!self.conns.has_dirty() || self.poll_timeout() == Some(Duration::ZERO));
    }

    /// How long `poll` may sleep: zero while work is left over (a read backlog,
    /// unflushed output), else until the earliest deadline, or forever when there is none.
    fn poll_timeout(&self) -> Option<Duration> {
        if !self.backlog.is_empty() || self.conns.has_dirty() {
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
}
