//! Differential test: our codec against tungstenite's `WebSocketContext` on random client streams.
//!
//! Each case is a random client byte stream (valid, or with one rule broken),
//! cut at random points into reads and fed to both decoders. They must deliver
//! the same messages and reach the same verdict with the same kind of error.
//!
//! Deliberate differences, normalised in `ours`/`oracle`, pinned by `known_differences`:
//! - Close codes tungstenite accepts but RFC 6455 7.4 (and Autobahn 7.9.*) does
//!   not, 1012 and 1013: tungstenite delivers the close, we fail with a protocol error.
//! - Other disallowed close codes: tungstenite delivers `Close(1002, "Protocol
//!   violation")` in place of the peer's frame; we fail with a protocol error.
//!   (The generator never sends that exact close itself.)
//! - A 64-bit length with its high bit set: tungstenite reports a capacity error
//!   (the length is over any limit); we report the RFC violation, a protocol error.
//! - tungstenite answers pings and closes on its own; only what the application
//!   sees is compared. Both stop at the first close, as the reactor does.
//! - We reject a frame as soon as its header is in; tungstenite after its
//!   payload. Every generated stream is complete, so the verdicts agree.

use loopcast::codec::{CodecError, DecodeState, Message as Ours};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use tungstenite::Message as Theirs;
use tungstenite::error::Error as TError;
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};

/// What the application sees from a decoder: its messages, then how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Open,
    Protocol,
    Utf8,
    TooBig,
}

/// A byte pipe: reads what was pushed, then `WouldBlock`; writes vanish.
#[derive(Default)]
struct Pipe(VecDeque<u8>);

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.0.read(buf)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn ours(chunks: &[&[u8]], max: usize) -> (Vec<Event>, Verdict) {
    let mut state = DecodeState::default();
    let mut events = Vec::new();
    for chunk in chunks {
        let mut buf = chunk.to_vec();
        let mut closed = false;
        let result = state.decode(&mut buf, max, |m| {
            closed = matches!(m, Ours::Close(_));
            events.push(match m {
                Ours::Text(t) => Event::Text(t.to_owned()),
                Ours::Binary(b) => Event::Binary(b.to_vec()),
                Ours::Ping(b) => Event::Ping(b.to_vec()),
                Ours::Pong(b) => Event::Pong(b.to_vec()),
                Ours::Close(c) => Event::Close(c.map(|(code, r)| (code, r.to_owned()))),
            });
            !closed
        });
        match result {
            Err(CodecError::Protocol(why)) if why.starts_with("64-bit length") => {
                return (events, Verdict::TooBig);
            }
            Err(CodecError::Protocol(_)) => return (events, Verdict::Protocol),
            Err(CodecError::InvalidUtf8) => return (events, Verdict::Utf8),
            Err(CodecError::TooBig) => return (events, Verdict::TooBig),
            Ok(()) if closed => break,
            Ok(()) => {}
        }
    }
    (events, Verdict::Open)
}

