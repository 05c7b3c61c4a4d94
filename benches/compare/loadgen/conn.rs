//! One generator client: its socket, its partial input, its pending output, its order checks.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};

use mio::net::TcpStream;
use socket2::{Domain, SockAddr, Socket, Type};

use super::wire::{self, Frame};

/// Where a client is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Connecting, then upgrading: the request is queued at dial time and goes out on
    /// the first writable event (a write before the connect completes is `WouldBlock`,
    /// a failed connect surfaces as the write's or read's error); waiting for `101`.
    Upgrading,
    /// Exchanging frames.
    Open,
    /// We sent a close frame and wait for the server's close or EOF.
    Closing,
}

/// Whether the client stays for the whole run (and so is checked for loss) or churns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Connected before publishing starts; expects every message from sequence 0.
    Stable,
    /// Connects, leaves at once, reconnects (churn scenario).
    Churner,
}

/// One client connection of the generator.
pub struct Conn {
    pub sock: TcpStream,
    pub state: State,
    pub kind: Kind,
    /// Publisher index when this client publishes.
    pub publisher: Option<u32>,
    /// Unparsed bytes: the response head while upgrading, then an incomplete frame.
    /// Its capacity is kept, so a partial frame costs no allocation once warmed up.
    pub tail: Vec<u8>,
    /// Bytes not yet accepted by the socket, from `out_at` on.
    pub out: Vec<u8>,
    pub out_at: usize,
    pub mask: [u8; 4],
    /// Next sequence expected per publisher; `u64::MAX` until a late joiner saw one.
    pub expect: Vec<u64>,
    /// Messages this client received from publishers.
    pub got: u64,
    /// Its room in the room scenario (0 otherwise).
    pub room: u32,
    /// The TLS session in TLS mode (`LOOPCAST_BENCH_TLS`).
    #[cfg(feature = "tls")]
    pub tls: Option<Box<rustls::ClientConnection>>,
}

/// Opens a non-blocking TCP connection from `source` (port chosen by the kernel).
pub fn dial(source: Ipv4Addr, server: SocketAddr) -> io::Result<TcpStream> {
    // SOCK_NONBLOCK at creation: churn dials tens of thousands of sockets a second.
    let sock = Socket::new(Domain::IPV4, Type::STREAM.nonblocking(), None)?;
    sock.set_tcp_nodelay(true)?;
    if source != Ipv4Addr::LOCALHOST {
        // Several source addresses give several ephemeral port ranges (10 000+ clients);
        // SO_REUSEADDR lets bind take ports still in TIME_WAIT during churn.
        sock.set_reuse_address(true)?;
        sock.bind(&SockAddr::from(SocketAddr::new(source.into(), 0)))?;
    }
    match sock.connect(&SockAddr::from(server)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(115) || e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(sock.into()))
}

