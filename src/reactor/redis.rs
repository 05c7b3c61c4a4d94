//! The Redis engine's two sockets in the loop: connect when the engine says
//! so, move bytes between the sockets and the engine, drop both when the
//! engine drops its links. Never blocks: connects are non-blocking, and
//! output that does not fit waits for writable readiness.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Token};

use super::Server;
use crate::ClientId;
use crate::engine::{RedisUrl, Side};

/// The command link's token (far from the clients' tokens, which count up from 3).
pub(super) const REDIS_CMD: Token = Token(usize::MAX - 1);
/// The pub/sub link's token.
pub(super) const REDIS_SUB: Token = Token(usize::MAX - 2);

/// The two sockets, when open.
#[derive(Debug, Default)]
pub(super) struct RedisIo {
    addr: Option<SocketAddr>,
    cmd: Option<(TcpStream, bool)>,
    sub: Option<(TcpStream, bool)>,
    /// The engine generation these sockets belong to.
    generation: u64,
}

/// Resolves the Redis address once, at start (a name lookup would block the loop later).
pub(super) fn resolve(url: &RedisUrl) -> io::Result<SocketAddr> {
    (url.host.as_str(), url.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other(format!("redis host {} has no address", url.host)))
}

impl RedisIo {
    /// For the resolved Redis address.
    pub(super) fn new(addr: SocketAddr) -> RedisIo {
        RedisIo {
            addr: Some(addr),
            ..RedisIo::default()
        }
    }
}

impl Server {
    /// A readiness event on a Redis socket; `false` if the token is not one.
    pub(super) fn redis_event(&mut self, event: &Event) -> bool {
        let side = match event.token() {
            REDIS_CMD => Side::Cmd,
            REDIS_SUB => Side::Sub,
            _ => return false,
        };
        let now = self.hub_now().mono;
        let Some(engine) = self.hub.engine_mut() else {
            return true;
        };
        let slot = match side {
            Side::Cmd => &mut self.redis.cmd,
            Side::Sub => &mut self.redis.sub,
        };
        let generation = self.redis.generation;
        let Some((stream, up)) = slot else {
            return true;
        };
        if !*up && (event.is_writable() || event.is_error()) {
            match stream.take_error() {
                Ok(None) if stream.peer_addr().is_ok() => {
                    *up = true;
                    engine.link_up(side);
                }
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    engine.link_down(now, &format!("connect: {e}"));
                    return true;
                }
            }
        }
        if *up && (event.is_readable() || event.is_read_closed() || event.is_error()) {
            read_link(stream, engine, now, side, generation);
        }
        true
    }

    /// Once per turn, after the events and the timers: connect if due, let
    /// the hub act on what the engine heard, write what the engine has queued.
    pub(super) fn redis_turn(&mut self) {
        let now = self.hub_now();
        let Some(engine) = self.hub.engine_mut() else {
            return;
        };
        engine.handle_timeout(now.mono);
        if engine.connect_due(now.mono) {
            self.redis_connect(now.mono);
        }
        self.hub.handle_engine(now, &mut self.outbox);
        self.drain_outbox();
        for (binary, payload) in self.hub.take_raw_frames() {
            self.scratch.clear();
            let opcode = if binary {
                super::ws::BINARY
            } else {
                super::ws::TEXT
            };
            crate::codec::encode_frame(&mut self.scratch, opcode, &payload);
            let to = self.hub.raw_recipients(ClientId(usize::MAX));
            for &member in to {
                self.conns.queue(member, &self.scratch);
            }
            self.conns.metrics.messages_out += to.len() as u64;
        }
        self.redis_write();
    }

    /// Writes the engine's queued output; drops the sockets if the engine dropped its links.
    pub(super) fn redis_write(&mut self) {
        let now = self.hub_now().mono;
        let Some(engine) = self.hub.engine_mut() else {
            return;
        };
        if engine.generation() != self.redis.generation {
            for (mut stream, _) in [self.redis.cmd.take(), self.redis.sub.take()]
                .into_iter()
                .flatten()
            {
                let _ = self.poll.registry().deregister(&mut stream);
            }
            self.redis.generation = engine.generation();
            return;
        }
        for side in [Side::Cmd, Side::Sub] {
            let slot = match side {
                Side::Cmd => &mut self.redis.cmd,
                Side::Sub => &mut self.redis.sub,
            };
            let Some((stream, true)) = slot else {
                continue;
            };
            let out = engine.output(side);
            let mut written = 0;
            while written < out.len() {
                match stream.write(&out[written..]) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        engine.link_down(now, &format!("write: {e}"));
                        return self.redis_write();
                    }
                }
            }
            out.drain(..written);
        }
    }

    fn redis_connect(&mut self, now: std::time::Instant) {
        let Some(addr) = self.redis.addr else {
            return;
        };
        let engine = self.hub.engine_mut().expect("engine");
        engine.connecting(now);
        self.redis.generation = engine.generation();
        let registry = self.poll.registry();
        let open = |token| -> io::Result<(TcpStream, bool)> {
            let mut stream = TcpStream::connect(addr)?;
            let _ = stream.set_nodelay(true);
            registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
            Ok((stream, false))
        };
        match (open(REDIS_CMD), open(REDIS_SUB)) {
            (Ok(cmd), Ok(sub)) => {
                self.redis.cmd = Some(cmd);
                self.redis.sub = Some(sub);
            }
            (a, b) => {
                for (mut s, _) in [a.ok(), b.ok()].into_iter().flatten() {
                    let _ = registry.deregister(&mut s);
                }
                let engine = self.hub.engine_mut().expect("engine");
                engine.link_down(now, "cannot open a socket");
            }
        }
    }
}

/// This node's default name: the host name and the process id.
pub(super) fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .take(48)
        .collect();
    let host = if host.is_empty() { "node".into() } else { host };
    format!("{host}-{}", std::process::id())
}

/// Reads a Redis link until `WouldBlock` and feeds the engine. Never inlined:
/// its 16 KiB buffer then lives on the stack only while Redis is read,
/// instead of in the loop's own frame, where every server (with or without
/// `--redis`) would keep those pages resident.
#[inline(never)]
fn read_link(
    stream: &mut mio::net::TcpStream,
    engine: &mut crate::engine::Engine,
    now: std::time::Instant,
    side: Side,
    generation: u64,
) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => {
                engine.link_down(now, "closed by redis");
                break;
            }
            Ok(n) => engine.input(now, side, &buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                engine.link_down(now, &format!("read: {e}"));
                break;
            }
        }
        if engine.generation() != generation {
            break;
        }
    }
}
