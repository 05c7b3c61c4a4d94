//! The shared deflater and inflater through the codec: RFC 7692 examples,
//! read splits, zip bombs, context takeover we did not allow.

use super::{Deflater, Inflater};
use crate::codec::{CodecError, DecodeState, Inflate, Message};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const MAX: usize = 64 * 1024;

/// A masked client frame with first byte `b0` (FIN/RSV/opcode).
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![b0];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&KEY);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    out
}

/// Decodes `bytes` split into reads of `step` bytes with one state and one
/// inflater; returns the texts/binaries and the first error.
fn decode(
    bytes: &[u8],
    step: usize,
    max: usize,
    inflater: &mut Inflater,
) -> (Vec<Vec<u8>>, Result<(), CodecError>) {
    let mut state = DecodeState::default();
    let mut got = Vec::new();
    for chunk in bytes.chunks(step.max(1)) {
        let mut buf = chunk.to_vec();
        let result = state.decode_with(&mut buf, max, Some(inflater), |m| {
            match m {
                Message::Text(t) => got.push(t.as_bytes().to_vec()),
                Message::Binary(b) => got.push(b.to_vec()),
                _ => {}
            }
            true
        });
        if result.is_err() {
            return (got, result);
        }
    }
    (got, Ok(()))
}

fn decode_all(bytes: &[u8], step: usize) -> (Vec<Vec<u8>>, Result<(), CodecError>) {
    decode(bytes, step, MAX, &mut Inflater::new())
}

#[test]
fn rfc7692_section_7_2_3_examples() {
    let hello = b"Hello".to_vec();
    let cases: [&[&[u8]]; 4] = [
        // 7.2.3.1: one compressed frame, and the same message in two fragments.
        &[&[0xc1, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]],
        &[&[0x41, 0xf2, 0x48, 0xcd], &[0x80, 0xc9, 0xc9, 0x07, 0x00]],
        // 7.2.3.3: a stored (uncompressed) deflate block.
        &[&[
            0xc1, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ]],
        // 7.2.3.5: two deflate blocks in one message.
        &[&[
            0xc1, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ]],
    ];
    for frames in cases {
        let mut bytes = Vec::new();
        for f in frames {
            bytes.extend(frame(f[0], &f[1..]));
        }
        for step in [1, 3, bytes.len()] {
            assert_eq!(
                decode_all(&bytes, step),
                (vec![hello.clone()], Ok(())),
                "{frames:x?} step {step}"
            );
        }
    }
}

#[test]
fn context_takeover_we_told_the_client_not_to_use_is_refused() {
    // 7.2.3.2: the second "Hello" refers back into the first message.
    let mut bytes = frame(0xc1, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    bytes.extend(frame(0xc1, &[0xf2, 0x00, 0x11, 0x00, 0x00]));
    let (got, result) = decode_all(&bytes, bytes.len());
    assert_eq!(got, vec![b"Hello".to_vec()]);
    assert_eq!(result, Err(CodecError::Protocol("invalid compressed data")));
    assert_eq!(result.unwrap_err().close_code(), 1002);
}

#[test]
fn shared_deflater_round_trips_and_resets_per_message() {
    let mut deflater = Deflater::new();
    let mut inflater = Inflater::new();
    let json =
        br#"{"type":"message","room":"lobby","user":"ann","text":"hello hello hello hello"}"#;
    let first = deflater.compress(json).to_vec();
    // Same input, same output: nothing carried over from the previous message.
    assert_eq!(deflater.compress(json), &first[..]);
    assert!(
        first.len() < json.len(),
        "{} >= {}",
        first.len(),
        json.len()
    );
    assert_eq!(inflater.inflate(&first, MAX), Ok(&json[..]));
    // Large, incompressible and empty inputs round-trip too.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let noise: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for data in [&big[..], &noise[..], b""] {
        let packed = deflater.compress(data).to_vec();
        assert_eq!(inflater.inflate(&packed, 1 << 20).unwrap(), data);
    }
}

