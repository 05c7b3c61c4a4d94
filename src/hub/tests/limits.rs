//! Rate limiting, bounded memory, and `/api/publish`.

use std::time::Duration;

use serde_json::json;

use super::{Sim, payloads};
use crate::hub::HubConfig;

#[test]
fn flooding_gets_rate_limited_then_closed_1008() {
    let mut sim = Sim::new();
    sim.connect(1, None);
    let frame = r#"{"action":"rooms","ref":1}"#;
    for _ in 0..100 {
        sim.send(1, frame);
    }
    assert!(sim.take(1).iter().all(|e| e["event"] != "error"));
    sim.send(1, frame);
    let e = sim.one(1);
    assert_eq!(e["code"], "rate_limited");
    assert_eq!(e["ref"], 1);
    // Bad frames count too, and are answered rate_limited while over.
    sim.send(1, "garbage");
    assert_eq!(sim.one(1)["code"], "rate_limited");
    sim.binary(1);
    assert_eq!(sim.one(1)["code"], "rate_limited");

    // Keep flooding at 100/s (twice the limit) for the 5 s grace.
    while sim.closed.is_empty() {
        sim.advance(Duration::from_millis(10));
        sim.send(1, frame);
        assert!(sim.at < Duration::from_secs(6), "never closed");
    }
    assert!(sim.at >= Duration::from_secs(5));
    assert_eq!(sim.closed, [(1, 1008, "rate limit exceeded".to_string())]);
    // Once closing, the client is ignored until the reactor reports the disconnect.
    sim.take(1);
    sim.send(1, frame);
    sim.quiet(1);
    assert_eq!(sim.closed.len(), 1);
    sim.disconnect(1);
    assert_eq!(sim.hub.connections(), 0);
}

