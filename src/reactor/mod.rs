//! The mio reactor: the only loop and the only place with sockets and syscalls.
//!
//! Layout: `conns` owns every connection's lifecycle and its output (corked
//! write buffers); `transport` is the byte pipe under a connection (plain TCP,
//! or TLS from `tls`); `phases` holds the steps of one loop turn (see [`Server::turn`]);
//! `routes` answers HTTP; `ws` carries decoded WebSocket messages to the hub
//! and the hub's outbox back to the clients.

mod budget;
mod conns;
mod pack;
mod phases;
#[cfg(feature = "redis")]
mod redis;
mod routes;
mod service;
#[cfg(feature = "tls")]
mod tls;
mod transport;
mod ws;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use transport::Transport;

use crate::ClientId;
use crate::config::Config;
use crate::hub::{Hub, Now, Outbox};
use crate::limits::Limits;
use crate::policy::FailureBudget;
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
/// 1. **catch up**: read clients whose read budget ran out last turn (the
///    backlog), and clients paused because their input outran its receivers,
///    once those drained (or the pause is over);
/// 2. **dispatch** each event: accept (after a settle, so a slot is never reused
///    before the hub heard its previous owner left), read and ingest
///    (http / codec / hub only append to write buffers), writable readiness
///    marks the client for flushing;
/// 3. **timers**: handshake, keepalive and linger deadlines, the hub's timers,
///    a paused accept;
/// 4. **settle**: the hub hears of clients that stopped being open (which may
///    queue presence events), linger deadlines are armed for clients that
///    started closing;
/// 5. **flush**: every dirty client is written once ("cork"; a client whose
///    queue passed half of `--max-pending` was already written to when it did);
///    clients whose write failed or whose close is done are removed, and an
///    accept paused for want of slots resumes;
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
    /// permessage-deflate: the shared deflater and inflater.
    pack: pack::Pack,
    /// Clients that still had unread input when their read budget ran out.
    backlog: Vec<ClientId>,
    /// Clients not read until their receivers drain (or `stalled_until`).
    stalled: Vec<ClientId>,
    stalled_until: Option<Millis>,
    /// Clients removed while flushing, reaped after it.
    dead: Vec<ClientId>,
    /// The accept budget ran out with connections possibly still queued.
    accept_backlog: bool,
    started: Instant,
    now: Millis,
    accept_paused_until: Option<Millis>,
    /// Accepting stopped with connections left queued, because no slot was free.
    accept_blocked: bool,
    shutdown_flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
    signals: Option<Signals>,
    shutdown_deadline: Option<Millis>,
    /// The Redis engine's sockets (`--redis`).
    #[cfg(feature = "redis")]
    redis: redis::RedisIo,
    /// The service manager to notify (`Type=notify`), when there is one.
    notifier: Option<crate::systemd::Notifier>,
    /// When the next `WATCHDOG=1` is due.
    watchdog_due: Option<Millis>,
    /// Asks the allocator to hand freed pages back to the OS (see `Server::on_release`).
    release: Option<fn()>,
    /// Certificate and rustls config when the listener speaks TLS (SIGHUP reloads it).
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::Acceptor>,
    /// Failed tokens and API keys per address (route policy: 429 when used up).
    failures: FailureBudget,
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
    /// Binds the listener of `config.listen` (port 0 picks a free port). With
    /// `--tls-cert`/`--tls-key` it loads them too; a bad file is an
    /// `InvalidData` error whose message is one line naming the file.
    #[cold] // start-up only: grouped with the other cold code, off the loop's pages
    pub fn bind(config: Config) -> io::Result<Server> {
        let listener = listen(config.listen, config.reuse_port)?;
        Server::on_listener(config, listener)
    }

    /// A server on a listener that is already bound (see `from_listener`).
    #[cold] // start-up only: grouped with the other cold code, off the loop's pages
    fn on_listener(config: Config, mut listener: TcpListener) -> io::Result<Server> {
        // A data dir that cannot be used is, like a bad certificate, a
        // configuration error (exit code 2), not a listen failure.
        let store = crate::hub::store::open(&config)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        #[cfg(feature = "tls")]
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(
                crate::tls::Acceptor::load(cert, key)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
            ),
            _ => None,
        };
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let limits = Limits::from_config(&config);
        let mut hub = Hub::new(limits.hub.clone());
        #[cfg(feature = "redis")]
        let redis = match &config.redis {
            Some(url) => {
                let url = crate::engine::parse_url(url).map_err(io::Error::other)?;
                let addr = redis::resolve(&url)?;
                let node = config
                    .node_id
                    .clone()
                    .unwrap_or_else(redis::default_node_id);
                log::info!("node {node}: cluster over redis {url}");
                hub.attach_redis(url, &node, Instant::now());
                redis::RedisIo::new(addr)
            }
            None => redis::RedisIo::default(),
        };
        if let Some(store) = store {
            hub.set_store(store);
            // Names stay bound to their browsers across restarts, as rooms keep their history.
            if let Some(dir) = &config.data_dir {
                let unix_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                hub.keep_names(dir, config.room_ttl, unix_ms);
            }
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
            scratch: Vec::with_capacity(crate::limits::SCRATCH_KEEP),
            pack: pack::Pack::new(&config),
            backlog: Vec::new(),
            stalled: Vec::new(),
            stalled_until: None,
            dead: Vec::new(),
            accept_backlog: false,
            started: Instant::now(),
            now: 0,
            accept_paused_until: None,
            accept_blocked: false,
            shutdown_flag: Arc::new(AtomicBool::new(false)),
            waker,
            signals: None,
            shutdown_deadline: None,
            #[cfg(feature = "redis")]
            redis,
            notifier: None,
            watchdog_due: None,
            release: None,
            #[cfg(feature = "tls")]
            tls,
            failures: FailureBudget::default(),
            limits,
            config,
        })
    }

    /// The transport for a freshly accepted socket: TLS when configured. `None`
    /// drops the connection (a TLS session could not be made).
    fn transport_for(&self, stream: mio::net::TcpStream) -> Option<Transport> {
        if let Err(e) = stream.set_nodelay(true) {
            log::debug!("set_nodelay failed: {e}");
        }
        #[cfg(feature = "tls")]
        if let Some(acceptor) = &self.tls {
            return match acceptor.session() {
                Ok(session) => Some(Transport::Tls(Box::new(tls::TlsStream::new(
                    stream, session,
                )))),
                Err(e) => {
                    log::warn!("cannot start a TLS session: {e}");
                    None
                }
            };
        }
        Some(Transport::Plain(stream))
    }

    /// SIGHUP: reload the certificate for new connections; keep the old one on error.
    fn hangup(&mut self) {
        #[cfg(feature = "tls")]
        if let Some(acceptor) = &mut self.tls {
            match acceptor.reload() {
                Ok(()) => log::info!("SIGHUP: certificate reloaded for new connections"),
                Err(e) => log::warn!("SIGHUP: {e}; keeping the old certificate"),
            }
        }
    }

    /// Whether the listener speaks TLS.
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
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
    #[cold] // start-up only: grouped with the other cold code, off the loop's pages
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        if self.is_tls() {
            // SIGHUP reloads the certificate (certbot deploy hooks send it).
            signals.add_signal(SIGHUP)?;
        }
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
        #[cfg(feature = "redis")]
        self.redis_turn();
        self.settle();
        // Group commit: this turn's room changes are stored before its output is sent.
        self.hub.commit(self.hub_now());
        self.enforce_budget();
        self.flush();
        // Output this settle queues is flushed next turn: `poll_timeout` is zero while any is.
        self.settle();
        self.shrink_buffers();
        // Commands queued while settling (a departed member's leave) go out now.
        #[cfg(feature = "redis")]
        self.redis_write();
        self.enforce_budget();
        debug_assert_eq!(self.conns.held(), self.conns.recount());
    }

    /// How long `poll` may sleep: zero while work is left over (a read backlog,
    /// unflushed output), else until the earliest deadline, or forever when there is none.
    fn poll_timeout(&self) -> Option<Duration> {
        if !self.backlog.is_empty() || self.conns.has_dirty() || self.accept_backlog {
            return Some(Duration::ZERO);
        }
        let mut next = self.timers.next();
        let mut consider = |at: Option<Millis>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        };
        consider(self.accept_paused_until);
        consider(self.stalled_until);
        consider(self.shutdown_deadline);
        consider(self.watchdog_due);
        consider(self.conns.spare_deadline());
        consider(self.hub.poll_timeout().map(|t| self.millis_of(t)));
        #[cfg(feature = "redis")]
        consider(
            self.hub
                .engine()
                .and_then(|e| e.poll_timeout())
                .map(|t| self.millis_of(t)),
        );
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

