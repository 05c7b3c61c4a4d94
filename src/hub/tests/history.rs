//! Room history: epochs on resume, the byte bound, the memory budget's eviction.

use serde_json::{Value, json};

use super::{Sim, payloads};
use crate::hub::HubConfig;

fn join_since(sim: &mut Sim, c: usize, room: &str, since: Option<u64>, epoch: Value) -> Value {
    let mut frame = json!({"action": "join", "room": room});
    if let Some(since) = since {
        frame["since"] = json!(since);
    }
    if !epoch.is_null() {
        frame["epoch"] = epoch;
    }
    sim.act(c, frame);
    let answer = sim.one(c);
    assert_eq!(answer["event"], "room", "{answer}");
    answer
}

fn say(sim: &mut Sim, c: usize, room: &str, message: Value) {
    sim.act(
        c,
        json!({"action": "publish", "room": room, "message": message}),
    );
}

fn leave(sim: &mut Sim, c: usize, room: &str) {
    sim.act(c, json!({"action": "leave", "room": room}));
}

#[test]
fn a_recreated_room_has_a_new_epoch_and_resume_across_it_is_a_gap() {
    let mut sim = Sim::new();
    sim.connect(1, Some("alice"));
    let first = join_since(&mut sim, 1, "r", None, Value::Null);
    let old = first["epoch"].clone();
    assert!(old.as_str().is_some_and(|e| !e.is_empty()), "{first}");
    for i in 1..=3 {
        say(&mut sim, 1, "r", json!(i));
    }
    sim.take(1);
    // The client saw seq 3; the room empties (as on a restart) and starts over.
    leave(&mut sim, 1, "r");
    sim.connect(2, Some("bob"));
    let again = join_since(&mut sim, 2, "r", None, Value::Null);
    assert_ne!(again["epoch"], old, "a new history, a new epoch");
    for i in 11..=13 {
        say(&mut sim, 2, "r", json!(i));
    }
    sim.take(2);
    // seq 3 exists in the new room too: only the epoch shows it is another one.
    let resumed = join_since(&mut sim, 1, "r", Some(3), old);
    assert_eq!(
        payloads(&resumed["history"]),
        [json!(11), json!(12), json!(13)]
    );
    assert_eq!(resumed["gap"], true);
    assert_eq!(resumed["seq"], 3);
    assert_eq!(resumed["epoch"], again["epoch"]);
}

#[test]
fn since_with_the_right_epoch_returns_exactly_the_missed() {
    let mut sim = Sim::new();
    sim.connect(1, Some("alice"));
    sim.connect(2, Some("bob"));
    let a = join_since(&mut sim, 1, "r", None, Value::Null);
    join_since(&mut sim, 2, "r", None, Value::Null);
    say(&mut sim, 1, "r", json!("one"));
    sim.take(2);
    leave(&mut sim, 2, "r");
    say(&mut sim, 1, "r", json!("two"));
    say(&mut sim, 1, "r", json!("three"));
    let back = join_since(&mut sim, 2, "r", Some(1), a["epoch"].clone());
    assert_eq!(payloads(&back["history"]), [json!("two"), json!("three")]);
    assert_eq!(
        (back["gap"].clone(), back["seq"].clone()),
        (json!(false), json!(3))
    );
    assert_eq!(
        back["epoch"], a["epoch"],
        "the epoch lasts as long as the room"
    );
    // An epoch that is no epoch at all cannot match: everything, with a gap.
    leave(&mut sim, 2, "r");
    let odd = join_since(&mut sim, 2, "r", Some(2), json!("not an epoch!"));
    assert_eq!(odd["history"].as_array().unwrap().len(), 3);
    assert_eq!(odd["gap"], true);
}

