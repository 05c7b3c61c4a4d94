//! The `/ws` JSON protocol over real sockets: several tungstenite clients
//! against an in-process server, plus the publish API, metrics, Origin and JWT checks.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tungstenite::Message;
use tungstenite::client::IntoClientRequest;

use common::{TestServer, Ws, next_data, raw, read_head, upgrade_request, ws_connect};

fn recv(ws: &mut Ws) -> Value {
    let msg = next_data(ws);
    serde_json::from_str(msg.to_text().expect("text")).expect("JSON")
}

fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).expect("send");
}

/// Connects to `/ws` as `user` and returns the socket and its welcome.
fn join_ws(server: &TestServer, user: &str) -> (Ws, Value) {
    let mut ws = ws_connect(&server.url(&format!("/ws?user={user}")));
    let welcome = recv(&mut ws);
    assert_eq!(welcome["event"], "welcome");
    (ws, welcome)
}

/// Everything `ws` received before the ack of a fresh `rooms` request: since
/// the server handles frames in order, this is "all it had been sent so far".
fn sync(ws: &mut Ws) -> Vec<Value> {
    send(ws, json!({"action": "rooms", "ref": "sync"}));
    let mut got = Vec::new();
    loop {
        let v = recv(ws);
        if v["event"] == "ack" && v["ref"] == "sync" {
            // The `rooms` answer just before the ack is ours, not news.
            got.pop();
            return got;
        }
        got.push(v);
    }
}

/// One HTTP request on a fresh connection; returns the status and body.
fn http(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = raw(addr);
    s.write_all(request.as_bytes()).unwrap();
    let mut rest = Vec::new();
    let head = read_head(&mut s, &mut rest);
    let status = head[9..12].parse().unwrap();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    while rest.len() < length {
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "EOF inside the body");
        rest.extend_from_slice(&buf[..n]);
    }
    (status, String::from_utf8(rest).unwrap())
}

