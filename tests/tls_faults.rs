//! Misbehaving TLS peers against the real binary: each costs only its own
//! connection, and a `/broadcast` witness keeps receiving every message.
#![cfg(feature = "tls")]

mod common;
mod tls_support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use rustls::StreamOwned;
use tungstenite::Message;

use tls_support::*;

#[test]
fn garbage_instead_of_a_client_hello() {
    let certs = Certs::new();
    let server = TlsServer::start(&certs, "--handshake-timeout 30");
    let mut witness = Witness::new(server.addr, &certs);
    witness.check(1);
    // A handshake record type with junk inside, and pure noise.
    for junk in [
        &[
            0x16, 0x03, 0x01, 0x00, 0x08, 1, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef,
        ][..],
        &[0xff; 600][..],
    ] {
        let mut s = tcp(server.addr);
        let started = Instant::now();
        s.write_all(junk).unwrap();
        read_until_closed(&mut s);
        assert!(started.elapsed() < Duration::from_secs(10), "left hanging");
    }
    witness.check(2);
    // Both count as failed handshakes in /metrics.
    let (status, body) = https(
        server.addr,
        &certs,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(status, 200);
    let failures: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix("loopcast_handshake_failures_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("handshake_failures metric");
    assert_eq!(failures, 2, "{body}");
}

#[test]
fn a_client_hello_dribbled_byte_by_byte() {
    let certs = Certs::new();
    let server = TlsServer::start(&certs, "");
    let mut witness = Witness::new(server.addr, &certs);
    let (conn, hello) = client_hello(&certs);
    let mut s = tcp(server.addr);
    for (i, b) in hello.iter().enumerate() {
        s.write_all(&[*b]).unwrap();
        if i % 64 == 0 {
            witness.check(i as u32);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut stream = StreamOwned::new(conn, s);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .expect("handshake");
    }
    let mut ws = wss_over(stream, "/echo");
    ws.send(Message::text("dribbled")).unwrap();
    assert_eq!(next_text(&mut ws), "dribbled");
    witness.check(10_000);
}

#[test]
fn a_handshake_that_stops_half_way_is_closed_at_the_handshake_timeout() {
    let certs = Certs::new();
    let server = TlsServer::start(&certs, "--handshake-timeout 1");
    let mut witness = Witness::new(server.addr, &certs);
    let (_conn, hello) = client_hello(&certs);
    let mut s = tcp(server.addr);
    let started = Instant::now();
    s.write_all(&hello).unwrap();
    // The server's flight arrives, then nothing until the deadline closes it.
    let got = read_until_closed(&mut s);
    let waited = started.elapsed();
    assert!(got > 0, "no ServerHello");
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );
    assert!(waited < Duration::from_secs(9), "closed after {waited:?}");
    witness.check(1);
}

#[test]
fn close_notify_ends_only_that_connection() {
    let certs = Certs::new();
    let server = TlsServer::start(&certs, "");
    let mut witness = Witness::new(server.addr, &certs);
    let mut member = wss(server.addr, &certs, "/broadcast");
    witness.check(1);
    assert_eq!(next_text(&mut member), "witness 1");
    // close_notify without a WebSocket close: the server treats it as the end.
    let stream = member.get_mut();
    stream.conn.send_close_notify();
    stream.conn.complete_io(&mut stream.sock).unwrap();
    // The server drops the connection: EOF, not the 10 s read timeout.
    let mut rest = Vec::new();
    stream
        .sock
        .read_to_end(&mut rest)
        .expect("server closed the connection");
    witness.check(2);
    witness.check(3);
}

#[test]
fn an_abrupt_reset_mid_frame_ends_only_that_connection() {
    let certs = Certs::new();
    let server = TlsServer::start(&certs, "");
    let mut witness = Witness::new(server.addr, &certs);
    let mut stream = tls(server.addr, &certs);
    let upgrade = common::upgrade_request("/broadcast");
    stream.write_all(upgrade.as_bytes()).unwrap();
    let mut head = [0u8; 129];
    let n = stream.read(&mut head).unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 101"));
    // Half a masked frame: header says 100 bytes, 10 arrive; then RST.
    let frame = common::frame(true, 1, &[b'a'; 100]);
    stream.write_all(&frame[..16]).unwrap();
    stream.flush().unwrap();
    witness.check(1);
    socket2::SockRef::from(&stream.sock)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
    witness.check(2);
    // And a reset in the middle of the TLS handshake.
    let (_conn, hello) = client_hello(&certs);
    let mut s = tcp(server.addr);
    s.write_all(&hello[..hello.len() / 2]).unwrap();
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s);
    witness.check(3);
    // New TLS clients are still served.
    let mut fresh = wss(server.addr, &certs, "/echo");
    fresh.send(Message::text("fresh")).unwrap();
    assert_eq!(next_text(&mut fresh), "fresh");
}