#[test]
fn a_client_within_the_rate_is_never_limited() {
    let mut sim = Sim::new();
    sim.connect(1, None);
    for _ in 0..1000 {
        sim.advance(Duration::from_millis(20));
        sim.send(1, r#"{"action":"subscribe","topic":"t"}"#);
    }
    sim.quiet(1);
    assert!(sim.closed.is_empty());
}

#[test]
fn rate_limit_zero_is_unlimited() {
    let mut sim = Sim::with(HubConfig {
        rate_limit: 0,
        ..HubConfig::default()
    });
    sim.connect(1, None);
    for _ in 0..5000 {
        sim.send(1, r#"{"action":"subscribe","topic":"t"}"#);
    }
    sim.quiet(1);
}

#[test]
fn join_leave_disconnect_loops_leave_nothing_behind() {
    let mut sim = Sim::with(HubConfig {
        rate_limit: 0,
        ..HubConfig::default()
    });
    for round in 0..200 {
        for c in 0..4 {
            sim.connect(c, Some(&format!("user{}", round % 7)));
        }
        for c in 0..4 {
            for r in 0..5 {
                let room = format!("room{}", (round + c + r) % 9);
                sim.act(c, json!({"action": "join", "room": room}));
                sim.act(c, json!({"action": "typing", "room": room, "value": true}));
                sim.act(
                    c,
                    json!({"action": "publish", "room": room, "message": round}),
                );
            }
            sim.act(
                c,
                json!({"action": "subscribe", "topic": format!("t{round}")}),
            );
            sim.act(
                c,
                json!({"action": "create", "room": format!("new{round}-{c}")}),
            );
        }
        for r in 0..3 {
            sim.act(
                0,
                json!({"action": "leave", "room": format!("room{}", (round + r) % 9)}),
            );
        }
        for c in 0..4 {
            sim.disconnect(c);
        }
        assert_eq!(sim.hub.rooms(), 0, "round {round}");
        assert_eq!(sim.hub.connections(), 0);
    }
    assert!(sim.hub.users.is_empty());
    assert!(sim.hub.names.is_empty());
    assert!(sim.hub.conns.is_empty());
    // Pending typing timers all fire silently once due.
    sim.advance(Duration::from_secs(6));
    sim.tick();
    assert!(sim.hub.typing.is_empty());
}

#[test]
fn steady_output_reuses_the_outbox_buffers() {
    let mut sim = Sim::with(HubConfig {
        rate_limit: 0,
        broadcast_rate: 0,
        ..HubConfig::default()
    });
    for c in 0..10 {
        sim.connect(c, None);
        sim.act(c, json!({"action": "join", "room": "r"}));
    }
    let frames = [
        (0, r#"{"action":"broadcast","message":"steady"}"#),
        (
            1,
            r#"{"action":"publish","room":"r","message":"steady","ref":1}"#,
        ),
        (2, r#"{"action":"typing","room":"r","value":true}"#),
        (2, r#"{"action":"typing","room":"r","value":false}"#),
    ];
    let round = |sim: &mut Sim| {
        let now = sim.now();
        for (c, frame) in frames {
            sim.hub
                .handle_text(now, crate::ClientId(c), frame, &mut sim.out);
        }
        assert_eq!(sim.out.len(), 5, "{:?}", sim.out.iter().collect::<Vec<_>>());
        sim.out.clear();
    };
    round(&mut sim);
    let capacities = sim.out.capacities();
    for _ in 0..100 {
        round(&mut sim);
        assert_eq!(sim.out.capacities(), capacities);
    }
}

#[test]
fn api_publish_to_room_user_and_all() {
    let mut sim = Sim::new();
    sim.connect(1, Some("alice"));
    sim.connect(2, Some("bob"));
    sim.connect(3, Some("bob"));
    sim.act(1, json!({"action": "join", "room": "lobby"}));
    sim.act(2, json!({"action": "subscribe", "topic": "lobby"}));
    sim.take(1);

    assert_eq!(sim.publish(r#"{"room":"lobby","message":{"n":1}}"#), Ok(2));
    for c in [1, 2] {
        let m = sim.one(c);
        assert_eq!(
            (m["from"].as_str(), m["room"].as_str()),
            (Some("server"), Some("lobby"))
        );
        assert_eq!(m["seq"], 1);
        assert_eq!(m["message"], json!({"n": 1}));
    }
    assert_eq!(sim.publish(r#"{"user":"bob","message":"hi"}"#), Ok(2));
    for c in [2, 3] {
        let m = sim.one(c);
        assert_eq!(
            (m["from"].as_str(), m["to"].as_str()),
            (Some("server"), Some("bob"))
        );
    }
    sim.quiet(1);
    assert_eq!(sim.publish(r#"{"all":true,"message":null}"#), Ok(3));
    for c in [1, 2, 3] {
        let m = sim.one(c);
        assert_eq!(m["message"], json!(null));
        assert!(m.get("room").is_none() && m.get("to").is_none());
    }
    // Nobody there: 0, not an error, nothing created.
    assert_eq!(sim.publish(r#"{"room":"empty","message":1}"#), Ok(0));
    assert_eq!(sim.publish(r#"{"user":"nobody","message":1}"#), Ok(0));
    assert_eq!(sim.hub.rooms(), 1);

    // The room's history holds API messages too.
    sim.act(3, json!({"action": "join", "room": "lobby"}));
    let answer = sim.one(3);
    assert_eq!(payloads(&answer["history"]), [json!({"n": 1})]);
}

#[test]
fn api_publish_into_password_room_is_allowed() {
    let mut sim = Sim::new();
    sim.connect(1, None);
    sim.act(1, json!({"action": "join", "room": "p", "password": "s"}));
    sim.take(1);
    assert_eq!(sim.publish(r#"{"room":"p","message":1}"#), Ok(1));
}

#[test]
fn api_publish_rejects_bad_bodies_with_400() {
    let mut sim = Sim::new();
    sim.connect(1, None);
    for body in [
        "not json",
        "",
        "[1]",
        "42",
        r#"{"room":"lobby"}"#,
        r#"{"message":1}"#,
        r#"{"all":false,"message":1}"#,
        r#"{"room":"a","user":"b","message":1}"#,
        r#"{"room":"a","all":true,"message":1}"#,
        r#"{"room":"bad name","message":1}"#,
        r#"{"room":5,"message":1}"#,
        r#"{"all":"yes","message":1}"#,
    ] {
        let e = sim.publish(body).unwrap_err();
        assert_eq!(e.status, 400, "{body}");
        assert!(!e.message.is_empty());
    }
    let now = sim.now();
    let e = sim
        .hub
        .handle_publish(now, b"\xff\xfe", &mut sim.out)
        .unwrap_err();
    assert_eq!(e.status, 400);
    sim.quiet(1);
}

/// Frames `protocol::parse` has read in this thread so far.
fn parses() -> usize {
    crate::protocol::PARSES.with(|n| n.get())
}

#[test]
fn frames_over_the_rate_limit_are_not_parsed() {
    let mut sim = Sim::with(HubConfig {
        rate_limit: 1,
        rate_burst: 1,
        ..HubConfig::default()
    });
    sim.connect(1, Some("alice"));
    sim.act(1, json!({"action": "join", "room": "r", "ref": 1}));
    sim.take(1);
    // Over the limit now: a flood of large frames, valid or not, costs no parse
    // and is answered without the `ref` that only a parse could find.
    let big = format!(
        r#"{{"action":"publish","room":"r","ref":7,"message":"{}"}}"#,
        "x".repeat(300)
    );
    let broken = format!(r#"{{"ref":8,"action":[{}"#, "[".repeat(300));
    let before = parses();
    for i in 0..200 {
        sim.send(1, if i % 2 == 0 { &big } else { &broken });
        let e = sim.one(1);
        assert_eq!(e["code"], "rate_limited", "{e}");
        assert!(e.get("ref").is_none(), "{e}");
    }
    assert_eq!(parses(), before, "frames over the limit were parsed");

    // A small frame may be a typing notice, so while typing's allowance has a
    // token it is parsed (and keeps its ref)...
    sim.send(1, r#"{"action":"rooms","ref":9}"#);
    let e = sim.one(1);
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_i64()),
        (Some("rate_limited"), Some(9))
    );
    assert_eq!(parses(), before + 1);
    // ...and a real one passes on that allowance, over the message limit.
    for value in [true, false, true, false, true] {
        sim.act(1, json!({"action": "typing", "room": "r", "value": value}));
        sim.quiet(1);
    }
    // With the allowance spent, small frames over the limit are not parsed either.
    let spent = parses();
    for _ in 0..50 {
        sim.act(
            1,
            json!({"action": "typing", "room": "r", "value": true, "ref": 3}),
        );
        let e = sim.one(1);
        assert_eq!(e["code"], "rate_limited", "{e}");
        assert!(e.get("ref").is_none(), "{e}");
    }
    assert_eq!(parses(), spent);
    // Once the message budget refills, frames are parsed and served again.
    sim.advance(Duration::from_secs(2));
    sim.act(
        1,
        json!({"action": "publish", "room": "r", "message": "a", "ref": 4}),
    );
    assert!(
        sim.take(1)
            .iter()
            .any(|e| e["event"] == "ack" && e["ref"] == 4)
    );
}