#[test]
fn compressed_messages_pass_the_codec_in_every_split() {
    let mut deflater = Deflater::new();
    let text = "héllo wörld, ".repeat(40);
    let payload = deflater.compress(text.as_bytes()).to_vec();
    let mut bytes = frame(0xc1, &payload);
    // The same message fragmented: RSV1 on the first frame only.
    let (a, b) = payload.split_at(payload.len() / 2);
    bytes.extend(frame(0x41, a));
    bytes.extend(frame(0x00, &[]));
    bytes.extend(frame(0x80, b));
    // A plain text and a compressed binary in between.
    bytes.extend(frame(0x81, b"plain"));
    bytes.extend(frame(0xc2, &payload));
    for step in [1, 2, 7, 64, bytes.len()] {
        let (got, result) = decode_all(&bytes, step);
        assert_eq!(result, Ok(()), "step {step}");
        let text = text.as_bytes().to_vec();
        assert_eq!(
            got,
            vec![text.clone(), text.clone(), b"plain".to_vec(), text]
        );
    }
}

#[test]
fn zip_bomb_stops_at_max_message_after_inflation() {
    let mut deflater = Deflater::new();
    let bomb = vec![b'a'; 10 << 20];
    let payload = deflater.compress(&bomb).to_vec();
    assert!(payload.len() < 16 * 1024, "{}", payload.len());
    let bytes = frame(0xc1, &payload);
    let mut inflater = Inflater::new();
    for step in [1000, bytes.len()] {
        let (got, result) = decode(&bytes, step, MAX, &mut inflater);
        assert_eq!((got.len(), result), (0, Err(CodecError::TooBig)));
        assert_eq!(CodecError::TooBig.close_code(), 1009);
    }
    // The buffer stopped growing at the limit.
    assert!(inflater_capacity(&mut inflater) <= MAX + 1);
    // Exactly at the limit is fine; one byte over is not.
    let exact = deflater.compress(&bomb[..MAX]).to_vec();
    assert_eq!(inflater.inflate(&exact, MAX).map(<[u8]>::len), Ok(MAX));
    let over = deflater.compress(&bomb[..MAX + 1]).to_vec();
    assert_eq!(inflater.inflate(&over, MAX), Err(CodecError::TooBig));
}

/// How much output buffer the inflater holds (after a failed inflation).
fn inflater_capacity(inflater: &mut Inflater) -> usize {
    inflater.capacity()
}

#[test]
fn rsv1_rules() {
    let compressed = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    // Without the extension RSV1 is a protocol error (1002), as before.
    let mut state = DecodeState::default();
    let mut buf = frame(0xc1, &compressed);
    let result = state.decode(&mut buf, MAX, |_| true);
    assert_eq!(result.map_err(|e| e.close_code()), Err(1002));
    // With it: RSV2/RSV3, RSV1 on a control frame or a continuation, garbage.
    for bytes in [
        frame(0xa1, b"x"),
        frame(0x91, b"x"),
        frame(0xc9, b""),
        [frame(0x41, &compressed[..3]), frame(0xc0, &compressed[3..])].concat(),
        frame(0xc1, &[0xff, 0xff, 0xff, 0xff]),
    ] {
        let (got, result) = decode_all(&bytes, bytes.len());
        assert!(got.is_empty(), "{bytes:x?}");
        assert_eq!(result.map_err(|e| e.close_code()), Err(1002), "{bytes:x?}");
    }
    // Invalid UTF-8 is found after inflation: 1007.
    let mut deflater = Deflater::new();
    let bad = deflater.compress(&[b'a', 0xff, b'b']).to_vec();
    let (_, result) = decode_all(&frame(0xc1, &bad), 100);
    assert_eq!(result, Err(CodecError::InvalidUtf8));
    // A final deflate block (BFINAL) and an empty compressed message are fine.
    let (got, result) = decode_all(&frame(0xc1, &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), 3);
    assert_eq!((got, result), (vec![b"Hello".to_vec()], Ok(())));
    let (got, result) = decode_all(&frame(0xc1, &[0x00]), 1);
    assert_eq!((got, result), (vec![Vec::new()], Ok(())));
    let (got, result) = decode_all(&frame(0xc1, &[]), 1);
    assert_eq!((got, result), (vec![Vec::new()], Ok(())));
}
