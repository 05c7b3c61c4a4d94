//! What the page relies on: limits in `welcome`, names bound to a browser key,
//! `max_members` counting users, and typing that never costs a message.

use std::time::Duration;

use serde_json::json;

use super::Sim;
use crate::ClientId;
use crate::hub::HubConfig;

fn connect_keyed(sim: &mut Sim, c: usize, user: &str, key: Option<&str>) {
    let now = sim.now();
    sim.hub
        .handle_connect_keyed(now, ClientId(c), Some(user), key, &mut sim.out);
    sim.drain();
    assert_eq!(sim.one(c)["event"], "welcome");
}

#[test]
fn welcome_announces_the_limits() {
    let mut sim = Sim::with(HubConfig {
        rate_limit: 2,
        rate_burst: 4,
        max_message: 1024,
        ..HubConfig::default()
    });
    let w = sim.connect(1, Some("alice"));
    assert_eq!(
        w["limits"],
        json!({"max_message": 1024, "rate": 2, "burst": 4})
    );
}

#[test]
fn a_name_belongs_to_the_browser_key_that_holds_it() {
    let mut sim = Sim::new();
    assert!(sim.hub.check_name("alice", Some("k1")).is_ok());
    connect_keyed(&mut sim, 1, "alice", Some("k1"));
    // Same browser (another tab): fine. Another key, no key, or another case: refused.
    assert!(sim.hub.check_name("alice", Some("k1")).is_ok());
    let taken = sim.hub.check_name("alice", Some("k2")).unwrap_err();
    assert!(taken.to_string().contains("name in use"), "{taken}");
    assert!(sim.hub.check_name("alice", None).is_err());
    assert!(sim.hub.check_name("ALICE", Some("k2")).is_err());
    assert!(sim.hub.check_name("bob", Some("k2")).is_ok());
    connect_keyed(&mut sim, 2, "alice", Some("k1"));
    // Held until the last connection goes.
    sim.disconnect(1);
    assert!(sim.hub.check_name("alice", Some("k2")).is_err());
    sim.disconnect(2);
    assert!(sim.hub.check_name("alice", Some("k2")).is_ok());

    // Keyless clients (scripts) share a keyless name, and a browser cannot take it.
    connect_keyed(&mut sim, 3, "bot", None);
    assert!(sim.hub.check_name("bot", None).is_ok());
    assert!(sim.hub.check_name("bot", Some("k3")).is_err());
    sim.disconnect(3);
    assert!(sim.hub.check_name("bot", Some("k3")).is_ok());
}

#[test]
fn max_members_counts_users_not_tabs() {
    let mut sim = Sim::new();
    for (c, u) in [(1, "alice"), (2, "bob"), (3, "bob"), (4, "carol")] {
        sim.connect(c, Some(u));
    }
    sim.act(
        1,
        json!({"action": "create", "room": "duo", "max_members": 2}),
    );
    sim.act(2, json!({"action": "join", "room": "duo"}));
    assert_eq!(sim.one(2)["event"], "room");
    // Bob's second tab takes no place...
    sim.act(3, json!({"action": "join", "room": "duo"}));
    assert_eq!(sim.one(3)["event"], "room");
    // ...so the creator still gets in, and only a third user is refused.
    sim.act(1, json!({"action": "join", "room": "duo"}));
    assert_eq!(sim.one(1)["event"], "room");
    let e = sim.error(4, json!({"action": "join", "room": "duo"}));
    assert_eq!(e["code"], "room_full");
}

#[test]
fn typing_does_not_eat_the_message_budget() {
    let mut sim = Sim::with(HubConfig {
        rate_limit: 2,
        rate_burst: 2,
        ..HubConfig::default()
    });
    sim.connect(1, Some("alice"));
    sim.act(1, json!({"action": "join", "room": "r", "ref": 1}));
    sim.take(1);
    // A typing notice, as a page sends while its user types, then two messages.
    for i in 0..3 {
        sim.act(
            1,
            json!({"action": "typing", "room": "r", "value": i % 2 == 0}),
        );
        sim.advance(Duration::from_millis(400));
    }
    sim.act(
        1,
        json!({"action": "publish", "room": "r", "message": "a", "ref": 2}),
    );
    let got = sim.take(1);
    assert!(
        got.iter().any(|e| e["event"] == "ack" && e["ref"] == 2),
        "{got:?}"
    );
    // A flood of typing still ends up limited like anything else.
    let mut limited = false;
    for _ in 0..20 {
        sim.act(
            1,
            json!({"action": "typing", "room": "r", "value": true, "ref": 3}),
        );
        limited |= sim.take(1).iter().any(|e| e["code"] == "rate_limited");
    }
    assert!(limited);
}

#[test]
fn with_a_data_dir_a_name_outlives_its_connections_for_the_ttl() {
    let dir = std::env::temp_dir().join(format!("loopcast-names-unit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ttl = Duration::from_secs(60);
    let mut sim = Sim::new();
    sim.hub.keep_names(&dir, ttl, sim.now().unix_ms);
    connect_keyed(&mut sim, 1, "alice", Some("k1"));
    sim.disconnect(1);
    sim.advance(Duration::from_secs(30));
    let at = |sim: &Sim| sim.now().unix_ms;
    assert!(
        sim.hub
            .check_name_at(at(&sim), "alice", Some("k2"))
            .is_err()
    );
    assert!(sim.hub.check_name_at(at(&sim), "Alice", None).is_err());
    assert!(sim.hub.check_name_at(at(&sim), "alice", Some("k1")).is_ok());
    // The next run reads what this one saved at shutdown.
    let now = sim.now();
    sim.hub.close_store(now);
    let mut next = Sim::new();
    next.advance(Duration::from_secs(30));
    next.hub.keep_names(&dir, ttl, next.now().unix_ms);
    assert!(
        next.hub
            .check_name_at(at(&next), "alice", Some("k2"))
            .is_err()
    );
    // Past the TTL from her last connection, the name is free; a new holder binds it anew.
    next.advance(Duration::from_secs(31));
    assert!(
        next.hub
            .check_name_at(at(&next), "alice", Some("k2"))
            .is_ok()
    );
    connect_keyed(&mut next, 2, "alice", Some("k2"));
    next.disconnect(2);
    // Only a chosen name with a key lasts: a keyless one (scripts) or an assigned
    // guest name is free once offline.
    connect_keyed(&mut next, 3, "bot", None);
    next.disconnect(3);
    assert!(next.hub.check_name_at(at(&next), "bot", Some("k3")).is_ok());
    let now = next.now();
    next.hub
        .handle_connect_keyed(now, ClientId(4), None, Some("k4"), &mut next.out);
    next.drain();
    let guest = next.one(4)["user"].as_str().unwrap().to_owned();
    next.disconnect(4);
    assert!(
        next.hub
            .check_name_at(at(&next), &guest, Some("k5"))
            .is_ok()
    );
    assert!(
        next.hub
            .check_name_at(at(&next), "alice", Some("k1"))
            .is_err()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_data_dir_nothing_outlives_the_connections() {
    let mut sim = Sim::new();
    connect_keyed(&mut sim, 1, "alice", Some("k1"));
    sim.disconnect(1);
    let now = sim.now();
    sim.hub.close_store(now);
    assert!(sim.hub.check_name("alice", Some("k2")).is_ok());
}
