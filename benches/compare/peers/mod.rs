//! The servers under test, each run as a separate process pinned to CPU 0.
//!
//! loopcast runs as its own release binary (what users deploy), on a free port picked by
//! the driver. The peers are this bench binary again, `LOOPCAST_BENCH_ROLE=server:<name>`,
//! which binds 127.0.0.1:0, prints `PORT n` and serves /broadcast. Both under `taskset -c 0`.

mod fastws_hub;
mod tokio_hub;

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Environment variable that turns the bench binary into a server process.
pub const ROLE_VAR: &str = "LOOPCAST_BENCH_ROLE";
/// Environment variable with more flags for this build's loopcast (not the
/// baseline), split at whitespace: e.g. `--data-dir /tmp/lc --fsync turn`.
pub const ARGS_VAR: &str = "LOOPCAST_BENCH_SERVER_ARGS";

fn extra_args() -> Vec<String> {
    std::env::var(ARGS_VAR)
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Environment variable naming an older loopcast binary to run as `Kind::Baseline`.
pub const BASELINE_VAR: &str = "LOOPCAST_BENCH_BASELINE";

/// The servers compared, ours first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Loopcast,
    Tokio,
    Fastws,
    /// An older loopcast binary named by `LOOPCAST_BENCH_BASELINE`, for before/after
    /// figures taken in the same run as the current build.
    Baseline,
    /// loopcast with `--redis`: one node and a redis-server (the cost of the hop).
    Redis1,
    /// Two loopcast nodes sharing the port with `--reuse-port`, over one redis-server.
    Redis2,
}

impl Kind {
    /// All of them, in table order.
    pub const ALL: [Kind; 6] = [
        Kind::Loopcast,
        Kind::Tokio,
        Kind::Fastws,
        Kind::Baseline,
        Kind::Redis1,
        Kind::Redis2,
    ];

    /// Runs over Redis (only when named in `LOOPCAST_BENCH_SERVERS`).
    pub fn cluster(self) -> bool {
        matches!(self, Kind::Redis1 | Kind::Redis2)
    }

    /// Short name used in roles and file names.
    pub fn role(self) -> &'static str {
        match self {
            Kind::Loopcast => "loopcast",
            Kind::Tokio => "tokio",
            Kind::Fastws => "fastws",
            Kind::Baseline => "baseline",
            Kind::Redis1 => "redis1",
            Kind::Redis2 => "redis2",
        }
    }

    /// Name shown in tables and charts.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Loopcast => "loopcast",
            Kind::Tokio => "tokio-tungstenite",
            Kind::Fastws => "fastwebsockets",
            Kind::Baseline => "loopcast (baseline)",
            Kind::Redis1 => "loopcast, 1 node over redis",
            Kind::Redis2 => "loopcast, 2 nodes (reuse-port) over redis",
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
        Some(Kind::Tokio) => tokio_hub::serve(),
        Some(Kind::Fastws) => fastws_hub::serve(),
        _ => Err(io::Error::other(format!("unknown role {role}"))),
    }
}

/// A running server process.
pub struct Server {
    child: Child,
    /// Its process id (taskset execs the server, so this is the server itself).
    pub pid: u32,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Further processes of a cluster run (more nodes, redis-server), killed with it.
    others: Vec<Child>,
}

impl Server {
    /// Starts a fresh `kind` server pinned to CPU 0 and waits for its port.
    pub fn start(kind: Kind) -> io::Result<Server> {
        match kind {
            Kind::Loopcast => {
                return Server::start_loopcast(env!("CARGO_BIN_EXE_loopcast"), &extra_args());
            }
            Kind::Baseline => {
                let exe = std::env::var(BASELINE_VAR).map_err(|_| {
                    io::Error::other(format!("{BASELINE_VAR} names no loopcast binary"))
                })?;
                return Server::start_loopcast(&exe, &[]);
            }
            Kind::Redis1 => return Server::start_cluster(1),
            Kind::Redis2 => return Server::start_cluster(2),
            Kind::Tokio | Kind::Fastws => {}
        }
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
            others: Vec::new(),
        })
    }

    /// Runs a loopcast binary: the one cargo built for this bench (same profile), or the baseline.
    fn start_loopcast(exe: &str, extra: &[String]) -> io::Result<Server> {
        // The port is free when picked; nothing else on this machine races for it here.
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new("taskset")
            .arg("-c")
            .arg("0")
            .arg(exe)
            .args(["--listen", &addr.to_string(), "--max-connections", "20000"])
            .args(["--log-level", "warn"])
            .args(crate::tls::server_flags())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?;
        let pid = child.id();
        let mut server = Server {
            child,
            pid,
            addr,
            others: Vec::new(),
        };
        let end = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            if !server.alive() || Instant::now() > end {
                return Err(io::Error::other("loopcast did not start listening"));
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// A redis-server and `nodes` loopcast nodes on one port (`--reuse-port`),
    /// all pinned to CPU 0 like the other servers.
    fn start_cluster(nodes: usize) -> io::Result<Server> {
        let free =
            || -> io::Result<u16> { Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()) };
        let redis_port = free()?;
        let redis = Command::new("taskset")
            .args(["-c", "0", "redis-server", "--port", &redis_port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()?;
        let mut others = vec![redis];
        let end = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", redis_port)).is_err() {
            if Instant::now() > end {
                return Err(io::Error::other("redis-server did not start"));
            }
            thread::sleep(Duration::from_millis(20));
        }
        let port = free()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let url = format!("redis://127.0.0.1:{redis_port}");
        let mut children = Vec::new();
        for i in 0..nodes {
            children.push(
                Command::new("taskset")
                    .args(["-c", "0", env!("CARGO_BIN_EXE_loopcast")])
                    .args(["--listen", &addr.to_string(), "--max-connections", "20000"])
                    .args(["--log-level", "warn", "--reuse-port", "--redis", &url])
                    .args(["--node-id", &format!("bench{i}")])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()?,
            );
        }
        let child = children.remove(0);
        others.extend(children);
        let pid = child.id();
        let server = Server {
            child,
            pid,
            addr,
            others,
        };
        // Ready when every node answers /healthz with a ready engine (reuse-port
        // spreads the probes, so ask until enough of them said so).
        let mut ready = 0;
        while ready < 4 * nodes {
            if Instant::now() > end {
                return Err(io::Error::other("cluster did not become ready"));
            }
            if let Ok(mut s) = TcpStream::connect(addr) {
                let _ = s.write_all(
                    b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                );
                let mut body = String::new();
                let _ = io::Read::read_to_string(&mut s, &mut body);
                if body.contains("\"engine\":\"ready\"") {
                    ready += 1;
                    continue;
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// CPU time of every process of the server (all nodes, and Redis), in ns.
    pub fn cpu_ns(&self) -> u64 {
        let others: u64 = self
            .others
            .iter()
            .map(|c| super::procfs::cpu_ns(c.id()))
            .sum();
        super::procfs::cpu_ns(self.pid) + others
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
        for c in &mut self.others {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
