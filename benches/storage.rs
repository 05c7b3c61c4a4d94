//! The `--data-dir` store's own costs, quickly: per-message append (each
//! `--fsync`), start-up with 1 000 rooms × 32 messages, and loading one idle
//! room on join. Run: `cargo bench --bench storage` (a few seconds; the
//! journal goes to the system temp dir).

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

fn main() {
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
