//! Python `websockets` (permessage-deflate on) and tungstenite (no extension) in
//! one room receive the same messages. Python comes from `LOOPCAST_PYTHON`
//! (tests/run.sh makes a venv with websockets); without it the test is skipped,
//! unless `LOOPCAST_REQUIRE_PYTHON_WS=1` makes that a failure.
#![cfg(feature = "deflate")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{TestServer, ws_connect};
use serde_json::{Value, json};
use tungstenite::Message;

/// The Python to run, if it can import websockets.
fn python() -> Option<String> {
    let python = std::env::var("LOOPCAST_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import websockets.asyncio.client"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    assert!(
        std::env::var("LOOPCAST_REQUIRE_PYTHON_WS").is_err(),
        "LOOPCAST_REQUIRE_PYTHON_WS is set but {python} cannot import websockets"
    );
    eprintln!("skipped: {python} has no websockets module (tests/run.sh installs it)");
    None
}

#[test]
fn python_websockets_with_deflate_and_tungstenite_get_the_same_messages() {
    let Some(python) = python() else { return };
    let server = TestServer::start();
    let mut plain = ws_connect(&server.url("/ws?user=rust"));
    plain
        .send(Message::text(
            json!({"action": "join", "room": "mixed"}).to_string(),
        ))
        .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/deflate_peer.py");
    let mut child = Command::new(python)
        .args([script, &server.url("/ws?user=py"), "3"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut line = || -> Value { serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap() };
    let ext = line()["extensions"].as_str().unwrap_or_default().to_owned();
    assert!(ext.starts_with("permessage-deflate"), "{ext:?}");
    assert_eq!(line()["ready"], true);
    // One short message (sent plain to everyone) and one long one (compressed for Python).
    for message in ["short from rust".to_owned(), "long from rust ".repeat(50)] {
        let publish = json!({"action": "publish", "room": "mixed", "message": message});
        plain.send(Message::text(publish.to_string())).unwrap();
    }
    let mut from_rust = Vec::new();
    while from_rust.len() < 3 {
        let Message::Text(t) = plain.read().unwrap() else {
            continue;
        };
        let event: Value = serde_json::from_str(&t).unwrap();
        if event["event"] == "message" {
            from_rust.push(event);
        }
    }
    let from_python: Vec<Value> = (0..3).map(|_| line()).collect();
    assert!(child.wait().unwrap().success());
    assert_eq!(from_python, from_rust);
    let texts: Vec<&str> = from_rust
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        texts.iter().any(|t| t.starts_with("from python")),
        "{texts:?}"
    );
}
