//! permessage-deflate at the reactor: the offer a connection's upgrade accepts,
//! the frame each recipient of a message gets, the inflater its input goes through.
//!
//! Without the `deflate` feature `Pack` holds nothing: no offer is accepted, so
//! every frame goes out plain and RSV1 stays a protocol error.

use crate::ClientId;
use crate::codec::{self, Inflate, OpCode};
use crate::config::Config;
use crate::http::Request;

use super::conns::Conns;

/// The loop's compression state: one deflater, one inflater, one frame buffer.
pub struct Pack {
    #[cfg(feature = "deflate")]
    enabled: bool,
    #[cfg(feature = "deflate")]
    threshold: usize,
    #[cfg(feature = "deflate")]
    deflater: crate::deflate::Deflater,
    /// Lent to the codec while one client's input is decoded.
    #[cfg(feature = "deflate")]
    inflater: Option<Box<dyn Inflate>>,
    /// The compressed frame of the message being fanned out.
    #[cfg(feature = "deflate")]
    frame: Vec<u8>,
}

impl Pack {
    /// The state `config` asks for (`--compression`, `--compression-threshold`).
    #[cold] // start-up only: grouped with the other cold code, off the loop's pages
    pub fn new(config: &Config) -> Pack {
        #[cfg(not(feature = "deflate"))]
        let _ = config;
        Pack {
            #[cfg(feature = "deflate")]
            enabled: config.compression,
            #[cfg(feature = "deflate")]
            threshold: config.compression_threshold,
            #[cfg(feature = "deflate")]
            deflater: crate::deflate::Deflater::new(),
            #[cfg(feature = "deflate")]
            inflater: Some(Box::new(crate::deflate::Inflater::new())),
            #[cfg(feature = "deflate")]
            frame: Vec::new(),
        }
    }

    /// Accepts the request's first acceptable permessage-deflate offer when
    /// compression is on: appends the response header line to `headers` and
    /// returns true (the connection's deflate flag).
    pub fn negotiate(&self, req: &Request, headers: &mut Vec<u8>) -> bool {
        #[cfg(feature = "deflate")]
        if self.enabled
            && let Some(agreement) = crate::handshake::deflate_agreement(req)
        {
            agreement.write_header(headers);
            return true;
        }
        let _ = (req, headers);
        false
    }

    /// Lends the shared inflater for decoding a client that negotiated deflate.
    pub fn take_inflater(&mut self, deflate: bool) -> Option<Box<dyn Inflate>> {
        #[cfg(feature = "deflate")]
        if deflate {
            return self.inflater.take();
        }
        let _ = deflate;
        None
    }

    /// Takes the inflater back after decoding.
    pub fn put_inflater(&mut self, inflater: Option<Box<dyn Inflate>>) {
        #[cfg(feature = "deflate")]
        if inflater.is_some() {
            self.inflater = inflater;
        }
        #[cfg(not(feature = "deflate"))]
        drop(inflater);
    }

    /// Builds the compressed frame for `payload` when that pays: at least
    /// `--compression-threshold` bytes, and a frame shorter than the plain one.
    fn build(&mut self, opcode: OpCode, payload: &[u8], plain_len: usize) -> bool {
        #[cfg(feature = "deflate")]
        if self.enabled && payload.len() >= self.threshold {
            let packed = self.deflater.compress(payload);
            self.frame.clear();
            codec::encode_compressed(&mut self.frame, opcode, packed);
            return self.frame.len() < plain_len;
        }
        let _ = (opcode, payload, plain_len);
        false
    }

    /// The frame `build` made.
    fn frame(&self) -> &[u8] {
        #[cfg(feature = "deflate")]
        return &self.frame;
        #[cfg(not(feature = "deflate"))]
        &[]
    }
}

/// Queues one data message to each of `to`: the plain frame (encoded once into
/// `scratch`) or, for a client that negotiated permessage-deflate, the
/// compressed frame, compressed at most once however many such clients there
/// are. At most two encodings per message; each is copied, never redone.
pub fn send(
    conns: &mut Conns,
    pack: &mut Pack,
    scratch: &mut Vec<u8>,
    (opcode, payload): (OpCode, &[u8]),
    to: impl IntoIterator<Item = ClientId>,
) {
    scratch.clear();
    codec::encode_frame(scratch, opcode, payload);
    let plain = &scratch[..];
    let mut packed = None;
    for id in to {
        // The client is looked up again by `queue`; its slot is in cache by then.
        let deflate = conns.get(id).is_some_and(|c| c.deflate);
        if deflate && *packed.get_or_insert_with(|| pack.build(opcode, payload, plain.len())) {
            let frame = pack.frame();
            conns.metrics.compressed_out += 1;
            conns.metrics.compressed_saved += (plain.len() - frame.len()) as u64;
            conns.queue(id, frame);
        } else {
            conns.queue(id, plain);
        }
    }
}
