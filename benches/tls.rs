//! `cargo bench --bench tls`: native-TLS figures, each a short run.
//!
//! - `idle`: RSS of the release binary per idle `wss://` connection (5 000 by
//!   default, `LOOPCAST_TLS_IDLE=N`), next to the same count of plain `ws://` ones.
//! - `handshakes`: full TLS 1.3 handshakes per second of server CPU on one core,
//!   ECDSA P-256 vs RSA 2048 (the RSA key comes from the `openssl` command;
//!   skipped when it is missing). In memory: only the server's calls are timed.
//!
//! `cargo bench --bench tls -- idle` runs one of them; no argument runs both.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loopcast::tls::{Acceptor, TlsSession};
use rustls::client::Resumption;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test --all-targets` runs us without it.
    if !args.iter().any(|a| a == "--bench") {
        println!("tls: benchmarks run only under `cargo bench`");
        return;
    }
    let wanted: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| name.contains(w.as_str()));
    let dir = std::env::temp_dir().join(format!("loopcast-tls-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if run("handshakes") {
        handshakes(&dir);
    }
    if run("idle") {
        let n = std::env::var("LOOPCAST_TLS_IDLE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5_000);
        idle(&dir, n);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes an ECDSA P-256 certificate and key for `localhost`; returns (cert, key).
fn ecdsa_files(dir: &Path) -> (PathBuf, PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("ec-cert.pem"), dir.join("ec-key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// An RSA 2048 certificate: the key from `openssl genpkey` (ring cannot generate
/// RSA keys), the certificate from rcgen.
fn rsa_files(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("rsa-cert.pem"), dir.join("rsa-key.pem"));
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .arg("-out")
        .arg(&key)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return None;
    }
    let pem = std::fs::read_to_string(&key).ok()?;
    let pair = rcgen::KeyPair::from_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).ok()?;
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).ok()?;
    std::fs::write(&cert, params.self_signed(&pair).ok()?.pem()).ok()?;
    Some((cert, key))
}

/// CPU time of this thread so far, in ns (schedstat: immune to time spent
/// preempted, which on a shared machine would swamp a wall-clock figure).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn client_config(cert: &Path) -> Arc<ClientConfig> {
    let der = CertificateDer::from_pem_file(cert).unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(der).unwrap();
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    // Every handshake a full one: no tickets, no session ids.
    config.resumption = Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// One in-memory handshake; returns the thread CPU time spent in the server's
/// calls, less the cost of the clock reads inside the measured windows.
fn one_handshake(acceptor: &Acceptor, client: &Arc<ClientConfig>, probe_ns: u64) -> Duration {
    let name = ServerName::try_from("localhost").unwrap();
    let mut c = ClientConnection::new(client.clone(), name).unwrap();
    let t = thread_cpu_ns();
    let mut s: TlsSession = acceptor.session().unwrap();
    let mut server_ns = thread_cpu_ns() - t;
    let mut probes = probe_ns;
    for _ in 0..10 {
        let mut wire = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut wire).unwrap();
        }
        let mut back = Vec::new();
        let t = thread_cpu_ns();
        if !wire.is_empty() {
            s.read_from(&mut &wire[..]).unwrap();
        }
        while s.wants_write() {
            s.write_to(&mut back).unwrap();
        }
        server_ns += thread_cpu_ns() - t;
        probes += probe_ns;
        if !back.is_empty() {
            c.read_tls(&mut &back[..]).unwrap();
            c.process_new_packets().unwrap();
        }
        if !c.is_handshaking() && !s.is_handshaking() && wire.is_empty() && back.is_empty() {
            return Duration::from_nanos(server_ns.saturating_sub(probes));
        }
    }
    panic!("handshake did not finish");
}

/// The CPU cost of one clock read.
fn probe_cost_ns() -> u64 {
    let n = 2000;
    let t = thread_cpu_ns();
    for _ in 0..n {
        std::hint::black_box(thread_cpu_ns());
    }
    (thread_cpu_ns() - t) / n
}

fn handshakes(dir: &Path) {
    println!(
        "## handshakes per second of server CPU (one core, TLS 1.3, X25519, no resumption; \
         server calls timed by thread CPU time)"
    );
    let mut kinds = vec![("ECDSA P-256", Some(ecdsa_files(dir)))];
    kinds.push(("RSA 2048", rsa_files(dir)));
    let probe = probe_cost_ns();
    for (label, files) in kinds {
        let Some((cert, key)) = files else {
            println!("{label}: skipped (no `openssl` command to make an RSA key)");
            continue;
        };
        let acceptor = Acceptor::load(&cert, &key).unwrap();
        let client = client_config(&cert);
        for _ in 0..20 {
            one_handshake(&acceptor, &client, probe);
        }
        let n = 500;
        let started = Instant::now();
        let server: Duration = (0..n)
            .map(|_| one_handshake(&acceptor, &client, probe))
            .sum();
        println!(
            "{label}: {n} handshakes, server {:.0} µs each = {:.0} handshakes/s/core \
             (wall with the client in the same thread: {:.1} s)",
            server.as_secs_f64() * 1e6 / n as f64,
            n as f64 / server.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    }
}

/// The release binary on a free port (killed on drop).
struct Server(Child, SocketAddr);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(extra: &[&str]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_loopcast"))
        .args(["--listen", &addr.to_string(), "--log-level", "warn"])
        .args(["--max-connections", "20000", "--ping-interval", "600"])
        .args(["--idle-timeout", "1200"])
        .args(extra)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "no server");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    Server(child, addr)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

const UPGRADE: &[u8] = b"GET /broadcast HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Reads until the end of the 101 response head.
fn read_101(s: &mut impl Read) {
    let mut head = Vec::new();
    let mut b = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut b).unwrap();
        assert!(n > 0, "EOF before 101");
        head.extend_from_slice(&b[..n]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
}

/// Opens `n` idle /broadcast WebSockets; returns (RSS before, RSS after) in KiB.
fn fill(server: &Server, n: usize, tls: Option<&Arc<ClientConfig>>) -> (u64, u64) {
    let before = rss_kib(server.0.id());
    let mut plain = Vec::new();
    let mut secure = Vec::new();
    for _ in 0..n {
        let mut tcp = TcpStream::connect(server.1).unwrap();
        tcp.set_nodelay(true).unwrap();
        match tls {
            None => {
                tcp.write_all(UPGRADE).unwrap();
                read_101(&mut tcp);
                plain.push(tcp);
            }
            Some(config) => {
                let name = ServerName::try_from("localhost").unwrap();
                let conn = ClientConnection::new(config.clone(), name).unwrap();
                let mut s = StreamOwned::new(conn, tcp);
                s.write_all(UPGRADE).unwrap();
                read_101(&mut s);
                secure.push(s);
            }
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let after = rss_kib(server.0.id());
    (before, after)
}

fn idle(dir: &Path, n: usize) {
    println!("## RSS per idle connection, {n} idle /broadcast WebSockets (release binary)");
    let (cert, key) = ecdsa_files(dir);
    let client = client_config(&cert);
    for (label, tls) in [("ws:// (plain)", None), ("wss:// (TLS 1.3)", Some(&client))] {
        let flags: Vec<&str> = match tls {
            None => vec![],
            Some(_) => vec![
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
            ],
        };
        let server = start(&flags);
        let (before, after) = fill(&server, n, tls);
        println!(
            "{label}: RSS {before} KiB with none, {after} KiB with {n}: {:.0} bytes per connection",
            (after.saturating_sub(before) * 1024) as f64 / n as f64
        );
    }
    println!(
        "(rustls::ServerConnection itself is {} bytes, boxed per connection)",
        std::mem::size_of::<rustls::ServerConnection>()
    );
}
