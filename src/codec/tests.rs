//! Codec tests with byte literals: RFC 6455 examples, every rejection rule, read splits.

use super::frame::unmask;
use super::*;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const MAX: usize = 64 * 1024;

/// An owned copy of a delivered message, so tests can collect them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

impl From<Message<'_>> for Got {
    fn from(m: Message<'_>) -> Self {
        match m {
            Message::Text(t) => Got::Text(t.to_owned()),
            Message::Binary(b) => Got::Binary(b.to_vec()),
            Message::Ping(b) => Got::Ping(b.to_vec()),
            Message::Pong(b) => Got::Pong(b.to_vec()),
            Message::Close(c) => Got::Close(c.map(|(code, r)| (code, r.to_owned()))),
        }
    }
}

/// A masked client frame: `b0` is FIN/RSV/opcode, the length form follows the payload size.
fn frame(b0: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
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
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// Feeds `chunks` in order to one state; returns the messages and the first error.
fn decode_chunks(chunks: &[&[u8]], max: usize) -> (Vec<Got>, Result<(), CodecError>) {
    let mut state = DecodeState::default();
    let mut got = Vec::new();
    for chunk in chunks {
        let mut buf = chunk.to_vec();
        if let Err(e) = state.decode(&mut buf, max, |m| {
            got.push(Got::from(m));
            true
        }) {
            return (got, Err(e));
        }
    }
    (got, Ok(()))
}

fn decode(bytes: &[u8]) -> (Vec<Got>, Result<(), CodecError>) {
    decode_chunks(&[bytes], MAX)
}

fn text(s: &str) -> Got {
    Got::Text(s.to_owned())
}

#[test]
fn rfc_masked_hello() {
    let bytes = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(decode(&bytes), (vec![text("Hello")], Ok(())));
    assert_eq!(frame(0x81, b"Hello", KEY), bytes);
}

#[test]
fn rfc_fragmented_hello() {
    let mut bytes = frame(0x01, b"Hel", KEY);
    bytes.extend(frame(0x80, b"lo", KEY));
    assert_eq!(decode(&bytes), (vec![text("Hello")], Ok(())));
}

#[test]
fn rfc_ping_and_pong() {
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let mut bytes = frame(0x89, b"Hello", KEY);
    bytes.extend_from_slice(&pong);
    assert_eq!(
        decode(&bytes),
        (
            vec![Got::Ping(b"Hello".to_vec()), Got::Pong(b"Hello".to_vec())],
            Ok(())
        )
    );
}

#[test]
fn control_frames_interleave_with_fragments() {
    let mut bytes = frame(0x02, &[1, 2], KEY);
    bytes.extend(frame(0x89, b"", KEY));
    bytes.extend(frame(0x00, &[3], KEY));
    bytes.extend(frame(0x8a, b"p", KEY));
    bytes.extend(frame(0x80, &[4], KEY));
    let expected = vec![
        Got::Ping(vec![]),
        Got::Pong(b"p".to_vec()),
        Got::Binary(vec![1, 2, 3, 4]),
    ];
    assert_eq!(decode(&bytes), (expected, Ok(())));
}

#[test]
fn rfc_16_and_64_bit_lengths() {
    let payload: Vec<u8> = (0..256u32).map(|i| i as u8).collect();
    let bytes = frame(0x82, &payload, KEY);
    assert_eq!(bytes[..4], [0x82, 0xFE, 0x01, 0x00]);
    assert_eq!(decode(&bytes), (vec![Got::Binary(payload)], Ok(())));

    let payload: Vec<u8> = (0..65536u32).map(|i| (i * 7) as u8).collect();
    let bytes = frame(0x82, &payload, KEY);
    assert_eq!(bytes[..10], [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0]);
    assert_eq!(decode(&bytes), (vec![Got::Binary(payload)], Ok(())));
}

#[test]
fn close_frames() {
    assert_eq!(
        decode(&frame(0x88, b"", KEY)),
        (vec![Got::Close(None)], Ok(()))
    );
    let bytes = frame(0x88, &close_payload(1000, "bye é".as_bytes()), KEY);
    let expected = Got::Close(Some((1000, "bye é".to_owned())));
    assert_eq!(decode(&bytes), (vec![expected], Ok(())));
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let bytes = frame(0x88, &close_payload(code, b""), KEY);
        let expected = Got::Close(Some((code, String::new())));
        assert_eq!(decode(&bytes), (vec![expected], Ok(())), "code {code}");
    }
}

