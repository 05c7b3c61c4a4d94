//! permessage-deflate end to end: negotiation in the 101, compressed frames on
//! /echo, /broadcast and /ws next to plain clients, and bad compressed input
//! (zip bomb, RSV1 without the extension, context takeover) closing only its sender.
#![cfg(feature = "deflate")]

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use common::{KEY, TestServer, frame, raw, read_head, ws_connect};
use loopcast::codec::Inflate;
use loopcast::deflate::{Deflater, Inflater};
use serde_json::{Value, json};
use tungstenite::Message;

const OFFER: &str = "permessage-deflate; client_max_window_bits";
const ANSWER: &str = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
client_no_context_takeover\r\n";

/// A raw client that speaks permessage-deflate with the crate's own codec parts.
struct Client {
    s: TcpStream,
    rest: Vec<u8>,
    deflater: Deflater,
    inflater: Inflater,
}

/// A received data frame: whether it had RSV1, and its (inflated) payload.
#[derive(Debug)]
struct Got {
    compressed: bool,
    opcode: u8,
    payload: Vec<u8>,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.payload).expect("JSON")
    }
}

impl Client {
    /// Upgrades on `path` with `offer` as `Sec-WebSocket-Extensions` (if any); returns the head too.
    fn connect(addr: SocketAddr, path: &str, offer: Option<&str>) -> (Client, String) {
        let mut s = raw(addr);
        let ext = offer.map_or(String::new(), |o| {
            format!("Sec-WebSocket-Extensions: {o}\r\n")
        });
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut rest = Vec::new();
        let head = read_head(&mut s, &mut rest);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let client = Client {
            s,
            rest,
            deflater: Deflater::new(),
            inflater: Inflater::new(),
        };
        (client, head)
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    /// Sends a text message, compressed (RSV1) or not.
    fn send(&mut self, text: &str, compress: bool) {
        let bytes = if compress {
            let mut f = frame(true, 1, self.deflater.compress(text.as_bytes()));
            f[0] |= 0x40;
            f
        } else {
            frame(true, 1, text.as_bytes())
        };
        self.send_raw(&bytes);
    }

    fn send_json(&mut self, value: Value, compress: bool) {
        self.send(&value.to_string(), compress);
    }

    /// The next frame; `None` at EOF. Compressed payloads are inflated.
    fn recv(&mut self) -> Option<Got> {
        let mut buf = [0u8; 65536];
        loop {
            if let Some((b0, payload, used)) = parse(&self.rest) {
                self.rest.drain(..used);
                let compressed = b0 & 0x40 != 0;
                let payload = if compressed {
                    self.inflater.inflate(&payload, 1 << 20).unwrap().to_vec()
                } else {
                    payload
                };
                return Some(Got {
                    compressed,
                    opcode: b0 & 0x0f,
                    payload,
                });
            }
            let n = std::io::Read::read(&mut self.s, &mut buf).ok()?;
            if n == 0 {
                return None;
            }
            self.rest.extend_from_slice(&buf[..n]);
        }
    }

    /// The next JSON event whose `event` is `kind`, skipping others.
    fn event(&mut self, kind: &str) -> (bool, Value) {
        loop {
            let got = self.recv().expect("connection open");
            if got.opcode == 1 && got.json()["event"] == kind {
                return (got.compressed, got.json());
            }
        }
    }

    /// Reads until a close frame and returns its code.
    fn close_code(&mut self) -> Option<u16> {
        while let Some(got) = self.recv() {
            if got.opcode == 8 {
                return Some(u16::from_be_bytes([got.payload[0], got.payload[1]]));
            }
        }
        None
    }
}

/// One unmasked server frame at the start of `b`: first byte, payload, length used.
fn parse(b: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let (len, at) = match *b.get(1)? & 0x7f {
        126 => (
            u16::from_be_bytes(b.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    Some((b[0], b.get(at..at + len)?.to_vec(), at + len))
}

/// A chat message of about `len` bytes of JSON text.
fn chat(len: usize) -> String {
    "hello loopcast, ".repeat(len / 16 + 1)[..len].to_owned()
}

#[test]
fn negotiated_echo_compresses_above_the_threshold_only() {
    let server = TestServer::start();
    let (mut c, head) = Client::connect(server.addr, "/echo", Some(OFFER));
    assert!(head.contains(ANSWER), "{head}");
    let long = chat(1000);
    for compress in [true, false] {
        c.send(&long, compress);
        let got = c.recv().unwrap();
        assert!(got.compressed, "a 1000-byte message goes out compressed");
        assert_eq!(got.payload, long.as_bytes());
    }
    // Under the 256-byte threshold: plain, whatever the client sent.
    c.send("short", true);
    let got = c.recv().unwrap();
    assert!(!got.compressed);
    assert_eq!(got.payload, b"short");
    // A fragmented compressed message, RSV1 on the first frame only.
    let packed = c.deflater.compress(long.as_bytes()).to_vec();
    let (a, b) = packed.split_at(10);
    let mut first = frame(false, 1, a);
    first[0] |= 0x40;
    c.send_raw(&[first, frame(true, 0, b)].concat());
    assert_eq!(c.recv().unwrap().payload, long.as_bytes());
}

#[test]
fn no_offer_or_compression_off_stays_plain_and_rsv1_is_1002() {
    let server = TestServer::start();
    let (mut c, head) = Client::connect(server.addr, "/echo", None);
    assert!(!head.contains("Sec-WebSocket-Extensions"), "{head}");
    c.send(&chat(1000), false);
    assert!(!c.recv().unwrap().compressed);
    c.send(&chat(1000), true);
    assert_eq!(c.close_code(), Some(1002));

    let off = TestServer::with(|c| c.compression = false);
    let (mut c, head) = Client::connect(off.addr, "/echo", Some(OFFER));
    assert!(!head.contains("Sec-WebSocket-Extensions"), "{head}");
    c.send(&chat(1000), true);
    assert_eq!(c.close_code(), Some(1002));
    // A declined offer (a server window smaller than ours) is the same as none.
    let (_, head) = Client::connect(
        server.addr,
        "/echo",
        Some("permessage-deflate; server_max_window_bits=9"),
    );
    assert!(!head.contains("Sec-WebSocket-Extensions"), "{head}");
}

#[test]
fn deflate_and_plain_clients_in_one_room_get_the_same_messages() {
    let server = TestServer::start();
    let (mut packed, _) = Client::connect(server.addr, "/ws?user=ann", Some(OFFER));
    packed.event("welcome");
    let mut plain = ws_connect(&server.url("/ws?user=bob"));
    let join = json!({"action": "join", "room": "r"});
    plain.send(Message::text(join.to_string())).unwrap();
    // Sent compressed: the first /ws action goes through the shared inflater.
    packed.send_json(join, true);
    packed.event("room");
    let text = chat(600);
    for (i, compress) in [(0, true), (1, false)] {
        let message = format!("{text}{i}");
        packed.send_json(
            json!({"action": "publish", "room": "r", "message": message}),
            compress,
        );
        let (compressed, event) = packed.event("message");
        assert!(compressed, "a 700-byte event goes out compressed");
        let from_plain: Value = loop {
            let Message::Text(t) = plain.read().unwrap() else {
                continue;
            };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["event"] == "message" {
                break v;
            }
        };
        assert_eq!(event, from_plain);
        assert_eq!(event["message"], message);
    }
    // A late joiner that negotiated deflate gets the history answer compressed.
    let (mut late, _) = Client::connect(server.addr, "/ws?user=cy", Some(OFFER));
    late.send_json(json!({"action": "join", "room": "r"}), false);
    let (compressed, room) = late.event("room");
    assert!(compressed);
    assert_eq!(room["history"].as_array().unwrap().len(), 2);
}

#[test]
fn broadcast_path_sends_each_member_its_encoding() {
    let server = TestServer::start();
    let (mut a, _) = Client::connect(server.addr, "/broadcast", Some(OFFER));
    let (mut b, _) = Client::connect(server.addr, "/broadcast", None);
    let text = chat(2000);
    b.send(&text, false);
    let (got_a, got_b) = (a.recv().unwrap(), b.recv().unwrap());
    assert!(got_a.compressed && !got_b.compressed);
    assert_eq!(got_a.payload, got_b.payload);
    assert_eq!(got_a.payload, text.as_bytes());
}

#[test]
fn bad_compressed_input_closes_only_its_connection() {
    let server = TestServer::start();
    let (mut bystander, _) = Client::connect(server.addr, "/ws?user=by", Some(OFFER));
    let mut plain = ws_connect(&server.url("/ws?user=pl"));
    bystander.send_json(json!({"action": "join", "room": "r"}), true);
    bystander.event("room");

    // A zip bomb: 10 MiB of one letter in a few KiB, far over --max-message after inflation.
    let (mut bomber, _) = Client::connect(server.addr, "/ws?user=bomb", Some(OFFER));
    let bomb = vec![b'a'; 10 << 20];
    let mut f = frame(true, 1, bomber.deflater.compress(&bomb));
    f[0] |= 0x40;
    bomber.send_raw(&f);
    assert_eq!(bomber.close_code(), Some(1009));

    // RSV1 from a client that did not negotiate the extension.
    let (mut rsv, _) = Client::connect(server.addr, "/ws?user=rsv", None);
    rsv.send("{}", true);
    assert_eq!(rsv.close_code(), Some(1002));

    // Context takeover we told the client not to use (RFC 7692 7.2.3.2's second "Hello").
    let (mut takeover, _) = Client::connect(server.addr, "/ws?user=tk", Some(OFFER));
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let mut f = frame(true, 1, &hello);
    f[0] |= 0x40;
    let mut g = frame(true, 1, &[0xf2, 0x00, 0x11, 0x00, 0x00]);
    g[0] |= 0x40;
    takeover.send_raw(&[f, g].concat());
    assert_eq!(takeover.close_code(), Some(1002));

    // The others lost nothing and carry on.
    let message = chat(500);
    plain
        .send(Message::text(
            json!({"action": "publish", "room": "r", "message": message}).to_string(),
        ))
        .unwrap();
    let (compressed, event) = bystander.event("message");
    assert!(compressed);
    assert_eq!(event["message"], message);
}
