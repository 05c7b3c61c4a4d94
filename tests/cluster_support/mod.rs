//! Helpers for the cluster tests: a real `redis-server` on a free port and
//! real loopcast processes, each killed when dropped (also on panic).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::Message;

#[path = "../common/mod.rs"]
mod common;
pub use common::{Ws, http, next_data, spawn_binary, ws_connect};

/// A `redis-server` of our own; killed on drop.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
}

/// The redis-server binary, or `None` (the caller skips) unless LOOPCAST_REQUIRE_REDIS is set.
pub fn redis_available() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("LOOPCAST_REQUIRE_REDIS").is_none(),
            "redis-server is not installed but LOOPCAST_REQUIRE_REDIS is set"
        );
        eprintln!("SKIPPED: redis-server is not installed (tests/run.sh installs it)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Redis {
    pub fn start() -> Redis {
        let mut r = Redis {
            port: free_port(),
            child: None,
        };
        r.restart();
        r
    }

    /// Starts (again) on the same port, with no persistence: a restart loses everything.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.write_all(b"PING\r\n");
                let mut buf = [0u8; 16];
                if s.read(&mut buf)
                    .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
                {
                    return;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopcast process; killed on drop.
pub struct Node {
    pub addr: SocketAddr,
    child: Option<Child>,
}

impl Node {
    pub fn start(redis: &Redis, name: &str) -> Node {
        let (child, addr) = spawn_binary("", &format!("--redis {} --node-id {name}", redis.url()));
        let node = Node {
            addr,
            child: Some(child),
        };
        node.wait_ready();
        node
    }

    /// Waits until `/healthz` says the engine is ready.
    pub fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            let r = http(
                self.addr,
                "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            );
            if r.contains(r#""engine":"ready""#) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "engine not ready: {r}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn client(&self, user: &str) -> Client {
        let mut ws = ws_connect(&format!("ws://{}/ws?user={user}", self.addr));
        let welcome = recv(&mut ws);
        assert_eq!(welcome["event"], "welcome");
        Client {
            ws,
            id: welcome["id"].as_str().unwrap().to_owned(),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn recv(ws: &mut Ws) -> Value {
    let msg = next_data(ws);
    serde_json::from_str(msg.to_text().expect("text")).expect("JSON")
}

/// A `/ws` client.
pub struct Client {
    pub ws: Ws,
    pub id: String,
}

impl Client {
    /// How long a read may wait before the test fails.
    pub fn set_timeout(&mut self, t: Duration) {
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = self.ws.get_ref() {
            s.set_read_timeout(Some(t)).unwrap();
        }
    }

    pub fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).expect("send");
    }

    pub fn recv(&mut self) -> Value {
        recv(&mut self.ws)
    }

    /// The next event named `event`, skipping others (presence, typing...).
    pub fn wait(&mut self, event: &str) -> Value {
        loop {
            let v = self.recv();
            if v["event"] == event {
                return v;
            }
            eprintln!("{}: skipped {v}", self.id);
        }
    }

    /// The next event named one of `events`.
    pub fn wait_any(&mut self, events: &[&str]) -> Value {
        loop {
            let v = self.recv();
            if events.iter().any(|e| v["event"] == *e) {
                return v;
            }
        }
    }

    /// The next `message` or `error` event, skipping presence.
    pub fn next_message(&mut self) -> Value {
        loop {
            let v = self.recv();
            if v["event"] == "message" || v["event"] == "error" {
                return v;
            }
        }
    }

    /// Joins and returns the `room` answer (or the error).
    pub fn join(&mut self, room: &str, extra: Value) -> Value {
        let mut frame = json!({"action": "join", "room": room});
        for (k, v) in extra.as_object().unwrap() {
            frame[k] = v.clone();
        }
        self.send(frame);
        loop {
            let v = self.recv();
            if v["event"] == "room" || v["event"] == "error" {
                return v;
            }
        }
    }
}

/// Sends one inline command to Redis on `port` and returns what came back first.
pub fn redis_command(port: u16, command: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{command}\r\n").as_bytes()).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// The CLIENT LIST id of the connection named `name`.
pub fn redis_client_id(port: u16, name: &str) -> String {
    let list = redis_command(port, "CLIENT LIST");
    let line = list
        .lines()
        .find(|l| l.split(' ').any(|f| f == format!("name={name}")))
        .unwrap_or_else(|| panic!("no client {name} in {list}"));
    line.split(' ')
        .find_map(|f| f.strip_prefix("id="))
        .unwrap()
        .to_owned()
}

/// `POST path` with a JSON `body` to `node`; the whole answer (status line, headers, body).
pub fn post(node: &Node, path: &str, body: &str) -> String {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http(node.addr, &req)
}
