//! WebSocket behaviour over real sockets: broadcast, echo, fragments, control frames, close codes.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use tungstenite::Message;

#[test]
fn broadcast_reaches_every_client_including_the_sender_in_order() {
    let server = TestServer::start();
    let mut clients: Vec<Ws> = (0..5)
        .map(|_| ws_connect(&server.url("/broadcast")))
        .collect();
    // Every client must be registered before anyone publishes: a ping round trip proves it.
    for c in &mut clients {
        c.send(Message::Ping(b"sync".to_vec().into())).unwrap();
        loop {
            if let Message::Pong(p) = c.read().unwrap() {
                assert_eq!(&p[..], b"sync");
                break;
            }
        }
    }
    for (i, c) in clients.iter_mut().enumerate() {
        for n in 0..3 {
            c.send(Message::text(format!("{i}:{n}"))).unwrap();
        }
    }
    c_binary(&mut clients[0]);
    for c in &mut clients {
        let mut last = [-1i32; 5];
        let mut got = 0;
        while got < 15 {
            let msg = next_data(c);
            if msg.is_binary() {
                continue;
            }
            let text = msg.into_text().unwrap();
            let (who, n) = text.split_once(':').unwrap();
            let (who, n): (usize, i32) = (who.parse().unwrap(), n.parse().unwrap());
            assert!(
                n > last[who],
                "out of order from {who}: {n} after {}",
                last[who]
            );
            last[who] = n;
            got += 1;
        }
        assert_eq!(last, [2; 5]);
    }
}

fn c_binary(c: &mut Ws) {
    c.send(Message::binary(vec![0u8, 1, 2, 255])).unwrap();
}

#[test]
fn binary_stays_binary_on_broadcast() {
    let server = TestServer::start();
    let mut a = ws_connect(&server.url("/broadcast"));
    a.send(Message::binary(vec![0u8, 1, 2, 255])).unwrap();
    assert_eq!(next_data(&mut a), Message::binary(vec![0u8, 1, 2, 255]));
}

#[test]
fn echo_returns_text_and_binary_to_the_sender_only() {
    let server = TestServer::start();
    let mut a = ws_connect(&server.url("/echo"));
    let mut b = ws_connect(&server.url("/echo"));
    a.send(Message::text("héllo")).unwrap();
    // Larger than 65535 bytes would not fit the 64 KiB default limit; this still needs the 16-bit length form.
    a.send(Message::binary(vec![9u8; 60_000])).unwrap();
    assert_eq!(next_data(&mut a), Message::text("héllo"));
    assert_eq!(next_data(&mut a), Message::binary(vec![9u8; 60_000]));
    b.send(Message::text("b")).unwrap();
    assert_eq!(next_data(&mut b), Message::text("b"));
}

