//! Helpers of the `--data-dir` tests: temp dirs, the real binary with its log, JSON frames.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::Message;

use crate::common::{self, Ws, next_data, ws_connect};

pub const BIN: &str = env!("CARGO_BIN_EXE_loopcast");

/// A temp dir for one test, removed on drop.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(tag: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("loopcast-it-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The server binary on a free port with `args`; its log goes to `log`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    pub fn start(data: &Path, log: &Path, args: &[&str]) -> Server {
        Server::start_under(&[], data, log, args)
    }

    /// As `start`, run by the command `wrap` (e.g. `prlimit --fsize=N --`).
    pub fn start_under(wrap: &[&str], data: &Path, log: &Path, args: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log_file = std::fs::File::create(log).unwrap();
        let mut command = match wrap.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        let child = command
            .args(["--listen", &addr.to_string(), "--data-dir"])
            .arg(data)
            .args(["--rate-limit", "0"])
            .args(args)
            // Logs go to stdout or stderr depending on the build: keep both.
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let started = Instant::now();
        // The port answers as soon as it is bound; the start-up log line comes
        // after the signal handlers, so a SIGTERM from here is always graceful.
        while TcpStream::connect(addr).is_err()
            || !std::fs::read_to_string(log).is_ok_and(|l| l.contains("listening on"))
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Server {
            child,
            addr,
            log: log.to_owned(),
        }
    }

    pub fn connect(&self, user: &str) -> Ws {
        let mut ws = ws_connect(&format!("ws://{}/ws?user={user}", self.addr));
        assert_eq!(recv(&mut ws)["event"], "welcome");
        ws
    }

    pub fn signal(&mut self, signal: &str) {
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// SIGTERM and wait: the exit code.
    pub fn stop(mut self) -> Option<i32> {
        self.signal("-TERM");
        self.child.wait().unwrap().code()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn recv(ws: &mut Ws) -> Value {
    let msg = next_data(ws);
    serde_json::from_str(msg.to_text().unwrap()).unwrap()
}

pub fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).unwrap();
}

/// The next event named `event`, skipping others (presence, acks).
pub fn expect(ws: &mut Ws, event: &str) -> Value {
    loop {
        let v = recv(ws);
        if v["event"] == event {
            return v;
        }
        assert_ne!(v["event"], "error", "{v}");
    }
}

pub fn history(answer: &Value) -> Vec<(u64, Value)> {
    answer["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["seq"].as_u64().unwrap(), e["message"].clone()))
        .collect()
}

/// `GET path` over plain HTTP: the whole answer.
pub fn get(addr: SocketAddr, path: &str) -> String {
    common::http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    )
}
