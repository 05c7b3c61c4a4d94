//! The hub over a scripted Redis, in virtual time: what the two links carry
//! is written here byte for byte, so races between them are exact.

use serde_json::json;

use super::Sim;
use crate::engine::{Side, parse_url, scripts};

pub(super) fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

/// Feeds `bytes` to `side` and lets the hub act on what the engine heard.
pub(super) fn feed(sim: &mut Sim, side: Side, bytes: &str) {
    let now = sim.now();
    let e = sim.hub.engine_mut().expect("engine");
    e.input(now.mono, side, bytes.as_bytes());
    sim.hub.handle_engine(now, &mut sim.out);
    sim.drain();
}

/// The commands queued for `side` since the last call.
pub(super) fn sent(sim: &mut Sim, side: Side) -> String {
    let e = sim.hub.engine_mut().expect("engine");
    String::from_utf8_lossy(&std::mem::take(e.output(side))).into_owned()
}

/// A hub attached to a Redis that has just answered the handshake.
pub(super) fn attached() -> Sim {
    let mut sim = Sim::new();
    let now = sim.now();
    sim.hub
        .attach_redis(parse_url("redis://127.0.0.1:6399").unwrap(), "n1", now.mono);
    let e = sim.hub.engine_mut().unwrap();
    assert!(e.connect_due(now.mono));
    e.connecting(now.mono);
    e.link_up(Side::Cmd);
    e.link_up(Side::Sub);
    let mut replies = String::from("+OK\r\n");
    for i in 0..scripts::ALL.len() {
        replies += &bulk(&format!("sha{i}"));
    }
    feed(&mut sim, Side::Cmd, &replies);
    feed(&mut sim, Side::Sub, "+OK\r\n");
    assert_eq!(sim.hub.engine_state(), Some("ready"));
    // The heartbeat that going up sent.
    feed(&mut sim, Side::Cmd, ":0\r\n");
    sent(&mut sim, Side::Cmd);
    sent(&mut sim, Side::Sub);
    sim
}

/// A JOIN script's reply: joined at `ev`, no history, no members listed.
fn joined_at(ev: u64) -> String {
    format!(
        "*7\r\n{}{}{}:{ev}\r\n{}*0\r\n*0\r\n",
        bulk("ok"),
        bulk("0"),
        bulk("k1"),
        bulk("")
    )
}

pub(super) fn message(channel: &str, payload: &str) -> String {
    format!(
        "*3\r\n{}{}{}",
        bulk("message"),
        bulk(channel),
        bulk(payload)
    )
}