/// tungstenite's view, with the close-code differences mapped to our verdict.
fn oracle(chunks: &[&[u8]], max: usize) -> (Vec<Event>, Verdict) {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let mut ctx = WebSocketContext::new(Role::Server, Some(config));
    let mut pipe = Pipe::default();
    let mut events = Vec::new();
    for chunk in chunks {
        pipe.0.extend(chunk.iter());
        loop {
            let event = match ctx.read(&mut pipe) {
                Ok(Theirs::Text(t)) => Event::Text(t.as_str().to_owned()),
                Ok(Theirs::Binary(b)) => Event::Binary(b.to_vec()),
                Ok(Theirs::Ping(b)) => Event::Ping(b.to_vec()),
                Ok(Theirs::Pong(b)) => Event::Pong(b.to_vec()),
                Ok(Theirs::Close(Some(f))) => {
                    let code = u16::from(f.code);
                    let replaced = code == 1002 && f.reason.as_str() == "Protocol violation";
                    if replaced || code == 1012 || code == 1013 {
                        return (events, Verdict::Protocol);
                    }
                    events.push(Event::Close(Some((code, f.reason.as_str().to_owned()))));
                    return (events, Verdict::Open);
                }
                Ok(Theirs::Close(None)) => {
                    events.push(Event::Close(None));
                    return (events, Verdict::Open);
                }
                Ok(Theirs::Frame(_)) => unreachable!("read never yields raw frames"),
                Err(TError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(TError::Protocol(_)) => return (events, Verdict::Protocol),
                Err(TError::Utf8(_)) => return (events, Verdict::Utf8),
                Err(TError::Capacity(_)) => return (events, Verdict::TooBig),
                Err(e) => panic!("unexpected tungstenite error {e}"),
            };
            events.push(event);
        }
    }
    (events, Verdict::Open)
}

/// xorshift64*: deterministic and free of API churn.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One client frame before encoding, so that mutations can break one rule.
#[derive(Debug, Clone)]
struct Frame {
    b0: u8,
    masked: bool,
    key: [u8; 4],
    payload: Vec<u8>,
    /// Length form: 0 minimal, 1 forces 16-bit, 2 forces 64-bit (RFC-legal to accept).
    form: u8,
}

impl Frame {
    fn new(rng: &mut Rng, b0: u8, payload: Vec<u8>) -> Self {
        let key = (rng.next() as u32).to_ne_bytes();
        let form = if rng.chance(10) {
            1 + rng.below(2) as u8
        } else {
            0
        };
        Frame {
            b0,
            masked: true,
            key,
            payload,
            form,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.b0);
        let m = if self.masked { 0x80 } else { 0 };
        let len = self.payload.len();
        if len < 126 && self.form == 0 {
            out.push(m | len as u8);
        } else if len <= 0xFFFF && self.form < 2 {
            out.push(m | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(m | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        if self.masked {
            out.extend_from_slice(&self.key);
            out.extend(
                self.payload
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ self.key[i % 4]),
            );
        } else {
            out.extend_from_slice(&self.payload);
        }
    }
}

const CHARS: &[&str] = &[
    "a", "Z", " ", "0", "é", "ß", "€", "κ", "✓", "𝄞", "😀", "\u{7f}", "\u{80}",
];
const REASONS: &[&str] = &["", "bye", "going away", "fin ✓", "é€𝄞"];

fn random_text(rng: &mut Rng, max_len: usize) -> Vec<u8> {
    let mut s = String::new();
    let target = rng.below(max_len + 1);
    while s.len() < target {
        s.push_str(CHARS[rng.below(CHARS.len())]);
    }
    s.into_bytes()
}

fn random_len(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=69 => rng.below(40),
        70..=96 => 100 + rng.below(300),
        _ => 65_000 + rng.below(2_000),
    }
}

fn control(rng: &mut Rng) -> Frame {
    let b0 = if rng.chance(50) { 0x89 } else { 0x8A };
    let len = rng.below(126);
    let payload = rng.bytes(len);
    Frame::new(rng, b0, payload)
}

/// A valid stream: messages (some fragmented, cut anywhere, even inside a
/// character), pings and pongs between fragments, sometimes a close at the end.
fn valid_frames(rng: &mut Rng) -> Vec<Frame> {
    let mut frames = Vec::new();
    for _ in 0..1 + rng.below(6) {
        let is_text = rng.chance(60);
        let len = random_len(rng);
        let payload = if is_text {
            random_text(rng, len)
        } else {
            rng.bytes(len)
        };
        let pieces = if rng.chance(30) { 2 + rng.below(3) } else { 1 };
        let mut cuts: Vec<usize> = (1..pieces).map(|_| rng.below(payload.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(payload.len());
        let mut start = 0;
        for (i, &end) in cuts.iter().enumerate() {
            let opcode = match (i, is_text) {
                (0, true) => 0x1,
                (0, false) => 0x2,
                _ => 0x0,
            };
            let fin = if i + 1 == cuts.len() { 0x80 } else { 0 };
            frames.push(Frame::new(rng, fin | opcode, payload[start..end].to_vec()));
            start = end;
            if rng.chance(15) {
                frames.push(control(rng));
            }
        }
    }
    if rng.chance(30) {
        let mut payload = Vec::new();
        if rng.chance(80) {
            let codes: [u16; 10] = [1000, 1001, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999];
            payload.extend_from_slice(&codes[rng.below(codes.len())].to_be_bytes());
            payload.extend_from_slice(REASONS[rng.below(REASONS.len())].as_bytes());
        }
        frames.push(Frame::new(rng, 0x88, payload));
    }
    frames
}

/// Breaks one rule in one frame (or adds one broken frame).
fn mutate(rng: &mut Rng, frames: &mut Vec<Frame>) {
    let i = rng.below(frames.len());
    let f = &mut frames[i];
    match rng.below(11) {
        0 => f.b0 |= [0x40, 0x20, 0x10][rng.below(3)],
        1 => f.masked = false,
        2 => f.b0 = (f.b0 & 0xF0) | [3, 4, 5, 6, 7, 11, 12, 13, 14, 15][rng.below(10)],
        3 if !f.payload.is_empty() => {
            let at = rng.below(f.payload.len());
            f.payload[at] = [0xFF, 0xC0, 0x80, 0xED, 0xF5, 0xE2][rng.below(6)];
        }
        3 => f.payload.push(0xCE),
        4 => {
            let len = 126 + rng.below(100);
            let payload = rng.bytes(len);
            let ping = Frame::new(rng, 0x89, payload);
            frames.insert(i, ping);
        }
        5 => {
            let len = rng.below(10);
            let payload = rng.bytes(len);
            let ping = Frame::new(rng, 0x09, payload);
            frames.insert(i, ping);
        }
        6 => {
            let mut payload = match rng.below(4) {
                0 => vec![0x03],
                1 => vec![0x03, 0xE8, 0xFF],
                _ => {
                    let codes: [u16; 12] = [
                        0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 2999, 5000,
                    ];
                    codes[rng.below(codes.len())].to_be_bytes().to_vec()
                }
            };
            payload.extend_from_slice(REASONS[rng.below(REASONS.len())].as_bytes());
            frames.insert(i, Frame::new(rng, 0x88, payload));
        }
        7 => f.b0 ^= if f.b0 & 0x0F == 0 { 0x01 } else { f.b0 & 0x0F },
        8 => {
            let b0 = rng.below(2) as u8 * 0x80;
            let payload = rng.bytes(3);
            let stray = Frame::new(rng, b0, payload);
            frames.insert(i, stray);
        }
        9 => f.b0 ^= 0x80,
        _ => {
            // A header claiming a length with the high bit set; no payload follows.
            let mut huge = Frame::new(rng, 0x82, Vec::new());
            huge.form = 3;
            frames.insert(i, huge);
        }
    }
}

fn encode_stream(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        if f.form == 3 {
            out.extend_from_slice(&[f.b0, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 5]);
            out.extend_from_slice(&f.key);
        } else {
            f.encode(&mut out);
        }
    }
    out
}

fn split<'a>(rng: &mut Rng, bytes: &'a [u8]) -> Vec<&'a [u8]> {
    let max_chunk = match rng.below(4) {
        0 => bytes.len().max(1),
        1 => 1 + rng.below(4),
        2 => 1 + rng.below(64),
        _ => 1 + rng.below(5000),
    };
    let mut chunks = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at((1 + rng.below(max_chunk)).min(rest.len()));
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

#[test]
fn random_streams_match_tungstenite() {
    let mut rng = Rng(0x1005_CA57_C0DE_C0DE);
    let mut verdicts = [0usize; 4];
    for case in 0..3000 {
        let mut frames = valid_frames(&mut rng);
        let broken = rng.chance(50);
        if broken {
            mutate(&mut rng, &mut frames);
        }
        let max = if rng.chance(25) {
            16 + rng.below(400)
        } else {
            1 << 20
        };
        let bytes = encode_stream(&frames);
        let chunks = split(&mut rng, &bytes);
        let expected = oracle(&chunks, max);
        let got = ours(&chunks, max);
        assert_eq!(
            got, expected,
            "case {case}: max {max}, frames {frames:?}, chunks {chunks:?}"
        );
        verdicts[expected.1 as usize] += 1;
    }
    // The generator must reach every verdict, or the comparison proves little.
    eprintln!("verdicts {verdicts:?}");
    assert!(verdicts.iter().all(|&n| n > 100), "verdicts {verdicts:?}");
}

#[test]
fn known_differences() {
    let close = |code: u16| {
        let mut rng = Rng(7);
        encode_stream(&[Frame::new(&mut rng, 0x88, code.to_be_bytes().to_vec())])
    };
    let theirs = oracle(&[&close(1012)], 1000);
    assert_eq!(theirs, (vec![], Verdict::Protocol), "1012 is mapped");
    let msb = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4];
    assert_eq!(oracle(&[&msb], 1000).1, Verdict::TooBig);
    let mut state = DecodeState::default();
    let err = state.decode(&mut msb.clone(), 1000, |_| true).unwrap_err();
    assert!(matches!(err, CodecError::Protocol(_)), "{err:?}");
}

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Counts allocations per thread, so parallel tests do not disturb the count.
struct Counting;

// SAFETY: forwards every call unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn complete_frames_decode_without_allocating() {
    let mut rng = Rng(99);
    let mut frames = Vec::new();
    for i in 0..50 {
        let payload = if i % 2 == 0 {
            random_text(&mut rng, 300)
        } else {
            rng.bytes(300)
        };
        frames.push(Frame::new(&mut rng, 0x81 + (i % 2) as u8, payload));
        frames.push(control(&mut rng));
    }
    let mut bytes = encode_stream(&frames);
    let mut state = DecodeState::default();
    let mut delivered = 0;
    let before = ALLOCATIONS.with(Cell::get);
    state
        .decode(&mut bytes, 1 << 16, |_| {
            delivered += 1;
            true
        })
        .unwrap();
    let allocations = ALLOCATIONS.with(Cell::get) - before;
    assert_eq!(delivered, 100);
    assert_eq!(allocations, 0);
    assert_eq!(state.buffered(), 0);
}
