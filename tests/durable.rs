//! `--data-dir` with the real binary: restart, crash, damaged files, unusable dirs.

mod common;
mod durable_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use durable_support::{BIN, Dir, Server, expect, history, recv, send};

#[test]
fn a_restart_resumes_every_room_exactly_and_keeps_its_password() {
    let dir = Dir::new("restart");
    let data = dir.0.join("data");
    let args = ["--history", "64"];
    let server = Server::start(&data, &dir.0.join("log1"), &args);
    let mut ws = server.connect("alice");
    send(
        &mut ws,
        json!({"action": "create", "room": "p", "password": "s3cret", "max_members": 9}),
    );
    let mut epochs = Vec::new();
    for (room, pw) in [("a", None), ("b", None), ("p", Some("s3cret"))] {
        send(
            &mut ws,
            json!({"action": "join", "room": room, "password": pw}),
        );
        epochs.push(expect(&mut ws, "room")["epoch"].clone());
    }
    for i in 1..=200 {
        for room in ["a", "b", "p"] {
            send(
                &mut ws,
                json!({"action": "publish", "room": room, "message": {"i": i}}),
            );
        }
    }
    let mut last = [0u64; 3];
    for _ in 0..600 {
        let m = expect(&mut ws, "message");
        let r = ["a", "b", "p"]
            .iter()
            .position(|r| m["room"] == *r)
            .unwrap();
        assert_eq!(m["seq"].as_u64().unwrap(), last[r] + 1);
        last[r] += 1;
    }
    assert_eq!(last, [200, 200, 200]);
    drop(ws);
    assert_eq!(server.stop(), Some(0));

    let server = Server::start(&data, &dir.0.join("log2"), &args);
    let mut ws = server.connect("bob");
    send(
        &mut ws,
        json!({"action": "join", "room": "p", "password": "guess", "ref": 1}),
    );
    let e = expect(&mut ws, "error");
    assert_eq!(
        (e["code"].clone(), e["ref"].clone()),
        (json!("forbidden"), json!(1))
    );
    send(
        &mut ws,
        json!({"action": "create", "room": "p", "password": "mine", "ref": 2}),
    );
    assert_eq!(expect(&mut ws, "error")["code"], "room_exists");
    // A client that saw seq 150 in each room gets exactly 151..=200.
    for (r, (room, pw)) in [("a", None), ("b", None), ("p", Some("s3cret"))]
        .into_iter()
        .enumerate()
    {
        let frame = json!({"action": "join", "room": room, "password": pw, "since": 150, "epoch": epochs[r]});
        send(&mut ws, frame);
        let answer = expect(&mut ws, "room");
        let got = history(&answer);
        let want: Vec<(u64, Value)> = (151..=200).map(|i| (i, json!({"i": i}))).collect();
        assert_eq!(got, want, "room {room}");
        assert_eq!(answer["gap"], false);
        assert_eq!(answer["seq"], 200);
        assert_eq!(answer["epoch"], epochs[r]);
    }
    send(
        &mut ws,
        json!({"action": "publish", "room": "a", "message": "after"}),
    );
    assert_eq!(expect(&mut ws, "message")["seq"], 201, "seq continues");
    drop(ws);
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn after_kill_9_every_acknowledged_message_is_there_once_in_order() {
    let dir = Dir::new("kill9");
    let data = dir.0.join("data");
    let args = [
        "--history",
        "100000",
        "--history-bytes",
        "64MiB",
        "--fsync",
        "never",
    ];
    let mut server = Server::start(&data, &dir.0.join("log1"), &args);
    let mut ws = server.connect("alice");
    send(&mut ws, json!({"action": "join", "room": "r"}));
    let epoch = expect(&mut ws, "room")["epoch"].clone();
    // Keep 8 publishes in flight; kill the server in the middle of it.
    let mut acked = Vec::new();
    let mut sent = 0u64;
    while sent < 8 {
        sent += 1;
        send(
            &mut ws,
            json!({"action": "publish", "room": "r", "message": sent, "ref": sent}),
        );
    }
    while acked.len() < 400 {
        let v = recv(&mut ws);
        if v["event"] == "ack" {
            acked.push(v["ref"].as_u64().unwrap());
            sent += 1;
            send(
                &mut ws,
                json!({"action": "publish", "room": "r", "message": sent, "ref": sent}),
            );
        }
    }
    server.signal("-KILL");
    let _ = server.child.wait();
    drop(ws);

    let server = Server::start(&data, &dir.0.join("log2"), &args);
    let mut ws = server.connect("bob");
    send(
        &mut ws,
        json!({"action": "join", "room": "r", "since": 0, "epoch": epoch}),
    );
    let answer = expect(&mut ws, "room");
    let kept = history(&answer);
    let seqs: Vec<u64> = kept.iter().map(|(s, _)| *s).collect();
    let wanted: Vec<u64> = (1..=kept.len() as u64).collect();
    assert_eq!(seqs, wanted, "in order, no holes, no duplicates");
    let messages: Vec<u64> = kept.iter().map(|(_, m)| m.as_u64().unwrap()).collect();
    assert_eq!(messages, wanted, "each message once, in the order sent");
    for r in &acked {
        assert!(messages.contains(r), "acknowledged message {r} was lost");
    }
    assert!(kept.len() >= acked.len());
    assert_eq!(answer["epoch"], epoch);
}

/// Stores 20 messages in room `r`, stops the server, and returns the journal's path.
fn stored(dir: &Dir, data: &Path) -> PathBuf {
    let server = Server::start(data, &dir.0.join("log1"), &[]);
    let mut ws = server.connect("alice");
    send(&mut ws, json!({"action": "join", "room": "r"}));
    expect(&mut ws, "room");
    for i in 1..=20 {
        send(
            &mut ws,
            json!({"action": "publish", "room": "r", "message": format!("m{i}")}),
        );
        expect(&mut ws, "message");
    }
    drop(ws);
    assert_eq!(server.stop(), Some(0));
    std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("journal.")
        })
        .expect("a journal")
}

