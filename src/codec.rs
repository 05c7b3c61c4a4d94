//! RFC 6455 frame codec on a shared read buffer: bytes in, messages out; frames encoded once.
//!
//! SKELETON: the public API below is fixed; bodies are to be written.

pub use tungstenite::protocol::frame::coding::OpCode;

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

#[derive(Debug, Default)]
struct Partial {}

impl DecodeState {
    /// Decodes every complete frame of `input` (bytes just read into the shared
    /// buffer; unmasked in place) after whatever this state had buffered, and
    /// calls `on_message` for each complete message or control frame, in order.
    /// `on_message` returns `false` to stop decoding (the rest is discarded, e.g.
    /// after a close). An incomplete tail is copied into `self`.
    pub fn decode(
        &mut self,
        input: &mut [u8],
        max_message: usize,
        on_message: impl FnMut(Message<'_>) -> bool,
    ) -> Result<(), CodecError> {
        let _ = (input, max_message, on_message, &self.partial);
        unimplemented!("codec::DecodeState::decode")
    }

    /// Bytes this state holds on the heap (0 when idle), for memory accounting.
    pub fn buffered(&self) -> usize {
        0
    }
}

/// Appends one final, unmasked server frame with `opcode` and `payload` to `out`.
pub fn encode_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let _ = (out, opcode, payload);
    unimplemented!("codec::encode_frame")
}

/// Appends a close frame with `code` and `reason` (truncated to fit 125 bytes) to `out`.
pub fn encode_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let _ = (out, code, reason);
    unimplemented!("codec::encode_close")
}
