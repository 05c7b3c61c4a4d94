//! `cargo bench --bench deflate_wire`: what permessage-deflate saves on the wire
//! and what it costs, for the README's figures.
//!
//! Runs an in-process server; a plain client and one that negotiated deflate
//! take part in one room and receive the same events. For a typical chat
//! message, a 32-message history answer and a 1 KiB JSON notification it
//! prints the frame bytes each client got, and the compressed size at any
//! threshold. Then the CPU time per compression of a 512-byte JSON message and
//! the heap the shared deflater and inflater hold (counted by this binary's allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use loopcast::codec::Inflate;
use loopcast::config::Config;
use loopcast::deflate::{Deflater, Inflater};
use loopcast::reactor::Server;
use serde_json::{Value, json};

/// Counts live heap bytes, to size the zlib states.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: same layout as asked.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A raw client: frames as they came off the wire (first byte, payload).
struct Client {
    s: TcpStream,
    rest: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr, user: &str, deflate: bool) -> Client {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let ext = if deflate {
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        } else {
            ""
        };
        write!(
            s,
            "GET /ws?user={user} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
        )
        .unwrap();
        let mut c = Client {
            s,
            rest: Vec::new(),
        };
        while !c.rest.windows(4).any(|w| w == b"\r\n\r\n") {
            c.fill();
        }
        let end = c.rest.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        c.rest.drain(..end);
        c
    }

    fn fill(&mut self) {
        let mut buf = [0u8; 65536];
        let n = self.s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "server closed; last bytes {:?}",
            String::from_utf8_lossy(&self.rest)
        );
        self.rest.extend_from_slice(&buf[..n]);
    }

    fn send(&mut self, v: Value) {
        let text = v.to_string();
        let mut f = vec![0x81];
        let len = text.len();
        if len < 126 {
            f.push(0x80 | len as u8);
        } else {
            f.push(0x80 | 126);
            f.extend_from_slice(&(len as u16).to_be_bytes());
        }
        f.extend_from_slice(&[0; 4]);
        f.extend_from_slice(text.as_bytes());
        self.s.write_all(&f).unwrap();
    }

    /// The next event named `kind`: its frame's wire size, RSV1, and plain JSON text.
    fn event(&mut self, kind: &str, inflater: &mut Inflater) -> (usize, bool, String) {
        loop {
            let (wire, b0, payload) = loop {
                if let Some(f) = parse(&self.rest) {
                    self.rest.drain(..f.0);
                    break f;
                }
                self.fill();
            };
            let compressed = b0 & 0x40 != 0;
            let text = if compressed {
                inflater.inflate(&payload, 1 << 20).unwrap().to_vec()
            } else {
                payload
            };
            let text = String::from_utf8(text).unwrap();
            if text.contains(&format!("\"event\":\"{kind}\"")) {
                return (wire, compressed, text);
            }
        }
    }
}

