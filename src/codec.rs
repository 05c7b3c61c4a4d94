//! RFC 6455 frame codec on a shared read buffer: bytes in, messages out; frames encoded once.
//!
//! Server role only: client frames must be masked. The one extension,
//! permessage-deflate, enters through the [`Inflate`] seam: when the caller
//! passes an inflater, RSV1 on a message's first frame means "compressed" and
//! the message is inflated before it is handed out; without one RSV1 is a 1002.
//! Complete frames are unmasked and handed out in place, straight from the
//! buffer the reactor read into; only an incomplete tail (a cut header, a
//! payload still arriving, the fragments of an unfinished message) is copied
//! into a per-connection box that exists only while something is pending.

mod frame;
mod partial;
#[cfg(test)]
mod tests;

use frame::{RSV1, check_header, control_message, parse_header, unmask};
use partial::{Assembly, Partial};
pub use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// Why a connection must be closed, carrying the close code we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecError {
    /// Violation of RFC 6455 framing rules (unmasked frame, RSV bits, bad opcode,
    /// fragmented or oversized control frame, bad continuation, bad close payload): 1002.
    Protocol(&'static str),
    /// A text message or close reason that is not UTF-8: 1007.
    InvalidUtf8,
    /// A frame or assembled message longer than the configured maximum: 1009.
    TooBig,
}

impl CodecError {
    /// The close code to send for this error.
    pub fn close_code(&self) -> u16 {
        match self {
            CodecError::Protocol(_) => 1002,
            CodecError::InvalidUtf8 => 1007,
            CodecError::TooBig => 1009,
        }
    }
}

/// Decompresses the messages a client sent with RSV1 (permessage-deflate).
/// One implementation serves every connection, because no client keeps a
/// compression context between messages. `Send`, as the server may run on a
/// thread of its own.
pub trait Inflate: Send {
    /// Inflates one complete message (RSV1 payloads joined, without the
    /// `00 00 ff ff` tail) into a buffer owned by the inflater. Fails with
    /// [`CodecError::TooBig`] as soon as the output would pass `max`.
    fn inflate(&mut self, compressed: &[u8], max: usize) -> Result<&[u8], CodecError>;
}