/// Asserts that `bytes` fails with `err` (and its close code) and delivers nothing.
fn assert_rejected(bytes: &[u8], max: usize, err: CodecError, code: u16) {
    let (got, result) = decode_chunks(&[bytes], max);
    assert_eq!(got, vec![], "{bytes:02x?}");
    let e = result.expect_err("must be rejected");
    assert_eq!(
        std::mem::discriminant(&e),
        std::mem::discriminant(&err),
        "{bytes:02x?}: {e:?}"
    );
    assert_eq!(e.close_code(), code);
}

const PROTOCOL: CodecError = CodecError::Protocol("");

#[test]
fn rejects_unmasked_frames() {
    assert_rejected(
        &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
        MAX,
        PROTOCOL,
        1002,
    );
    // Detected from the header alone, before the payload arrives.
    assert_rejected(&[0x82, 0x7E, 0x01, 0x00], MAX, PROTOCOL, 1002);
}

#[test]
fn rejects_reserved_bits_and_opcodes() {
    for b0 in [0xC1, 0xA1, 0x91, 0xF2, 0xC9] {
        assert_rejected(&frame(b0, b"x", KEY), MAX, PROTOCOL, 1002);
    }
    for op in (3..=7).chain(11..=15) {
        assert_rejected(&frame(0x80 | op, b"", KEY), MAX, PROTOCOL, 1002);
    }
}

#[test]
fn rejects_bad_control_frames() {
    assert_rejected(&frame(0x89, &[0; 126], KEY), MAX, PROTOCOL, 1002);
    assert_rejected(&frame(0x09, b"", KEY), MAX, PROTOCOL, 1002);
    assert_rejected(&frame(0x08, b"", KEY), MAX, PROTOCOL, 1002);
    // 125 bytes is the largest allowed.
    let ok = decode(&frame(0x8A, &[9; 125], KEY));
    assert_eq!(ok, (vec![Got::Pong(vec![9; 125])], Ok(())));
}

#[test]
fn rejects_bad_fragment_sequences() {
    assert_rejected(&frame(0x80, b"x", KEY), MAX, PROTOCOL, 1002);
    assert_rejected(&frame(0x00, b"x", KEY), MAX, PROTOCOL, 1002);
    let mut bytes = frame(0x01, b"a", KEY);
    bytes.extend(frame(0x81, b"b", KEY));
    assert_rejected(&bytes, MAX, PROTOCOL, 1002);
    let mut bytes = frame(0x02, b"a", KEY);
    bytes.extend(frame(0x01, b"b", KEY));
    assert_rejected(&bytes, MAX, PROTOCOL, 1002);
    // A finished message closes the sequence: a continuation after it is an error.
    let mut bytes = frame(0x81, b"a", KEY);
    bytes.extend(frame(0x80, b"b", KEY));
    let (got, result) = decode(&bytes);
    assert_eq!(got, vec![text("a")]);
    assert!(matches!(result, Err(CodecError::Protocol(_))));
}

#[test]
fn rejects_invalid_utf8() {
    let utf8 = CodecError::InvalidUtf8;
    assert_rejected(&frame(0x81, b"ok\xff", KEY), MAX, utf8, 1007);
    assert_rejected(&frame(0x81, b"\xce", KEY), MAX, utf8, 1007);
    // An invalid sequence fails in the first fragment, before the message ends.
    assert_rejected(&frame(0x01, b"a\xc0\xafb", KEY), MAX, utf8, 1007);
    // A sequence cut at a fragment end waits for the next fragment...
    let mut bytes = frame(0x01, b"\xce", KEY);
    bytes.extend(frame(0x80, b"\xba\xe1\xbd", KEY));
    bytes.extend(frame(0x80, b"", KEY));
    let (got, result) = decode(&bytes);
    assert_eq!(got, vec![]);
    assert_eq!(
        result,
        Err(utf8),
        "a message must not end inside a character"
    );
    // ...and is accepted when completed there.
    let mut bytes = frame(0x01, b"\xce", KEY);
    bytes.extend(frame(0x00, b"\xba\xe1", KEY));
    bytes.extend(frame(0x80, b"\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", KEY));
    let kosme = "\u{3ba}\u{1f79}\u{3c3}\u{3bc}\u{3b5}"; // RFC 3629's "κόσμε"
    assert_eq!(decode(&bytes), (vec![text(kosme)], Ok(())));
    // A bad continuation byte completing a carried lead byte fails at once.
    let mut bytes = frame(0x01, b"\xe1", KEY);
    bytes.extend(frame(0x00, b"A", KEY));
    assert_rejected(&bytes, MAX, utf8, 1007);
    // Binary is not checked.
    assert_eq!(
        decode(&frame(0x82, b"\xff", KEY)),
        (vec![Got::Binary(vec![0xff])], Ok(()))
    );
}

