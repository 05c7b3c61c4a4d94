//! Resume with `since` across a server restart: the room's `epoch` tells a
//! client that a `seq` it holds belongs to an earlier history.

mod common;

use serde_json::{Value, json};
use tungstenite::Message;

use common::{TestServer, Ws, next_data, ws_connect};

fn recv(ws: &mut Ws) -> Value {
    let msg = next_data(ws);
    serde_json::from_str(msg.to_text().expect("text")).expect("JSON")
}

fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).expect("send");
}

fn connect(server: &TestServer, user: &str) -> Ws {
    let mut ws = ws_connect(&server.url(&format!("/ws?user={user}")));
    assert_eq!(recv(&mut ws)["event"], "welcome");
    ws
}

/// Joins `room` (resuming from `since` in `epoch` when given) and returns the `room` answer.
fn join(ws: &mut Ws, room: &str, since: Option<(u64, &Value)>) -> Value {
    let mut frame = json!({"action": "join", "room": room});
    if let Some((seq, epoch)) = since {
        frame["since"] = json!(seq);
        frame["epoch"] = epoch.clone();
    }
    send(ws, frame);
    let answer = recv(ws);
    assert_eq!(answer["event"], "room", "{answer}");
    answer
}

/// Publishes `texts` as `ws` (a member) and reads them back; returns the last seq.
fn talk(ws: &mut Ws, room: &str, texts: &[&str]) -> u64 {
    let mut last = 0;
    for text in texts {
        send(
            ws,
            json!({"action": "publish", "room": room, "message": text}),
        );
        // Presence of others may come first.
        let event = loop {
            let event = recv(ws);
            if event["event"] == "message" {
                break event;
            }
        };
        assert_eq!(event["message"], *text, "{event}");
        last = event["seq"].as_u64().unwrap();
    }
    last
}

fn texts(answer: &Value) -> Vec<String> {
    answer["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_restart_without_data_dir_is_a_gap_not_a_silent_skip() {
    let mut first = TestServer::start();
    let mut alice = connect(&first, "alice");
    let answer = join(&mut alice, "lobby", None);
    let old_epoch = answer["epoch"].clone();
    assert!(old_epoch.is_string(), "{answer}");
    assert_eq!(talk(&mut alice, "lobby", &["a1", "a2", "a3"]), 3);
    drop(alice);
    first.stop().unwrap();

    // The new process starts the room over: seq 1-3 again, in a new epoch.
    let second = TestServer::start();
    let mut bob = connect(&second, "bob");
    let fresh = join(&mut bob, "lobby", None);
    assert_ne!(fresh["epoch"], old_epoch);
    assert_eq!(talk(&mut bob, "lobby", &["b1", "b2", "b3", "b4"]), 4);

    // alice comes back holding seq 3 of the old epoch: she gets every kept
    // message of the new one and is told about the gap.
    let mut alice = connect(&second, "alice");
    let resumed = join(&mut alice, "lobby", Some((3, &old_epoch)));
    assert_eq!(texts(&resumed), ["b1", "b2", "b3", "b4"]);
    assert_eq!(resumed["gap"], true);
    assert_eq!(resumed["epoch"], fresh["epoch"]);

    // Within one epoch, resume is exact.
    send(&mut alice, json!({"action": "leave", "room": "lobby"}));
    talk(&mut bob, "lobby", &["b5"]);
    let again = join(&mut alice, "lobby", Some((4, &fresh["epoch"])));
    assert_eq!(texts(&again), ["b5"]);
    assert_eq!(again["gap"], false);
}
