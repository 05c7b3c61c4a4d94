//! What a connection keeps between reads while a frame or a message is incomplete.

use super::frame::{self, Header, MAX_CONTROL, MAX_HEADER, RSV1};
use super::{CodecError, MaybeInflate, Message, deliver_deflated};
use tungstenite::protocol::frame::coding::{Data, OpCode};

/// The boxed part of a `DecodeState`: allocated when a read ends inside a
/// frame or a fragmented message, dropped as soon as nothing is pending.
#[derive(Debug)]
pub(super) struct Partial {
    /// The first bytes of a header cut off by the end of a read.
    pub head: [u8; MAX_HEADER],
    pub head_len: u8,
    /// A frame whose header is parsed but whose payload is still arriving.
    pub frame: Option<Pending>,
    /// The payload of a pending control frame (data payloads go to `message`).
    pub control: [u8; MAX_CONTROL],
    /// The data message being assembled: fragments, or one frame split across reads.
    pub message: Option<Assembly>,
}

/// A frame whose payload is incomplete.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pending {
    pub opcode: OpCode,
    pub fin: bool,
    pub mask: [u8; 4],
    /// Payload bytes received so far (also the mask phase).
    pub received: usize,
    pub remaining: usize,
}

impl Default for Partial {
    fn default() -> Self {
        Partial {
            head: [0; MAX_HEADER],
            head_len: 0,
            frame: None,
            control: [0; MAX_CONTROL],
            message: None,
        }
    }
}

impl Partial {
    /// True when nothing is pending, so the box can be dropped.
    pub fn is_idle(&self) -> bool {
        self.head_len == 0 && self.frame.is_none() && self.message.is_none()
    }

    /// Keeps the start of a header that a read cut off (shorter than a header).
    pub fn stash_head(&mut self, bytes: &[u8]) {
        self.head[..bytes.len()].copy_from_slice(bytes);
        self.head_len = bytes.len() as u8;
    }

    /// Completes the stashed header from the front of `input`. Returns the
    /// header and how many bytes of `input` it took, or `None` when `input`
    /// ran out first (then all of it has been stashed).
    pub fn finish_head(&mut self, input: &[u8]) -> Option<(Header, usize)> {
        let old = usize::from(self.head_len);
        let take = (MAX_HEADER - old).min(input.len());
        self.head[old..old + take].copy_from_slice(&input[..take]);
        match frame::parse_header(&self.head[..old + take]) {
            Some((header, used)) => {
                self.head_len = 0;
                Some((header, used - old))
            }
            None => {
                self.head_len = (old + take) as u8;
                None
            }
        }
    }

    /// Starts a checked frame of `len` bytes whose payload will arrive later.
    pub fn start_frame(&mut self, h: &Header, len: usize, mask: [u8; 4]) {
        if let OpCode::Data(kind) = h.opcode {
            self.message
                .get_or_insert_with(|| Assembly::new(kind, h.rsv == RSV1));
        }
        self.frame = Some(Pending {
            opcode: h.opcode,
            fin: h.fin,
            mask,
            received: 0,
            remaining: len,
        });
    }

    /// Feeds the pending frame from the front of `input` (unmasked in place on
    /// the way). Returns how many bytes it took and whether the frame is complete.
    pub fn feed(&mut self, input: &mut [u8]) -> Result<(usize, bool), CodecError> {
        let Some(f) = self.frame.as_mut() else {
            return Ok((0, true));
        };
        let n = f.remaining.min(input.len());
        let chunk = &mut input[..n];
        frame::unmask(chunk, f.mask, f.received);
        let last = n == f.remaining;
        match (f.opcode, self.message.as_mut()) {
            (OpCode::Control(_), _) => {
                self.control[f.received..f.received + n].copy_from_slice(chunk);
            }
            (OpCode::Data(_), Some(message)) => {
                message.make_room(n, f.remaining);
                message.push(chunk, last && f.fin)?;
            }
            (OpCode::Data(_), None) => return Err(CodecError::Protocol("data frame lost")),
        }
        f.received += n;
        f.remaining -= n;
        Ok((n, last))
    }

