//! A memory attack on the real binary, shared by `tests/memory_budget.rs` (short)
//! and `benches/memattack.rs` (the full reproduction): history fillers, flooded
//! members that never read, partial frames held open, connection churn — while
//! witness clients chat and must receive every message. Its crate must also
//! declare `mod common` (the frame helpers).
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::common::{frame, parse_server_frame};

/// How hard and how long to attack.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Connections that `create` rooms with a long history and fill them (never reading).
    pub fillers: usize,
    /// Rooms each filler creates.
    pub rooms: usize,
    /// Messages each filler publishes into each of its rooms.
    pub per_room: usize,
    /// Bytes of each attack message.
    pub size: usize,
    /// Members of a flooded room that never read.
    pub sinks: usize,
    /// Connections that send most of a large frame and then hold it.
    pub partials: usize,
    /// Threads that connect, upgrade and leave in a loop.
    pub churners: usize,
    /// Attack bytes to offer (messages written × size) before stopping.
    pub offer: u64,
    /// The longest the attack may run, whatever was offered by then.
    pub duration: Duration,
}

impl Plan {
    /// The attack of the issue that asked for the budget: 4 connections each
    /// `create` 50 rooms and publish 20 × 60 KB into each, 4 members of a
    /// flooded room that never read, 100 held partial frames and 2 churners;
    /// it stops after `offer` attack bytes or `duration`, whichever comes first.
    pub fn reproduction(offer: u64, duration: Duration) -> Plan {
        Plan {
            fillers: 4,
            rooms: 50,
            per_room: 20,
            size: 60_000,
            sinks: 4,
            partials: 100,
            churners: 2,
            offer,
            duration,
        }
    }
}

/// What happened.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Highest VmRSS seen, KiB.
    pub peak_rss_kib: u64,
    /// VmRSS before the attack, KiB.
    pub start_rss_kib: u64,
    /// Witness messages published.
    pub sent: u64,
    /// Per witness: the payloads received, in order.
    pub received: Vec<Vec<u64>>,
    /// Attack messages written (publishes and flood messages).
    pub attack_messages: u64,
    /// Attack connections the server closed (they reconnected).
    pub attack_closed: u64,
    /// Churn cycles (connect, upgrade, close).
    pub churned: u64,
}

/// A server process that is killed when dropped, so a failed assertion never
/// leaves it running.
pub struct Server(pub Child);

impl Server {
    /// Its process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        self.0.try_wait().ok().flatten().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bin` on a free loopback port with `args`; waits until it accepts.
pub fn spawn(bin: &str, args: &[&str]) -> (Server, SocketAddr) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(bin)
        .arg("--listen")
        .arg(addr.to_string())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let server = Server(child);
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "no server");
        thread::sleep(Duration::from_millis(20));
    }
    (server, addr)
}

/// A `GET path` answer's body (empty when the server does not answer).
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_once("\r\n\r\n")
        .map_or(String::new(), |(_, body)| body.to_string())
}

/// One counter or gauge from a `/metrics` body (0 when absent).
pub fn metric(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

/// VmRSS of `pid` in KiB (0 once it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Runs the attack against the server `pid` at `addr`.
pub fn run(addr: SocketAddr, pid: u32, plan: &Plan) -> Outcome {
    let stop = Arc::new(AtomicBool::new(false));
    let attack_messages = Arc::new(AtomicU64::new(0));
    let attack_closed = Arc::new(AtomicU64::new(0));
    let churned = Arc::new(AtomicU64::new(0));
    let start_rss_kib = rss_kib(pid);

    let witnesses: Vec<Witness> = (0..2).map(|i| Witness::join(addr, i)).collect();
    let sampler = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid));
                thread::sleep(Duration::from_millis(20));
            }
            peak.max(rss_kib(pid))
        })
    };
    let mut attackers: Vec<JoinHandle<()>> = Vec::new();
    for f in 0..plan.fillers {
        let (stop, n, closed, plan) = (
            stop.clone(),
            attack_messages.clone(),
            attack_closed.clone(),
            plan.clone(),
        );
        attackers.push(thread::spawn(move || {
            filler(addr, f, &plan, &stop, &n, &closed)
        }));
    }
    if plan.sinks > 0 {
        let (stop, n, closed, plan) = (
            stop.clone(),
            attack_messages.clone(),
            attack_closed.clone(),
            plan.clone(),
        );
        attackers.push(thread::spawn(move || {
            flood(addr, &plan, &stop, &n, &closed)
        }));
    }
    if plan.partials > 0 {
        let (stop, closed, plan) = (stop.clone(), attack_closed.clone(), plan.clone());
        attackers.push(thread::spawn(move || partials(addr, &plan, &stop, &closed)));
    }
    for _ in 0..plan.churners {
        let (stop, churned) = (stop.clone(), churned.clone());
        attackers.push(thread::spawn(move || churn(addr, &stop, &churned)));
    }

    // The witnesses chat at 20 messages per second for the whole attack.
    let mut publisher = Ws::open(addr, "/ws?user=witness-pub").expect("witness publisher");
    let started = Instant::now();
    let mut sent = 0u64;
    let offered = || attack_messages.load(Ordering::Relaxed) * plan.size as u64;
    while started.elapsed() < plan.duration && offered() < plan.offer {
        let msg = format!(r#"{{"action":"publish","room":"witness","message":{sent}}}"#);
        publisher
            .send_text(&msg)
            .expect("witness publisher was cut off");
        sent += 1;
        thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        let _ = a.join();
    }
    let peak_rss_kib = sampler.join().unwrap();
    let received = witnesses
        .into_iter()
        .map(|w| w.finish(sent))
        .collect::<Vec<_>>();
    Outcome {
        peak_rss_kib,
        start_rss_kib,
        sent,
        received,
        attack_messages: attack_messages.load(Ordering::Relaxed),
        attack_closed: attack_closed.load(Ordering::Relaxed),
        churned: churned.load(Ordering::Relaxed),
    }
}