fn post_publish(addr: SocketAddr, body: &str, key: Option<&str>) -> (u16, String) {
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    http(
        addr,
        &format!(
            "POST /api/publish HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

#[test]
fn broadcast_reaches_every_ws_client() {
    let server = TestServer::start();
    let mut clients: Vec<Ws> = ["a", "b", "c"]
        .iter()
        .map(|u| join_ws(&server, u).0)
        .collect();
    send(
        &mut clients[1],
        json!({"action": "broadcast", "message": {"hello": "all"}}),
    );
    for ws in &mut clients {
        let m = recv(ws);
        assert_eq!(m["event"], "message");
        assert_eq!(m["from"], "b");
        assert_eq!(m["message"], json!({"hello": "all"}));
        assert!(m["ts"].as_u64().unwrap() > 1_600_000_000_000);
    }
}

#[test]
fn notify_reaches_every_tab_of_a_user() {
    let server = TestServer::start();
    let (mut alice, _) = join_ws(&server, "alice");
    let (mut bob1, w1) = join_ws(&server, "bob");
    let (mut bob2, w2) = join_ws(&server, "bob");
    assert_ne!(w1["id"], w2["id"]);
    send(
        &mut alice,
        json!({"action": "notify", "user": "bob", "message": "psst", "ref": 1}),
    );
    assert_eq!(recv(&mut alice), json!({"event": "ack", "ref": 1}));
    for bob in [&mut bob1, &mut bob2] {
        let m = recv(bob);
        assert_eq!(
            (m["from"].as_str(), m["to"].as_str()),
            (Some("alice"), Some("bob"))
        );
        assert_eq!(m["message"], "psst");
    }
    send(
        &mut alice,
        json!({"action": "notify", "user": "nobody", "message": 1, "ref": 2}),
    );
    let e = recv(&mut alice);
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_i64()),
        (Some("no_such_user"), Some(2))
    );
}

#[test]
fn rooms_with_presence_history_and_topics() {
    let server = TestServer::start();
    let (mut alice, _) = join_ws(&server, "alice");
    let (mut bob, bob_welcome) = join_ws(&server, "bob");
    let (mut carol, _) = join_ws(&server, "carol");

    send(&mut alice, json!({"action": "join", "room": "lobby"}));
    let room = recv(&mut alice);
    assert_eq!(room["event"], "room");
    assert_eq!(room["members"].as_array().unwrap().len(), 1);

    send(&mut bob, json!({"action": "join-room", "room": "lobby"}));
    let room = recv(&mut bob);
    assert_eq!(room["event"], "room");
    assert_eq!(room["members"].as_array().unwrap().len(), 2);
    let joined = recv(&mut alice);
    assert_eq!(
        (joined["event"].as_str(), joined["user"].as_str()),
        (Some("joined"), Some("bob"))
    );
    assert_eq!(joined["id"], bob_welcome["id"]);

    // A silent subscriber: no presence either way, but the messages.
    send(&mut carol, json!({"action": "subscribe", "topic": "lobby"}));
    assert!(sync(&mut carol).is_empty());
    assert!(sync(&mut alice).is_empty());

    send(
        &mut bob,
        json!({"action": "publish", "room": "lobby", "message": "one"}),
    );
    carol
        .send(Message::text(
            r#"{"action":"publish","topic":"lobby","message":"Hello world!"}"#,
        ))
        .unwrap();
    for ws in [&mut alice, &mut bob] {
        let (m1, m2) = (recv(ws), recv(ws));
        assert_eq!(
            (m1["seq"].as_u64(), m1["message"].as_str()),
            (Some(1), Some("one"))
        );
        assert_eq!(
            (m2["seq"].as_u64(), m2["message"].as_str()),
            (Some(2), Some("Hello world!"))
        );
        assert_eq!(m2["room"], "lobby");
    }
    assert_eq!(recv(&mut carol)["seq"], 1);
    assert_eq!(recv(&mut carol)["seq"], 2);

    // Typing goes to the other members only.
    send(
        &mut bob,
        json!({"action": "typing", "room": "lobby", "value": true}),
    );
    let t = recv(&mut alice);
    assert_eq!(
        (t["event"].as_str(), t["value"].as_bool()),
        (Some("typing"), Some(true))
    );
    assert!(sync(&mut bob).is_empty());

    // Bob drops: Alice hears `left`; a resume with `since` gets what was missed.
    drop(bob);
    let left = recv(&mut alice);
    assert_eq!(
        (left["event"].as_str(), left["user"].as_str()),
        (Some("left"), Some("bob"))
    );
    let (mut bob, _) = join_ws(&server, "bob");
    send(
        &mut bob,
        json!({"action": "join", "room": "lobby", "since": 1}),
    );
    let room = recv(&mut bob);
    let history: Vec<_> = room["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message"].clone())
        .collect();
    assert_eq!(history, [json!("Hello world!")]);
    assert_eq!(room["gap"], false);
    assert_eq!(recv(&mut alice)["event"], "joined");

    send(
        &mut alice,
        json!({"action": "leave", "room": "nowhere", "ref": "x"}),
    );
    let e = recv(&mut alice);
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_str()),
        (Some("not_member"), Some("x"))
    );
    alice.send(Message::binary(vec![1, 2, 3])).unwrap();
    assert_eq!(recv(&mut alice)["code"], "bad_json");
}