/// One server frame at the start of `b`: total length, first byte, payload.
fn parse(b: &[u8]) -> Option<(usize, u8, Vec<u8>)> {
    let (len, at) = match *b.get(1)? & 0x7f {
        126 => (
            u16::from_be_bytes(b.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    Some((at + len, b[0], b.get(at..at + len)?.to_vec()))
}

/// Bytes of a server frame carrying `payload` bytes.
fn frame_len(payload: usize) -> usize {
    payload
        + if payload < 126 {
            2
        } else if payload < 65536 {
            4
        } else {
            10
        }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --all-targets` runs bench binaries without --bench.
    }
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    let threshold = config.compression_threshold;
    let server = Server::bind(config).unwrap();
    let addr = server.local_addr();
    let handle = server.shutdown_handle();
    let thread = std::thread::spawn(move || server.run());
    let mut inflater = Inflater::new();
    let mut deflater = Deflater::new();

    let mut packed = Client::connect(addr, "ann", true);
    let mut plain = Client::connect(addr, "bob", false);
    for c in [&mut packed, &mut plain] {
        c.send(json!({"action": "join", "room": "lobby"}));
        c.event("room", &mut inflater);
    }
    let mut rows = Vec::new();
    let mut row = |name: &str, a: (usize, bool, String), b: (usize, bool, String)| {
        // The same event but for who and when (the late joiners' member lists differ, notes have `to`).
        let strip = |t: &str| {
            let mut v: Value = serde_json::from_str(t).unwrap();
            for field in ["members", "to", "ts"] {
                v.as_object_mut().unwrap().remove(field);
            }
            v
        };
        assert_eq!(strip(&a.2), strip(&b.2), "both clients got the same event");
        let compressed = frame_len(deflater.compress(b.2.as_bytes()).len());
        rows.push(format!(
            "| {name} | {} | {} | {} | {} |",
            b.0,
            compressed,
            a.0,
            if a.1 {
                "compressed"
            } else {
                "plain (under the threshold)"
            }
        ));
    };

    // A typical chat message, then 32 of them for the history answer.
    let chat = |i: usize| format!("message {i}: ok, see you at the station at half past six?");
    plain.send(json!({"action": "publish", "room": "lobby", "message": chat(0)}));
    let a = packed.event("message", &mut inflater);
    let b = plain.event("message", &mut inflater);
    row("chat message event", a, b);
    for i in 1..32 {
        plain.send(json!({"action": "publish", "room": "lobby", "message": chat(i)}));
        plain.event("message", &mut inflater);
        packed.event("message", &mut inflater);
    }
    let mut late_packed = Client::connect(addr, "cy", true);
    let mut late_plain = Client::connect(addr, "di", false);
    late_packed.send(json!({"action": "join", "room": "lobby"}));
    late_plain.send(json!({"action": "join", "room": "lobby"}));
    let a = late_packed.event("room", &mut inflater);
    let b = late_plain.event("room", &mut inflater);
    row("32-message history answer (`room`)", a, b);

    // A 1 KiB JSON notification to ann and to bob.
    let items: Vec<Value> = (0..12)
        .map(|i| json!({"id": 1000 + i, "kind": "order_update", "status": "shipped", "eta": "2026-12-03"}))
        .collect();
    let note = json!({"type": "digest", "items": items});
    for user in ["ann", "bob"] {
        plain.send(json!({"action": "notify", "user": user, "message": note}));
    }
    let a = packed.event("message", &mut inflater);
    let b = plain.event("message", &mut inflater);
    row(&format!("{} B JSON notification", b.2.len()), a, b);

    println!(
        "permessage-deflate on the wire (threshold {threshold} B; frame bytes incl. header)\n"
    );
    println!("| payload | plain | compressed | sent to the deflate client |");
    println!("|---|---:|---:|---|");
    for r in &rows {
        println!("{r}");
    }

    // CPU per compression of a 512-byte chat JSON, best of 5 runs of 20 000.
    let mut text = r#"{"event":"message","from":"alice","room":"lobby","seq":4242,"ts":1764547200123,"message":""#.to_owned();
    while text.len() < 510 {
        text.push_str("the quick brown fox jumps over the lazy dog ");
    }
    text.truncate(510);
    text.push_str("\"}");
    let (n, mut best, mut best_in) = (20_000, Duration::MAX, Duration::MAX);
    let packed_len = deflater.compress(text.as_bytes()).len();
    let packed_msg = deflater.compress(text.as_bytes()).to_vec();
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(deflater.compress(std::hint::black_box(text.as_bytes())));
        }
        best = best.min(t.elapsed());
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(inflater.inflate(&packed_msg, 1 << 16).unwrap());
        }
        best_in = best_in.min(t.elapsed());
    }
    println!(
        "\n512-byte JSON message: {} bytes compressed; deflate {:.2} µs, inflate {:.2} µs per message",
        packed_len,
        best.as_secs_f64() * 1e6 / n as f64,
        best_in.as_secs_f64() * 1e6 / n as f64
    );

    // Heap of the shared states, allocated at first use.
    let before = LIVE.load(Ordering::Relaxed);
    let mut d = Deflater::new();
    d.compress(text.as_bytes());
    let deflate_heap = LIVE.load(Ordering::Relaxed) - before;
    let before = LIVE.load(Ordering::Relaxed);
    let mut i = Inflater::new();
    i.inflate(&packed_msg, 1 << 16).unwrap();
    let inflate_heap = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "heap for the whole loop: deflater {} KiB, inflater {} KiB (per connection: 0)",
        deflate_heap / 1024,
        inflate_heap / 1024
    );
    drop((d, i));
    handle.shutdown();
    thread.join().unwrap().unwrap();
}
