//! Rooms and topics: membership, presence, history, properties, typing.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Sim, payloads, users};
use crate::hub::HubConfig;

/// Three connected clients: 1 alice, 2 bob, 3 carol.
fn three() -> Sim {
    let mut sim = Sim::new();
    for (c, u) in [(1, "alice"), (2, "bob"), (3, "carol")] {
        sim.connect(c, Some(u));
    }
    sim
}

fn join(sim: &mut Sim, c: usize, room: &str) -> Value {
    sim.act(c, json!({"action": "join", "room": room}));
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

#[test]
fn join_and_leave_with_presence_on_both_sides() {
    let mut sim = three();
    let a = join(&mut sim, 1, "lobby");
    assert_eq!(users(&a["members"]), ["alice"]);
    assert_eq!(a["history"], json!([]));
    assert_eq!(a["gap"], false);
    assert_eq!(sim.hub.rooms(), 1);

    sim.act(2, json!({"action": "join-room", "room": "lobby"}));
    let b = sim.one(2);
    assert_eq!(b["event"], "room", "the joiner gets room, not joined");
    assert_eq!(users(&b["members"]), ["alice", "bob"]);
    let joined = sim.one(1);
    assert_eq!(joined["event"], "joined");
    assert_eq!(
        (joined["room"].as_str(), joined["user"].as_str()),
        (Some("lobby"), Some("bob"))
    );
    assert!(joined["id"].as_str().unwrap().starts_with('c'));

    sim.act(2, json!({"action": "leave-room", "room": "lobby"}));
    sim.quiet(2);
    let left = sim.one(1);
    assert_eq!(left["event"], "left");
    assert_eq!(left["user"], "bob");
    assert_eq!(left["id"], joined["id"]);

    let e = sim.error(2, json!({"action": "leave", "room": "lobby"}));
    assert_eq!(e["code"], "not_member");
    sim.act(1, json!({"action": "leave", "room": "lobby"}));
    assert_eq!(sim.hub.rooms(), 0, "an empty room vanishes");
}

#[test]
fn disconnect_says_left_and_empties_rooms() {
    let mut sim = three();
    join(&mut sim, 1, "a");
    join(&mut sim, 2, "a");
    join(&mut sim, 2, "b");
    sim.take(1);
    sim.disconnect(2);
    let left = sim.one(1);
    assert_eq!(
        (left["event"].as_str(), left["user"].as_str()),
        (Some("left"), Some("bob"))
    );
    assert_eq!(sim.hub.rooms(), 1);
}

#[test]
fn joining_twice_answers_room_again_without_presence() {
    let mut sim = three();
    join(&mut sim, 1, "r");
    join(&mut sim, 2, "r");
    sim.take(1);
    let again = join(&mut sim, 2, "r");
    assert_eq!(users(&again["members"]), ["alice", "bob"]);
    sim.quiet(1);
}

#[test]
fn room_answer_carries_history_and_seq() {
    let mut sim = three();
    join(&mut sim, 1, "r");
    for i in 0..3 {
        say(&mut sim, 1, "r", json!(i));
    }
    let got = sim.take(1);
    let seqs: Vec<_> = got.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(got[0]["room"], "r");
    let b = join(&mut sim, 2, "r");
    assert_eq!(payloads(&b["history"]), [json!(0), json!(1), json!(2)]);
    assert_eq!(b["history"][2], got[2], "history holds the events as sent");
    assert_eq!(b["seq"], 3);
}

#[test]
fn since_replays_only_missed_messages_or_says_gap() {
    let mut sim = three();
    sim.act(3, json!({"action": "create", "room": "r", "history": 4}));
    join(&mut sim, 1, "r");
    for i in 1..=6 {
        say(&mut sim, 1, "r", json!(i));
    }
    sim.take(1);
    let ask = |sim: &mut Sim, since: u64| {
        sim.act(2, json!({"action": "join", "room": "r", "since": since}));
        let answer = sim.one(2);
        sim.act(2, json!({"action": "leave", "room": "r"}));
        sim.take(1);
        answer
    };
    let a = ask(&mut sim, 4);
    assert_eq!(payloads(&a["history"]), [json!(5), json!(6)]);
    assert_eq!(a["gap"], false);
    let a = ask(&mut sim, 6);
    assert_eq!(a["history"], json!([]));
    assert_eq!(a["gap"], false);
    let a = ask(&mut sim, 2);
    assert_eq!(
        payloads(&a["history"]),
        [json!(3), json!(4), json!(5), json!(6)]
    );
    assert_eq!(a["gap"], false, "exactly the kept ones were missed");
    let a = ask(&mut sim, 1);
    assert_eq!(a["history"].as_array().unwrap().len(), 4);
    assert_eq!(a["gap"], true);
    let a = ask(&mut sim, 99);
    assert_eq!(a["gap"], true, "a seq from a former room of that name");
}

#[test]
fn create_sets_properties_and_does_not_join() {
    let mut sim = three();
    sim.act(1, json!({"action": "create", "room": "vip", "max_members": 2, "password": "pw", "history": 1, "ref": 1}));
    assert_eq!(sim.one(1), json!({"event": "ack", "ref": 1}));
    assert_eq!(sim.hub.rooms(), 1);
    sim.act(1, json!({"action": "members", "room": "vip"}));
    assert_eq!(
        sim.one(1)["code"],
        "forbidden",
        "the creator is not a member"
    );
    let e = sim.error(2, json!({"action": "create", "room": "vip"}));
    assert_eq!(e["code"], "room_exists");

    let e = sim.error(
        2,
        json!({"action": "join", "room": "vip", "password": "nope"}),
    );
    assert_eq!(e["code"], "forbidden");
    let e = sim.error(2, json!({"action": "subscribe", "topic": "vip"}));
    assert_eq!(e["code"], "forbidden");
    join_pw(&mut sim, 2, "vip");
    join_pw(&mut sim, 1, "vip");
    let e = sim.error(
        3,
        json!({"action": "join", "room": "vip", "password": "pw"}),
    );
    assert_eq!(e["code"], "room_full");
    assert!(e["message"].as_str().unwrap().contains("max 2"));

    let e = sim.error(3, json!({"action": "publish", "room": "vip", "message": 1}));
    assert_eq!(e["code"], "forbidden", "a password room needs membership");
    say(&mut sim, 1, "vip", json!("a"));
    say(&mut sim, 1, "vip", json!("b"));
    sim.take(1);
    sim.take(2);
    sim.act(2, json!({"action": "leave", "room": "vip"}));
    sim.take(1);
    let again = join_pw(&mut sim, 2, "vip");
    assert_eq!(payloads(&again["history"]), [json!("b")], "history 1");
}

fn join_pw(sim: &mut Sim, c: usize, room: &str) -> Value {
    sim.act(c, json!({"action": "join", "room": room, "password": "pw"}));
    let got = sim.take(c);
    assert_eq!(got[0]["event"], "room", "{got:?}");
    got[0].clone()
}

#[test]
fn created_room_waits_for_its_first_member_then_follows_the_usual_rule() {
    let mut sim = three();
    sim.act(1, json!({"action": "create", "room": "later"}));
    sim.act(2, json!({"action": "rooms"}));
    assert_eq!(
        sim.one(2)["rooms"],
        json!([{"room": "later", "members": 0, "subscribers": 0}])
    );
    join(&mut sim, 2, "later");
    sim.act(2, json!({"action": "leave", "room": "later"}));
    assert_eq!(sim.hub.rooms(), 0);
    // A creator who leaves takes its untouched rooms along.
    sim.act(3, json!({"action": "create", "room": "never"}));
    assert_eq!(sim.hub.rooms(), 1);
    sim.disconnect(3);
    assert_eq!(sim.hub.rooms(), 0);
}

#[test]
fn too_many_rooms_counts_joins_subscriptions_and_creations() {
    let mut sim = Sim::with(HubConfig {
        max_rooms: 3,
        ..HubConfig::default()
    });
    sim.connect(1, None);
    join(&mut sim, 1, "a");
    sim.act(1, json!({"action": "subscribe", "topic": "b"}));
    sim.act(1, json!({"action": "create", "room": "c"}));
    for action in [
        json!({"action": "join", "room": "d"}),
        json!({"action": "subscribe", "topic": "d"}),
        json!({"action": "create", "room": "d"}),
    ] {
        assert_eq!(sim.error(1, action)["code"], "too_many_rooms");
    }
    // Entering the room it created does not need one more slot.
    join(&mut sim, 1, "c");
    sim.act(1, json!({"action": "unsubscribe", "topic": "b"}));
    join(&mut sim, 1, "d");
}

#[test]
fn topics_are_rooms_without_presence() {
    let mut sim = three();
    join(&mut sim, 1, "news");
    sim.act(2, json!({"action": "subscribe", "topic": "news"}));
    sim.quiet(2);
    sim.quiet(1);
    sim.act(1, json!({"action": "members", "room": "news"}));
    assert_eq!(users(&sim.one(1)["members"]), ["alice"]);

    // The seed-style frame, exactly as written.
    sim.send(
        3,
        r#"{"action":"publish","topic":"news","message":"Hello world!"}"#,
    );
    for c in [1, 2] {
        let m = sim.one(c);
        assert_eq!(
            (m["from"].as_str(), m["room"].as_str()),
            (Some("carol"), Some("news"))
        );
        assert_eq!(m["message"], "Hello world!");
    }
    sim.quiet(3);
    sim.act(
        2,
        json!({"action": "send-message", "target": "news", "message_body": [1]}),
    );
    assert_eq!(sim.one(1)["message"], json!([1]));
    assert_eq!(
        sim.one(2)["message"],
        json!([1]),
        "sender included as subscriber"
    );

    sim.act(2, json!({"action": "unsubscribe", "topic": "news"}));
    sim.quiet(1);
    say(&mut sim, 1, "news", json!(2));
    sim.quiet(2);
    let e = sim.error(2, json!({"action": "unsubscribe", "topic": "news"}));
    assert_eq!(e["code"], "not_member");
}

#[test]
fn subscriber_joining_becomes_a_member() {
    let mut sim = three();
    join(&mut sim, 1, "t");
    sim.act(2, json!({"action": "subscribe", "topic": "t"}));
    let b = join(&mut sim, 2, "t");
    assert_eq!(users(&b["members"]), ["alice", "bob"]);
    assert_eq!(sim.one(1)["event"], "joined");
    sim.act(2, json!({"action": "subscribe", "topic": "t"}));
    sim.quiet(1);
    sim.act(2, json!({"action": "unsubscribe", "topic": "t"}));
    assert_eq!(sim.one(1)["event"], "left", "a member's leaving is told");
}

#[test]
fn publish_into_missing_open_room_is_a_silent_no_op() {
    let mut sim = three();
    sim.act(
        1,
        json!({"action": "publish", "topic": "void", "message": 1, "ref": 5}),
    );
    assert_eq!(sim.one(1), json!({"event": "ack", "ref": 5}));
    assert_eq!(sim.hub.rooms(), 0);
    // An open room needs no membership.
    join(&mut sim, 2, "open");
    say(&mut sim, 1, "open", json!("hi"));
    sim.quiet(1);
    assert_eq!(sim.one(2)["from"], "alice");
}

#[test]
fn members_and_rooms_answers() {
    let mut sim = three();
    join(&mut sim, 1, "x");
    join(&mut sim, 2, "x");
    sim.act(3, json!({"action": "subscribe", "topic": "y"}));
    sim.act(3, json!({"action": "members", "room": "x", "ref": 2}));
    let got = sim.take(3);
    assert_eq!(got[0]["event"], "members");
    assert_eq!(got[0]["room"], "x");
    assert_eq!(users(&got[0]["members"]), ["alice", "bob"]);
    assert_eq!(got[1]["event"], "ack");
    sim.act(3, json!({"action": "members", "room": "nothing"}));
    assert_eq!(sim.one(3)["members"], json!([]));
    sim.act(3, json!({"action": "rooms"}));
    let mut rooms = sim.one(3)["rooms"].as_array().unwrap().clone();
    rooms.sort_by_key(|r| r["room"].as_str().unwrap().to_string());
    assert_eq!(
        rooms,
        [
            json!({"room": "x", "members": 2, "subscribers": 0}),
            json!({"room": "y", "members": 0, "subscribers": 1})
        ]
    );
}

#[test]
fn typing_goes_to_the_others_and_expires_after_5s() {
    let mut sim = three();
    join(&mut sim, 1, "r");
    join(&mut sim, 2, "r");
    join(&mut sim, 3, "r");
    sim.take(1);
    sim.take(2);
    let e = sim.error(
        1,
        json!({"action": "typing", "room": "other", "value": true}),
    );
    assert_eq!(e["code"], "not_member");

    sim.act(1, json!({"action": "typing", "room": "r", "value": true}));
    sim.quiet(1);
    for c in [2, 3] {
        let t = sim.one(c);
        assert_eq!(t["event"], "typing");
        assert_eq!(
            (t["user"].as_str(), t["value"].as_bool()),
            (Some("alice"), Some(true))
        );
    }
    let deadline = sim.hub.poll_timeout().expect("a typing timer");
    assert_eq!(deadline, sim.now().mono + Duration::from_secs(5));
    // A renewal within 2 s is not forwarded; one at 3 s is (receivers keep
    // showing the typist) and moves the expiry to 8 s.
    sim.advance(Duration::from_secs(1));
    sim.act(1, json!({"action": "typing", "room": "r", "value": true}));
    sim.quiet(2);
    sim.advance(Duration::from_secs(2));
    sim.act(1, json!({"action": "typing", "room": "r", "value": true}));
    for c in [2, 3] {
        assert_eq!(sim.one(c)["value"], true);
    }
    sim.quiet(1);
    sim.advance(Duration::from_secs(2));
    sim.tick();
    sim.quiet(2);
    sim.advance(Duration::from_millis(2999));
    sim.tick();
    sim.quiet(2);
    sim.advance(Duration::from_millis(1));
    sim.tick();
    for c in [2, 3] {
        assert_eq!(sim.one(c)["value"], false);
    }
    sim.quiet(1);
    assert_eq!(sim.hub.poll_timeout(), None);

    // An explicit false is forwarded once; its timer then fires silently.
    sim.act(2, json!({"action": "typing", "room": "r", "value": true}));
    sim.act(2, json!({"action": "typing", "room": "r", "value": false}));
    sim.act(2, json!({"action": "typing", "room": "r", "value": false}));
    let got = sim.take(1);
    assert_eq!(
        got.iter().map(|t| t["value"].as_bool()).collect::<Vec<_>>(),
        [Some(true), Some(false)]
    );
    sim.advance(Duration::from_secs(10));
    sim.tick();
    sim.quiet(1);
    assert_eq!(sim.hub.poll_timeout(), None);
}

#[test]
fn typing_timer_of_a_departed_member_fires_silently() {
    let mut sim = three();
    join(&mut sim, 1, "r");
    join(&mut sim, 2, "r");
    sim.act(2, json!({"action": "typing", "room": "r", "value": true}));
    sim.disconnect(2);
    sim.take(1);
    sim.advance(Duration::from_secs(6));
    sim.tick();
    sim.quiet(1);
    assert_eq!(sim.hub.poll_timeout(), None);
}

#[test]
fn room_passwords_are_kept_hashed() {
    let mut sim = three();
    let secret = "correct-horse-battery";
    sim.act(
        1,
        json!({"action": "join", "room": "safe", "password": secret}),
    );
    sim.take(1);
    let room = sim.hub.rooms.iter().next().expect("the room exists").1;
    let hash = room.password.as_ref().expect("a password room");
    assert!(hash.matches(secret) && !hash.matches("correct-horse"));
    let stored = hash.to_bytes();
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the password itself is not in memory"
    );
    assert!(!format!("{:?}", sim.hub.rooms).contains(secret));
    let e = sim.error(
        2,
        json!({"action": "join", "room": "safe", "password": "correct-horse"}),
    );
    assert_eq!(e["code"], "forbidden");
    join_pw_with(&mut sim, 2, "safe", secret);
}

fn join_pw_with(sim: &mut Sim, c: usize, room: &str, password: &str) {
    sim.act(
        c,
        json!({"action": "join", "room": room, "password": password}),
    );
    assert_eq!(sim.take(c)[0]["event"], "room");
}