impl Conn {
    /// A fresh client on a connecting socket.
    pub fn new(sock: TcpStream, kind: Kind, publishers: usize, serial: u64) -> Conn {
        let late = if kind == Kind::Stable { 0 } else { u64::MAX };
        let m = (serial.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32;
        Conn {
            sock,
            state: State::Upgrading,
            kind,
            publisher: None,
            tail: Vec::new(),
            out: Vec::new(),
            out_at: 0,
            mask: m.to_le_bytes(),
            expect: vec![late; publishers],
            got: 0,
            room: 0,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Writes pending output until done or `WouldBlock`; keeps the buffer's capacity.
    pub fn flush(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            // Encrypted once per flush; before the handshake ends rustls holds the bytes.
            tls.writer().write_all(&self.out[self.out_at..])?;
            self.out.clear();
            self.out_at = 0;
            return flush_tls(tls, &mut self.sock);
        }
        while self.out_at < self.out.len() {
            match self.sock.write(&self.out[self.out_at..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_at = 0;
        Ok(())
    }

    /// Reads into `buf`; `Ok(0)` is EOF, `WouldBlock` surfaces as an error for the caller.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return read_tls(tls, &mut self.sock, buf);
        }
        loop {
            match self.sock.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    /// Whether this client speaks TLS.
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }
}

/// Writes the records rustls holds until none are left or the socket is full.
#[cfg(feature = "tls")]
fn flush_tls(tls: &mut rustls::ClientConnection, sock: &mut TcpStream) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Plaintext into `buf`, reading and decrypting records as needed (handshake
/// answers are written on the way); `WouldBlock` once the socket is empty.
#[cfg(feature = "tls")]
fn read_tls(
    tls: &mut rustls::ClientConnection,
    sock: &mut TcpStream,
    buf: &mut [u8],
) -> io::Result<usize> {
    loop {
        match tls.reader().read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        match tls.read_tls(sock) {
            Ok(0) => return Ok(0),
            Ok(_) => {
                tls.process_new_packets().map_err(io::Error::other)?;
                flush_tls(tls, sock)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// What the frames of one read asked of the generator.
#[derive(Default)]
pub struct Seen {
    /// The server sent a close frame.
    pub closed: bool,
    /// A frame broke the protocol.
    pub malformed: bool,
}

/// Counters shared by all clients while frames are parsed.
pub struct Tally<'a> {
    pub now_ns: u64,
    pub counting: bool,
    pub hist: &'a mut hdrhistogram::Histogram<u64>,
    pub deliveries: &'a mut u64,
    pub total: &'a mut u64,
    pub order_errors: &'a mut u64,
    pub foreign: &'a mut u64,
    /// Per publisher: what came back and what reached everyone.
    pub flow: &'a mut [Flow],
    /// Stable clients open now: a message is complete once this many received it.
    pub receivers: u32,
}

/// Ring size of `Flow`: the largest in-flight window it can follow.
pub const FLOW_RING: usize = 1024;

/// Per publisher: how far its messages came back to it and reached every stable client.
pub struct Flow {
    /// One past the highest own sequence received back by the publisher.
    pub echoed: u64,
    /// Every sequence below this reached every stable client.
    pub done: u64,
    /// Stable receivers of sequence `s` at `counts[s % FLOW_RING]`, for `done <= s`.
    counts: Vec<u32>,
}

impl Flow {
    /// Nothing sent yet.
    pub fn new() -> Flow {
        Flow {
            echoed: 0,
            done: 0,
            counts: vec![0; FLOW_RING],
        }
    }

    /// A stable client received `seq`.
    fn delivered(&mut self, seq: u64, receivers: u32) {
        if seq < self.done || seq >= self.done + FLOW_RING as u64 {
            return;
        }
        self.counts[seq as usize % FLOW_RING] += 1;
        self.advance(receivers);
    }

    /// Moves `done` past every sequence that `receivers` clients have (again after a
    /// stable client left, as fewer receivers are then waited for).
    pub fn advance(&mut self, receivers: u32) {
        loop {
            let slot = &mut self.counts[self.done as usize % FLOW_RING];
            if *slot == 0 || *slot < receivers {
                return;
            }
            *slot = 0;
            self.done += 1;
        }
    }
}

impl Conn {
    /// Parses every complete frame at the start of `data`; returns the bytes consumed.
    /// Allocation-free: payloads are read in place, pongs go to the reused `out`.
    pub fn on_frames(&mut self, data: &[u8], t: &mut Tally, seen: &mut Seen) -> usize {
        let stable = self.kind == Kind::Stable;
        let mut at = 0;
        loop {
            let frame = match wire::parse_frame(&data[at..]) {
                Ok(Some(f)) => f,
                Ok(None) => return at,
                Err(_) => {
                    seen.malformed = true;
                    return data.len();
                }
            };
            let Frame {
                fin,
                opcode,
                compressed,
                payload_at,
                len,
            } = frame;
            let payload = &data[at + payload_at..at + len];
            match opcode {
                wire::OP_TEXT | wire::OP_BINARY if fin && compressed => {
                    let (expect, got, me) = (&mut self.expect, &mut self.got, self.publisher);
                    inflated(payload, |plain| {
                        on_message(plain, expect, got, me, stable, t)
                    });
                }
                wire::OP_TEXT | wire::OP_BINARY if fin => {
                    on_message(
                        payload,
                        &mut self.expect,
                        &mut self.got,
                        self.publisher,
                        stable,
                        t,
                    );
                }
                wire::OP_PING => {
                    wire::push_control(&mut self.out, wire::OP_PONG, self.mask, payload)
                }
                wire::OP_PONG => {}
                wire::OP_CLOSE => {
                    seen.closed = true;
                    return data.len();
                }
                _ => *t.foreign += 1,
            }
            at += len;
        }
    }
}

fn on_message(
    payload: &[u8],
    expect: &mut [u64],
    got: &mut u64,
    me: Option<u32>,
    stable: bool,
    t: &mut Tally,
) {
    let history = wire::history_stamps(payload);
    if !history.is_empty() {
        // Delivered at the join, not live: counted for order and loss only.
        for (p, seq, _) in history {
            received(expect, got, stable, t, p, seq);
        }
        return;
    }
    let Some((p, seq, ts)) = wire::read_stamp(payload) else {
        *t.foreign += 1;
        return;
    };
    if !received(expect, got, stable, t, p, seq) {
        *t.foreign += 1;
        return;
    }
    *t.total += 1;
    if t.counting {
        *t.deliveries += 1;
        t.hist.saturating_record(t.now_ns.saturating_sub(ts).max(1));
    }
    if me == Some(p) {
        let flow = &mut t.flow[p as usize];
        flow.echoed = flow.echoed.max(seq + 1);
    }
}

/// Publisher `p`'s message `seq` reached this client: checks its order and
/// counts it for loss. `false` if `p` is no publisher of this run.
fn received(
    expect: &mut [u64],
    got: &mut u64,
    stable: bool,
    t: &mut Tally,
    p: u32,
    seq: u64,
) -> bool {
    let Some(e) = expect.get_mut(p as usize) else {
        return false;
    };
    if *e != u64::MAX && seq != *e {
        *t.order_errors += 1;
    }
    *e = seq + 1;
    *got += 1;
    if stable {
        t.flow[p as usize].delivered(seq, t.receivers);
    }
    true
}

/// Hands the inflated payload of a permessage-deflate message to `deliver`
/// (one inflater per generator thread, reset per message, as the server does).
#[cfg(feature = "deflate")]
fn inflated(payload: &[u8], deliver: impl FnOnce(&[u8])) {
    use loopcast::codec::Inflate;
    thread_local! {
        static INFLATER: std::cell::RefCell<loopcast::deflate::Inflater> =
            std::cell::RefCell::new(loopcast::deflate::Inflater::new());
    }
    INFLATER.with_borrow_mut(|inflater| {
        if let Ok(plain) = inflater.inflate(payload, 1 << 20) {
            deliver(plain);
        }
    });
}

/// Without the `deflate` feature no client offers it, so no frame has RSV1.
#[cfg(not(feature = "deflate"))]
fn inflated(_payload: &[u8], _deliver: impl FnOnce(&[u8])) {}
