//! Route policy over real sockets: Host (DNS rebinding), cross-site publish,
//! token and name checks at upgrade, and the per-address failure budget.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use common::{TestServer, http, next_data, raw, raw_ws, read_head, upgrade_request, ws_connect};

fn status(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"))
}

/// The status of the answer's head only (a 101 keeps the connection open).
fn head_status(addr: SocketAddr, request: &str) -> u16 {
    let mut s = raw(addr);
    s.write_all(request.as_bytes()).unwrap();
    status(&read_head(&mut s, &mut Vec::new()))
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn publish(addr: SocketAddr, extra_headers: &str, body: &str) -> String {
    http(
        addr,
        &format!(
            "POST /api/publish HTTP/1.1\r\nHost: localhost\r\n{extra_headers}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// A member of `room`, with its welcome and join answers read.
fn member(server: &TestServer, room: &str) -> common::Ws {
    let mut ws = ws_connect(&server.url("/ws?user=witness"));
    next_data(&mut ws); // welcome
    ws.send(tungstenite::Message::text(
        json!({"action": "join", "room": room}).to_string(),
    ))
    .unwrap();
    next_data(&mut ws); // room
    ws
}

fn recv(ws: &mut common::Ws) -> Value {
    serde_json::from_str(next_data(ws).to_text().unwrap()).unwrap()
}

#[test]
fn cross_site_posts_cannot_publish() {
    let server = TestServer::start();
    let mut witness = member(&server, "lobby");
    let message = r#"{"room":"lobby","message":"injected"}"#;
    // What a page on another site can send without a CORS preflight.
    let form = publish(server.addr, "Content-Type: text/plain\r\n", message);
    assert_eq!(status(&form), 415, "{form}");
    let none = publish(server.addr, "", message);
    assert_eq!(status(&none), 415, "{none}");
    let foreign = publish(
        server.addr,
        "Origin: http://evil.example\r\nContent-Type: application/json\r\n",
        message,
    );
    assert_eq!(status(&foreign), 403, "{foreign}");
    // A backend's JSON post still works, and is the first thing the member sees.
    let ok = publish(
        server.addr,
        "Content-Type: application/json\r\n",
        r#"{"room":"lobby","message":"legit"}"#,
    );
    assert_eq!(status(&ok), 200, "{ok}");
    let m = recv(&mut witness);
    assert_eq!(m["message"], "legit", "{m}");
    assert_eq!(m["from"], "server");
}

#[test]
fn the_api_key_is_checked_before_the_body_is_read() {
    let server = TestServer::with(|c| c.api_key = Some("k".into()));
    let mut s = raw(server.addr);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // A head announcing a body that never comes: the answer must not wait for it.
    s.write_all(
        b"POST /api/publish HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer wrong\r\n\
          Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n",
    )
    .unwrap();
    let head = read_head(&mut s, &mut Vec::new());
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
}

#[test]
fn a_rebinding_host_is_refused_on_every_route() {
    let server = TestServer::start();
    for path in ["/", "/healthz", "/metrics"] {
        let r = http(
            server.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n"),
        );
        assert_eq!(status(&r), 403, "{path}: {r}");
    }
    let rebound = upgrade_request("/ws").replace("Host: localhost", "Host: evil.example");
    let r = http(server.addr, &rebound);
    assert_eq!(status(&r), 403, "{r}");
    // The rebound page's own Origin agrees with its Host: no pass either.
    let same_site = rebound.replace(
        "Host: evil.example\r\n",
        "Host: evil.example\r\nOrigin: http://evil.example\r\n",
    );
    assert_eq!(status(&http(server.addr, &same_site)), 403);
    let r = publish(
        server.addr,
        "Content-Type: application/json\r\n",
        r#"{"room":"r","message":1}"#,
    );
    assert_eq!(status(&r), 200, "the local name passes: {r}");
    let r = http(
        server.addr,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
    );
    assert_eq!(status(&r), 200, "{r}");
}

#[test]
fn allowed_hosts_replace_the_default() {
    let server = TestServer::with(|c| c.allowed_hosts = vec!["chat.example".into()]);
    let get = |host: &str| {
        status(&http(
            server.addr,
            &format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        ))
    };
    assert_eq!(get("chat.example"), 200);
    assert_eq!(get("CHAT.example:443"), 200);
    assert_eq!(get("localhost"), 403);
    let upgrade = upgrade_request("/ws").replace(
        "Host: localhost\r\n",
        "Host: chat.example\r\nOrigin: https://chat.example\r\n",
    );
    assert_eq!(head_status(server.addr, &upgrade), 101);
}

fn token(claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(b"policy-secret").unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn upgrade_with_token(addr: SocketAddr, token: &str) -> String {
    http(addr, &upgrade_request(&format!("/ws?token={token}")))
}

#[test]
fn a_token_not_valid_yet_is_refused_without_naming_why() {
    let server = TestServer::with(|c| c.auth_secret = Some("policy-secret".into()));
    let early = token(&json!({"sub": "dora", "nbf": unix_now() + 3600}));
    let r = upgrade_with_token(server.addr, &early);
    assert_eq!(status(&r), 401, "{r}");
    assert_eq!(body(&r), "unauthorized\n", "the reason stays in the log");
    let expired = token(&json!({"sub": "dora", "exp": 1_000_000_000}));
    assert_eq!(
        body(&upgrade_with_token(server.addr, &expired)),
        "unauthorized\n"
    );
    // Clock skew of a few seconds is tolerated.
    let skewed = token(&json!({"sub": "dora", "nbf": unix_now() + 5}));
    let upgrade = upgrade_request(&format!("/ws?token={skewed}"));
    assert_eq!(head_status(server.addr, &upgrade), 101);
}

#[test]
fn failed_tokens_use_up_a_per_address_budget() {
    let server = TestServer::with(|c| c.auth_secret = Some("policy-secret".into()));
    for i in 0..10 {
        let r = upgrade_with_token(server.addr, "bad.token.here");
        assert_eq!(status(&r), 401, "attempt {i}: {r}");
    }
    let r = upgrade_with_token(server.addr, "bad.token.here");
    assert_eq!(status(&r), 429, "{r}");
    assert!(r.contains("Retry-After:"), "{r}");
    // While the budget is used up even a good token is not checked.
    let good = token(&json!({"sub": "dora"}));
    assert_eq!(status(&upgrade_with_token(server.addr, &good)), 429);
}

#[test]
fn failed_api_keys_use_up_the_budget_too() {
    let server = TestServer::with(|c| c.api_key = Some("k".into()));
    let json = "Content-Type: application/json\r\n";
    let body = r#"{"room":"r","message":1}"#;
    for i in 0..10 {
        let r = publish(
            server.addr,
            &format!("{json}Authorization: Bearer k{i}\r\n"),
            body,
        );
        assert_eq!(status(&r), 401, "attempt {i}: {r}");
    }
    let r = publish(
        server.addr,
        &format!("{json}Authorization: Bearer k\r\n"),
        body,
    );
    assert_eq!(status(&r), 429, "{r}");
}

#[test]
fn user_names_that_only_look_reserved_or_are_not_utf8_get_400() {
    let server = TestServer::start();
    for query in [
        "user=server%20",
        "user=%20server",
        "user=Server",
        "user=SERVER",
        "user=%E2%80%AErevres",  // RTL override
        "user=ser%E2%80%8Bver",  // zero-width space
        "user=s%D0%B5rv%D0%B5r", // Cyrillic e
        "user=%ff%fe",           // not UTF-8 once decoded
    ] {
        let r = http(server.addr, &upgrade_request(&format!("/ws?{query}")));
        assert_eq!(status(&r), 400, "{query}: {r}");
    }
    let (mut s, mut rest) = raw_ws(server.addr, "/ws?user=servers");
    let welcome = common::read_frame(&mut s, &mut rest).unwrap();
    assert!(String::from_utf8_lossy(&welcome.payload).contains("\"servers\""));
}