    /// Delivers the frame `feed` just completed. Returns what `on_message` said.
    pub fn complete_frame(
        &mut self,
        inflate: MaybeInflate<'_>,
        max_message: usize,
        on_message: &mut impl FnMut(Message<'_>) -> bool,
    ) -> Result<bool, CodecError> {
        let Some(f) = self.frame.take() else {
            return Ok(true);
        };
        match f.opcode {
            OpCode::Control(kind) => Ok(on_message(frame::control_message(
                kind,
                &self.control[..f.received],
            )?)),
            OpCode::Data(_) if f.fin => self.finish_message(inflate, max_message, on_message),
            OpCode::Data(_) => Ok(true),
        }
    }

    /// Delivers the assembled message (inflated first if it was compressed)
    /// and frees its buffer.
    pub fn finish_message(
        &mut self,
        inflate: MaybeInflate<'_>,
        max_message: usize,
        on_message: &mut impl FnMut(Message<'_>) -> bool,
    ) -> Result<bool, CodecError> {
        Ok(match self.message.take() {
            Some(Assembly::Text(t)) => on_message(Message::Text(&t.text)),
            Some(Assembly::Binary(b)) => on_message(Message::Binary(&b)),
            Some(Assembly::Deflated { text, bytes }) => {
                return deliver_deflated(text, &bytes, inflate, max_message, on_message);
            }
            None => true,
        })
    }

    /// Heap bytes held: this box plus the message buffer.
    pub fn heap_size(&self) -> usize {
        std::mem::size_of::<Self>() + self.message.as_ref().map_or(0, Assembly::capacity)
    }
}

/// A data message being put together.
#[derive(Debug)]
pub(super) enum Assembly {
    Text(TextAssembly),
    Binary(Vec<u8>),
    /// A compressed message (RSV1 on its first frame): raw deflate bytes,
    /// inflated and, for text, checked as UTF-8 once complete.
    Deflated {
        text: bool,
        bytes: Vec<u8>,
    },
}

/// Text checked as it arrives, so an invalid sequence fails at once; a
/// character cut by a fragment or read boundary waits in `carry`.
#[derive(Debug, Default)]
pub(super) struct TextAssembly {
    text: String,
    carry: [u8; 4],
    carry_len: u8,
}

impl Assembly {
    /// A new message of the kind a Text or Binary frame opens.
    pub fn new(kind: Data, compressed: bool) -> Self {
        match kind {
            _ if compressed => Assembly::Deflated {
                text: kind == Data::Text,
                bytes: Vec::new(),
            },
            Data::Text => Assembly::Text(TextAssembly::default()),
            _ => Assembly::Binary(Vec::new()),
        }
    }

    /// Bytes of payload received so far (for the size limit).
    pub fn len(&self) -> usize {
        match self {
            Assembly::Text(t) => t.text.len() + usize::from(t.carry_len),
            Assembly::Binary(b) | Assembly::Deflated { bytes: b, .. } => b.len(),
        }
    }

    fn capacity(&self) -> usize {
        match self {
            Assembly::Text(t) => t.text.capacity(),
            Assembly::Binary(b) | Assembly::Deflated { bytes: b, .. } => b.capacity(),
        }
    }

    /// Makes room for `n` more bytes of a frame that has `frame_left` bytes to
    /// go (`n` included). Grows by doubling, as `Vec` would, but never past the
    /// end of the frame, and never to the length the header claims before the
    /// bytes arrive: a peer that trickles a large frame costs what it sent.
    fn make_room(&mut self, n: usize, frame_left: usize) {
        let (len, cap) = match self {
            Assembly::Text(t) => (t.text.len(), t.text.capacity()),
            Assembly::Binary(b) | Assembly::Deflated { bytes: b, .. } => (b.len(), b.capacity()),
        };
        // A character carried over from the last chunk lands in the text too.
        let n = n + 4;
        if cap - len >= n {
            return;
        }
        let additional = n.max(cap).min(frame_left + 4);
        match self {
            Assembly::Text(t) => t.text.reserve_exact(additional),
            Assembly::Binary(b) | Assembly::Deflated { bytes: b, .. } => {
                b.reserve_exact(additional)
            }
        }
    }

    /// Appends unmasked payload bytes; `last` marks the end of the message.
    pub fn push(&mut self, bytes: &[u8], last: bool) -> Result<(), CodecError> {
        match self {
            Assembly::Text(t) => t.push(bytes, last),
            Assembly::Binary(b) | Assembly::Deflated { bytes: b, .. } => {
                b.extend_from_slice(bytes);
                Ok(())
            }
        }
    }
}

impl TextAssembly {
    fn push(&mut self, mut bytes: &[u8], last: bool) -> Result<(), CodecError> {
        if self.carry_len > 0 {
            let have = usize::from(self.carry_len);
            let need = utf8_width(self.carry[0]).saturating_sub(have);
            let take = need.min(bytes.len());
            self.carry[have..have + take].copy_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            match std::str::from_utf8(&self.carry[..have + take]) {
                Ok(ch) => {
                    self.text.push_str(ch);
                    self.carry_len = 0;
                }
                Err(e) if e.error_len().is_none() && !last => {
                    self.carry_len = (have + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(CodecError::InvalidUtf8),
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => self.text.push_str(s),
            Err(e) if e.error_len().is_none() && !last => {
                let (valid, tail) = bytes.split_at(e.valid_up_to());
                // Checks the prefix a second time; only when a read or fragment
                // ends inside a multi-byte character.
                let valid = std::str::from_utf8(valid).map_err(|_| CodecError::InvalidUtf8)?;
                self.text.push_str(valid);
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len() as u8;
            }
            Err(_) => return Err(CodecError::InvalidUtf8),
        }
        Ok(())
    }
}

/// The length of the UTF-8 sequence a lead byte starts.
fn utf8_width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}
