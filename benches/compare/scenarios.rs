//! The seven scenarios: one fresh server per run, the generator drives, /proc measures.

use std::io;
use std::net::Ipv4Addr;
use std::thread;
use std::time::{Duration, Instant};

use crate::loadgen::{Generator, Mode};
use crate::peers::{Kind, Server};
use crate::procfs;

/// Run lengths, from the environment (`LOOPCAST_BENCH_QUICK=1` shortens everything).
pub struct Settings {
    pub runs: usize,
    pub warmup: Duration,
    pub window: Duration,
    pub churn: Duration,
}

impl Settings {
    /// Full runs unless `quick`; `LOOPCAST_BENCH_CHURN_SECS` overrides the churn length.
    pub fn new(quick: bool) -> Settings {
        let mut s = Settings::preset(quick);
        if let Some(secs) = std::env::var("LOOPCAST_BENCH_CHURN_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            s.churn = Duration::from_secs(secs);
        }
        s
    }

    fn preset(quick: bool) -> Settings {
        if quick {
            Settings {
                runs: 1,
                warmup: Duration::from_millis(500),
                window: Duration::from_secs(2),
                churn: Duration::from_secs(5),
            }
        } else {
            Settings {
                runs: 3,
                warmup: Duration::from_secs(1),
                window: Duration::from_secs(5),
                churn: Duration::from_secs(30),
            }
        }
    }
}

/// Which way a metric improves.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
    /// A correctness count or context figure: no winner.
    Neither,
}

/// One measured figure of a scenario.
pub struct Metric {
    pub key: &'static str,
    pub label: &'static str,
    pub better: Better,
}

const fn m(key: &'static str, label: &'static str, better: Better) -> Metric {
    Metric { key, label, better }
}

/// A scenario: its name (for filters and files), its description, its metrics, its run.
pub struct Scenario {
    pub name: &'static str,
    pub title: &'static str,
    pub setup: &'static str,
    pub metrics: &'static [Metric],
    /// Keys of the metrics drawn as charts.
    pub charts: &'static [&'static str],
    pub run: fn(&Settings, Kind) -> io::Result<Vec<f64>>,
    /// Speaks loopcast's `/ws` protocol: the other hubs serve only
    /// `/broadcast` (loopcast over Redis runs it too).
    pub loopcast_only: bool,
}

const PUBLISH_METRICS: &[Metric] = &[
    m("deliveries", "deliveries/s", Better::Higher),
    m("p50", "latency p50 (µs)", Better::Lower),
    m("p99", "latency p99 (µs)", Better::Lower),
    m("cpu_per", "server CPU per delivery (µs)", Better::Lower),
    m("cpu", "server CPU (% of one core)", Better::Neither),
    m(
        "cpu0",
        "CPU 0 busy, server and anything else (%)",
        Better::Neither,
    ),
    m("rss", "server RSS at end (KiB)", Better::Lower),
    m("gen_cpu", "generator CPU (% of one core)", Better::Neither),
    m(
        "cpu1",
        "CPU 1 busy, generator and anything else (%)",
        Better::Neither,
    ),
    m("loss", "lost deliveries", Better::Lower),
    m("order", "out-of-order deliveries", Better::Lower),
    m("dropped", "clients dropped by server", Better::Lower),
];

const IDLE_METRICS: &[Metric] = &[
    m("per_conn", "RSS per idle connection (bytes)", Better::Lower),
    m("idle_rss", "idle RSS, no clients (KiB)", Better::Lower),
    m("rss_n", "RSS with all clients (KiB)", Better::Lower),
    m("hwm", "peak RSS VmHWM (KiB)", Better::Lower),
    m("opened", "connections open", Better::Neither),
];

const CHURN_METRICS: &[Metric] = &[
    m("connects", "connects/s (upgrade + close)", Better::Higher),
    m("before", "RSS before churn (KiB)", Better::Lower),
    m("after", "RSS after churn (KiB)", Better::Lower),
    m("growth", "RSS growth (KiB)", Better::Lower),
    m(
        "anon_growth",
        "anonymous RSS growth (KiB; heap, not code pages)",
        Better::Lower,
    ),
    m(
        "late_growth",
        "anonymous RSS growth over the 2nd half of churn (KiB)",
        Better::Lower,
    ),
    m("hwm", "peak RSS VmHWM (KiB)", Better::Lower),
    m("loss", "lost deliveries (stable clients)", Better::Lower),
    m("order", "out-of-order deliveries", Better::Lower),
    m("dropped", "stable clients dropped", Better::Lower),
    m(
        "gen_cpu",
        "generator CPU during churn (% of one core)",
        Better::Neither,
    ),
];