/// A chatting client that reads everything, on its own thread.
struct Witness {
    thread: JoinHandle<Vec<u64>>,
    expect: Arc<AtomicU64>,
}

impl Witness {
    fn join(addr: SocketAddr, i: usize) -> Witness {
        let mut ws = Ws::open(addr, &format!("/ws?user=witness-{i}")).expect("witness");
        ws.send_text(r#"{"action":"join","room":"witness","ref":"in"}"#)
            .unwrap();
        // Wait for the join's ack so no witness message can come before membership.
        loop {
            let text = ws.read_text().expect("witness join");
            if text.contains(r#""event":"ack""#) {
                break;
            }
        }
        let expect = Arc::new(AtomicU64::new(u64::MAX));
        let want = expect.clone();
        let thread = thread::spawn(move || {
            let mut got = Vec::new();
            while (got.len() as u64) < want.load(Ordering::Relaxed) {
                let Some(text) = ws.read_text() else { break };
                let Ok(event) = serde_json::from_str::<serde_json::Value>(&text) else {
                    continue;
                };
                if event["event"] == "message" && event["room"] == "witness" {
                    got.push(event["message"].as_u64().unwrap_or(u64::MAX));
                }
            }
            got
        });
        Witness { thread, expect }
    }

    /// Waits (bounded) for all `sent` messages; returns what arrived.
    fn finish(self, sent: u64) -> Vec<u64> {
        self.expect.store(sent, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// Creates rooms with a long history and fills them; reconnects when cut off.
fn filler(
    addr: SocketAddr,
    f: usize,
    plan: &Plan,
    stop: &AtomicBool,
    n: &AtomicU64,
    closed: &AtomicU64,
) {
    let pad = "x".repeat(plan.size.saturating_sub(64));
    let mut round = 0;
    'connect: while !stop.load(Ordering::Relaxed) {
        round += 1;
        let Some(mut ws) = Ws::open(addr, "/ws") else {
            thread::sleep(Duration::from_millis(20));
            continue;
        };
        for r in 0..plan.rooms {
            let room = format!("fill-{f}-{round}-{r}");
            let create = format!(r#"{{"action":"create","room":"{room}","history":1024}}"#);
            if ws.send_text(&create).is_none() {
                closed.fetch_add(1, Ordering::Relaxed);
                continue 'connect;
            }
        }
        for i in 0..plan.per_room {
            for r in 0..plan.rooms {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let room = format!("fill-{f}-{round}-{r}");
                let publish = format!(
                    r#"{{"action":"publish","room":"{room}","message":{{"i":{i},"pad":"{pad}"}}}}"#
                );
                if ws.send_text(&publish).is_none() {
                    closed.fetch_add(1, Ordering::Relaxed);
                    continue 'connect;
                }
                n.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Done filling: hold the connection (and so the created rooms) until the end.
        while !stop.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Members of one room that never read, and a publisher that floods it.
fn flood(addr: SocketAddr, plan: &Plan, stop: &AtomicBool, n: &AtomicU64, closed: &AtomicU64) {
    let pad = "y".repeat(plan.size.saturating_sub(64));
    let publish = format!(r#"{{"action":"publish","room":"flood","message":"{pad}"}}"#);
    let mut sinks: Vec<Ws> = Vec::new();
    let mut publisher: Option<Ws> = None;
    while !stop.load(Ordering::Relaxed) {
        // Cut-off sinks are replaced: the attack churns.
        sinks.retain_mut(|s| s.alive());
        while sinks.len() < plan.sinks && !stop.load(Ordering::Relaxed) {
            match Ws::open(addr, "/ws") {
                Some(mut s) => {
                    let _ = s.send_text(r#"{"action":"join","room":"flood"}"#);
                    sinks.push(s);
                }
                None => break,
            }
        }
        let p = match &mut publisher {
            Some(p) => p,
            None => match Ws::open(addr, "/ws") {
                Some(p) => publisher.insert(p),
                None => {
                    thread::sleep(Duration::from_millis(20));
                    continue;
                }
            },
        };
        for _ in 0..20 {
            if p.send_text(&publish).is_none() {
                closed.fetch_add(1, Ordering::Relaxed);
                publisher = None;
                break;
            }
            n.fetch_add(1, Ordering::Relaxed);
        }
        let before = sinks.len();
        sinks.retain_mut(|s| s.alive());
        closed.fetch_add((before - sinks.len()) as u64, Ordering::Relaxed);
    }
}

/// Connections that send all but the last bytes of a large frame, then wait.
fn partials(addr: SocketAddr, plan: &Plan, stop: &AtomicBool, closed: &AtomicU64) {
    let len = plan.size.min(60_000);
    let mut head = vec![0x81u8, 0x80 | 126];
    head.extend_from_slice(&(len as u16).to_be_bytes());
    head.extend_from_slice(&[1, 2, 3, 4]);
    let body = vec![b'a' ^ 1; len - 10];
    let mut held: Vec<Ws> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let before = held.len();
        held.retain_mut(|s| s.drain_alive());
        closed.fetch_add((before - held.len()) as u64, Ordering::Relaxed);
        while held.len() < plan.partials && !stop.load(Ordering::Relaxed) {
            let Some(mut s) = Ws::open(addr, "/ws") else {
                break;
            };
            if s.stream.write_all(&head).is_ok() && s.stream.write_all(&body).is_ok() {
                held.push(s);
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Connect, upgrade, leave; again.
fn churn(addr: SocketAddr, stop: &AtomicBool, churned: &AtomicU64) {
    while !stop.load(Ordering::Relaxed) {
        if let Some(mut s) = Ws::open(addr, "/ws") {
            let _ = s.send_text(r#"{"action":"join","room":"churn"}"#);
            churned.fetch_add(1, Ordering::Relaxed);
        } else {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A minimal blocking WebSocket client over a raw socket (masked text frames out,
/// unmasked frames in), so the attack controls exactly what it reads and writes.
pub struct Ws {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl Ws {
    /// Upgrades on `path`; `None` when refused (503) or cut off.
    pub fn open(addr: SocketAddr, path: &str) -> Option<Ws> {
        let mut stream = TcpStream::connect(addr).ok()?;
        stream.set_nodelay(true).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .ok()?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).ok()?;
        let mut ws = Ws {
            stream,
            rest: Vec::new(),
        };
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = ws.rest.windows(4).position(|w| w == b"\r\n\r\n") {
                let ok = ws.rest.starts_with(b"HTTP/1.1 101");
                ws.rest.drain(..end + 4);
                return ok.then_some(ws);
            }
            let n = ws.stream.read(&mut buf).ok()?;
            if n == 0 {
                return None;
            }
            ws.rest.extend_from_slice(&buf[..n]);
        }
    }

    /// Sends one masked text frame; `None` when the connection is gone.
    pub fn send_text(&mut self, text: &str) -> Option<()> {
        self.stream.write_all(&frame(true, 1, text.as_bytes())).ok()
    }

    /// The next text frame (pings answered, other control frames skipped); `None` at close or EOF.
    pub fn read_text(&mut self) -> Option<String> {
        let mut buf = vec![0u8; 65536];
        loop {
            if let Some((f, used)) = parse_server_frame(&self.rest) {
                self.rest.drain(..used);
                match f.opcode {
                    1 => return String::from_utf8(f.payload).ok(),
                    8 => return None,
                    _ => continue,
                }
            }
            let n = self.stream.read(&mut buf).ok()?;
            if n == 0 {
                return None;
            }
            self.rest.extend_from_slice(&buf[..n]);
        }
    }

    /// For a client that never reads: whether the server still holds the
    /// connection. An unsolicited pong (ignored by servers) fails to send
    /// once the server has dropped the socket.
    fn alive(&mut self) -> bool {
        self.stream.write_all(&[0x8a, 0x80, 1, 2, 3, 4]).is_ok()
    }

    /// For a client that may read: discards whatever arrived; false at EOF or error.
    fn drain_alive(&mut self) -> bool {
        let _ = self.stream.set_nonblocking(true);
        let mut buf = [0u8; 4096];
        let alive = loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break false,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break true,
                Err(_) => break false,
            }
        };
        let _ = self.stream.set_nonblocking(false);
        alive
    }
}
