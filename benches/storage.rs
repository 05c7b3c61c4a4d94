//! The `--data-dir` store's own costs, quickly: per-message append (each
//! `--fsync`), start-up with 1 000 rooms × 32 messages, loading one idle
//! room on join, and how long a compaction holds up the loop (rooms × history).
//! Run: `cargo bench --bench storage` (under a minute; the journal goes to the
//! system temp dir). `cargo bench --bench storage -- compaction` runs only the last.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use loopcast::hub::store::disk::{Disk, Options};
use loopcast::hub::store::{Epoch, Fsync, Settings, Store};

fn dir(tag: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("loopcast-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    path
}

fn options(fsync: Fsync) -> Options {
    Options {
        fsync,
        room_ttl: Duration::from_secs(86_400),
        max_disk: 1 << 30,
        history_bytes: 256 << 10,
    }
}

fn settings(i: u64) -> Settings {
    Settings {
        epoch: Epoch::fresh(1, 2, i),
        cap: 32,
        max_members: None,
        created: false,
        owner: None,
        password: None,
    }
}

/// A message event as the hub encodes it (about 130 bytes).
fn event(room: &str, seq: u64) -> String {
    format!(
        r#"{{"event":"message","from":"alice","room":"{room}","seq":{seq},"ts":1764547200000,"message":{{"text":"hello from the storage bench"}}}}"#
    )
}

/// µs per message for `turns` loop turns of `per_turn` messages over 10 rooms.
fn append(fsync: Fsync, turns: u64, per_turn: u64) -> f64 {
    let path = dir("append");
    let mut disk = Disk::open(&path, options(fsync), Instant::now(), 0).unwrap();
    let names: Vec<String> = (0..10).map(|i| format!("room{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        disk.started(name, &settings(i as u64));
    }
    let events: Vec<String> = (0..per_turn).map(|i| event("room0", 1000 + i)).collect();
    let mut seq = [0u64; 10];
    let t = Instant::now();
    for turn in 0..turns {
        for (i, e) in events.iter().enumerate() {
            let r = (turn as usize + i) % 10;
            seq[r] += 1;
            disk.appended(&names[r], seq[r], e);
        }
        disk.commit(Instant::now());
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / (turns * per_turn) as f64;
    assert!(disk.health().failed.is_none());
    drop(disk);
    let _ = std::fs::remove_dir_all(&path);
    us
}

/// The longest loop turn (commit, with its slice of compaction) while `rooms`
/// rooms keeping `cap` messages each are written until the journal has
/// compacted `rounds` times once full, and the median turn: (longest ms,
/// p99 ms, median µs, compactions seen, journal KiB).
fn compaction(fsync: Fsync, rooms: u64, cap: usize, rounds: u32) -> (f64, f64, f64, u32, u64) {
    let path = dir("compact");
    let mut opts = options(fsync);
    opts.history_bytes = cap * 200;
    let mut disk = Disk::open(&path, opts, Instant::now(), 0).unwrap();
    let names: Vec<String> = (0..rooms).map(|r| format!("room{r}")).collect();
    for (r, name) in names.iter().enumerate() {
        let mut s = settings(r as u64);
        s.cap = cap;
        disk.started(name, &s);
    }
    let e = event("room0", 1000);
    let mut seqs = vec![0u64; rooms as usize];
    let (mut turns, mut longest, mut seen, mut peak) = (Vec::new(), Duration::ZERO, 0, 0);
    let mut next = 0usize;
    // 100 messages per turn, round robin, as a busy server would see them.
    while seen < rounds {
        for _ in 0..100 {
            seqs[next] += 1;
            disk.appended(&names[next], seqs[next], &e);
            next = (next + 1) % names.len();
        }
        let before = disk.health().disk_bytes;
        let t = Instant::now();
        disk.commit(Instant::now());
        let took = t.elapsed();
        let after = disk.health().disk_bytes;
        peak = peak.max(before);
        let full = seqs[names.len() - 1] >= cap as u64;
        if after < before && full {
            // Only compactions of the full state count: the first ones are small.
            seen += 1;
        }
        if full {
            longest = longest.max(took);
            turns.push(took);
        }
        assert!(disk.health().failed.is_none());
    }
    turns.sort();
    let at = |q: f64| {
        turns
            .get((turns.len() as f64 * q) as usize)
            .copied()
            .unwrap_or_default()
    };
    let (median, p99) = (at(0.5), at(0.99));
    drop(disk);
    let _ = std::fs::remove_dir_all(&path);
    (
        longest.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e6,
        seen,
        peak / 1024,
    )
}

fn main() {
    let only_compaction = std::env::args().any(|a| a == "compaction");
    if !only_compaction {
        basics();
    }
    let cases = [
        (Fsync::Never, 100, 32),
        (Fsync::Never, 1000, 32),
        (Fsync::Never, 1000, 100),
        (Fsync::Never, 10_000, 32),
        (Fsync::Turn, 1000, 32),
    ];
    {
        for (fsync, rooms, cap) in cases {
            let (ms, p99, med, n, kib) = compaction(fsync, rooms, cap, 1);
            println!(
                "compaction, --fsync {:<5} {rooms:>6} rooms x {cap:>3} kept ({kib:>6} KiB journal): \
                 turns: longest {ms:7.2} ms, p99 {p99:6.2} ms, median {med:7.1} us ({n} compactions)",
                fsync.as_str()
            );
        }
    }
}

fn basics() {
    for (fsync, turns) in [
        (Fsync::Never, 20_000),
        (Fsync::Interval, 20_000),
        (Fsync::Turn, 300),
    ] {
        for per_turn in [1, 10] {
            let us = append(fsync, turns / per_turn, per_turn);
            println!(
                "append, --fsync {:<8} {per_turn:>2} msg/turn: {us:8.2} us/message",
                fsync.as_str()
            );
        }
    }

    // 1 000 rooms x 32 messages, then a cold start of the store.
    let path = dir("startup");
    {
        let mut disk = Disk::open(&path, options(Fsync::Never), Instant::now(), 0).unwrap();
        for r in 0..1000u64 {
            let name = format!("room{r}");
            disk.started(&name, &settings(r));
            for seq in 1..=32 {
                disk.appended(&name, seq, &event(&name, seq));
            }
            disk.emptied(&name, 1);
            disk.commit(Instant::now());
        }
        disk.close(Instant::now());
    }
    let size: u64 = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let disk = Disk::open(&path, options(Fsync::Never), Instant::now(), 2).unwrap();
        best = best.min(t.elapsed());
        assert_eq!(disk.health().rooms, 1000);
    }
    println!(
        "start-up, 1000 rooms x 32 messages ({} KiB journal): {:.1} ms (best of 5)",
        size / 1024,
        best.as_secs_f64() * 1e3
    );
    let mut disk = Disk::open(&path, options(Fsync::Never), Instant::now(), 2).unwrap();
    let t = Instant::now();
    for r in 0..1000 {
        let saved = disk.load(&format!("room{r}"), 256 << 10).unwrap();
        assert_eq!(saved.history.len(), 32);
    }
    println!(
        "load an idle room on join (32 messages): {:.1} us",
        t.elapsed().as_secs_f64() * 1e6 / 1000.0
    );
    drop(disk);
    let _ = std::fs::remove_dir_all(&path);
}