/// Every scenario, in report order.
pub const ALL: &[Scenario] = &[
    Scenario {
        name: "fanout",
        title: "1. Fan-out",
        setup: "1 000 clients, 1 publisher, closed loop: at most 8 messages not yet received by every client, 64-byte messages",
        metrics: PUBLISH_METRICS,
        charts: &["deliveries", "p99"],
        run: |s, k| publish(s, k, 1000, 1, Mode::Flow { window: 8 }),
        loopcast_only: false,
    },
    Scenario {
        name: "allpub",
        title: "2. All publish",
        setup: "100 clients, all 100 publishing, closed loop (next message when its own came back)",
        metrics: PUBLISH_METRICS,
        charts: &["deliveries"],
        run: |s, k| publish(s, k, 100, 100, Mode::Closed { window: 1 }),
        loopcast_only: false,
    },
    Scenario {
        name: "fixed",
        title: "3. Fixed load",
        setup: "1 000 clients, 1 publisher at 30 msg/s (30 000 deliveries/s)",
        metrics: PUBLISH_METRICS,
        charts: &["cpu_per"],
        run: |s, k| publish(s, k, 1000, 1, Mode::Rate { per_sec: 30.0 }),
        loopcast_only: false,
    },
    Scenario {
        name: "smallroom",
        title: "4. Small room",
        setup: "10 clients, all 10 publishing, closed loop (next message when its own came back)",
        metrics: PUBLISH_METRICS,
        charts: &["p50", "p99"],
        run: |s, k| publish(s, k, 10, 10, Mode::Closed { window: 1 }),
        loopcast_only: false,
    },
    Scenario {
        name: "idle",
        title: "5. Idle connections",
        setup: "10 000 upgraded idle connections from 127.0.0.1-127.0.0.8",
        metrics: IDLE_METRICS,
        charts: &["per_conn", "idle_rss"],
        run: |s, k| idle(s, k, 10_000),
        loopcast_only: false,
    },
    Scenario {
        name: "churn",
        title: "6. Churn",
        setup: "64 clients connecting, upgrading and leaving in a loop while 1 publisher sends 1 000 msg/s to 20 stable clients",
        metrics: CHURN_METRICS,
        charts: &["connects", "anon_growth"],
        run: churn,
        loopcast_only: false,
    },
    Scenario {
        name: "rooms",
        title: "7. Fixed load in rooms (/ws)",
        setup: "1 000 /ws clients joined to 50 rooms of 20, one publisher per room sending `publish` at 30 msg/s (1 500 messages/s into room history, 30 000 deliveries/s); loopcast builds only (in memory; over Redis with redis1/redis2 in LOOPCAST_BENCH_SERVERS, where every `publish` is the sequenced script), run with and without `--data-dir` through LOOPCAST_BENCH_SERVER_ARGS",
        metrics: PUBLISH_METRICS,
        charts: &["cpu_per", "p99"],
        run: |s, k| rooms(s, k, 1000, 50, 30.0),
        loopcast_only: true,
    },
];

fn sources(n: u8) -> Vec<Ipv4Addr> {
    (1..=n).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect()
}

fn open_all(g: &mut Generator, n: usize) -> io::Result<()> {
    let opened = g.open(n, Duration::from_secs(60))?;
    if opened < n {
        return Err(io::Error::other(format!(
            "only {opened} of {n} clients upgraded ({} refused, last: {})",
            g.stats.refused, g.stats.last_failure
        )));
    }
    if g.stats.refused > 0 {
        eprint!(
            "[{} failed connects redialed, last: {}] ",
            g.stats.refused, g.stats.last_failure
        );
    }
    Ok(())
}

/// `clients` on `/ws` in `rooms` rooms, one publisher per room at `per_sec`.
fn rooms(
    s: &Settings,
    kind: Kind,
    clients: usize,
    rooms: u32,
    per_sec: f64,
) -> io::Result<Vec<f64>> {
    let mode = Mode::Rate { per_sec };
    publish_in(s, kind, clients, rooms as usize, mode, rooms)
}

fn publish(
    s: &Settings,
    kind: Kind,
    clients: usize,
    publishers: usize,
    mode: Mode,
) -> io::Result<Vec<f64>> {
    publish_in(s, kind, clients, publishers, mode, 0)
}

