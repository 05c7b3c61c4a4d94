//! Shared helpers for integration tests: an in-process server and raw socket clients.
#![allow(dead_code)]

pub mod alloc;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use loopcast::config::Config;
use loopcast::reactor::{Server, ShutdownHandle};

/// A server running on its own thread on 127.0.0.1:<free port>; shut down on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::with(|_| {})
    }

    pub fn with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        tweak(&mut config);
        let server = Server::bind(config).expect("bind");
        let addr = server.local_addr();
        let handle = server.shutdown_handle();
        let thread = std::thread::spawn(move || server.run());
        TestServer {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Graceful shutdown; returns what `run` returned.
    pub fn stop(&mut self) -> std::io::Result<()> {
        self.handle.shutdown();
        match self.thread.take() {
            Some(t) => t.join().expect("server thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop();
        }
    }
}

pub type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

/// A tungstenite client with a read timeout so a missing message fails the test, not hangs it.
pub fn ws_connect(url: &str) -> Ws {
    let (ws, _) = tungstenite::connect(url).expect("connect");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    ws
}

/// Reads the next data message (text or binary), skipping pings/pongs.
pub fn next_data(ws: &mut Ws) -> tungstenite::Message {
    loop {
        let msg = ws.read().expect("read");
        if msg.is_text() || msg.is_binary() {
            return msg;
        }
    }
}

/// A plain TCP connection for sending hand-made bytes.
pub fn raw(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

pub fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Reads until the end of an HTTP response head; returns the head (any extra bytes kept in `rest`).
pub fn read_head(s: &mut TcpStream, rest: &mut Vec<u8>) -> String {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&rest[..end + 4]).into_owned();
            rest.drain(..end + 4);
            return head;
        }
        let n = s.read(&mut buf).expect("read head");
        assert!(
            n > 0,
            "EOF before response head; got {:?}",
            String::from_utf8_lossy(rest)
        );
        rest.extend_from_slice(&buf[..n]);
    }
}

/// Opens a raw WebSocket on `path`; returns the stream and bytes already read past the 101.
pub fn raw_ws(addr: SocketAddr, path: &str) -> (TcpStream, Vec<u8>) {
    let mut s = raw(addr);
    s.write_all(upgrade_request(path).as_bytes()).unwrap();
    let mut rest = Vec::new();
    let head = read_head(&mut s, &mut rest);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (s, rest)
}

/// A masked client frame.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// A server frame as read back: opcode and payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Reads one unmasked server frame, using `rest` for bytes already read.
pub fn read_frame(s: &mut TcpStream, rest: &mut Vec<u8>) -> Option<Frame> {
    let mut buf = [0u8; 65536];
    loop {
        if let Some((frame, used)) = parse_server_frame(rest) {
            rest.drain(..used);
            return Some(frame);
        }
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        rest.extend_from_slice(&buf[..n]);
    }
}

/// One unmasked server frame at the start of `b`, and the bytes it took;
/// `None` until all of it is there.
pub fn parse_server_frame(b: &[u8]) -> Option<(Frame, usize)> {
    if b.len() < 2 {
        return None;
    }
    assert_eq!(b[1] & 0x80, 0, "server frames must not be masked");
    let (len, at) = match b[1] & 0x7f {
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
    let payload = b.get(at..at + len)?.to_vec();
    Some((
        Frame {
            fin: b[0] & 0x80 != 0,
            opcode: b[0] & 0x0f,
            payload,
        },
        at + len,
    ))
}

/// Reads frames until a close frame; returns its code (None for an empty close or EOF).
pub fn read_close_code(s: &mut TcpStream, rest: &mut Vec<u8>) -> Option<u16> {
    while let Some(f) = read_frame(s, rest) {
        if f.opcode == 8 {
            return (f.payload.len() >= 2)
                .then(|| u16::from_be_bytes([f.payload[0], f.payload[1]]));
        }
    }
    None
}

/// Reads server frames until `want` of them passed `counts`, a close frame or
/// the end (20 s read timeout); returns how many counted and the close code.
pub fn count_until_close(
    mut s: TcpStream,
    mut rest: Vec<u8>,
    want: usize,
    counts: impl Fn(&Frame) -> bool,
) -> (usize, Option<u16>) {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = 0;
    while got < want {
        match read_frame(&mut s, &mut rest) {
            Some(f) if f.opcode == 8 => {
                let code = (f.payload.len() >= 2)
                    .then(|| u16::from_be_bytes([f.payload[0], f.payload[1]]));
                return (got, code);
            }
            Some(f) if counts(&f) => got += 1,
            Some(_) => {}
            None => break,
        }
    }
    (got, None)
}

/// Sends a plain HTTP request and returns the whole response (server closes after it).
pub fn http(addr: SocketAddr, request: &str) -> String {
    let mut s = raw(addr);
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Starts the real binary through `sh -c` (so a test can set a `ulimit` first) on a free
/// port, and waits until it accepts connections.
pub fn spawn_binary(shell_prefix: &str, extra_args: &str) -> (std::process::Child, SocketAddr) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = env!("CARGO_BIN_EXE_loopcast");
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{shell_prefix} exec {bin} --listen 127.0.0.1:{port} {extra_args}"
        ))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let started = std::time::Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, addr)
}
