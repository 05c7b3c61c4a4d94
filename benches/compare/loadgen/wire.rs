//! Client side of the wire: the upgrade request, masked frames out, server frames in.

use std::io::Write;
use std::sync::OnceLock;

/// Bytes at the start of every payload: publisher id (u32), sequence (u64), send time ns (u64).
pub const STAMP_LEN: usize = 20;

/// Opcodes the generator acts on.
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// What publishers send, set by `LOOPCAST_BENCH_COMPRESSION` for the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Unset: binary frames of `len` bytes, the stamp then zeros.
    Binary,
    /// `on` / `off`: 512-byte JSON chat messages as text frames; with `on` every
    /// client offers permessage-deflate (servers that do not support it ignore
    /// the offer and send plain frames).
    Json { deflate: bool },
}

/// Bytes of a JSON payload (the "512-byte JSON messages").
pub const JSON_LEN: usize = 512;

/// The run's payload kind (read once).
pub fn payload() -> Payload {
    static MODE: OnceLock<Payload> = OnceLock::new();
    *MODE.get_or_init(
        || match std::env::var("LOOPCAST_BENCH_COMPRESSION").as_deref() {
            Ok("on") => Payload::Json { deflate: true },
            Ok("off") => Payload::Json { deflate: false },
            _ => Payload::Binary,
        },
    )
}

/// Appends the HTTP upgrade request for `path` (`/broadcast`, or `/ws` in the
/// room scenario; a fixed key: the generator checks only the status line, the
/// servers under test check the key).
pub fn push_upgrade(out: &mut Vec<u8>, host: &str, path: &str) {
    let offer = if payload() == (Payload::Json { deflate: true }) {
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    } else {
        ""
    };
    let _ = write!(
        out,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n{offer}\r\n"
    );
}

/// What an upgrade response head said, once complete.
#[derive(Debug, PartialEq, Eq)]
pub enum Upgrade {
    /// More bytes are needed.
    Partial,
    /// `101`: the head is this many bytes long; frames may follow it.
    Switched(usize),
    /// Any other status.
    Refused,
}

/// Looks for the end of the response head and checks for `101`.
pub fn parse_upgrade(buf: &[u8]) -> Upgrade {
    match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        None if buf.len() > 8192 => Upgrade::Refused,
        None => Upgrade::Partial,
        Some(end) if buf.starts_with(b"HTTP/1.1 101") => Upgrade::Switched(end + 4),
        Some(_) => Upgrade::Refused,
    }
}

/// Appends one masked binary frame whose payload is `len` bytes: the stamp, then zeros.
pub fn push_stamped(
    out: &mut Vec<u8>,
    mask: [u8; 4],
    publisher: u32,
    seq: u64,
    ts: u64,
    len: usize,
) {
    if let Payload::Json { .. } = payload() {
        return push_json(out, mask, publisher, seq, ts);
    }
    let len = len.max(STAMP_LEN);
    push_head(out, OP_BINARY, mask, len);
    let start = out.len();
    out.extend_from_slice(&publisher.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&ts.to_le_bytes());
    out.resize(start + len, 0);
    apply_mask(&mut out[start..], mask);
}

/// The start of a JSON payload; the stamp follows as 40 hex digits.
const JSON_STAMP: &[u8] = b"{\"stamp\":\"";

/// Appends one masked text frame of [`JSON_LEN`] bytes: a chat-like JSON object
/// whose `stamp` carries publisher, sequence and send time in hex, and whose
/// text varies with the sequence (so no two messages are the same).
fn push_json(out: &mut Vec<u8>, mask: [u8; 4], publisher: u32, seq: u64, ts: u64) {
    const WORDS: [&str; 12] = [
        "hello", "world", "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "see",
        "you",
    ];
    push_head(out, OP_TEXT, mask, JSON_LEN);
    let start = out.len();
    let _ = write!(
        out,
        "{{\"stamp\":\"{publisher:08x}{seq:016x}{ts:016x}\",\"event\":\"message\",\
         \"room\":\"bench\",\"from\":\"user{publisher}\",\"message\":\""
    );
    let mut k = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() - start < JSON_LEN - 2 {
        k ^= k << 13;
        k ^= k >> 7;
        k ^= k << 17;
        out.extend_from_slice(WORDS[(k % WORDS.len() as u64) as usize].as_bytes());
        out.push(b' ');
    }
    out.truncate(start + JSON_LEN - 2);
    out.extend_from_slice(b"\"}");
    apply_mask(&mut out[start..], mask);
}

/// Appends one masked text frame: `{"action":"join","room":"bench<room>"}`.
pub fn push_join(out: &mut Vec<u8>, mask: [u8; 4], room: u32) {
    let mut text = Vec::with_capacity(48);
    let _ = write!(text, "{{\"action\":\"join\",\"room\":\"bench{room}\"}}");
    push_text(out, mask, &text);
}

/// Appends one masked `publish` action to room `bench<room>` whose message is
/// the stamp as 40 hex digits (a room `message` event then carries it as
/// `"message":"<hex>"`, found by [`read_stamp`]).
pub fn push_room_publish(
    out: &mut Vec<u8>,
    mask: [u8; 4],
    room: u32,
    publisher: u32,
    seq: u64,
    ts: u64,
) {
    let mut text = Vec::with_capacity(96);
    let _ = write!(
        text,
        "{{\"action\":\"publish\",\"room\":\"bench{room}\",\"message\":\"{publisher:08x}{seq:016x}{ts:016x}\"}}"
    );
    push_text(out, mask, &text);
}

