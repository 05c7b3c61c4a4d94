//! Room churn soak: clients join, publish, leave and disconnect in a loop on `/ws`;
//! the server's RSS before and after shows that nothing grows without bound.
//!
//! `cargo bench --bench ws_churn` (60 s; `LOOPCAST_CHURN_SECS=N` to change).
//! The server runs as its own process (the release binary), measured from /proc.

use std::io::Read;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tungstenite::Message;

const CLIENT_THREADS: usize = 8;
const ROOMS: u64 = 64;

fn main() {
    // `cargo bench` passes --bench; a name filter that excludes us means: do nothing.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if !args.is_empty() && !args.iter().any(|a| "ws_churn".contains(a.as_str())) {
        return;
    }
    let secs: u64 = std::env::var("LOOPCAST_CHURN_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let port = free_port();
    let mut server = start_server(port);
    let pid = server.id();
    let stop = Arc::new(AtomicBool::new(false));
    let cycles = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..CLIENT_THREADS)
        .map(|t| {
            let (stop, cycles) = (stop.clone(), cycles.clone());
            std::thread::spawn(move || churn(port, t as u64, &stop, &cycles))
        })
        .collect();
    // Warm up until allocator pools and tables have reached their working size.
    let warmup = Duration::from_secs((secs / 6).max(2));
    std::thread::sleep(warmup);
    let (rss_before, cycles_before) = (rss_kb(pid), cycles.load(Ordering::Relaxed));
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let (rss_after, cycles_after) = (rss_kb(pid), cycles.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("churn worker");
    }
    std::thread::sleep(Duration::from_millis(500));
    let health = http_get(port, "/healthz");
    let rss_idle = rss_kb(pid);
    let _ = server.kill();
    let _ = server.wait();

    let n = cycles_after - cycles_before;
    let growth = rss_after as f64 / rss_before.max(1) as f64 - 1.0;
    println!(
        "ws_churn: {n} connect/join/publish/leave/disconnect cycles in {:.0} s ({:.0}/s), {CLIENT_THREADS} client threads, {ROOMS} rooms",
        started.elapsed().as_secs_f64(),
        n as f64 / started.elapsed().as_secs_f64()
    );
    println!(
        "| server RSS after warm-up | after {secs} s more churn | growth | after clients left |"
    );
    println!("|---|---|---|---|");
    println!(
        "| {rss_before} KiB | {rss_after} KiB | {:+.1} % | {rss_idle} KiB |",
        growth * 100.0
    );
    println!("healthz after: {}", health.trim());
    let rooms_left = health.contains("\"rooms\":0");
    if growth > 0.10 || !rooms_left {
        eprintln!(
            "ws_churn: FAIL (RSS grew {:.1} %, rooms all gone: {rooms_left})",
            growth * 100.0
        );
        std::process::exit(1);
    }
}

/// One client thread: connect, join a room, publish, maybe subscribe and type,
/// leave (or just vanish), disconnect — as fast as the server answers.
fn churn(port: u16, thread: u64, stop: &AtomicBool, cycles: &AtomicU64) {
    let mut n = thread;
    while !stop.load(Ordering::Relaxed) {
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let room = format!("room-{}", (n >> 33) % ROOMS);
        let url = format!("ws://127.0.0.1:{port}/ws?user=u{}", (n >> 20) % 500);
        let Ok((mut ws, _)) = tungstenite::connect(&url) else {
            continue;
        };
        let send = |ws: &mut tungstenite::WebSocket<_>, v: String| ws.send(Message::text(v));
        let _ = send(
            &mut ws,
            format!(r#"{{"action":"join","room":"{room}","ref":1}}"#),
        );
        let _ = send(
            &mut ws,
            format!(r#"{{"action":"publish","room":"{room}","message":"hello {n}"}}"#),
        );
        let _ = send(
            &mut ws,
            format!(r#"{{"action":"typing","room":"{room}","value":true}}"#),
        );
        let _ = send(
            &mut ws,
            format!(r#"{{"action":"subscribe","topic":"t-{}","ref":2}}"#, n % 7),
        );
        if n.is_multiple_of(3) {
            let _ = send(
                &mut ws,
                format!(r#"{{"action":"create","room":"c-{n}","history":8}}"#),
            );
        }
        // Wait for the acks so the actions really happened before we go.
        let mut acks = 0;
        while acks < 2 {
            match ws.read() {
                Ok(Message::Text(t)) if t.contains(r#""event":"ack""#) => acks += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        if n.is_multiple_of(2) {
            let _ = send(&mut ws, format!(r#"{{"action":"leave","room":"{room}"}}"#));
            let _ = ws.close(None);
            while ws.read().is_ok() {}
        }
        // Otherwise just drop the socket: presence must clean up on disconnect too.
        cycles.fetch_add(1, Ordering::Relaxed);
    }
}

fn start_server(port: u16) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loopcast"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-level",
            "warn",
            "--rate-limit",
            "0",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("start loopcast");
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::Write;
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
}
