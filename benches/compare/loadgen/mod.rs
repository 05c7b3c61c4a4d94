//! The load generator: one thread, one mio loop, thousands of WebSocket clients.
//!
//! Clients upgrade on `/broadcast`, publishers send masked binary frames stamped with
//! (publisher, sequence, send time in ns since the generator's own clock base), and every
//! received frame is parsed in place: latency into an hdrhistogram, per-publisher order
//! checked at each receiver, and loss counted against what was sent once a run drains.

mod conn;
mod events;
pub mod wire;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::{Events, Poll};
use slab::Slab;

use conn::{Conn, Flow, Kind, State};

/// Connects in flight at once, so a burst of thousands never overflows the listen backlog.
const MAX_DIALING: usize = 256;
/// Failed stable clients dialed again per generator, before giving up on them.
const MAX_REDIALS: u64 = 100;
/// Bytes per published message (the scenarios' 64-byte messages).
const PAYLOAD: usize = 64;
/// The shared read buffer: one for the whole loop, as in the server under test.
const READ_BUF: usize = 256 * 1024;

/// How publishers send.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Nobody publishes.
    Off,
    /// Closed loop: each publisher keeps at most `window` messages that it has not
    /// yet received back itself (window 1 = send the next when the previous came back).
    Closed { window: u64 },
    /// Closed loop on the slowest client: each publisher keeps at most `window` messages
    /// that have not yet reached every stable client (server queues stay bounded).
    Flow { window: u64 },
    /// Open loop: `per_sec` messages per second per publisher, on a timer.
    Rate { per_sec: f64 },
}

/// Everything the generator counted.
pub struct Stats {
    /// Latency (ns) of deliveries received while counting.
    pub hist: Histogram<u64>,
    /// Deliveries received while counting.
    pub deliveries: u64,
    /// Deliveries received at all.
    pub total: u64,
    /// Deliveries whose sequence was not the next one from that publisher.
    pub order_errors: u64,
    /// Frames that were not stamped messages from a known publisher.
    pub foreign: u64,
    /// Clients closed or reset by the server while we did not ask.
    pub dropped: u64,
    /// Upgrades answered with something other than 101, or failed connects.
    pub refused: u64,
    /// Stable clients dialed again after such a failure.
    pub redials: u64,
    /// Why the last client failed before its upgrade.
    pub last_failure: String,
    /// Completed upgrades.
    pub upgrades: u64,
    /// Protocol violations seen from the server.
    pub malformed: u64,
}

struct Publisher {
    conn: Option<usize>,
    sent: u64,
    /// Its room in the room scenario (0 otherwise).
    room: u32,
}

/// The generator's state: clients, publishers, counters.
pub struct Generator {
    poll: Poll,
    events: Events,
    server: SocketAddr,
    host: String,
    conns: Slab<Conn>,
    pubs: Vec<Publisher>,
    flow: Vec<Flow>,
    /// Stable clients upgraded and not gone.
    receivers: u32,
    publishers: usize,
    buf: Vec<u8>,
    base: Instant,
    sources: Vec<Ipv4Addr>,
    next_source: usize,
    serial: u64,
    dialing: usize,
    to_open: usize,
    to_open_kind: Kind,
    churn_slots: usize,
    churners: usize,
    mode: Mode,
    rate_start: Instant,
    /// Messages each publisher had sent when rate mode started.
    rate_base: Vec<u64>,
    /// Tokens of one poll, kept to reuse the allocation.
    ready: Vec<usize>,
    counting: bool,
    /// Rooms of the `/ws` room scenario; 0: every client on `/broadcast`.
    rooms: u32,
    /// Stable clients dialed so far (their room is this modulo `rooms`).
    next_room: u32,
    pub stats: Stats,
}

impl Generator {
    /// A generator aimed at `server`, with `publishers` publisher slots, dialing from `sources`.
    pub fn new(server: SocketAddr, publishers: usize, sources: Vec<Ipv4Addr>) -> io::Result<Self> {
        Ok(Generator {
            poll: Poll::new()?,
            events: Events::with_capacity(4096),
            server,
            host: server.to_string(),
            conns: Slab::with_capacity(1024),
            pubs: Vec::new(),
            flow: (0..publishers).map(|_| Flow::new()).collect(),
            receivers: 0,
            publishers,
            buf: vec![0; READ_BUF],
            base: Instant::now(),
            sources,
            next_source: 0,
            serial: 0,
            dialing: 0,
            to_open: 0,
            to_open_kind: Kind::Stable,
            churn_slots: 0,
            churners: 0,
            mode: Mode::Off,
            rate_start: Instant::now(),
            rate_base: Vec::new(),
            ready: Vec::with_capacity(4096),
            counting: false,
            rooms: 0,
            next_room: 0,
            stats: Stats {
                hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds"),
                deliveries: 0,
                total: 0,
                order_errors: 0,
                foreign: 0,
                dropped: 0,
                refused: 0,
                redials: 0,
                last_failure: String::new(),
                upgrades: 0,
                malformed: 0,
            },
        })
    }