/// Publishing through `/broadcast` (`rooms` 0) or in `/ws` rooms.
fn publish_in(
    s: &Settings,
    kind: Kind,
    clients: usize,
    publishers: usize,
    mode: Mode,
    rooms: u32,
) -> io::Result<Vec<f64>> {
    let mut server = Server::start(kind)?;
    let mut g = Generator::new(server.addr, publishers, sources(1))?;
    g.set_rooms(rooms);
    open_all(&mut g, clients)?;
    g.set_mode(mode);
    g.run_for(s.warmup)?;

    g.set_counting(true);
    let (t0, server0, gen0) = (
        Instant::now(),
        server.cpu_ns(),
        procfs::self_thread_cpu_ns(),
    );
    let (core0, core1) = (procfs::cpu_busy_ns(0), procfs::cpu_busy_ns(1));
    g.run_for(s.window)?;
    let wall = t0.elapsed().as_nanos() as f64;
    let server_cpu = server.cpu_ns().saturating_sub(server0) as f64;
    let gen_cpu = procfs::self_thread_cpu_ns().saturating_sub(gen0) as f64;
    let core0 = procfs::cpu_busy_ns(0).saturating_sub(core0) as f64;
    let core1 = procfs::cpu_busy_ns(1).saturating_sub(core1) as f64;
    g.set_counting(false);

    let loss = g.drain(Duration::from_secs(3))?;
    let mem = procfs::memory(server.pid);
    if !server.alive() {
        return Err(io::Error::other("server died"));
    }
    g.close_all(Duration::from_secs(1))?;
    let st = &g.stats;
    let delivered = st.deliveries as f64;
    let us = |q: f64| st.hist.value_at_quantile(q) as f64 / 1000.0;
    Ok(vec![
        delivered / (wall / 1e9),
        us(0.50),
        us(0.99),
        if delivered > 0.0 {
            server_cpu / 1000.0 / delivered
        } else {
            f64::NAN
        },
        server_cpu / wall * 100.0,
        core0 / wall * 100.0,
        (mem.rss / 1024) as f64,
        gen_cpu / wall * 100.0,
        core1 / wall * 100.0,
        loss as f64,
        st.order_errors as f64,
        st.dropped as f64,
    ])
}

fn idle(_s: &Settings, kind: Kind, n: usize) -> io::Result<Vec<f64>> {
    let server = Server::start(kind)?;
    thread::sleep(Duration::from_millis(500));
    let before = procfs::memory(server.pid);
    let mut g = Generator::new(server.addr, 0, sources(8))?;
    open_all(&mut g, n)?;
    // Let the server settle (and free handshake buffers) before reading its RSS.
    g.run_for(Duration::from_secs(1))?;
    let after = procfs::memory(server.pid);
    let opened = g.stable_open();
    let per_conn = after.rss.saturating_sub(before.rss) as f64 / opened.max(1) as f64;
    g.close_all(Duration::from_secs(2))?;
    Ok(vec![
        per_conn,
        (before.rss / 1024) as f64,
        (after.rss / 1024) as f64,
        (after.hwm / 1024) as f64,
        opened as f64,
    ])
}

fn churn(s: &Settings, kind: Kind) -> io::Result<Vec<f64>> {
    let mut server = Server::start(kind)?;
    let mut g = Generator::new(server.addr, 1, sources(8))?;
    open_all(&mut g, 21)?;
    g.set_mode(Mode::Rate { per_sec: 1000.0 });
    g.run_for(Duration::from_secs(1))?;
    let before = procfs::memory(server.pid);

    let upgrades0 = g.stats.upgrades;
    let (t0, gen0) = (Instant::now(), procfs::self_thread_cpu_ns());
    g.set_churn(64);
    g.run_for(s.churn / 2)?;
    let mid = procfs::memory(server.pid);
    g.run_for(s.churn / 2)?;
    let late = procfs::memory(server.pid);
    g.set_churn(0);
    let secs = t0.elapsed().as_secs_f64();
    let gen_cpu = procfs::self_thread_cpu_ns().saturating_sub(gen0) as f64 / 1e9 / secs * 100.0;
    let connects = (g.stats.upgrades - upgrades0) as f64;
    let settle = Instant::now();
    while g.churners() > 0 && settle.elapsed() < Duration::from_secs(5) {
        g.run_for(Duration::from_millis(50))?;
    }
    g.run_for(Duration::from_secs(1))?;
    let after = procfs::memory(server.pid);
    let loss = g.drain(Duration::from_secs(3))?;
    if !server.alive() {
        return Err(io::Error::other("server died"));
    }
    g.close_all(Duration::from_secs(1))?;
    let kib = |b: u64| (b / 1024) as f64;
    Ok(vec![
        connects / secs,
        kib(before.rss),
        kib(after.rss),
        kib(after.rss) - kib(before.rss),
        kib(after.anon) - kib(before.anon),
        kib(late.anon) - kib(mid.anon),
        kib(after.hwm),
        loss as f64,
        g.stats.order_errors as f64,
        g.stats.dropped as f64,
        gen_cpu,
    ])
}
