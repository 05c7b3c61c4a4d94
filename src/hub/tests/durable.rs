//! The hub with a disk store: rooms, history, seq and settings across a restart.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Sim, payloads};
use crate::hub::HubConfig;
use crate::hub::store::disk::tests::TempDir;
use crate::hub::store::disk::{Disk, Fsync, Options};

/// A hub whose store is the disk store in `dir` (as a server start would make it).
fn server(dir: &TempDir) -> Sim {
    let mut sim = Sim::with(HubConfig::default());
    let options = Options {
        fsync: Fsync::Never,
        room_ttl: Duration::from_secs(3600),
        max_disk: 64 << 20,
        history_bytes: HubConfig::default().history_bytes,
    };
    let disk = Disk::open(&dir.0, options, Instant::now(), sim.now().unix_ms).unwrap();
    sim.hub.set_store(Box::new(disk));
    sim
}

/// Commits the hub's store, as the reactor does at the end of each turn.
fn turn(sim: &mut Sim) {
    let now = sim.now();
    sim.hub.commit(now);
}

fn join(sim: &mut Sim, c: usize, frame: Value) -> Value {
    sim.act(c, frame);
    let answer = sim.one(c);
    assert_eq!(answer["event"], "room", "{answer}");
    answer
}

fn say(sim: &mut Sim, c: usize, room: &str, text: &str) {
    sim.act(
        c,
        json!({"action": "publish", "room": room, "message": text}),
    );
}

#[test]
fn a_created_room_comes_back_with_its_history_seq_and_settings() {
    let dir = TempDir::new("hub-restart");
    let epoch;
    {
        let mut sim = server(&dir);
        sim.connect(1, Some("alice"));
        sim.act(1, json!({"action": "create", "room": "vip", "max_members": 2, "password": "pw", "history": 4}));
        let a = join(
            &mut sim,
            1,
            json!({"action": "join", "room": "vip", "password": "pw"}),
        );
        epoch = a["epoch"].clone();
        for i in 1..=6 {
            say(&mut sim, 1, "vip", &format!("m{i}"));
        }
        turn(&mut sim);
    }
    let mut sim = server(&dir);
    assert_eq!(sim.hub.rooms(), 0, "not in memory until someone enters");
    sim.connect(1, Some("bob"));
    sim.connect(2, Some("carol"));
    sim.connect(3, Some("dave"));
    let e = sim.error(
        1,
        json!({"action": "join", "room": "vip", "password": "guess"}),
    );
    assert_eq!(e["code"], "forbidden");
    assert_eq!(sim.hub.rooms(), 0, "a refused join does not keep it loaded");
    let e = sim.error(1, json!({"action": "create", "room": "vip"}));
    assert_eq!(e["code"], "room_exists", "a kept room cannot be taken over");
    let back = join(
        &mut sim,
        1,
        json!({"action": "join", "room": "vip", "password": "pw", "since": 4, "epoch": epoch}),
    );
    assert_eq!(payloads(&back["history"]), [json!("m5"), json!("m6")]);
    assert_eq!(
        (back["gap"].clone(), back["seq"].clone()),
        (json!(false), json!(6))
    );
    assert_eq!(back["epoch"], epoch);
    join(
        &mut sim,
        2,
        json!({"action": "join", "room": "vip", "password": "pw"}),
    );
    let e = sim.error(
        3,
        json!({"action": "join", "room": "vip", "password": "pw"}),
    );
    assert_eq!(e["code"], "room_full", "max_members survived");
    sim.take(1);
    say(&mut sim, 1, "vip", "m7");
    assert_eq!(sim.take(2)[0]["seq"], 7, "seq continues");
}

#[test]
fn an_empty_room_leaves_memory_and_comes_back_from_disk() {
    let dir = TempDir::new("hub-unload");
    let mut sim = server(&dir);
    sim.connect(1, Some("alice"));
    let a = join(&mut sim, 1, json!({"action": "join", "room": "r"}));
    say(&mut sim, 1, "r", "one");
    sim.act(1, json!({"action": "leave", "room": "r"}));
    turn(&mut sim);
    assert_eq!(sim.hub.rooms(), 0);
    assert_eq!(sim.hub.history_bytes(), 0);
    sim.take(1);
    let b = join(
        &mut sim,
        1,
        json!({"action": "join", "room": "r", "since": 0, "epoch": a["epoch"]}),
    );
    assert_eq!(payloads(&b["history"]), [json!("one")]);
    assert_eq!(b["gap"], false);
    assert_eq!(b["epoch"], a["epoch"], "the same history, not a new room");
    assert!(sim.hub.history_bytes() > 0);
}

