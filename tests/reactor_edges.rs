//! Reactor edge cases: answers before a half-close, 503 for every connection
//! past the limit, a slow-consumer cut while the 101 is still queued.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use common::{TestServer, raw, upgrade_request};

/// Sends `request`, half-closes, and returns everything until the server's EOF.
fn ask_then_half_close(server: &TestServer, request: &[u8]) -> String {
    let mut s = raw(server.addr);
    s.write_all(request).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_request_followed_by_a_half_close_is_answered_every_time() {
    // Request and FIN in one go: the answer used to be dropped with the
    // connection when the EOF was read in the same turn (5-8 answers in 60).
    let server = TestServer::start();
    for i in 0..60 {
        let got = ask_then_half_close(&server, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert!(got.starts_with("HTTP/1.1 200"), "attempt {i}: {got:?}");
        assert!(got.contains(r#""status":"ok""#), "attempt {i}: {got:?}");
    }
}

#[test]
fn an_upgrade_followed_by_a_half_close_gets_its_101() {
    let server = TestServer::start();
    for i in 0..20 {
        for path in ["/ws", "/echo", "/broadcast"] {
            let got = ask_then_half_close(&server, upgrade_request(path).as_bytes());
            assert!(
                got.starts_with("HTTP/1.1 101"),
                "attempt {i} on {path}: {got:?}"
            );
        }
    }
    // The server is still whole: a fresh client is served.
    let got = ask_then_half_close(&server, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(got.starts_with("HTTP/1.1 200"), "{got:?}");
}

#[test]
fn a_burst_past_max_connections_gets_503_not_silence() {
    // Past --max-connections plus a few answering slots, connections used to be
    // dropped without a response. Now they wait in the listen backlog until a
    // slot is free, and every one is answered.
    let server = TestServer::with(|c| c.max_connections = 10);
    let held: Vec<TcpStream> = (0..10)
        .map(|_| {
            let (s, _) = common::raw_ws(server.addr, "/echo");
            s
        })
        .collect();
    let request = upgrade_request("/echo");
    // Below the listen backlog (1024), so every connect completes at once, and
    // with both ends in this process under a default 1024-descriptor limit.
    let burst: Vec<TcpStream> = (0..450)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s.write_all(request.as_bytes()).unwrap();
            s
        })
        .collect();
    for (i, mut s) in burst.into_iter().enumerate() {
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let got = String::from_utf8_lossy(&out);
        assert!(got.starts_with("HTTP/1.1 503"), "connection {i}: {got:?}");
    }
    drop(held);
}