fn push_text(out: &mut Vec<u8>, mask: [u8; 4], text: &[u8]) {
    push_head(out, OP_TEXT, mask, text.len());
    let start = out.len();
    out.extend_from_slice(text);
    apply_mask(&mut out[start..], mask);
}

/// Appends one masked control frame (`pong` echo or `close`) carrying `payload` (<= 125 bytes).
pub fn push_control(out: &mut Vec<u8>, opcode: u8, mask: [u8; 4], payload: &[u8]) {
    push_head(out, opcode, mask, payload.len());
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

fn push_head(out: &mut Vec<u8>, opcode: u8, mask: [u8; 4], len: usize) {
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
}

fn apply_mask(bytes: &mut [u8], mask: [u8; 4]) {
    for (i, b) in bytes.iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// One complete server frame found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    /// FIN bit.
    pub fin: bool,
    /// Opcode nibble.
    pub opcode: u8,
    /// RSV1: a permessage-deflate message (only when the run offers it).
    pub compressed: bool,
    /// Where the payload starts.
    pub payload_at: usize,
    /// Total frame length (head + payload).
    pub len: usize,
}

/// Why a server frame is unacceptable.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

/// Parses the frame at the start of `buf`: `Ok(None)` means more bytes are needed.
/// Server frames must be unmasked.
pub fn parse_frame(buf: &[u8]) -> Result<Option<Frame>, Malformed> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let deflate = payload() == (Payload::Json { deflate: true });
    let rsv = buf[0] & 0x70;
    if buf[1] & 0x80 != 0 || !(rsv == 0 || (deflate && rsv == 0x40)) {
        return Err(Malformed);
    }
    let (payload_at, payload_len) = match buf[1] & 0x7f {
        126 if buf.len() < 4 => return Ok(None),
        126 => (4, u16::from_be_bytes([buf[2], buf[3]]) as usize),
        127 if buf.len() < 10 => return Ok(None),
        127 => {
            let mut n = [0; 8];
            n.copy_from_slice(&buf[2..10]);
            (10, u64::from_be_bytes(n) as usize)
        }
        n => (2, n as usize),
    };
    let len = payload_at + payload_len;
    if buf.len() < len {
        return Ok(None);
    }
    Ok(Some(Frame {
        fin: buf[0] & 0x80 != 0,
        opcode: buf[0] & 0x0f,
        compressed: rsv != 0,
        payload_at,
        len,
    }))
}

/// Where a loopcast room `message` event carries the stamp.
const ROOM_EVENT: &[u8] = b"{\"event\":\"message\"";
const ROOM_STAMP: &[u8] = b"\"message\":\"";
const ROOM_ANSWER: &[u8] = b"{\"event\":\"room\"";

/// Reads the stamp of a delivered payload: at its start (`/broadcast`), or in
/// the `message` field of a room event (`/ws`).
/// The stamps of the messages in a `room` answer's history (a join's
/// answer carries what was published before the join took effect: those
/// messages reached the client too, and a loss count must see them).
pub fn history_stamps(payload: &[u8]) -> Vec<(u32, u64, u64)> {
    if !payload.starts_with(ROOM_ANSWER) {
        return Vec::new();
    }
    let mut stamps = Vec::new();
    let mut rest = payload;
    while let Some(at) = rest.windows(ROOM_STAMP.len()).position(|w| w == ROOM_STAMP) {
        rest = &rest[at + ROOM_STAMP.len()..];
        if let Some(stamp) = rest.get(..40).and_then(parse_hex_stamp) {
            stamps.push(stamp);
        }
    }
    stamps
}

/// Publisher, sequence and send time from the 40 hex digits of a JSON stamp.
fn parse_hex_stamp(hex: &[u8]) -> Option<(u32, u64, u64)> {
    let hex = std::str::from_utf8(hex).ok()?;
    let publisher = u32::from_str_radix(hex.get(..8)?, 16).ok()?;
    let seq = u64::from_str_radix(hex.get(8..24)?, 16).ok()?;
    let ts = u64::from_str_radix(hex.get(24..40)?, 16).ok()?;
    Some((publisher, seq, ts))
}

pub fn read_stamp(payload: &[u8]) -> Option<(u32, u64, u64)> {
    let hex_at = if let Some(rest) = payload.strip_prefix(JSON_STAMP) {
        Some(rest)
    } else if payload.starts_with(ROOM_EVENT) {
        let at = payload
            .windows(ROOM_STAMP.len())
            .position(|w| w == ROOM_STAMP)?;
        Some(&payload[at + ROOM_STAMP.len()..])
    } else {
        None
    };
    if let Some(rest) = hex_at {
        return parse_hex_stamp(rest.get(..40)?);
    }
    if payload.len() < STAMP_LEN {
        return None;
    }
    let publisher = u32::from_le_bytes(payload[0..4].try_into().ok()?);
    let seq = u64::from_le_bytes(payload[4..12].try_into().ok()?);
    let ts = u64::from_le_bytes(payload[12..20].try_into().ok()?);
    Some((publisher, seq, ts))
}
