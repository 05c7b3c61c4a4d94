//! `cargo bench`: loopcast's /broadcast against tokio-tungstenite and fastwebsockets hubs.
//!
//! The driver pins itself to CPU 1 and runs the load generator; each server is a fresh
//! child process (this binary again, `LOOPCAST_BENCH_ROLE=server:<name>`) pinned to CPU 0.
//! `cargo bench -- fanout idle` runs only scenarios whose name contains a word given;
//! `LOOPCAST_BENCH_SERVER_ARGS="--data-dir /tmp/lc --fsync turn"` adds flags to
//! this build's loopcast (e.g. to measure `--data-dir`);
//! `LOOPCAST_BENCH_QUICK=1` makes one short run; `LOOPCAST_BENCH_SERVERS=tokio,fastws`
//! picks servers; `LOOPCAST_BENCH_BASELINE=/path/to/loopcast` adds an older build as a
//! peer for before/after ratios. `LOOPCAST_BENCH_COMPRESSION=on|off` makes publishers send
//! 512-byte JSON text instead of 64-byte binary stamps, and with `on` every client offers
//! permessage-deflate (run both for the compressed/plain ratio). Writes `target/bench-report/report.md` and one SVG per chart.
#![forbid(unsafe_code)]

mod loadgen;
mod peers;
mod procfs;
mod report;
mod scenarios;
mod tls;

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use peers::Kind;
use report::Outcome;

const PINNED_VAR: &str = "LOOPCAST_BENCH_PINNED";

