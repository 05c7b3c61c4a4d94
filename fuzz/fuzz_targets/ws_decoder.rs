//! Fuzz target: the WebSocket decoder, fed the same bytes whole and cut at two
//! input-chosen split points; both must give the same messages and the same error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loopcast::codec::{CodecError, DecodeState, Message};

/// An owned copy of what the decoder handed out.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

fn own(m: Message<'_>) -> Got {
    match m {
        Message::Text(t) => Got::Text(t.to_owned()),
        Message::Binary(b) => Got::Binary(b.to_vec()),
        Message::Ping(p) => Got::Ping(p.to_vec()),
        Message::Pong(p) => Got::Pong(p.to_vec()),
        Message::Close(c) => Got::Close(c.map(|(code, r)| (code, r.to_owned()))),
    }
}

/// Decodes `stream` in the given pieces; stops at the first error.
fn run(stream: &[u8], cuts: &[usize], max: usize) -> (Vec<Got>, Result<(), CodecError>) {
    let mut state = DecodeState::default();
    let mut got = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
        let mut piece = stream[start..end].to_vec();
        start = end;
        let result = state.decode(&mut piece, max, |m| {
            got.push(own(m));
            true
        });
        if result.is_err() {
            return (got, result);
        }
    }
    (got, Ok(()))
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    // Byte 0 picks the size limit (small limits reach the 1009 paths), 1-2 the cuts.
    let max = [16, 125, 126, 1 << 16, 1 << 20][usize::from(data[0]) % 5];
    let stream = &data[3..];
    let mut cuts = [
        usize::from(data[1]) * stream.len() / 256,
        usize::from(data[2]) * stream.len() / 256,
    ];
    cuts.sort_unstable();
    let whole = run(stream, &[], max);
    let split = run(stream, &cuts, max);
    assert_eq!(whole, split, "cut at {cuts:?}");
    // Byte by byte as well, on short inputs (a dribbling peer).
    if stream.len() <= 64 {
        let every: Vec<usize> = (1..stream.len()).collect();
        assert_eq!(whole, run(stream, &every, max), "byte by byte");
    }
});
