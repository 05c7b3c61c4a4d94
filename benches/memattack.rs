//! The memory-budget attack at full size, on the release binary: 4 connections
//! each `create` 50 rooms with `history: 1024` and publish 20 × 60 KB into each
//! (240 MB offered, nobody reads), plus members that never read, partial frames
//! held open and connection churn; two witnesses chat meanwhile. Run with
//! `--max-memory 32MiB`; with a budget too large to matter (4 GiB); and with
//! that and no per-room byte cap on history either (`--history-bytes 1GiB`:
//! history bounded by count only, the server before either bound). Prints
//! peak RSS, witness deliveries and what the server shed.
//!
//! `cargo bench --bench memattack` (under a minute: each run stops once the
//! 240 MB are offered, or after `LOOPCAST_MEMATTACK_SECS`, default 60).

#[path = "../tests/attack/mod.rs"]
mod attack;
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes --bench; `cargo test --all-targets` runs us without it.
    if !args.iter().any(|a| a == "--bench") {
        println!("memattack: runs only under `cargo bench`");
        return;
    }
    let names: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    if !names.is_empty() && !names.iter().any(|a| "memattack".contains(a.as_str())) {
        return;
    }
    let secs: u64 = std::env::var("LOOPCAST_MEMATTACK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let plan = attack::Plan::reproduction(4 * 50 * 20 * 60_000, Duration::from_secs(secs));
    println!("memattack: {plan:?}");
    println!(
        "| flags | peak RSS | over the budget | start RSS | offered | witness messages | history evicted | closed for memory | slow consumers | 503 refused |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    // The budget; a budget too large to matter; and that without the per-room
    // byte cap as well (history bounded by count only, as before either existed).
    let runs: [&[&str]; 3] = [
        &["--max-memory", "32MiB"],
        &["--max-memory", "4GiB"],
        &["--max-memory", "4GiB", "--history-bytes", "1GiB"],
    ];
    for flags in runs {
        let bin = env!("CARGO_BIN_EXE_loopcast");
        let mut argv = flags.to_vec();
        argv.extend(["--rate-limit", "0", "--log-level", "warn"]);
        let (mut child, addr) = attack::spawn(bin, &argv);
        let out = attack::run(addr, child.id(), &plan);
        let metrics = attack::http_get(addr, "/metrics");
        let alive = child.alive();
        drop(child);
        let got: Vec<String> = out
            .received
            .iter()
            .map(|r| format!("{}/{}", r.len(), out.sent))
            .collect();
        let m = |name: &str| attack::metric(&metrics, name);
        // How far RSS went past a budget that binds (the others are never reached).
        let over = match flags[1] {
            "32MiB" => format!("{:+} KiB", out.peak_rss_kib as i64 - 32 * 1024),
            _ => "-".to_string(),
        };
        println!(
            "| `{}` | {} KiB | {over} | {} KiB | {} MB | {} | {} MB | {} | {} | {} |{}",
            flags.join(" "),
            out.peak_rss_kib,
            out.start_rss_kib,
            out.attack_messages * plan.size as u64 / 1_000_000,
            got.join(", "),
            m("loopcast_history_evicted_bytes_total") / 1_000_000,
            m("loopcast_memory_closed_total"),
            m("loopcast_slow_consumers_dropped_total"),
            m("loopcast_memory_refused_total"),
            if alive { "" } else { " (server died)" },
        );
    }
}
