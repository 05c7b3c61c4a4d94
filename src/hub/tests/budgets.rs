//! Fan-out budgets (`broadcast`, `notify`), nesting depth and field caps.

use std::time::Duration;

use serde_json::json;

use super::Sim;
use crate::hub::HubConfig;

#[test]
fn broadcast_has_its_own_lower_budget() {
    let mut sim = Sim::new();
    sim.connect(1, Some("loud"));
    sim.connect(2, Some("witness"));
    let mut refused = 0;
    for i in 0..30 {
        sim.act(1, json!({"action": "broadcast", "message": i, "ref": i}));
        for e in sim.take(1) {
            if e["event"] == "error" {
                assert_eq!(e["code"], "rate_limited", "{e}");
                assert_eq!(
                    e["ref"], i,
                    "over the fan-out budget the frame was parsed: {e}"
                );
                refused += 1;
            }
        }
    }
    // The default burst is 10, far below the general burst of 100.
    assert_eq!(refused, 20);
    let got = sim.take(2);
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|e| e["event"] == "message"));
    // Other actions are not charged to the broadcast budget...
    sim.act(1, json!({"action": "rooms", "ref": "r"}));
    assert_eq!(sim.take(1).len(), 2, "rooms answer and ack");
    // ...and the budget refills at 5 per second, without ever closing.
    sim.advance(Duration::from_millis(400));
    for i in 0..3 {
        sim.act(1, json!({"action": "broadcast", "message": i}));
    }
    assert_eq!(sim.take(2).len(), 2);
    assert!(sim.closed.is_empty());
}

#[test]
fn notify_fan_in_is_bounded_per_receiving_user() {
    let mut sim = Sim::with(HubConfig {
        notify_rate: 10,
        notify_burst: 20,
        ..HubConfig::default()
    });
    sim.connect(1, Some("victim"));
    sim.connect(2, Some("victim"));
    for c in 10..20 {
        sim.connect(c, Some(&format!("sender{c}")));
    }
    // Ten senders, five notes each: 50 attempts against a burst of 20.
    let mut limited = 0;
    for round in 0..5 {
        for c in 10..20 {
            sim.act(
                c,
                json!({"action": "notify", "user": "victim", "message": round}),
            );
            for e in sim.take(c) {
                assert_eq!(e["code"], "rate_limited", "{e}");
                assert!(e["message"].as_str().unwrap().contains("victim"), "{e}");
                limited += 1;
            }
        }
    }
    assert_eq!(limited, 30);
    assert_eq!(sim.take(1).len(), 20);
    assert_eq!(sim.take(2).len(), 20);
    // The budget belongs to the user: it survives its oldest tab leaving.
    sim.disconnect(1);
    sim.act(
        10,
        json!({"action": "notify", "user": "victim", "message": "x"}),
    );
    assert_eq!(sim.one(10)["code"], "rate_limited");
    sim.advance(Duration::from_millis(100));
    sim.act(
        10,
        json!({"action": "notify", "user": "victim", "message": "y"}),
    );
    assert_eq!(sim.one(2)["message"], "y");
    // Another user's budget is untouched.
    sim.act(
        10,
        json!({"action": "notify", "user": "sender11", "message": "z"}),
    );
    assert_eq!(sim.one(11)["message"], "z");
}

