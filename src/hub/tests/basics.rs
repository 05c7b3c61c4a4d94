//! Identity, broadcast, notify, acks and frame-level errors.

use serde_json::json;

use super::Sim;

#[test]
fn welcome_names_the_connection_and_user() {
    let mut sim = Sim::new();
    let w = sim.connect(1, Some("alice"));
    assert_eq!(w["user"], "alice");
    assert_eq!(w["server"], crate::VERSION);
    let id = w["id"].as_str().unwrap();
    assert!(id.starts_with('c') && id.len() <= 8, "{id}");

    let g = sim.connect(2, None);
    assert_eq!(g["user"], format!("guest-{}", g["id"].as_str().unwrap()));
    let e = sim.connect(3, Some(""));
    assert!(e["user"].as_str().unwrap().starts_with("guest-"));
    assert_eq!(sim.hub.connections(), 3);
}

#[test]
fn short_ids_are_base36_serials() {
    use crate::hub::short_id;
    assert_eq!(&*short_id(1), "c1");
    assert_eq!(&*short_id(35), "cz");
    assert_eq!(&*short_id(36), "c10");
    assert_eq!(&*short_id(u64::MAX), "c3w5e11264sgsf");
}

#[test]
fn ids_are_never_reused_even_when_slab_keys_are() {
    let mut sim = Sim::new();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..100 {
        let w = sim.connect(0, Some("x"));
        assert!(seen.insert(w["id"].as_str().unwrap().to_string()));
        sim.disconnect(0);
    }
}

#[test]
fn user_names_are_escaped() {
    let mut sim = Sim::new();
    let w = sim.connect(1, Some("a\"b\\c\n"));
    assert_eq!(w["user"], "a\"b\\c\n");
}

#[test]
fn broadcast_reaches_everyone_including_sender() {
    let mut sim = Sim::new();
    for c in 0..3 {
        sim.connect(c, Some(&format!("u{c}")));
    }
    sim.act(1, json!({"action": "broadcast", "message": {"hi": [1, 2]}}));
    for c in 0..3 {
        let m = sim.one(c);
        assert_eq!(m["event"], "message");
        assert_eq!(m["from"], "u1");
        assert_eq!(m["message"], json!({"hi": [1, 2]}));
        assert_eq!(m["ts"], 1_700_000_000_000u64);
        assert!(m.get("room").is_none() && m.get("to").is_none());
    }
}

#[test]
fn broadcast_is_encoded_once_for_all() {
    let mut sim = Sim::new();
    for c in 0..50 {
        sim.connect(c, None);
    }
    let now = sim.now();
    let text = r#"{"action":"broadcast","message":"x"}"#;
    sim.hub
        .handle_text(now, crate::ClientId(7), text, &mut sim.out);
    assert_eq!(sim.out.len(), 1);
    let outputs: Vec<_> = sim.out.iter().collect();
    match &outputs[0] {
        super::Output::Text { to, .. } => assert_eq!(to.len(), 50),
        other => panic!("{other:?}"),
    }
    sim.out.clear();
}

#[test]
fn notify_reaches_every_tab_of_one_user() {
    let mut sim = Sim::new();
    sim.connect(1, Some("alice"));
    sim.connect(2, Some("bob"));
    sim.connect(3, Some("bob"));
    sim.connect(4, Some("carol"));
    sim.act(
        1,
        json!({"action": "notify", "user": "bob", "message": "psst", "ref": 1}),
    );
    for c in [2, 3] {
        let m = sim.one(c);
        assert_eq!(m["from"], "alice");
        assert_eq!(m["to"], "bob");
        assert_eq!(m["message"], "psst");
    }
    assert_eq!(sim.one(1), json!({"event": "ack", "ref": 1}));
    sim.quiet(4);

    // One tab closes: the other still gets notifications.
    sim.disconnect(2);
    sim.act(4, json!({"action": "notify", "user": "bob", "message": 2}));
    assert_eq!(sim.one(3)["message"], 2);
}

