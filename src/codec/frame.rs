//! Frame headers from client bytes: parsing, RFC 6455 server-side checks, unmasking.

use super::{CodecError, Message};
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// The longest header a client can send: 2 bytes, 8 of extended length, 4 of mask.
pub(super) const MAX_HEADER: usize = 14;

/// The largest payload a control frame may carry (RFC 6455 5.5).
pub(super) const MAX_CONTROL: usize = 125;

/// A parsed but not yet checked frame header.
#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    pub fin: bool,
    /// The RSV1-3 bits, in place (`0x40` is RSV1, "compressed" under permessage-deflate).
    pub rsv: u8,
    pub opcode: OpCode,
    pub mask: Option<[u8; 4]>,
    pub len: u64,
}

/// Parses the header at the start of `buf`; `None` until all of it is there.
/// Returns the header and its length in bytes. Written by hand rather than with
/// `FrameHeader::parse` because this runs once per frame on the hot path and
/// needs neither a `Cursor` nor `io::Read`.
#[inline]
pub(super) fn parse_header(buf: &[u8]) -> Option<(Header, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (len, mut used) = match b1 & 0x7F {
        126 => (
            u64::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?), 10),
        n => (u64::from(n), 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let key: [u8; 4] = buf.get(used..used + 4)?.try_into().ok()?;
        used += 4;
        Some(key)
    } else {
        None
    };
    let header = Header {
        fin: b0 & 0x80 != 0,
        rsv: b0 & 0x70,
        opcode: OpCode::from(b0 & 0x0F),
        mask,
        len,
    };
    Some((header, used))
}

/// RSV1: the message is compressed (RFC 7692 section 6).
pub(super) const RSV1: u8 = 0x40;

/// Applies the server-side rules to a header, given the length of the data
/// message being assembled (`None` when no message is open) and whether
/// permessage-deflate was negotiated. Returns the payload length and the mask.
/// The order of the checks follows tungstenite's, so that a frame breaking
/// several rules gets the same verdict from both.
#[inline]
pub(super) fn check_header(
    h: &Header,
    open: Option<usize>,
    max_message: usize,
    deflate: bool,
) -> Result<(usize, [u8; 4]), CodecError> {
    if matches!(
        h.opcode,
        OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_))
    ) {
        return Err(CodecError::Protocol("reserved opcode"));
    }
    if h.len >> 63 != 0 {
        return Err(CodecError::Protocol("64-bit length with the high bit set"));
    }
    if h.len > max_message as u64 {
        return Err(CodecError::TooBig);
    }
    let len = h.len as usize;
    let Some(mask) = h.mask else {
        return Err(CodecError::Protocol("unmasked client frame"));
    };
    if h.rsv != 0 && !(deflate && h.rsv == RSV1) {
        return Err(CodecError::Protocol(
            "reserved bits set without an extension",
        ));
    }
    // RSV1 marks the first frame of a compressed message, nothing else (section 6).
    if h.rsv == RSV1 && !matches!(h.opcode, OpCode::Data(Data::Text | Data::Binary)) {
        return Err(CodecError::Protocol(
            "RSV1 on a control or continuation frame",
        ));
    }
    match (h.opcode, open) {
        (OpCode::Control(_), _) if !h.fin => {
            return Err(CodecError::Protocol("fragmented control frame"));
        }
        (OpCode::Control(_), _) if len > MAX_CONTROL => {
            return Err(CodecError::Protocol("control frame longer than 125 bytes"));
        }
        (OpCode::Control(_), _) => {}
        (OpCode::Data(Data::Continue), None) => {
            return Err(CodecError::Protocol("continuation frame without a message"));
        }
        (OpCode::Data(Data::Continue), Some(have)) if len > max_message - have => {
            return Err(CodecError::TooBig);
        }
        (OpCode::Data(Data::Continue), Some(_)) => {}
        (OpCode::Data(_), Some(_)) => {
            return Err(CodecError::Protocol("new message inside a fragmented one"));
        }
        (OpCode::Data(_), None) => {}
    }
    Ok((len, mask))
}

/// XORs `buf` with `mask`, where `buf` starts `offset` bytes into the payload.
/// Eight bytes at a time: payloads are mostly unmasked in place in the shared
/// read buffer, so this is the one loop that touches every received byte.
#[inline]
pub(super) fn unmask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut key = mask;
    key.rotate_left(offset % 4);
    let [a, b, c, d] = key;
    let wide = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut words = buf.chunks_exact_mut(8);
    for word in &mut words {
        let bytes: [u8; 8] = (&*word)
            .try_into()
            .expect("chunks_exact_mut(8) yields 8 bytes");
        word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ wide).to_ne_bytes());
    }
    for (byte, k) in words.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// Turns a complete, unmasked control frame payload into its message.
pub(super) fn control_message(kind: Control, payload: &[u8]) -> Result<Message<'_>, CodecError> {
    match kind {
        Control::Ping => Ok(Message::Ping(payload)),
        Control::Pong => Ok(Message::Pong(payload)),
        Control::Close => close_message(payload),
        // check_header rejects these before any payload is read.
        Control::Reserved(_) => Err(CodecError::Protocol("reserved opcode")),
    }
}

/// Validates a close payload (RFC 6455 5.5.1 and 7.4).
fn close_message(payload: &[u8]) -> Result<Message<'_>, CodecError> {
    match payload {
        [] => Ok(Message::Close(None)),
        [_] => Err(CodecError::Protocol("one-byte close payload")),
        [hi, lo, reason @ ..] => {
            // The reason is checked before the code, as tungstenite does.
            let reason = std::str::from_utf8(reason).map_err(|_| CodecError::InvalidUtf8)?;
            let code = u16::from_be_bytes([*hi, *lo]);
            if !close_code_allowed(code) {
                return Err(CodecError::Protocol("close code not allowed"));
            }
            Ok(Message::Close(Some((code, reason))))
        }
    }
}

/// Codes a peer may send (RFC 6455 7.4.1 and 7.4.2): the defined ones that are
/// not reserved for local use, and the registered/private range 3000-4999.
pub(super) fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}