/// The inflater a connection decodes with, if it negotiated permessage-deflate.
/// `'static` objects (the one shared inflater owns its buffers), so that the
/// reborrows passed down the decode loop keep one type.
pub type MaybeInflate<'a> = Option<&'a mut (dyn Inflate + 'static)>;

/// One complete message or control frame, borrowed from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A complete text message (all fragments joined, UTF-8 checked).
    Text(&'a str),
    /// A complete binary message (all fragments joined).
    Binary(&'a [u8]),
    /// A ping; the reactor answers with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// A close frame: `None` for an empty payload, else the code and UTF-8 reason.
    Close(Option<(u16, &'a str)>),
}

/// Per-connection decoder state kept between reads. `Default` means "between
/// frames, nothing buffered" and costs one pointer; the boxed part exists only
/// while a frame or a fragmented message is incomplete.
#[derive(Debug, Default)]
pub struct DecodeState {
    partial: Option<Box<Partial>>,
}

impl DecodeState {
    /// Decodes every complete frame of `input` (bytes just read into the shared
    /// buffer; unmasked in place) after whatever this state had buffered, and
    /// calls `on_message` for each complete message or control frame, in order.
    /// `on_message` returns `false` to stop decoding (the rest is discarded, e.g.
    /// after a close). An incomplete tail is copied into `self`.
    ///
    /// Frames and messages longer than `max_message` fail with
    /// [`CodecError::TooBig`] as soon as their header arrives. After an error or
    /// a `false` from `on_message` the state is reset; the connection is
    /// expected to close.
    pub fn decode(
        &mut self,
        input: &mut [u8],
        max_message: usize,
        on_message: impl FnMut(Message<'_>) -> bool,
    ) -> Result<(), CodecError> {
        self.decode_with(input, max_message, None, on_message)
    }

    /// [`decode`](Self::decode) for a connection that negotiated
    /// permessage-deflate when `inflate` is given: compressed messages are
    /// inflated by it, and `max_message` bounds their inflated size.
    pub fn decode_with(
        &mut self,
        input: &mut [u8],
        max_message: usize,
        mut inflate: MaybeInflate<'_>,
        mut on_message: impl FnMut(Message<'_>) -> bool,
    ) -> Result<(), CodecError> {
        match self.run(input, max_message, &mut inflate, &mut on_message) {
            Ok(true) => {
                if self.partial.as_ref().is_some_and(|p| p.is_idle()) {
                    self.partial = None;
                }
                Ok(())
            }
            Ok(false) => {
                self.partial = None;
                Ok(())
            }
            Err(e) => {
                self.partial = None;
                Err(e)
            }
        }
    }

    /// Bytes this state holds on the heap (0 when idle), for memory accounting.
    pub fn buffered(&self) -> usize {
        self.partial.as_ref().map_or(0, |p| p.heap_size())
    }

    /// The decode loop; `Ok(false)` when `on_message` asked to stop.
    fn run(
        &mut self,
        input: &mut [u8],
        max_message: usize,
        inflate: &mut MaybeInflate<'_>,
        on_message: &mut impl FnMut(Message<'_>) -> bool,
    ) -> Result<bool, CodecError> {
        let mut pos = 0;
        let mut resumed = None;
        if let Some(p) = self.partial.as_deref_mut() {
            if p.head_len > 0 {
                let Some((header, used)) = p.finish_head(input) else {
                    return Ok(true);
                };
                resumed = Some(header);
                pos = used;
            } else if p.frame.is_some() {
                let (used, complete) = p.feed(input)?;
                if !complete {
                    return Ok(true);
                }
                pos = used;
                if !p.complete_frame(inflate.as_deref_mut(), max_message, on_message)? {
                    return Ok(false);
                }
            }
        }
        loop {
            let header = match resumed.take() {
                Some(header) => header,
                None => match parse_header(&input[pos..]) {
                    Some((header, used)) => {
                        pos += used;
                        header
                    }
                    None => {
                        if pos < input.len() {
                            self.partial
                                .get_or_insert_with(Box::default)
                                .stash_head(&input[pos..]);
                        }
                        return Ok(true);
                    }
                },
            };
            let open = self.partial.as_ref().and_then(|p| p.message.as_ref());
            let deflate = inflate.is_some();
            let (len, mask) = check_header(&header, open.map(Assembly::len), max_message, deflate)?;
            let rest = &mut input[pos..];
            if rest.len() < len {
                let p = self.partial.get_or_insert_with(Box::default);
                p.start_frame(&header, len, mask);
                p.feed(rest)?;
                return Ok(true);
            }
            let payload = &mut rest[..len];
            pos += len;
            unmask(payload, mask, 0);
            let frame = InPlace {
                opcode: header.opcode,
                fin: header.fin,
                compressed: header.rsv == RSV1,
                max_message,
            };
            if !self.complete_in_place(frame, payload, inflate.as_deref_mut(), on_message)? {
                return Ok(false);
            }
        }
    }

    /// Handles a frame whose whole payload was in this read. An unfragmented
    /// message is handed out straight from `payload`: no copy, no allocation.
    fn complete_in_place(
        &mut self,
        frame: InPlace,
        payload: &[u8],
        inflate: MaybeInflate<'_>,
        on_message: &mut impl FnMut(Message<'_>) -> bool,
    ) -> Result<bool, CodecError> {
        let InPlace {
            opcode,
            fin,
            compressed,
            max_message,
        } = frame;
        let kind = match opcode {
            OpCode::Control(kind) => return Ok(on_message(control_message(kind, payload)?)),
            OpCode::Data(kind) => kind,
        };
        match kind {
            Data::Text | Data::Binary if fin && compressed => {
                let text = kind == Data::Text;
                return deliver_deflated(text, payload, inflate, max_message, on_message);
            }
            Data::Text if fin => {
                let text = std::str::from_utf8(payload).map_err(|_| CodecError::InvalidUtf8)?;
                return Ok(on_message(Message::Text(text)));
            }
            Data::Binary if fin => return Ok(on_message(Message::Binary(payload))),
            _ => {}
        }
        let p = self.partial.get_or_insert_with(Box::default);
        let message = match kind {
            Data::Continue => p.message.as_mut(),
            _ => Some(p.message.insert(Assembly::new(kind, compressed))),
        };
        let Some(message) = message else {
            return Err(CodecError::Protocol("continuation frame without a message"));
        };
        message.push(payload, fin)?;
        if !fin {
            return Ok(true);
        }
        p.finish_message(inflate, max_message, on_message)
    }
}

/// A frame whose whole payload is in the read buffer, as `complete_in_place` needs it.
#[derive(Clone, Copy)]
struct InPlace {
    opcode: OpCode,
    fin: bool,
    /// RSV1 (checked against the negotiation already).
    compressed: bool,
    max_message: usize,
}

/// Inflates a complete compressed message and hands it out: text is checked as
/// UTF-8 after inflation, as RFC 7692 section 6.1 has it.
fn deliver_deflated(
    text: bool,
    compressed: &[u8],
    inflate: MaybeInflate<'_>,
    max_message: usize,
    on_message: &mut impl FnMut(Message<'_>) -> bool,
) -> Result<bool, CodecError> {
    // check_header lets RSV1 through only when an inflater was given.
    let Some(inflate) = inflate else {
        return Err(CodecError::Protocol(
            "reserved bits set without an extension",
        ));
    };
    let plain = inflate.inflate(compressed, max_message)?;
    if text {
        let text = std::str::from_utf8(plain).map_err(|_| CodecError::InvalidUtf8)?;
        Ok(on_message(Message::Text(text)))
    } else {
        Ok(on_message(Message::Binary(plain)))
    }
}

/// Appends one final, unmasked server frame with `opcode` and `payload` to `out`.
pub fn encode_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    encode(out, 0x80 | u8::from(opcode), payload);
}

/// Appends one final, unmasked data frame with RSV1 set: `payload` is a
/// permessage-deflate message (compressed, its sync-flush tail removed).
pub fn encode_compressed(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    encode(out, 0x80 | RSV1 | u8::from(opcode), payload);
}

/// Appends a server frame whose first byte is `b0`.
fn encode(out: &mut Vec<u8>, b0: u8, payload: &[u8]) {
    let len = payload.len();
    out.reserve(10 + len);
    out.push(b0);
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// Appends a close frame with `code` and `reason` (truncated to fit 125 bytes) to `out`.
/// The reason is cut at a character boundary so that it stays valid UTF-8.
pub fn encode_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    // What str::floor_char_boundary does, without needing Rust 1.91.
    let mut end = reason.len().min(frame::MAX_CONTROL - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = &reason[..end];
    let mut payload = [0u8; frame::MAX_CONTROL];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
    encode_frame(
        out,
        OpCode::Control(Control::Close),
        &payload[..2 + reason.len()],
    );
}