#[test]
fn rejects_bad_close_payloads() {
    assert_rejected(&frame(0x88, &[0x03], KEY), MAX, PROTOCOL, 1002);
    for code in [
        0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 2000, 2999, 5000, 65535,
    ] {
        let bytes = frame(0x88, &close_payload(code, b""), KEY);
        assert_rejected(&bytes, MAX, PROTOCOL, 1002);
    }
    let bytes = frame(0x88, &close_payload(1000, b"\xff"), KEY);
    assert_rejected(&bytes, MAX, CodecError::InvalidUtf8, 1007);
}

#[test]
fn rejects_too_big_from_the_header() {
    let too_big = CodecError::TooBig;
    // Headers only: the payload never arrives, the limit is enforced anyway.
    assert_rejected(&[0x82, 0xFE, 0x00, 0x0B, 1, 2, 3, 4], 10, too_big, 1009);
    assert_rejected(
        &[0x81, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4],
        MAX,
        too_big,
        1009,
    );
    assert_eq!(decode_chunks(&[&frame(0x82, &[0; 10], KEY)], 10).1, Ok(()));
    // The assembled message counts: 6 + header of 5 more > 10.
    let mut bytes = frame(0x02, &[0; 6], KEY);
    bytes.extend_from_slice(&[0x80, 0x85, 1, 2, 3, 4]);
    assert_rejected(&bytes, 10, too_big, 1009);
    // A ping longer than the limit is too big, too.
    assert_rejected(&frame(0x89, &[0; 11], KEY), 10, too_big, 1009);
    // The 64-bit length must not have its high bit set.
    let bytes = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4];
    assert_rejected(&bytes, MAX, PROTOCOL, 1002);
}

/// A stream that touches every path: short and long lengths, fragments with a
/// character cut across them, controls between fragments, a close.
fn mixed_stream() -> (Vec<u8>, Vec<Got>) {
    let long: Vec<u8> = (0..300u32).map(|i| (i * 31) as u8).collect();
    let mut bytes = frame(0x81, "héllo".as_bytes(), KEY);
    bytes.extend(frame(0x01, b"a\xe2\x82", [1, 2, 3, 4]));
    bytes.extend(frame(0x89, b"hi", [5, 6, 7, 8]));
    bytes.extend(frame(0x00, b"\xacb", [9, 10, 11, 12]));
    bytes.extend(frame(0x80, b"", KEY));
    bytes.extend(frame(0x82, &long, [0xff, 0, 0x80, 0x7f]));
    bytes.extend(frame(0x8A, b"", KEY));
    bytes.extend(frame(0x88, &close_payload(1001, b"gone"), KEY));
    let expected = vec![
        text("héllo"),
        Got::Ping(b"hi".to_vec()),
        text("a€b"),
        Got::Binary(long),
        Got::Pong(vec![]),
        Got::Close(Some((1001, "gone".to_owned()))),
    ];
    (bytes, expected)
}

#[test]
fn every_split_point_gives_the_same_messages() {
    let (bytes, expected) = mixed_stream();
    assert_eq!(decode(&bytes), (expected.clone(), Ok(())));
    for i in 0..=bytes.len() {
        let got = decode_chunks(&[&bytes[..i], &bytes[i..]], MAX);
        assert_eq!(got, (expected.clone(), Ok(())), "split at {i}");
    }
    for i in (0..=bytes.len()).step_by(7) {
        for j in i..=bytes.len() {
            let got = decode_chunks(&[&bytes[..i], &bytes[i..j], &bytes[j..]], MAX);
            assert_eq!(got, (expected.clone(), Ok(())), "split at {i} and {j}");
        }
    }
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(decode_chunks(&singles, MAX), (expected, Ok(())));
}

#[test]
fn split_invalid_utf8_fails_before_the_frame_ends() {
    let bytes = frame(0x81, b"abc\xffdefgh", KEY);
    let (got, result) = decode_chunks(&[&bytes[..10]], MAX);
    assert_eq!((got, result), (vec![], Err(CodecError::InvalidUtf8)));
}

#[test]
fn idle_state_is_one_pointer_and_buffers_nothing() {
    assert_eq!(std::mem::size_of::<DecodeState>(), 8);
    let (bytes, expected) = mixed_stream();
    let mut state = DecodeState::default();
    let mut got = Vec::new();
    let mut buf = bytes.clone();
    state
        .decode(&mut buf, MAX, |m| {
            got.push(Got::from(m));
            true
        })
        .unwrap();
    assert_eq!(got, expected);
    assert_eq!(state.buffered(), 0);

    // A partial frame is buffered, then released once complete.
    let mut first = bytes[..20].to_vec();
    let mut rest = bytes[20..].to_vec();
    state.decode(&mut first, MAX, |_| true).unwrap();
    assert!(state.buffered() > 0);
    state.decode(&mut rest, MAX, |_| true).unwrap();
    assert_eq!(state.buffered(), 0);
}