fn main() -> ExitCode {
    if let Ok(role) = env::var(peers::ROLE_VAR) {
        return match peers::run_role(&role) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{role}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let args: Vec<String> = env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test --all-targets` runs us without it.
    if !args.iter().any(|a| a == "--bench") {
        println!("compare: benchmarks run only under `cargo bench`");
        return ExitCode::SUCCESS;
    }
    if env::var_os(PINNED_VAR).is_none() {
        return repin(&args);
    }
    match drive(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Re-executes the driver under `taskset -c 1` so the generator never shares CPU 0.
fn repin(args: &[String]) -> ExitCode {
    let status = env::current_exe().and_then(|exe| {
        Command::new("taskset")
            .arg("-c")
            .arg("1")
            .arg(exe)
            .args(args)
            .env(PINNED_VAR, "1")
            .status()
    });
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("compare: cannot run taskset: {e}");
            ExitCode::FAILURE
        }
    }
}

fn report_dir() -> PathBuf {
    let target = env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")));
    target.join(if tls::enabled() {
        "bench-report-tls"
    } else {
        "bench-report"
    })
}

fn drive(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let filters: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let quick = env::var("LOOPCAST_BENCH_QUICK").is_ok_and(|v| v != "0");
    let servers: Vec<Kind> = match env::var("LOOPCAST_BENCH_SERVERS") {
        Ok(list) => Kind::ALL
            .into_iter()
            .filter(|k| list.split(',').any(|w| w.trim() == k.role()))
            .collect(),
        Err(_) => Kind::ALL.to_vec(),
    };
    // The baseline runs only when a binary is named for it.
    let baseline = env::var_os(peers::BASELINE_VAR).is_some();
    let servers: Vec<Kind> = servers
        .into_iter()
        .filter(|&k| k != Kind::Baseline || baseline)
        // Over TLS only loopcast builds take part: the peers here serve plain TCP.
        .filter(|&k| !tls::enabled() || matches!(k, Kind::Loopcast | Kind::Baseline))
        // Cluster runs need redis-server and run only when named.
        .filter(|&k| !k.cluster() || env::var("LOOPCAST_BENCH_SERVERS").is_ok())
        .collect();
    let chosen = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
    if !scenarios::ALL.iter().any(|sc| chosen(sc.name)) {
        // A filter meant for another bench target (e.g. `cargo bench -- ws_churn`).
        return Ok(());
    }
    let settings = scenarios::Settings::new(quick);
    let dir = report_dir();
    fs::create_dir_all(&dir)?;

    let mut md = header(&settings, &servers);
    let mut all = Vec::new();
    for sc in scenarios::ALL {
        if !chosen(sc.name) {
            continue;
        }
        let mut outcomes: Vec<Outcome> = servers
            .iter()
            .filter(|&&k| {
                !sc.loopcast_only
                    || matches!(
                        k,
                        Kind::Loopcast | Kind::Baseline | Kind::Redis1 | Kind::Redis2
                    )
            })
            .map(|&kind| Outcome {
                kind,
                runs: Vec::new(),
            })
            .collect();
        // Runs interleave the servers so slow drift on the machine hits them alike.
        for run in 0..settings.runs {
            for o in &mut outcomes {
                eprint!("{} {} run {}: ", sc.name, o.kind.label(), run + 1);
                let r = (sc.run)(&settings, o.kind)
                    .map_err(|e| e.to_string())
                    .and_then(|v| match v.len() == sc.metrics.len() {
                        true => Ok(v),
                        false => Err(format!(
                            "{} values for {} metrics",
                            v.len(),
                            sc.metrics.len()
                        )),
                    });
                match &r {
                    Ok(v) => eprintln!("{}", summary(sc, v)),
                    Err(e) => eprintln!("failed: {e}"),
                }
                o.runs.push(r);
            }
        }
        report::section(&mut md, sc, &outcomes, settings.runs);
        for file in report::charts(&dir, sc, &outcomes)? {
            let _ = writeln!(md, "![{file}]({file})");
        }
        md.push('\n');
        // Written after every scenario, so a long run leaves a partial report behind.
        fs::write(dir.join("report.md"), &md)?;
        all.push((sc, outcomes));
    }
    let _ = writeln!(md, "Load average at the end: {}\n", loadavg());
    report::targets(&mut md, &all);
    fs::write(dir.join("report.md"), &md)?;
    println!("{md}");
    eprintln!("report: {}", dir.join("report.md").display());
    Ok(())
}

const METHOD: &str = "
Method: every server serves `/broadcast` with the same semantics (every text or binary
message to every client, sender included, same opcode; a client with 256 queued messages
or 1 MiB pending is dropped). loopcast runs as its release binary (`--log-level warn`);
the peers run inside the bench binary, built with the same `bench` profile:
tokio-tungstenite on a multi-thread runtime (one worker under `taskset -c 0`), one
reader and one writer task per client as in its `server` example, writers feed then flush
once per queue drain; fastwebsockets behind hyper's upgrade on a current-thread runtime as in
its `echo_server` example, split halves, writer through a `BufWriter` flushed when its
queue is empty. The generator is one thread, one mio loop: it does the HTTP upgrade itself,
sends masked 64-byte binary frames stamped with publisher id, sequence and send time,
parses server frames in place (no allocation per message), records latency in an
hdrhistogram and checks per-publisher order at every receiver; loss is what stable clients
still miss once publishing stops and the run drains (3 s). Closed loop means a publisher
sends its next message once its previous one came back to itself; fan-out instead keeps at
most 8 messages not yet received by every client. A run whose generator used over 90 % of
its core is flagged: there, the generator may be what limits the figure. The room
scenario (loopcast only) upgrades on `/ws`, joins each client to a room and publishes
`publish` actions whose message is the stamp in hex: the path that keeps room history and,
with `--data-dir`, writes it to the journal before the turn's output goes out.

";

fn loadavg() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn summary(sc: &scenarios::Scenario, v: &[f64]) -> String {
    sc.metrics
        .iter()
        .zip(v)
        .map(|(m, x)| format!("{}={x:.3}", m.key))
        .collect::<Vec<_>>()
        .join(" ")
}

fn header(s: &scenarios::Settings, servers: &[Kind]) -> String {
    let cmd = |c: &str, a: &[&str]| {
        Command::new(c)
            .args(a)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mut md = String::from("# loopcast vs async WebSocket hubs\n\n");
    let _ = writeln!(
        md,
        "- date: {}",
        cmd("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    );
    let _ = writeln!(
        md,
        "- machine: {} CPUs (`nproc --all`; the driver itself is pinned to one), {model}",
        cmd("nproc", &["--all"])
    );
    let _ = writeln!(
        md,
        "- kernel: {}",
        fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    let _ = writeln!(
        md,
        "- commit: {}",
        cmd("git", &["rev-parse", "--short", "HEAD"])
    );
    let _ = writeln!(
        md,
        "- servers: {}; each a fresh process per run, pinned to CPU 0; generator pinned to CPU 1",
        servers
            .iter()
            .map(|k| k.label())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        md,
        "- payload: {}",
        match loadgen::wire::payload() {
            loadgen::wire::Payload::Binary => "64-byte binary stamps".to_owned(),
            loadgen::wire::Payload::Json { deflate } => format!(
                "{}-byte JSON text, permessage-deflate {} (LOOPCAST_BENCH_COMPRESSION)",
                loadgen::wire::JSON_LEN,
                if deflate { "offered" } else { "not offered" }
            ),
        }
    );
    let _ = writeln!(
        md,
        "- runs: {} per scenario per server (medians), warm-up {:?}, window {:?}, churn {:?}",
        s.runs, s.warmup, s.window, s.churn
    );
    md.push_str(
        "- server CPU: sum of /proc/PID/task/*/schedstat over the window; RSS and VmHWM \
         from /proc/PID/status; latency = receive time - send time stamped in the payload\n",
    );
    md.push_str(METHOD);
    md
}