/// A non-blocking listener on `addr` with a backlog of `LISTEN_BACKLOG` (std and
/// mio use 128, which a reconnect storm overflows).
/// With `reuse_port` (`--reuse-port`), SO_REUSEPORT lets several processes
/// share `addr`; the kernel spreads new connections over them.
fn listen(addr: std::net::SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Restarting must not wait for the old connections' TIME_WAIT.
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(crate::limits::LISTEN_BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_queued_after_the_flush_makes_the_next_poll_immediate() {
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        let mut server = Server::bind(config).unwrap();
        let _peer = std::net::TcpStream::connect(server.local_addr()).unwrap();
        let mut events = Events::with_capacity(8);
        for _ in 0..50 {
            if !server.conns.is_empty() {
                break;
            }
            server
                .poll
                .poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            server.turn(&events);
        }
        let id = server.conns.ids()[0];
        // Only the handshake deadline is armed: poll may sleep.
        assert!(server.poll_timeout() > Some(Duration::from_secs(1)));
        // What the last settle may queue (a `left` event after a write error)
        // must not wait for that deadline.
        server.conns.queue_raw(id, b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(server.poll_timeout(), Some(Duration::ZERO));
        server.flush();
        assert!(server.poll_timeout() > Some(Duration::from_secs(1)));
    }
}
