//! The journal's records: length, CRC-32 and body, encoded and decoded without I/O.
//!
//! A record is `len: u32 LE | crc: u32 LE | body[len]`, where `body` is a kind
//! byte and its fields, and `crc` is the CRC-32 (IEEE) of `body`. A torn last
//! record (a crash mid-write) is too short; a flipped bit fails the CRC. Both
//! are detected, and decoding can resynchronise on the next intact record.

/// The first bytes of every journal file: the format and its version.
pub const MAGIC: &[u8; 8] = b"loopcst1";
/// Bytes before a record's body.
pub const HEADER: usize = 8;
/// The largest body we write or accept (the cap lives in `limits`).
pub use crate::limits::MAX_RECORD as MAX_BODY;

const KIND_ROOM: u8 = 1;
const KIND_MSG: u8 = 2;
const KIND_DELETE: u8 = 3;
const KIND_IDLE: u8 = 4;
const KIND_LIVE: u8 = 5;

/// A room's settings and the start of a run of its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomHead {
    /// Raw epoch (never 0).
    pub epoch: u64,
    /// The seq before the first message that follows this record.
    pub seq: u64,
    /// History kept (messages).
    pub cap: u32,
    /// `max_members` (0: none).
    pub max_members: u32,
    /// `create`d: kept until deleted, not only for the room TTL.
    pub created: bool,
    /// The creator's user (may `delete` it); empty for rooms made by a join.
    pub owner: String,
    /// The password's salted hash in its storage form; empty: no password.
    pub password: Vec<u8>,
}

/// One decoded record; strings borrow from the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    /// The room's history (re)starts: settings, epoch, seq; no entries yet.
    Room { name: &'a str, head: RoomHead },
    /// A message event for `seq` of the room.
    Msg {
        name: &'a str,
        seq: u64,
        event: &'a str,
    },
    /// The room was deleted.
    Delete { name: &'a str },
    /// The room's last member left at `unix_ms` (its TTL runs from then).
    Idle { name: &'a str, unix_ms: u64 },
    /// The room is in use again (in memory): no TTL while it is.
    Live { name: &'a str },
}

/// What decoding found at some offset.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A record, and the bytes it took (header included).
    Record(Record<'a>, usize),
    /// Not enough bytes for the record the header announces: a torn end, or
    /// more is to be read.
    Short,
    /// The bytes here are no valid record (bad CRC, length or fields).
    Corrupt,
}

/// Appends a record with `body` written by `fill` to `out`.
fn framed(out: &mut Vec<u8>, kind: u8, fill: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    out.push(kind);
    fill(out);
    let body = &out[start + HEADER..];
    let len = body.len() as u32;
    let crc = crc32(body);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn put_str8(out: &mut Vec<u8>, s: &str) {
    // Room names are at most 64 bytes, well within a byte.
    out.push(s.len().min(255) as u8);
    out.extend_from_slice(&s.as_bytes()[..s.len().min(255)]);
}

fn put_bytes16(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len().min(u16::MAX as usize);
    out.extend_from_slice(&(n as u16).to_le_bytes());
    out.extend_from_slice(&b[..n]);
}

/// Appends a `Room` record.
pub fn write_room(out: &mut Vec<u8>, name: &str, head: &RoomHead) {
    framed(out, KIND_ROOM, |b| {
        put_str8(b, name);
        b.extend_from_slice(&head.epoch.to_le_bytes());
        b.extend_from_slice(&head.seq.to_le_bytes());
        b.extend_from_slice(&head.cap.to_le_bytes());
        b.extend_from_slice(&head.max_members.to_le_bytes());
        b.push(u8::from(head.created));
        put_bytes16(b, head.owner.as_bytes());
        put_bytes16(b, &head.password);
    });
}

/// Appends a `Msg` record; returns the offset of the event text within `out`
/// (so the caller can index it) and its length.
pub fn write_msg(out: &mut Vec<u8>, name: &str, seq: u64, event: &str) -> (usize, usize) {
    let mut at = 0;
    framed(out, KIND_MSG, |b| {
        put_str8(b, name);
        b.extend_from_slice(&seq.to_le_bytes());
        at = b.len();
        b.extend_from_slice(event.as_bytes());
    });
    (at, event.len())
}

/// Appends a `Delete` record.
pub fn write_delete(out: &mut Vec<u8>, name: &str) {
    framed(out, KIND_DELETE, |b| put_str8(b, name));
}

/// Appends an `Idle` record.
pub fn write_idle(out: &mut Vec<u8>, name: &str, unix_ms: u64) {
    framed(out, KIND_IDLE, |b| {
        put_str8(b, name);
        b.extend_from_slice(&unix_ms.to_le_bytes());
    });
}

/// Appends a `Live` record.
pub fn write_live(out: &mut Vec<u8>, name: &str) {
    framed(out, KIND_LIVE, |b| put_str8(b, name));
}

/// Decodes the record at the start of `buf`.
pub fn decode(buf: &[u8]) -> Decoded<'_> {
    if buf.len() < HEADER {
        return Decoded::Short;
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    if len == 0 || len > MAX_BODY {
        return Decoded::Corrupt;
    }
    let Some(body) = buf.get(HEADER..HEADER + len) else {
        return Decoded::Short;
    };
    if crc32(body) != crc {
        return Decoded::Corrupt;
    }
    match parse_body(body) {
        Some(record) => Decoded::Record(record, HEADER + len),
        None => Decoded::Corrupt,
    }
}

/// Where a message record's event text starts, relative to the record's start.
pub fn msg_event_offset(name: &str) -> usize {
    HEADER + 1 + 1 + name.len() + 8
}

/// Reads fields off the front of a body.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str8(&mut self) -> Option<&'a str> {
        let n = self.u8()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
    fn bytes16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()? as usize;
        self.take(n)
    }
    fn rest_str(&mut self) -> Option<&'a str> {
        let rest = std::mem::take(&mut self.0);
        std::str::from_utf8(rest).ok()
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

fn parse_body(body: &[u8]) -> Option<Record<'_>> {
    let mut f = Fields(body);
    let kind = f.u8()?;
    let name = f.str8()?;
    if name.is_empty() {
        return None;
    }
    let record = match kind {
        KIND_ROOM => Record::Room {
            name,
            head: RoomHead {
                epoch: f.u64().filter(|&e| e != 0)?,
                seq: f.u64()?,
                cap: f.u32()?,
                max_members: f.u32()?,
                created: f.u8()? != 0,
                owner: std::str::from_utf8(f.bytes16()?).ok()?.to_owned(),
                password: f.bytes16()?.to_vec(),
            },
        },
        KIND_MSG => Record::Msg {
            name,
            seq: f.u64()?,
            event: f.rest_str()?,
        },
        KIND_DELETE => Record::Delete { name },
        KIND_IDLE => Record::Idle {
            name,
            unix_ms: f.u64()?,
        },
        KIND_LIVE => Record::Live { name },
        _ => return None,
    };
    f.done().then_some(record)
}

/// CRC-32 (IEEE 802.3, the zlib/PNG one), table-driven.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};
