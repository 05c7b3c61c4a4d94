//! Amplification and storms on a real server: a `broadcast` flood by several
//! clients, the per-address connection cap, and a reconnect storm, each while
//! witnesses chat and must receive every message.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use tungstenite::Message;

use common::{TestServer, Ws, next_data, upgrade_request, ws_connect};

fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).unwrap();
}

fn recv(ws: &mut Ws) -> Value {
    let msg = next_data(ws);
    serde_json::from_str(msg.to_text().unwrap()).unwrap()
}

/// Two members of room `w` and a publisher: `chat` sends `n` messages into the
/// room at `every` apart; each witness must then have all of them, in order.
struct Witnesses {
    members: Vec<thread::JoinHandle<Vec<u64>>>,
    publisher: Ws,
}

impl Witnesses {
    fn join(server: &TestServer, n: u64) -> Witnesses {
        let members = (0..2)
            .map(|i| {
                let mut ws = ws_connect(&server.url(&format!("/ws?user=witness{i}")));
                recv(&mut ws);
                send(&mut ws, json!({"action": "join", "room": "w", "ref": 0}));
                while recv(&mut ws)["event"] != "ack" {}
                thread::spawn(move || {
                    let mut got = Vec::new();
                    while (got.len() as u64) < n {
                        let e = recv(&mut ws);
                        if e["event"] == "message" && e["room"] == "w" {
                            got.push(e["message"].as_u64().unwrap());
                        }
                    }
                    got
                })
            })
            .collect();
        let mut publisher = ws_connect(&server.url("/ws?user=speaker"));
        recv(&mut publisher);
        Witnesses { members, publisher }
    }

    fn chat(mut self, n: u64, every: Duration) {
        for i in 0..n {
            send(
                &mut self.publisher,
                json!({"action": "publish", "room": "w", "message": i}),
            );
            thread::sleep(every);
        }
        let all: Vec<u64> = (0..n).collect();
        for m in self.members {
            assert_eq!(m.join().expect("a witness was cut off"), all);
        }
    }
}

#[test]
fn a_broadcast_flood_by_several_clients_is_held_to_its_budget() {
    let server = TestServer::start();
    // A listener counts every broadcast that reaches it.
    let mut listener = ws_connect(&server.url("/ws?user=listener"));
    recv(&mut listener);
    let witnesses = Witnesses::join(&server, 40);
    let attackers: Vec<_> = (0..3)
        .map(|a| {
            let url = server.url(&format!("/ws?user=loud{a}"));
            thread::spawn(move || {
                let mut ws = ws_connect(&url);
                let pad = "z".repeat(20_000);
                // 300 broadcasts as fast as possible: within the general rate's
                // burst of 100, far over the broadcast budget's burst of 10.
                for i in 0..300 {
                    let frame = json!({"action": "broadcast", "message": {"i": i, "pad": pad}});
                    if ws.send(Message::text(frame.to_string())).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    witnesses.chat(40, Duration::from_millis(25));
    for a in attackers {
        a.join().unwrap();
    }
    // Every broadcast that got through reached the listener; count them.
    send(&mut listener, json!({"action": "rooms", "ref": "end"}));
    let mut broadcasts = 0;
    loop {
        let e = recv(&mut listener);
        if e["event"] == "ack" {
            break;
        }
        if e["event"] == "message" && e.get("room").is_none() {
            broadcasts += 1;
        }
    }
    // 3 × (burst 10 + 5/s over the test's few seconds): nowhere near 3 × 300.
    assert!((30..=120).contains(&broadcasts), "{broadcasts} broadcasts");
}

/// Opens a WebSocket from `source` (a loopback address) and returns the status line.
fn open_from(addr: SocketAddr, source: &str) -> (TcpStream, String) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let from: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&from.into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut s: TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(upgrade_request("/ws").as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.lines().next().unwrap_or_default().to_string();
    (s, status)
}

#[test]
fn connections_per_address_are_capped() {
    let server = TestServer::with(|c| c.max_connections_per_ip = 3);
    let held: Vec<_> = (0..3)
        .map(|_| {
            let (s, status) = open_from(server.addr, "127.0.0.1");
            assert!(status.contains("101"), "{status}");
            s
        })
        .collect();
    let (mut refused, status) = open_from(server.addr, "127.0.0.1");
    assert!(status.contains("503"), "{status}");
    let mut body = String::new();
    let _ = refused.read_to_string(&mut body);
    assert!(
        body.contains("too many connections from your address"),
        "{body}"
    );
    // Another address is not affected.
    let (_other, status) = open_from(server.addr, "127.0.0.2");
    assert!(status.contains("101"), "{status}");
    // A slot comes back when one of the three leaves.
    drop(held);
    let mut again = String::new();
    for _ in 0..100 {
        let (_s, status) = open_from(server.addr, "127.0.0.1");
        again = status;
        if again.contains("101") {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(again.contains("101"), "{again}");
}

#[test]
fn a_reconnect_storm_is_served_and_witnesses_keep_chatting() {
    let server = TestServer::start();
    let witnesses = Witnesses::join(&server, 30);
    let addr = server.addr;
    // 8 threads × 75 connections, all at once, each upgraded and then held.
    let storm: Vec<_> = (0..8)
        .map(|_| {
            thread::spawn(move || {
                let mut held = Vec::new();
                let mut answered = 0;
                for _ in 0..75 {
                    let (s, status) = open_from(addr, "127.0.0.1");
                    assert!(status.contains("101"), "{status}");
                    answered += 1;
                    held.push(s);
                }
                (answered, held)
            })
        })
        .collect();
    witnesses.chat(30, Duration::from_millis(20));
    let mut held = Vec::new();
    for t in storm {
        let (answered, conns) = t.join().unwrap();
        assert_eq!(answered, 75);
        held.extend(conns);
    }
    let health = common::http(addr, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert!(health.contains("\"connections\":"), "{health}");
    let open: usize = health
        .split("\"connections\":")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    // Every storm connection is open (the witnesses have left).
    assert_eq!(open, 600, "{health}");
}