#[test]
fn publish_api_without_and_with_key() {
    let server = TestServer::start();
    let (mut alice, _) = join_ws(&server, "alice");
    send(&mut alice, json!({"action": "join", "room": "news"}));
    recv(&mut alice);
    let (status, body) = post_publish(server.addr, r#"{"room":"news","message":{"n":1}}"#, None);
    assert_eq!((status, body.trim()), (200, r#"{"delivered":1}"#));
    let m = recv(&mut alice);
    assert_eq!(
        (m["from"].as_str(), m["room"].as_str()),
        (Some("server"), Some("news"))
    );
    assert_eq!(m["message"], json!({"n": 1}));
    let (status, body) = post_publish(server.addr, r#"{"all":true,"message":2}"#, None);
    assert_eq!((status, body.trim()), (200, r#"{"delivered":1}"#));
    assert_eq!(recv(&mut alice)["message"], 2);
    let (status, body) = post_publish(server.addr, "not json", None);
    assert_eq!(status, 400, "{body}");

    let server = TestServer::with(|c| c.api_key = Some("s3cret".into()));
    let (mut bob, _) = join_ws(&server, "bob");
    let body = r#"{"user":"bob","message":"hi"}"#;
    assert_eq!(post_publish(server.addr, body, None).0, 401);
    assert_eq!(post_publish(server.addr, body, Some("wrong")).0, 401);
    let (status, answer) = post_publish(server.addr, body, Some("s3cret"));
    assert_eq!((status, answer.trim()), (200, r#"{"delivered":1}"#));
    let m = recv(&mut bob);
    assert_eq!(
        (m["from"].as_str(), m["to"].as_str()),
        (Some("server"), Some("bob"))
    );
}

#[test]
fn metrics_count_ws_connections_and_rooms() {
    let server = TestServer::start();
    let (mut a, _) = join_ws(&server, "a");
    let (_b, _) = join_ws(&server, "b");
    send(&mut a, json!({"action": "join", "room": "r1"}));
    recv(&mut a);
    let (status, body) = http(
        server.addr,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    assert!(body.contains("\nloopcast_ws_connections 2\n"), "{body}");
    assert!(body.contains("\nloopcast_rooms 1\n"), "{body}");
    assert!(
        body.contains("# TYPE loopcast_messages_in_total counter"),
        "{body}"
    );
    let (_, health) = http(
        server.addr,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    let health: Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["rooms"], 1);
}

#[test]
fn foreign_origin_is_rejected_with_403() {
    let server = TestServer::start();
    let request = upgrade_request("/ws").replace(
        "Host: localhost\r\n",
        "Host: localhost\r\nOrigin: http://evil.example\r\n",
    );
    let mut s = raw(server.addr);
    s.write_all(request.as_bytes()).unwrap();
    let head = read_head(&mut s, &mut Vec::new());
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let same = upgrade_request("/ws").replace(
        "Host: localhost\r\n",
        "Host: localhost\r\nOrigin: http://localhost\r\n",
    );
    let mut s = raw(server.addr);
    s.write_all(same.as_bytes()).unwrap();
    let head = read_head(&mut s, &mut Vec::new());
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
}

fn token(secret: &[u8], claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn status_of(result: tungstenite::Result<(Ws, tungstenite::handshake::client::Response)>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => 101,
    }
}

#[test]
fn jwt_is_checked_at_upgrade() {
    const SECRET: &[u8] = b"integration-secret";
    let server = TestServer::with(|c| c.auth_secret = Some("integration-secret".into()));
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let good = token(SECRET, &json!({"sub": "dora", "exp": later}));

    // ?token= gives the user; ?user= cannot override it.
    let mut ws = ws_connect(&server.url(&format!("/ws?user=mallory&token={good}")));
    assert_eq!(recv(&mut ws)["user"], "dora");

    // Authorization: Bearer works too.
    let mut request = server.url("/ws").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {good}").parse().unwrap());
    let (mut ws, _) = tungstenite::connect(request).unwrap();
    assert_eq!(recv(&mut ws)["user"], "dora");

    let expired = token(SECRET, &json!({"sub": "dora", "exp": 1_000_000_000}));
    let forged = token(b"another-secret", &json!({"sub": "dora", "exp": later}));
    for bad in [expired, forged, "not.a.token".to_string()] {
        let status = status_of(tungstenite::connect(
            server.url(&format!("/ws?token={bad}")),
        ));
        assert_eq!(status, 401, "{bad}");
    }
    assert_eq!(
        status_of(tungstenite::connect(server.url("/ws?user=dora"))),
        401
    );
}

#[test]
fn flooding_client_gets_rate_limited() {
    let server = TestServer::with(|c| c.rate_limit = 1);
    let (mut ws, _) = join_ws(&server, "flood");
    for i in 0..5 {
        send(
            &mut ws,
            json!({"action": "subscribe", "topic": "t", "ref": i}),
        );
    }
    let answers: Vec<Value> = (0..5).map(|_| recv(&mut ws)).collect();
    // Burst 2 (twice the rate), then refusals, each with its ref.
    assert_eq!(answers[0], json!({"event": "ack", "ref": 0}));
    let limited: Vec<_> = answers
        .iter()
        .filter(|a| a["code"] == "rate_limited")
        .map(|a| a["ref"].as_i64().unwrap())
        .collect();
    assert!(limited.ends_with(&[3, 4]), "{answers:?}");
}