fn join_all(server: &Server) -> Vec<(u64, Value)> {
    let mut ws = server.connect("bob");
    send(&mut ws, json!({"action": "join", "room": "r"}));
    history(&expect(&mut ws, "room"))
}

#[test]
fn a_truncated_journal_starts_with_what_is_intact() {
    let dir = Dir::new("truncated");
    let data = dir.0.join("data");
    let journal = stored(&dir, &data);
    let len = std::fs::metadata(&journal).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&journal)
        .unwrap();
    // The last record is the room going idle; cut into the last message too.
    f.set_len(len - 40).unwrap();
    drop(f);
    let server = Server::start(&data, &dir.0.join("log2"), &[]);
    let kept = join_all(&server);
    let seqs: Vec<u64> = kept.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=19).collect::<Vec<_>>());
    assert!(server.log().contains("torn"), "{}", server.log());
}

#[test]
fn a_bit_flip_costs_only_the_damaged_record() {
    let dir = Dir::new("flipped");
    let data = dir.0.join("data");
    let journal = stored(&dir, &data);
    let mut bytes = std::fs::read(&journal).unwrap();
    let at = bytes.windows(5).position(|w| w == b"\"m10\"").unwrap();
    bytes[at + 2] ^= 0x04;
    std::fs::write(&journal, bytes).unwrap();
    let server = Server::start(&data, &dir.0.join("log2"), &[]);
    let kept = join_all(&server);
    let seqs: Vec<u64> = kept.iter().map(|(s, _)| *s).collect();
    // History is contiguous: what follows the damaged message is served.
    assert_eq!(seqs, (11..=20).collect::<Vec<_>>());
    assert!(server.log().contains("corrupted"), "{}", server.log());
}

#[test]
fn an_unusable_data_dir_is_exit_code_2() {
    let dir = Dir::new("unusable");
    let file = dir.0.join("a-file");
    std::fs::write(&file, b"not a dir").unwrap();
    for data in [file.clone(), file.join("below")] {
        let out = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{data:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--data-dir") && err.lines().count() == 1,
            "{err}"
        );
    }
    // A second server on the same data dir is refused while the first runs.
    let data = dir.0.join("data");
    let first = Server::start(&data, &dir.0.join("log1"), &[]);
    let out = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another"));
    assert_eq!(first.stop(), Some(0));
}

#[test]
fn health_and_metrics_report_storage_and_the_api_deletes() {
    let dir = Dir::new("health");
    let data = dir.0.join("data");
    let server = Server::start(&data, &dir.0.join("log1"), &["--api-key", "k"]);
    let health = common::http(
        server.addr,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    );
    assert!(health.contains(r#""storage":{"state":"ok""#), "{health}");
    let metrics = common::http(
        server.addr,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    );
    assert!(metrics.contains("loopcast_storage_ok 1"), "{metrics}");
    let mut ws = server.connect("alice");
    send(&mut ws, json!({"action": "join", "room": "gone"}));
    expect(&mut ws, "room");
    let body = r#"{"room":"gone"}"#;
    let request = format!(
        "POST /api/delete HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer k\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = common::http(server.addr, &request);
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains(r#"{"deleted":true}"#),
        "{answer}"
    );
    assert_eq!(expect(&mut ws, "deleted")["room"], "gone");
    let again = common::http(server.addr, &request);
    assert!(again.contains(r#"{"deleted":false}"#), "{again}");
}