#[test]
fn deep_nesting_is_bad_json_and_never_relayed() {
    let mut sim = Sim::new();
    sim.connect(1, None);
    sim.connect(2, None);
    sim.act(1, json!({"action": "subscribe", "topic": "t"}));
    sim.act(2, json!({"action": "subscribe", "topic": "t"}));
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let frame = |n: usize| {
        format!(
            r#"{{"action":"publish","topic":"t","message":{},"ref":1}}"#,
            deep(n)
        )
    };
    sim.send(1, &frame(64));
    assert_eq!(sim.take(2).len(), 1, "64 levels are fine");
    sim.take(1);
    for n in [65, 32_000] {
        sim.send(1, &frame(n));
        let e = sim.one(1);
        assert_eq!(e["code"], "bad_json", "{e}");
        assert!(e["message"].as_str().unwrap().contains("64"), "{e}");
        sim.quiet(2);
    }
    // Brackets inside strings are text, not nesting.
    let text = format!(r#""{}""#, "[".repeat(1000));
    sim.send(
        1,
        &format!(r#"{{"action":"publish","topic":"t","message":{text}}}"#),
    );
    assert_eq!(sim.take(2).len(), 1);
    // The publish API applies the same bound.
    let body = format!(r#"{{"room":"t","message":{}}}"#, deep(65));
    let err = sim.publish(&body).unwrap_err();
    assert_eq!(err.status, 400);
    assert!(err.message.contains("64"), "{err:?}");
}

#[test]
fn passwords_refs_and_user_names_have_byte_caps() {
    let mut sim = Sim::new();
    sim.connect(1, None);
    let long = "p".repeat(129);
    let e = sim.error(1, json!({"action": "join", "room": "r", "password": long}));
    assert_eq!(e["code"], "bad_field");
    assert!(e["message"].as_str().unwrap().contains("password"), "{e}");
    assert_eq!(sim.hub.rooms(), 0, "nothing was created");
    let ok = "p".repeat(128);
    sim.act(
        1,
        json!({"action": "create", "room": "r", "password": ok, "ref": 1}),
    );
    assert_eq!(sim.one(1)["event"], "ack");

    let e = sim.error(1, json!({"action": "rooms", "ref": "r".repeat(70)}));
    assert_eq!(e["code"], "bad_field");
    assert!(e["message"].as_str().unwrap().contains("ref"), "{e}");

    let e = sim.error(
        1,
        json!({"action": "notify", "user": "u".repeat(300), "message": 1}),
    );
    assert_eq!(e["code"], "bad_field");
}

#[test]
fn state_is_counted_by_connections_rooms_and_memberships() {
    let mut sim = Sim::new();
    let empty = sim.hub.state_bytes();
    sim.connect(1, None);
    let one = sim.hub.state_bytes();
    assert!(one > empty);
    sim.act(1, json!({"action": "join", "room": "a"}));
    let joined = sim.hub.state_bytes();
    assert!(joined > one, "a room and a membership cost state");
    sim.connect(2, None);
    sim.act(2, json!({"action": "subscribe", "topic": "a"}));
    assert!(sim.hub.state_bytes() > joined);
    sim.act(2, json!({"action": "unsubscribe", "topic": "a"}));
    sim.disconnect(2);
    assert_eq!(sim.hub.state_bytes(), joined);
    sim.disconnect(1);
    assert_eq!(sim.hub.state_bytes(), sim.hub.typing_state_bytes());
}

#[test]
fn the_outbox_gives_back_what_one_large_message_took() {
    let mut sim = Sim::with(HubConfig {
        broadcast_rate: 0,
        ..HubConfig::default()
    });
    for c in 0..50 {
        sim.connect(c, None);
    }
    let now = sim.now();
    let big = json!({"action": "broadcast", "message": "b".repeat(60_000)}).to_string();
    sim.hub
        .handle_text(now, crate::ClientId(0), &big, &mut sim.out);
    let grown = sim.out.heap_bytes();
    assert!(grown > 60_000, "{grown}");
    sim.out.clear();
    sim.out.shrink(16 * 1024);
    let kept = sim.out.heap_bytes();
    assert!(kept <= 4 * 16 * 1024, "{kept}");
    // Small output afterwards fits in what was kept: nothing grows again.
    let small = r#"{"action":"broadcast","message":"s"}"#;
    for _ in 0..10 {
        sim.hub
            .handle_text(now, crate::ClientId(1), small, &mut sim.out);
        sim.out.clear();
        sim.out.shrink(16 * 1024);
        assert_eq!(sim.out.heap_bytes(), kept);
    }
}