    /// From now on clients upgrade on `/ws` and join one of `rooms` rooms
    /// (`bench0`...), in turn; publishers send `publish` actions to their own
    /// room. Call before `open`. The first `rooms` clients are in distinct rooms,
    /// so with as many publishers as rooms every room has one.
    pub fn set_rooms(&mut self, rooms: u32) {
        self.rooms = rooms;
    }

    /// Opens `n` stable clients and waits until each is upgraded or failed (`deadline`).
    /// The first `publishers` clients ever opened become the publishers.
    pub fn open(&mut self, n: usize, deadline: Duration) -> io::Result<usize> {
        let before = self.stable_open();
        self.to_open += n;
        self.to_open_kind = Kind::Stable;
        let end = Instant::now() + deadline;
        while (self.to_open > 0 || self.dialing > 0) && Instant::now() < end {
            self.turn(Some(Duration::from_millis(50)))?;
        }
        Ok(self.stable_open() - before)
    }

    /// Clients that are open and stay.
    pub fn stable_open(&self) -> usize {
        self.conns
            .iter()
            .filter(|(_, c)| c.kind == Kind::Stable && c.state == State::Open)
            .count()
    }

    /// Sets how publishers send from now on.
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
        self.rate_start = Instant::now();
        // Rate mode paces from the messages already sent, so a restart keeps its pace.
        self.rate_base.clear();
        self.rate_base.extend(self.pubs.iter().map(|p| p.sent));
    }

    /// Keeps `slots` churning clients alive (connect, upgrade, close, again).
    pub fn set_churn(&mut self, slots: usize) {
        self.churn_slots = slots;
    }

    /// Clients still churning.
    pub fn churners(&self) -> usize {
        self.churners
    }

    /// Starts or stops counting deliveries and latencies (the measurement window).
    pub fn set_counting(&mut self, on: bool) {
        if on {
            self.stats.hist.reset();
            self.stats.deliveries = 0;
        }
        self.counting = on;
    }

    /// Runs the loop for `d`.
    pub fn run_for(&mut self, d: Duration) -> io::Result<()> {
        let end = Instant::now() + d;
        loop {
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            self.turn(Some(end - now))?;
        }
    }

    /// Stops publishing and runs until every stable client received every message sent
    /// (or `timeout`); returns the deliveries still missing (the loss).
    pub fn drain(&mut self, timeout: Duration) -> io::Result<u64> {
        self.mode = Mode::Off;
        let end = Instant::now() + timeout;
        loop {
            let missing = self.missing();
            let now = Instant::now();
            if missing == 0 || now >= end {
                return Ok(missing);
            }
            self.turn(Some((end - now).min(Duration::from_millis(20))))?;
        }
    }

    /// Messages sent by all publishers.
    pub fn sent(&self) -> u64 {
        self.pubs.iter().map(|p| p.sent).sum()
    }

    fn missing(&self) -> u64 {
        let sent = self.sent();
        let sent_to = |room: u32| -> u64 {
            if self.rooms == 0 {
                return sent;
            }
            self.pubs
                .iter()
                .filter(|p| p.room == room)
                .map(|p| p.sent)
                .sum()
        };
        self.conns
            .iter()
            .filter(|(_, c)| c.kind == Kind::Stable && c.state == State::Open)
            .map(|(_, c)| sent_to(c.room).saturating_sub(c.got))
            .sum()
    }

    /// Sends a close frame from every client and waits a little for the servers' answers.
    pub fn close_all(&mut self, timeout: Duration) -> io::Result<()> {
        self.mode = Mode::Off;
        self.churn_slots = 0;
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for k in keys {
            self.start_close(k);
        }
        let end = Instant::now() + timeout;
        while !self.conns.is_empty() && Instant::now() < end {
            self.turn(Some(Duration::from_millis(20)))?;
        }
        Ok(())
    }

    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// One loop turn: dial what is due, wait for events, handle them, publish.
    fn turn(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.dial_due();
        let timeout = match self.mode {
            Mode::Rate { per_sec } => {
                let next = self.next_rate_due(per_sec);
                Some(timeout.map_or(next, |t| t.min(next)))
            }
            _ => timeout,
        };
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.extend(self.events.iter().map(|ev| ev.token().0));
        for &key in &ready {
            self.on_ready(key);
        }
        self.ready = ready;
        self.publish_due();
        Ok(())
    }

    fn next_rate_due(&self, per_sec: f64) -> Duration {
        let sent = self.pubs.first().map_or(0, |p| p.sent);
        let sent = sent.saturating_sub(self.rate_base.first().copied().unwrap_or(0)) as f64;
        let due = self.rate_start + Duration::from_secs_f64(sent / per_sec);
        due.saturating_duration_since(Instant::now())
    }
}
