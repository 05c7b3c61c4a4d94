//! The memory budget against a real attack on the real binary: history
//! fillers, members that never read, partial frames held open and connection
//! churn, with `--max-memory 32MiB`. RSS must stay under the budget plus a
//! stated margin, and two witnesses chatting meanwhile must get every message.

#[path = "attack/mod.rs"]
mod attack;

use std::time::Duration;

/// What the process holds beyond the counted budget: code and libraries
/// (a debug build here), the allocator's free lists and fragmentation, thread
/// stacks, kernel-side bookkeeping charged to the process. Stated in the README.
const MARGIN_KIB: u64 = 16 * 1024;

#[test]
fn a_memory_attack_stays_within_the_budget_and_witnesses_get_everything() {
    let bin = env!("CARGO_BIN_EXE_loopcast");
    let (mut child, addr) = attack::spawn(bin, &["--max-memory", "32MiB", "--rate-limit", "0"]);
    let plan = attack::Plan {
        fillers: 4,
        rooms: 50,
        per_room: 20,
        size: 60_000,
        sinks: 4,
        partials: 100,
        churners: 2,
        offer: 64 << 20,
        duration: Duration::from_secs(40),
    };
    let out = attack::run(addr, child.id(), &plan);
    let metrics = attack::http_get(addr, "/metrics");
    let alive = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("{out:?}");
    let evicted = attack::metric(&metrics, "loopcast_history_evicted_bytes_total");
    let closed = attack::metric(&metrics, "loopcast_memory_closed_total");
    let slow = attack::metric(&metrics, "loopcast_slow_consumers_dropped_total");
    let refused = attack::metric(&metrics, "loopcast_memory_refused_total");
    eprintln!(
        "evicted {evicted} B, closed {closed} for memory, {slow} slow consumers, {refused} refused"
    );
    assert!(alive, "the server died");
    assert!(evicted > 0, "the budget was never reached: {metrics}");
    // The attack must have offered far more than the budget.
    let offered = out.attack_messages * plan.size as u64;
    assert!(offered >= plan.offer, "only {offered} bytes offered");
    let budget_kib = 32 * 1024;
    assert!(
        out.peak_rss_kib < budget_kib + MARGIN_KIB,
        "peak RSS {} KiB over {budget_kib} KiB + {MARGIN_KIB} KiB",
        out.peak_rss_kib
    );
    let all: Vec<u64> = (0..out.sent).collect();
    for (i, got) in out.received.iter().enumerate() {
        assert_eq!(got, &all, "witness {i} missed messages");
    }
}
