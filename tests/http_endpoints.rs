//! Plain HTTP over real sockets: page, health, metrics, errors, upgrade validation, limits.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

#[test]
fn serves_the_embedded_page() {
    let server = TestServer::start();
    let resp = http(server.addr, &get("/"));
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.contains("Content-Type: text/html; charset=utf-8"));
    assert!(resp.contains(include_str!("../assets/index.html")));
}

#[test]
fn healthz_reports_connections() {
    let server = TestServer::start();
    let _a = ws_connect(&server.url("/echo"));
    let mut b = ws_connect(&server.url("/broadcast"));
    // A round trip on the last client proves the server has processed both upgrades.
    b.send(tungstenite::Message::text("x")).unwrap();
    next_data(&mut b);
    let resp = http(server.addr, &get("/healthz"));
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let body = resp.split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["connections"], 2);
    assert!(v["uptime_s"].is_u64());
    assert!(v["rooms"].is_u64());
}

#[test]
fn metrics_are_prometheus_text() {
    let server = TestServer::start();
    let mut a = ws_connect(&server.url("/echo"));
    a.send(tungstenite::Message::text("x")).unwrap();
    next_data(&mut a);
    let resp = http(server.addr, &get("/metrics"));
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.contains("# TYPE loopcast_connections gauge\nloopcast_connections 1\n"),
        "{resp}"
    );
    assert!(resp.contains("loopcast_messages_in_total 1\n"), "{resp}");
    assert!(resp.contains("loopcast_messages_out_total 1\n"), "{resp}");
}

#[test]
fn unknown_path_is_404_and_wrong_method_is_405() {
    let server = TestServer::start();
    assert!(http(server.addr, &get("/nope")).starts_with("HTTP/1.1 404"));
    let resp = http(server.addr, "DELETE / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 405"), "{resp}");
    let resp = http(
        server.addr,
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 405"), "{resp}");
}

#[test]
fn websocket_path_without_upgrade_is_refused() {
    let server = TestServer::start();
    let resp = http(server.addr, &get("/ws"));
    assert!(resp.starts_with("HTTP/1.1 426"), "{resp}");
    let bad_version = upgrade_request("/echo").replace("Version: 13", "Version: 8");
    let resp = http(server.addr, &bad_version);
    assert!(resp.starts_with("HTTP/1.1 426"), "{resp}");
    assert!(resp.contains("Sec-WebSocket-Version: 13"), "{resp}");
    let bad_key = upgrade_request("/echo").replace(KEY, "c2hvcnQ=");
    assert!(http(server.addr, &bad_key).starts_with("HTTP/1.1 400"));
    assert!(http(server.addr, "NONSENSE\r\n\r\n").starts_with("HTTP/1.1 400"));
}

#[test]
fn request_head_dribbled_byte_by_byte_still_upgrades() {
    let server = TestServer::start();
    let mut s = raw(server.addr);
    for b in upgrade_request("/echo").bytes() {
        s.write_all(&[b]).unwrap();
        std::thread::sleep(Duration::from_micros(300));
    }
    let mut rest = Vec::new();
    let head = read_head(&mut s, &mut rest);
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
    s.write_all(&frame(true, 1, b"ok")).unwrap();
    assert_eq!(read_frame(&mut s, &mut rest).unwrap().payload, b"ok");
}

#[test]
fn oversized_head_gets_431() {
    let server = TestServer::start();
    let big = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let resp = http(server.addr, &big);
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");
    // Also when the head never ends.
    let mut s = raw(server.addr);
    s.write_all(format!("GET / HTTP/1.1\r\nX-Pad: {}", "a".repeat(9000)).as_bytes())
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 431"));
}

#[test]
fn slowloris_is_closed_after_the_handshake_timeout() {
    let server = TestServer::with(|c| c.handshake_timeout = Duration::from_millis(300));
    let mut s = raw(server.addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    let started = std::time::Instant::now();
    // The server drops us: EOF (0) or a reset, well before our 10 s read timeout.
    match s.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("unexpected {n} bytes"),
    }
    assert!(started.elapsed() < Duration::from_secs(9));
}

#[test]
fn server_full_answers_503() {
    let server = TestServer::with(|c| c.max_connections = 2);
    let _a = raw_ws(server.addr, "/echo");
    let _b = raw_ws(server.addr, "/echo");
    let resp = http(server.addr, &upgrade_request("/echo"));
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
}

#[test]
fn user_names_are_checked_at_upgrade() {
    let server = TestServer::start();
    let long = "u".repeat(65);
    let resp = http(server.addr, &upgrade_request(&format!("/ws?user={long}")));
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    // Reserved for messages from the publish API.
    let resp = http(server.addr, &upgrade_request("/ws?user=server"));
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let _ok = raw_ws(server.addr, "/ws?user=ok%20name");
}
