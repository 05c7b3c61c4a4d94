//! With `--data-dir`, a name stays bound to its browser key across a restart
//! (for `--room-ttl` after its last connection), so a restart does not free
//! an offline user's name to a stranger. Real binary, real restarts.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{http, spawn_binary, ws_connect};
use tungstenite::Message;

fn ask(addr: SocketAddr, query: &str) -> String {
    http(
        addr,
        &format!("GET /ws?{query} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    )
}

fn stop(mut child: Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_restart_does_not_free_a_name_to_a_stranger() {
    let dir: PathBuf = std::env::temp_dir().join(format!("loopcast-names-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let args = format!("--data-dir {}", dir.display());
    let file = dir.join("names.json");

    // alice comes with her browser's key, then leaves.
    let (server, addr) = spawn_binary("", &args);
    let mut alice = ws_connect(&format!("ws://{addr}/ws?user=alice&key=k1"));
    let _welcome = alice.read().unwrap();
    alice.close(None).unwrap();
    let _ = alice.read();
    // Offline (a note to her finds no one), her name is still hers.
    let mut bob = ws_connect(&format!("ws://{addr}/ws?user=bob"));
    let _welcome = bob.read().unwrap();
    wait_until("alice to be offline", || {
        let note = r#"{"action":"notify","user":"alice","message":"hi","ref":1}"#;
        bob.send(Message::text(note)).unwrap();
        loop {
            let answer = bob.read().unwrap();
            let text = answer.to_text().unwrap();
            if text.contains("\"ack\"") || text.contains("\"error\"") {
                return text.contains("no_such_user");
            }
        }
    });
    assert!(ask(addr, "user=alice&key=k1").starts_with("HTTP/1.1 426"));
    assert!(ask(addr, "user=alice&key=k2").starts_with("HTTP/1.1 409"));
    stop(server);
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("\"alice\""), "{saved}");
    assert!(
        !saved.contains("k1"),
        "the key itself is never stored: {saved}"
    );

    // After the restart: a stranger (any case, or no key) gets "name in use";
    // alice's own browser gets her name.
    let (server, addr) = spawn_binary("", &args);
    for query in ["user=alice&key=k2", "user=Alice&key=k2", "user=alice"] {
        let taken = ask(addr, query);
        assert!(taken.starts_with("HTTP/1.1 409"), "{query}: {taken}");
        assert!(taken.contains("name in use"), "{taken}");
    }
    match tungstenite::connect(format!("ws://{addr}/ws?user=alice&key=k2")).unwrap_err() {
        tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 409),
        other => panic!("expected a 409 refusal, got {other}"),
    }
    let mut alice = ws_connect(&format!("ws://{addr}/ws?user=alice&key=k1"));
    let welcome = alice.read().unwrap();
    assert!(welcome.to_text().unwrap().contains("\"welcome\""));
    alice.close(None).unwrap();
    let _ = alice.read();
    stop(server);

    // The binding lasts --room-ttl after her last connection, then the name is free.
    let (server, addr) = spawn_binary("", &format!("{args} --room-ttl 1"));
    wait_until("the binding to expire", || {
        ask(addr, "user=alice&key=k2").starts_with("HTTP/1.1 426")
    });
    stop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