/// A joiner whose join ran in Redis after the room was deleted, and whose
/// answer came before the `deleted` payload: it stays in the new room, the
/// members from before get `deleted`.
#[test]
fn a_join_after_a_delete_keeps_its_place_when_the_delete_comes_late() {
    let mut sim = attached();
    let ids: Vec<String> = (1..=3)
        .map(|c| {
            sim.connect(c, Some(&format!("u{c}")))["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    sim.take(1);
    sent(&mut sim, Side::Sub);
    sent(&mut sim, Side::Cmd);

    // 1 joins: subscribe first, then the script.
    sim.act(1, json!({"action": "join", "room": "r"}));
    assert!(sent(&mut sim, Side::Sub).contains("lc:r:r"));
    let confirm = format!("*3\r\n{}{}:3\r\n", bulk("subscribe"), bulk("lc:r:r"));
    feed(&mut sim, Side::Sub, &confirm);
    assert!(sent(&mut sim, Side::Cmd).contains("EVALSHA"));
    feed(&mut sim, Side::Cmd, &joined_at(1));
    assert_eq!(sim.one(1)["event"], "room");
    let joined1 = format!(r#"p1 {} {{"event":"joined","room":"r"}}"#, ids[0]);
    feed(&mut sim, Side::Sub, &message("lc:r:r", &joined1));
    sim.quiet(1);

    // 2 joins; 1 sees it.
    sim.act(2, json!({"action": "join", "room": "r"}));
    feed(&mut sim, Side::Cmd, &joined_at(2));
    assert_eq!(sim.one(2)["event"], "room");
    let joined2 = format!(r#"p2 {} {{"event":"joined","room":"r"}}"#, ids[1]);
    feed(&mut sim, Side::Sub, &message("lc:r:r", &joined2));
    assert_eq!(sim.one(1)["event"], "joined");

    // Elsewhere the room is deleted (ev 3), then 3's join runs (ev 4); the
    // join's answer arrives before the delete's payload.
    sim.act(3, json!({"action": "join", "room": "r"}));
    feed(&mut sim, Side::Cmd, &joined_at(4));
    assert_eq!(sim.one(3)["event"], "room");
    sent(&mut sim, Side::Cmd);
    feed(
        &mut sim,
        Side::Sub,
        &message("lc:r:r", r#"d3 - {"event":"deleted","room":"r"}"#),
    );
    for c in [1, 2] {
        assert_eq!(sim.one(c)["event"], "deleted", "client {c}");
    }
    sim.quiet(3);
    // This node's set loses 1 and 2, not 3.
    let srem = sent(&mut sim, Side::Cmd);
    assert!(srem.contains("SREM") && srem.contains(&ids[0]) && srem.contains(&ids[1]));
    assert!(!srem.contains(&ids[2]), "{srem}");
    // 3 is still a member here: its leave goes to Redis, 1's is refused.
    sim.act(3, json!({"action": "leave", "room": "r", "ref": 1}));
    assert_eq!(sim.one(3)["event"], "ack");
    assert!(sent(&mut sim, Side::Cmd).contains("EVALSHA"));
    let e = sim.error(1, json!({"action": "leave", "room": "r"}));
    assert_eq!(e["code"], "not_member");
}

/// Room passwords over Redis: only a salted hash goes out; Redis hands the
/// stored hash back and the node checks the password in constant time, then
/// runs the join again bound to that hash.
#[test]
fn passwords_are_checked_on_the_node_and_never_sent() {
    let mut sim = attached();
    sim.connect(1, Some("ann"));
    sim.take(1);
    sent(&mut sim, Side::Sub);
    sent(&mut sim, Side::Cmd);
    let stored = crate::secret::PasswordHash::new("pw-right").to_bytes();
    let check = format!("*2\r\n{}${}\r\n", bulk("check"), stored.len())
        .into_bytes()
        .into_iter()
        .chain(stored)
        .chain(*b"\r\n")
        .collect::<Vec<u8>>();
    let feed_bytes = |sim: &mut Sim, bytes: &[u8]| {
        let now = sim.now();
        let e = sim.hub.engine_mut().unwrap();
        e.input(now.mono, Side::Cmd, bytes);
        sim.hub.handle_engine(now, &mut sim.out);
        sim.drain();
    };

    // A wrong password: Redis asks for the check once, the node refuses.
    sim.act(
        1,
        json!({"action": "join", "room": "p", "password": "pw-wrong", "ref": 1}),
    );
    let confirm = format!("*3\r\n{}{}:3\r\n", bulk("subscribe"), bulk("lc:r:p"));
    feed(&mut sim, Side::Sub, &confirm);
    let join = sent(&mut sim, Side::Cmd);
    assert!(
        join.contains("EVALSHA") && !join.contains("pw-wrong"),
        "{join}"
    );
    feed_bytes(&mut sim, &check);
    let e = sim.one(1);
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_i64()),
        (Some("forbidden"), Some(1)),
        "{e}"
    );
    assert!(sent(&mut sim, Side::Cmd).is_empty(), "no second join");

    // The right one: the join runs again with the stored hash as its proof.
    sim.act(
        1,
        json!({"action": "join", "room": "p", "password": "pw-right", "ref": 2}),
    );
    feed(&mut sim, Side::Sub, &confirm);
    let first = sent(&mut sim, Side::Cmd);
    assert!(!first.contains("pw-right"), "{first}");
    feed_bytes(&mut sim, &check);
    let again = std::mem::take(sim.hub.engine_mut().unwrap().output(Side::Cmd));
    assert!(again.windows(7).any(|w| w == b"EVALSHA"));
    assert!(
        again.windows(stored.len()).any(|w| w == stored),
        "the hash as proof"
    );
    assert!(!again.windows(8).any(|w| w == b"pw-right"));
    // A second `check` (the hash changed meanwhile) is a refusal, not a loop.
    feed_bytes(&mut sim, &check);
    assert_eq!(sim.one(1)["code"], "forbidden");
    assert!(sent(&mut sim, Side::Cmd).is_empty());
}