#[test]
fn stops_when_the_callback_says_so() {
    let (bytes, expected) = mixed_stream();
    let mut state = DecodeState::default();
    let mut got = Vec::new();
    // Cut inside the fragmented message so there is something to drop.
    let mut buf = bytes[..bytes.len() - 40].to_vec();
    state
        .decode(&mut buf, MAX, |m| {
            got.push(Got::from(m));
            got.len() < 2
        })
        .unwrap();
    assert_eq!(got, expected[..2]);
    assert_eq!(state.buffered(), 0);
}

#[test]
fn errors_reset_the_state() {
    let mut state = DecodeState::default();
    let mut buf = frame(0x01, b"abc", KEY);
    state.decode(&mut buf, MAX, |_| true).unwrap();
    assert!(state.buffered() > 0);
    let mut bad = frame(0x81, b"x", KEY);
    assert!(state.decode(&mut bad, MAX, |_| true).is_err());
    assert_eq!(state.buffered(), 0);
}

#[test]
fn unmask_matches_the_bytewise_definition() {
    let data: Vec<u8> = (0..100u32).map(|i| (i * 13) as u8).collect();
    let key = [0x12, 0x34, 0x56, 0x78];
    for offset in 0..8 {
        for len in 0..data.len() {
            let mut fast = data[..len].to_vec();
            unmask(&mut fast, key, offset);
            let slow: Vec<u8> = data[..len]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[(i + offset) % 4])
                .collect();
            assert_eq!(fast, slow, "offset {offset} len {len}");
        }
    }
}

#[test]
fn encodes_unmasked_server_frames() {
    let mut out = Vec::new();
    encode_frame(&mut out, OpCode::Data(Data::Text), b"Hello");
    assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);

    for (len, head) in [
        (125, vec![0x82, 125]),
        (126, vec![0x82, 126, 0x00, 126]),
        (256, vec![0x82, 126, 0x01, 0x00]),
        (65535, vec![0x82, 126, 0xFF, 0xFF]),
        (65536, vec![0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
    ] {
        let payload = vec![7u8; len];
        let mut out = Vec::new();
        encode_frame(&mut out, OpCode::Data(Data::Binary), &payload);
        assert_eq!(out[..head.len()], head[..], "len {len}");
        assert_eq!(out[head.len()..], payload[..]);
    }

    let mut out = vec![0xAA];
    encode_frame(&mut out, OpCode::Control(Control::Pong), b"");
    assert_eq!(out, [0xAA, 0x8A, 0x00], "appends, does not overwrite");
}

#[test]
fn encodes_close_with_a_truncated_reason() {
    let mut out = Vec::new();
    encode_close(&mut out, 1000, "bye");
    assert_eq!(out, [0x88, 0x05, 0x03, 0xE8, b'b', b'y', b'e']);

    // 122 ASCII bytes then a 2-byte character: it does not fit in 123, so it goes.
    let reason = format!("{}é", "x".repeat(122));
    let mut out = Vec::new();
    encode_close(&mut out, 1009, &reason);
    assert_eq!(out[..4], [0x88, 124, 0x03, 0xF1]);
    assert_eq!(&out[4..], "x".repeat(122).as_bytes());

    let mut out = Vec::new();
    encode_close(&mut out, 4000, &"€".repeat(50));
    assert_eq!(out[1], 2 + 123);
    assert_eq!(&out[4..], "€".repeat(41).as_bytes());
}

#[test]
fn encoded_frames_decode_once_masked() {
    // Our own encoder's output, masked the way a client would, decodes back.
    let mut out = Vec::new();
    encode_frame(
        &mut out,
        OpCode::Data(Data::Text),
        "round trip ✓".as_bytes(),
    );
    let payload = &out[2..];
    assert_eq!(
        decode(&frame(out[0], payload, KEY)),
        (vec![text("round trip ✓")], Ok(()))
    );
}

#[test]
fn a_trickled_frame_costs_what_arrived() {
    let bytes = frame(0x82, &vec![5u8; 60_000], KEY);
    let mut state = DecodeState::default();
    let mut head = bytes[..108].to_vec();
    state.decode(&mut head, MAX, |_| true).unwrap();
    assert!(
        state.buffered() < 1024,
        "claimed length reserved: {}",
        state.buffered()
    );
    let mut got = Vec::new();
    for chunk in bytes[108..].chunks(1000) {
        state
            .decode(&mut chunk.to_vec(), MAX, |m| {
                got.push(Got::from(m));
                true
            })
            .unwrap();
        assert!(state.buffered() < 2 * 60_000 + 1024);
    }
    assert_eq!(got, vec![Got::Binary(vec![5u8; 60_000])]);
    assert_eq!(state.buffered(), 0);
}