#[test]
fn only_the_creator_deletes_and_deleted_rooms_start_over() {
    let dir = TempDir::new("hub-delete");
    let mut sim = server(&dir);
    sim.connect(1, Some("alice"));
    sim.connect(2, Some("bob"));
    sim.act(1, json!({"action": "create", "room": "mine"}));
    let first = join(&mut sim, 2, json!({"action": "join", "room": "mine"}));
    say(&mut sim, 2, "mine", "hi");
    sim.take(2);
    let e = sim.error(2, json!({"action": "delete", "room": "mine"}));
    assert_eq!(e["code"], "forbidden");
    let e = sim.error(2, json!({"action": "delete", "room": "none"}));
    assert_eq!(e["code"], "no_such_room");
    sim.act(1, json!({"action": "delete", "room": "mine", "ref": 1}));
    assert_eq!(sim.one(1), json!({"event": "ack", "ref": 1}));
    assert_eq!(sim.one(2), json!({"event": "deleted", "room": "mine"}));
    assert_eq!(sim.hub.rooms(), 0);
    // Gone: a message to it reaches nobody and makes nothing.
    sim.act(
        2,
        json!({"action": "publish", "room": "mine", "message": 1, "ref": 2}),
    );
    assert_eq!(sim.one(2), json!({"event": "ack", "ref": 2}));
    assert_eq!(sim.hub.rooms(), 0);
    turn(&mut sim);
    drop(sim);
    let mut sim = server(&dir);
    sim.connect(1, Some("alice"));
    let again = join(&mut sim, 1, json!({"action": "join", "room": "mine"}));
    assert_eq!(again["history"], json!([]));
    assert_ne!(again["epoch"], first["epoch"]);
}

#[test]
fn messages_to_a_room_on_disk_only_enter_its_history() {
    let dir = TempDir::new("hub-offline-publish");
    let mut sim = server(&dir);
    sim.connect(1, Some("alice"));
    let a = join(&mut sim, 1, json!({"action": "join", "room": "r"}));
    sim.act(1, json!({"action": "leave", "room": "r"}));
    assert_eq!(sim.publish(r#"{"room":"r","message":"while away"}"#), Ok(0));
    say(&mut sim, 1, "r", "from outside");
    assert_eq!(sim.hub.rooms(), 0, "unloaded again");
    let b = join(
        &mut sim,
        1,
        json!({"action": "join", "room": "r", "since": 0, "epoch": a["epoch"]}),
    );
    assert_eq!(
        payloads(&b["history"]),
        [json!("while away"), json!("from outside")]
    );
}

#[test]
fn the_backend_deletes_any_room() {
    let dir = TempDir::new("hub-api-delete");
    let mut sim = server(&dir);
    sim.connect(1, Some("alice"));
    join(
        &mut sim,
        1,
        json!({"action": "join", "room": "r", "password": "x"}),
    );
    let now = sim.now();
    assert!(sim.hub.delete_room(now, "r", &mut sim.out));
    assert!(!sim.hub.delete_room(now, "r", &mut sim.out));
    sim.hub.check_invariants().unwrap();
}

#[test]
fn rooms_lists_the_rooms_kept_on_disk_only_without_loading_them() {
    let dir = TempDir::new("hub-list");
    {
        let mut sim = server(&dir);
        sim.connect(1, Some("alice"));
        sim.act(1, json!({"action": "create", "room": "made"}));
        join(&mut sim, 1, json!({"action": "join", "room": "used"}));
        say(&mut sim, 1, "used", "kept");
        sim.act(1, json!({"action": "leave", "room": "used"}));
        turn(&mut sim);
    }
    let mut sim = server(&dir);
    sim.connect(1, Some("bob"));
    join(&mut sim, 1, json!({"action": "join", "room": "live"}));
    sim.take(1);
    sim.act(1, json!({"action": "rooms"}));
    let list = sim.one(1);
    assert_eq!(list["event"], "rooms", "{list}");
    assert_eq!(
        (list["total"].clone(), list["more"].clone()),
        (json!(3), json!(false))
    );
    let mut rooms: Vec<(String, u64)> = list["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["room"].as_str().unwrap().to_owned(),
                r["members"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rooms[0],
        ("live".to_owned(), 1),
        "rooms in memory come first"
    );
    rooms.sort();
    assert_eq!(
        rooms,
        [
            ("live".to_owned(), 1),
            ("made".to_owned(), 0),
            ("used".to_owned(), 0)
        ]
    );
    assert_eq!(sim.hub.rooms(), 1, "listing loads no room");
    assert_eq!(sim.hub.history_bytes(), 0, "nor any history");
    // Paging runs across both kinds.
    sim.act(1, json!({"action": "rooms", "offset": 2}));
    let page = sim.one(1);
    assert_eq!(page["rooms"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["total"], 3);
}