#[test]
fn fragmented_message_with_interleaved_ping_is_reassembled() {
    let server = TestServer::start();
    let (mut s, mut rest) = raw_ws(server.addr, "/echo");
    let mut bytes = frame(false, 1, "frag".as_bytes());
    bytes.extend(frame(false, 0, "men".as_bytes()));
    bytes.extend(frame(true, 9, b"mid"));
    // A multi-byte character split across fragments is still valid UTF-8.
    let euro = "€".as_bytes();
    bytes.extend(frame(false, 0, &euro[..1]));
    bytes.extend(frame(true, 0, &euro[1..]));
    // Dribble the bytes in small pieces to cross every frame boundary.
    for chunk in bytes.chunks(3) {
        s.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let pong = read_frame(&mut s, &mut rest).unwrap();
    assert_eq!((pong.opcode, pong.payload.as_slice()), (10, &b"mid"[..]));
    let echo = read_frame(&mut s, &mut rest).unwrap();
    assert_eq!(echo.opcode, 1);
    assert_eq!(String::from_utf8(echo.payload).unwrap(), "fragmen€");
}

#[test]
fn ping_gets_pong_with_the_same_payload() {
    let server = TestServer::start();
    let mut a = ws_connect(&server.url("/echo"));
    a.send(Message::Ping(b"are you there".to_vec().into()))
        .unwrap();
    match a.read().unwrap() {
        Message::Pong(p) => assert_eq!(&p[..], b"are you there"),
        other => panic!("expected the pong first, got {other:?}"),
    }
}

fn close_code_after(
    bytes: &[u8],
    tweak: impl FnOnce(&mut loopcast::config::Config),
) -> Option<u16> {
    let server = TestServer::with(tweak);
    let (mut s, mut rest) = raw_ws(server.addr, "/echo");
    s.write_all(bytes).unwrap();
    read_close_code(&mut s, &mut rest)
}

#[test]
fn unmasked_frame_closes_with_1002() {
    assert_eq!(
        close_code_after(&[0x81, 0x02, b'h', b'i'], |_| {}),
        Some(1002)
    );
}

#[test]
fn reserved_bits_close_with_1002() {
    let mut f = frame(true, 1, b"x");
    f[0] |= 0x40;
    assert_eq!(close_code_after(&f, |_| {}), Some(1002));
}

#[test]
fn invalid_utf8_closes_with_1007() {
    assert_eq!(
        close_code_after(&frame(true, 1, &[0xce, 0xba, 0xff]), |_| {}),
        Some(1007)
    );
}

#[test]
fn oversized_message_closes_with_1009() {
    let f = frame(true, 2, &[0u8; 2000]);
    assert_eq!(close_code_after(&f, |c| c.max_message = 1000), Some(1009));
    // Also when the size is only reached by joining fragments.
    let mut frags = frame(false, 2, &[0u8; 600]);
    frags.extend(frame(true, 0, &[0u8; 600]));
    assert_eq!(
        close_code_after(&frags, |c| c.max_message = 1000),
        Some(1009)
    );
}

#[test]
fn client_close_is_echoed_and_the_connection_ends() {
    let server = TestServer::start();
    let (mut s, mut rest) = raw_ws(server.addr, "/echo");
    let mut payload = 4000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    s.write_all(&frame(true, 8, &payload)).unwrap();
    assert_eq!(read_close_code(&mut s, &mut rest), Some(4000));
    assert!(
        read_frame(&mut s, &mut rest).is_none(),
        "server must close TCP after the close"
    );
}

#[test]
fn second_message_in_the_handshake_segment_is_not_lost() {
    let server = TestServer::start();
    let mut s = raw(server.addr);
    let mut bytes = upgrade_request("/echo").into_bytes();
    bytes.extend(frame(true, 1, b"early"));
    bytes.extend(frame(true, 1, b"bird"));
    s.write_all(&bytes).unwrap();
    let mut rest = Vec::new();
    assert!(read_head(&mut s, &mut rest).starts_with("HTTP/1.1 101"));
    assert_eq!(read_frame(&mut s, &mut rest).unwrap().payload, b"early");
    assert_eq!(read_frame(&mut s, &mut rest).unwrap().payload, b"bird");
}

#[test]
fn slow_reader_is_dropped_with_1013_while_others_get_everything_in_order() {
    let server = TestServer::with(|c| c.max_pending = 256 * 1024);
    let (mut slow, mut slow_rest) = raw_ws(server.addr, "/broadcast");
    // The slow client reads nothing until the end.
    let mut fast: Vec<Ws> = (0..3)
        .map(|_| ws_connect(&server.url("/broadcast")))
        .collect();
    let mut publisher = ws_connect(&server.url("/broadcast"));
    // 8 MB per client: far more than the kernel buffers of the slow socket can absorb.
    let count = 4000;
    let body = "x".repeat(2000);
    let reader_threads: Vec<_> = fast
        .drain(..)
        .map(|mut ws| {
            std::thread::spawn(move || {
                for n in 0..count {
                    let text = next_data(&mut ws).into_text().unwrap();
                    let (num, _) = text.split_once(' ').unwrap();
                    assert_eq!(
                        num.parse::<usize>().unwrap(),
                        n,
                        "lost or reordered message"
                    );
                }
            })
        })
        .collect();
    // The publisher waits for its own copies every few messages, so readers that keep
    // reading never fall 256 KiB behind; only the one that stopped reading does.
    let pub_reader = std::thread::spawn(move || {
        for batch in 0..count / 8 {
            for n in batch * 8..batch * 8 + 8 {
                publisher
                    .send(Message::text(format!("{n} {body}")))
                    .unwrap();
            }
            for _ in 0..8 {
                next_data(&mut publisher);
            }
        }
    });
    for t in reader_threads {
        t.join().expect("a fast reader missed a message");
    }
    pub_reader.join().unwrap();
    // Only now does the slow client read: it must find a 1013 close after some messages.
    assert_eq!(read_close_code(&mut slow, &mut slow_rest), Some(1013));
}

#[test]
fn shutdown_sends_1001_to_every_client() {
    let mut server = TestServer::start();
    let (mut a, mut a_rest) = raw_ws(server.addr, "/broadcast");
    let (mut b, mut b_rest) = raw_ws(server.addr, "/echo");
    server.stop().expect("clean exit");
    assert_eq!(read_close_code(&mut a, &mut a_rest), Some(1001));
    assert_eq!(read_close_code(&mut b, &mut b_rest), Some(1001));
}

#[test]
fn silent_client_is_pinged_then_closed() {
    let server = TestServer::with(|c| {
        c.ping_interval = Duration::from_millis(200);
        c.idle_timeout = Duration::from_millis(600);
    });
    let (mut s, mut rest) = raw_ws(server.addr, "/echo");
    let ping = read_frame(&mut s, &mut rest).unwrap();
    assert_eq!(ping.opcode, 9, "expected a server ping");
    // We never answer, so the idle timeout closes us.
    assert_eq!(read_close_code(&mut s, &mut rest), Some(1000));
}

#[test]
fn answering_pings_keeps_a_client_alive() {
    let server = TestServer::with(|c| {
        c.ping_interval = Duration::from_millis(200);
        c.idle_timeout = Duration::from_millis(1000);
    });
    let mut a = ws_connect(&server.url("/echo"));
    // tungstenite answers pings while reading; read for well past the idle timeout.
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = a.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    }
    let started = std::time::Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        match a.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            other => panic!("connection should stay open with only pings, got {other:?}"),
        }
    }
    assert!(
        pings >= 2,
        "expected the server to keep pinging, got {pings}"
    );
    a.send(Message::text("still here")).unwrap();
    assert_eq!(next_data(&mut a), Message::text("still here"));
}
