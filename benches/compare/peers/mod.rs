//! The servers under test, each run as a separate process pinned to CPU 0.
//!
//! The bench binary re-executes itself with `LOOPCAST_BENCH_ROLE=server:<name>` under
//! `taskset -c 0`; the child binds 127.0.0.1:0, prints `PORT n` and serves /broadcast.

mod fastws_hub;
mod tokio_hub;

use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// Environment variable that turns the bench binary into a server process.
pub const ROLE_VAR: &str = "LOOPCAST_BENCH_ROLE";

/// The servers compared, ours first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Loopcast,
    Tokio,
    Fastws,
}

impl Kind {
    /// All of them, in table order.
    pub const ALL: [Kind; 3] = [Kind::Loopcast, Kind::Tokio, Kind::Fastws];

    /// Short name used in roles and file names.
    pub fn role(self) -> &'static str {
        match self {
            Kind::Loopcast => "loopcast",
            Kind::Tokio => "tokio",
            Kind::Fastws => "fastws",
        }
    }

    /// Name shown in tables and charts.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Loopcast => "loopcast",
            Kind::Tokio => "tokio-tungstenite",
            Kind::Fastws => "fastwebsockets",
        }
    }

    fn from_role(role: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.role() == role)
    }
}

/// Prints the bound port for the parent and flushes it at once.
pub fn announce(addr: SocketAddr) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "PORT {}", addr.port());
    let _ = out.flush();
}

/// In a server process: serves as told by `role` (`server:<name>`) and never returns normally.
pub fn run_role(role: &str) -> io::Result<()> {
    let name = role.strip_prefix("server:").unwrap_or(role);
    match Kind::from_role(name) {
        Some(Kind::Loopcast) => serve_loopcast(),
        Some(Kind::Tokio) => tokio_hub::serve(),
        Some(Kind::Fastws) => fastws_hub::serve(),
        None => Err(io::Error::other(format!("unknown role {role}"))),
    }
}

fn serve_loopcast() -> io::Result<()> {
    let config = loopcast::config::Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        max_connections: 20_000,
        ..loopcast::config::Config::default()
    };
    let server = loopcast::reactor::Server::bind(config)?;
    announce(server.local_addr());
    server.run()
}

/// A running server process.
pub struct Server {
    child: Child,
    /// Its process id (taskset execs the server, so this is the server itself).
    pub pid: u32,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts a fresh `kind` server pinned to CPU 0 and waits for its port.
    pub fn start(kind: Kind) -> io::Result<Server> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new("taskset")
            .arg("-c")
            .arg("0")
            .arg(exe)
            .env(ROLE_VAR, format!("server:{}", kind.role()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse::<u16>().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "{} did not start: {line:?}",
                kind.label()
            )));
        };
        let pid = child.id();
        Ok(Server {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }

    /// Whether the process is still alive.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
