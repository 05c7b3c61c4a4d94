//! The loop's one deflater and one inflater: each message is its own raw-deflate
//! stream (no context takeover), so neither keeps anything between messages.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::codec::{CodecError, Inflate};

/// The four bytes a sync flush ends with, which RFC 7692 section 7.2.1 strips
/// from every message and section 7.2.2 appends again before inflating.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Output buffer bytes kept between messages (the cap lives in `limits`).
use crate::limits::DEFLATE_KEEP as KEEP;

/// zlib's default level. On 512-byte chat JSON, level 1 of the zlib-rs
/// backend is about 3x faster but its output about 20 % larger; the message is
/// compressed once for all its recipients, so the bytes saved per recipient win.
const LEVEL: u32 = 6;

/// Compresses messages for every client that negotiated permessage-deflate.
/// The zlib state (about 270 KiB at level 6 and a 32 KiB window) exists once
/// per loop, and only once a message is compressed.
pub struct Deflater {
    stream: Option<Box<Compress>>,
    out: Vec<u8>,
}

impl Default for Deflater {
    fn default() -> Self {
        Deflater::new()
    }
}

impl Deflater {
    /// A deflater whose zlib state is allocated at first use.
    pub fn new() -> Deflater {
        Deflater {
            stream: None,
            out: Vec::new(),
        }
    }

    /// Compresses `data` as one independent message and returns the payload of
    /// its RSV1 frame (the sync-flush tail removed). Valid until the next call.
    pub fn compress(&mut self, data: &[u8]) -> &[u8] {
        let stream = self
            .stream
            .get_or_insert_with(|| Box::new(Compress::new(Compression::new(LEVEL), false)));
        stream.reset();
        self.out.clear();
        // Incompressible data grows by 5 bytes per 16 KiB stored block, plus the tail.
        self.out.reserve(data.len() + data.len() / 1024 + 16);
        loop {
            let done = stream.total_in() as usize;
            // Raw deflate into spare capacity cannot fail: the only errors are
            // for a stream used after its end, which a sync flush never reaches.
            if let Err(e) = stream.compress_vec(&data[done..], &mut self.out, FlushCompress::Sync) {
                unreachable!("deflate: {e}");
            }
            if stream.total_in() as usize == data.len() && self.out.len() < self.out.capacity() {
                break;
            }
            self.out.reserve(self.out.capacity().max(64));
        }
        debug_assert!(self.out.ends_with(&TAIL));
        let end = self.out.len().saturating_sub(TAIL.len());
        &self.out[..end]
    }

    /// Heap bytes of the output buffer (the zlib state is counted in the README).
    pub fn buffered(&self) -> usize {
        self.out.capacity()
    }
}

/// Inflates the compressed messages of every client, one message at a time.
pub struct Inflater {
    stream: Option<Box<Decompress>>,
    out: Vec<u8>,
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater::new()
    }
}

impl Inflater {
    /// An inflater whose zlib state is allocated at the first compressed message.
    pub fn new() -> Inflater {
        Inflater {
            stream: None,
            out: Vec::new(),
        }
    }

    /// Heap bytes of the output buffer (at most `--max-message` + 1).
    pub fn capacity(&self) -> usize {
        self.out.capacity()
    }
}

impl Inflate for Inflater {
    /// Inflates one message, stopping as soon as the output passes `max`: a
    /// zip bomb costs `max` bytes of buffer and the work to fill them, then
    /// [`CodecError::TooBig`]. Corrupt data, and a back-reference into an
    /// earlier message (context takeover we told the client not to use), are a
    /// [`CodecError::Protocol`].
    fn inflate(&mut self, compressed: &[u8], max: usize) -> Result<&[u8], CodecError> {
        let stream = self
            .stream
            .get_or_insert_with(|| Box::new(Decompress::new(false)));
        stream.reset(false);
        self.out.clear();
        if self.out.capacity() > KEEP {
            // One large message should not pin its buffer for the process lifetime.
            self.out = Vec::new();
        }
        let limit = max.saturating_add(1);
        let mut ended = false;
        for input in [compressed, &TAIL[..]] {
            let start = stream.total_in();
            while !ended {
                let used = (stream.total_in() - start) as usize;
                if self.out.len() == self.out.capacity() {
                    if self.out.len() >= limit {
                        return Err(CodecError::TooBig);
                    }
                    let grow = self.out.capacity().max(256).min(limit - self.out.len());
                    self.out.reserve_exact(grow);
                }
                let before = (stream.total_in(), stream.total_out());
                let status = stream
                    .decompress_vec(&input[used..], &mut self.out, FlushDecompress::Sync)
                    .map_err(|_| CodecError::Protocol("invalid compressed data"))?;
                ended = status == Status::StreamEnd;
                let input_left = ((stream.total_in() - start) as usize) < input.len();
                let progress = (stream.total_in(), stream.total_out()) != before;
                let room_left = self.out.len() < self.out.capacity();
                if !input_left && room_left {
                    break;
                }
                if !progress && room_left {
                    return Err(CodecError::Protocol("invalid compressed data"));
                }
            }
        }
        if self.out.len() > max {
            return Err(CodecError::TooBig);
        }
        Ok(&self.out)
    }
}