#[test]
fn epoch_must_be_a_string() {
    let mut sim = Sim::new();
    sim.connect(1, Some("alice"));
    let e = sim.error(
        1,
        json!({"action": "join", "room": "r", "since": 1, "epoch": 5}),
    );
    assert_eq!(e["code"], "bad_field");
    assert!(e["message"].as_str().unwrap().contains("epoch"), "{e}");
    // Without `since` there is nothing to check the epoch against.
    let plain = join_since(&mut sim, 1, "r", None, json!("abc"));
    assert_eq!(plain["gap"], false);
}

#[test]
fn history_is_bounded_by_bytes_as_well_as_count() {
    let mut sim = Sim::with(HubConfig {
        history: 100,
        history_bytes: 1000,
        ..HubConfig::default()
    });
    sim.connect(1, Some("alice"));
    join_since(&mut sim, 1, "r", None, Value::Null);
    let big = "x".repeat(300);
    for _ in 0..10 {
        say(&mut sim, 1, "r", json!(big));
    }
    let got = sim.take(1);
    assert_eq!(got.len(), 10, "every message is delivered, kept or not");
    sim.connect(2, Some("bob"));
    let b = join_since(&mut sim, 2, "r", None, Value::Null);
    let kept = b["history"].as_array().unwrap();
    let seqs: Vec<u64> = kept.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    // Each event is ~360 bytes encoded, so 2 fit in 1000.
    assert_eq!(seqs, [9, 10]);
    let encoded = got[8].to_string().len() + got[9].to_string().len();
    assert_eq!(sim.hub.history_bytes(), encoded);
    // One event over the bound is sent but empties the history: never a hole.
    leave(&mut sim, 2, "r");
    say(&mut sim, 1, "r", json!("y".repeat(2000)));
    sim.take(1);
    let b2 = join_since(&mut sim, 2, "r", Some(10), b["epoch"].clone());
    assert_eq!(b2["history"], json!([]));
    assert_eq!(b2["gap"], true, "seq 11 was missed and is not kept");
    assert_eq!(sim.hub.history_bytes(), 0);
}

#[test]
fn eviction_takes_the_oldest_of_the_largest_rooms_first() {
    let mut sim = Sim::new();
    sim.connect(1, Some("alice"));
    for room in ["big", "small"] {
        join_since(&mut sim, 1, room, None, Value::Null);
    }
    for i in 0..8 {
        say(&mut sim, 1, "big", json!(format!("{i}{}", "b".repeat(200))));
    }
    say(&mut sim, 1, "small", json!("s"));
    sim.take(1);
    let total = sim.hub.history_bytes();
    let freed = sim.hub.evict_history(300);
    assert!(freed >= 300, "{freed}");
    assert_eq!(sim.hub.history_bytes(), total - freed);
    sim.hub.check_invariants().unwrap();
    sim.connect(2, Some("bob"));
    let small = join_since(&mut sim, 2, "small", None, Value::Null);
    assert_eq!(
        payloads(&small["history"]),
        [json!("s")],
        "small rooms keep theirs"
    );
    let big = join_since(&mut sim, 2, "big", Some(0), small["epoch"].clone());
    let first = big["history"][0]["message"].as_str().unwrap().to_owned();
    assert!(first.starts_with('2'), "the two oldest went first: {first}");
    // Everything can go; then nothing is left to free.
    let rest = sim.hub.evict_history(usize::MAX);
    assert_eq!(sim.hub.history_bytes(), 0);
    assert_eq!(rest, total - freed);
    assert_eq!(sim.hub.evict_history(1), 0);
}

#[test]
fn api_publish_keeps_the_byte_count() {
    let mut sim = Sim::new();
    sim.connect(1, Some("alice"));
    join_since(&mut sim, 1, "r", None, Value::Null);
    assert_eq!(sim.publish(r#"{"room":"r","message":"hello"}"#), Ok(1));
    let event = sim.one(1);
    assert_eq!(sim.hub.history_bytes(), event.to_string().len());
    sim.disconnect(1);
    assert_eq!(
        sim.hub.history_bytes(),
        0,
        "a removed room frees its history"
    );
}