#[test]
fn notify_to_nobody_is_no_such_user() {
    let mut sim = Sim::new();
    sim.connect(1, Some("alice"));
    sim.connect(2, Some("bob"));
    sim.disconnect(2);
    let e = sim.error(
        1,
        json!({"action": "notify", "user": "bob", "message": 1, "ref": "n"}),
    );
    assert_eq!(e["code"], "no_such_user");
    assert_eq!(e["ref"], "n");
}

#[test]
fn frame_errors_have_codes_and_keep_the_connection() {
    let mut sim = Sim::new();
    sim.connect(1, None);
    let cases = [
        ("{nope", "bad_json"),
        ("", "bad_json"),
        ("[1,2,3]", "missing_field"),
        ("null", "missing_field"),
        (r#"{"message":1}"#, "missing_field"),
        (r#"{"action":"notify","user":"x"}"#, "missing_field"),
        (r#"{"action":"join"}"#, "missing_field"),
        (r#"{"action":"dance"}"#, "unknown_action"),
        (r#"{"action":"join","room":"bad name"}"#, "bad_room_name"),
        (r#"{"action":"join","room":""}"#, "bad_room_name"),
        (r#"{"action":"join","room":7}"#, "bad_field"),
        (
            r#"{"action":"typing","room":"a","value":"yes"}"#,
            "bad_field",
        ),
    ];
    for (text, code) in cases {
        sim.send(1, text);
        let e = sim.one(1);
        assert_eq!(e["event"], "error", "{text}");
        assert_eq!(e["code"], code, "{text}: {e}");
        assert!(e.get("ref").is_none());
    }
    assert!(sim.closed.is_empty());
    sim.act(1, json!({"action": "broadcast", "message": "still here"}));
    assert_eq!(sim.one(1)["message"], "still here");
}

#[test]
fn binary_frames_are_bad_json() {
    let mut sim = Sim::new();
    sim.connect(1, None);
    sim.binary(1);
    let e = sim.one(1);
    assert_eq!(e["event"], "error");
    assert_eq!(e["code"], "bad_json");
}

#[test]
fn ack_only_with_ref_and_refs_come_back_verbatim() {
    let mut sim = Sim::new();
    sim.connect(1, None);
    sim.act(1, json!({"action": "subscribe", "topic": "t"}));
    sim.quiet(1);
    sim.act(1, json!({"action": "subscribe", "topic": "u", "ref": 7}));
    assert_eq!(sim.one(1), json!({"event": "ack", "ref": 7}));
    sim.act(
        1,
        json!({"action": "subscribe", "topic": "v", "ref": "abc"}),
    );
    assert_eq!(sim.one(1), json!({"event": "ack", "ref": "abc"}));
    sim.send(1, r#"{"action":"rooms","ref":1.5e3}"#);
    let got = sim.take(1);
    assert_eq!(got[0]["event"], "rooms");
    assert_eq!(got[1], json!({"event": "ack", "ref": 1500.0}));
    // A failure carries the ref instead of an ack.
    let e = sim.error(1, json!({"action": "leave", "room": "zzz", "ref": 9}));
    assert_eq!(e["code"], "not_member");
    assert_eq!(e["ref"], 9);
    let e = sim.error(1, json!({"action": "fly", "ref": "r"}));
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_str()),
        (Some("unknown_action"), Some("r"))
    );
}

#[test]
fn unknown_and_closed_clients_are_ignored() {
    let mut sim = Sim::new();
    sim.send(9, r#"{"action":"broadcast","message":1}"#);
    sim.binary(9);
    sim.disconnect(9);
    sim.quiet(9);
    assert_eq!(sim.hub.connections(), 0);
}

#[test]
fn reconnect_on_a_live_key_replaces_the_old_connection() {
    let mut sim = Sim::new();
    sim.connect(1, Some("a"));
    sim.act(1, json!({"action": "join", "room": "r"}));
    sim.take(1);
    sim.connect(1, Some("b"));
    assert_eq!(sim.hub.connections(), 1);
    assert_eq!(sim.hub.rooms(), 0);
}
