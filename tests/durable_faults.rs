//! `--data-dir` on storage that fails, with the real binary: a file size cap
//! (RLIMIT_FSIZE, so writes fail with EFBIG), a tiny tmpfs that fills up
//! (ENOSPC; skipped where mounting is not permitted), and a full disk at start.
//! The server must log it, say so in `/healthz` and `/metrics`, go on
//! delivering from memory, and give the rooms a new epoch after a restart.

mod common;
mod durable_support;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use durable_support::{BIN, Dir, Server, expect, get, history, send};

/// Messages published; each is about 600 bytes in the journal, so 300 of them
/// are well past the 64 KiB the tests leave it.
const MESSAGES: u64 = 300;
const SMALL: u64 = 64 * 1024;

/// Whether `prlimit` (util-linux) is there to cap the server's file size.
fn have_prlimit() -> bool {
    Command::new("prlimit")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// alice publishes `MESSAGES` with refs to room `r` while bob is in it: every
/// one must be acknowledged and delivered in order although the journal stops
/// taking them part way. Returns the epoch bob saw.
fn publish_through_the_failure(server: &mut Server) -> Value {
    let mut alice = server.connect("alice");
    let mut bob = server.connect("bob");
    send(&mut bob, json!({"action": "join", "room": "r"}));
    let epoch = expect(&mut bob, "room")["epoch"].clone();
    send(&mut alice, json!({"action": "join", "room": "r"}));
    expect(&mut alice, "room");
    let filler = "x".repeat(500);
    for i in 1..=MESSAGES {
        let message = format!("{i} {filler}");
        send(
            &mut alice,
            json!({"action": "publish", "room": "r", "message": message, "ref": i}),
        );
        assert_eq!(expect(&mut alice, "ack")["ref"], i);
        let got = expect(&mut bob, "message");
        assert_eq!(got["seq"], i, "delivered in order, none lost");
        assert_eq!(got["message"], message);
    }
    assert!(
        matches!(server.child.try_wait(), Ok(None)),
        "the server is still running"
    );
    let health = get(server.addr, "/healthz");
    assert!(
        health.contains(r#""storage":{"state":"failed""#),
        "{health}"
    );
    let metrics = get(server.addr, "/metrics");
    assert!(metrics.contains("loopcast_storage_ok 0"), "{metrics}");
    assert!(
        !metrics.contains("loopcast_storage_errors_total 0"),
        "{metrics}"
    );
    assert!(
        server.log().contains("rooms go on in memory only"),
        "{}",
        server.log()
    );
    // Still serving: a newcomer gets the room from memory, all of it.
    let mut carol = server.connect("carol");
    send(
        &mut carol,
        json!({"action": "join", "room": "r", "since": 0, "epoch": epoch}),
    );
    let answer = expect(&mut carol, "room");
    assert_eq!(answer["seq"], MESSAGES);
    epoch
}

/// Restarts on the same data dir (no cap): the journal kept fewer messages
/// than bob saw, so his resume must be told of a gap, with a new epoch.
fn restart_renews_the_epoch(dir: &Dir, data: &Path, epoch: &Value) {
    let server = Server::start(data, &dir.0.join("log2"), &[]);
    assert!(server.log().contains("new epoch"), "{}", server.log());
    let mut bob = server.connect("bob");
    send(
        &mut bob,
        json!({"action": "join", "room": "r", "since": MESSAGES, "epoch": epoch}),
    );
    let answer = expect(&mut bob, "room");
    assert_ne!(answer["epoch"], *epoch, "{answer}");
    assert_eq!(answer["gap"], true, "{answer}");
    let kept = history(&answer);
    let seq = answer["seq"].as_u64().unwrap();
    assert!(seq < MESSAGES, "the journal stopped early: {answer}");
    // What was stored is served (the answer may be the first page of it).
    let seqs: Vec<u64> = kept.iter().map(|(s, _)| *s).collect();
    assert!(!seqs.is_empty() && *seqs.last().unwrap() <= seq, "{seqs:?}");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    // The seq goes on from what was stored, in the new epoch.
    send(
        &mut bob,
        json!({"action": "publish", "room": "r", "message": "after"}),
    );
    assert_eq!(expect(&mut bob, "message")["seq"], seq + 1);
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn a_file_size_cap_degrades_to_memory_and_the_restart_renews_epochs() {
    if !have_prlimit() {
        eprintln!("skipped: no prlimit (util-linux) to cap the file size");
        return;
    }
    let dir = Dir::new("fsize");
    let data = dir.0.join("data");
    let fsize = format!("--fsize={SMALL}");
    let wrap = ["prlimit", fsize.as_str(), "--"];
    let mut server = Server::start_under(&wrap, &data, &dir.0.join("log1"), &[]);
    let epoch = publish_through_the_failure(&mut server);
    assert!(
        server.log().contains("File too large"),
        "EFBIG, not SIGXFSZ: {}",
        server.log()
    );
    assert_eq!(server.stop(), Some(0), "a clean stop after the failure");
    restart_renews_the_epoch(&dir, &data, &epoch);
}

/// A tmpfs of `bytes` mounted at a dir, unmounted on drop.
struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(at: &Path, bytes: u64) -> Option<Mount> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(at)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| Mount(at.to_owned()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_tmpfs_degrades_to_memory_and_the_restart_renews_epochs() {
    let dir = Dir::new("tmpfs");
    let data = dir.0.join("data");
    let Some(mount) = Mount::tmpfs(&data, SMALL) else {
        eprintln!("skipped: mounting a tmpfs is not permitted here");
        return;
    };
    let mut server = Server::start(&data, &dir.0.join("log1"), &[]);
    let epoch = publish_through_the_failure(&mut server);
    assert!(
        server.log().contains("No space left"),
        "ENOSPC: {}",
        server.log()
    );
    assert_eq!(server.stop(), Some(0));
    // The journal and state file move to a disk with room, as an operator would.
    let moved = dir.0.join("moved");
    std::fs::create_dir_all(&moved).unwrap();
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, moved.join(path.file_name().unwrap())).unwrap();
    }
    drop(mount);
    restart_renews_the_epoch(&dir, &moved, &epoch);
}

#[test]
fn a_full_disk_at_start_up_is_exit_code_2() {
    if !have_prlimit() {
        eprintln!("skipped: no prlimit (util-linux) to cap the file size");
        return;
    }
    let dir = Dir::new("full-start");
    // Not even the journal's first 8 bytes fit.
    let out = Command::new("prlimit")
        .args([
            "--fsize=4",
            "--",
            BIN,
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.0.join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--data-dir") && err.contains("File too large") && err.lines().count() == 1,
        "{err}"
    );
}
