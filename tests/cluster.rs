//! Three real loopcast processes over one real Redis behave as one hub:
//! rooms in one `seq` order, presence, notify, broadcast, `/api/publish`,
//! resume on another node, password and `max_members` across nodes.
//! Skipped (with a message) when redis-server is absent, unless
//! LOOPCAST_REQUIRE_REDIS is set (tests/run.sh sets it).

#![cfg(feature = "redis")]

mod cluster_support;

use std::time::Duration;

use cluster_support::{Node, Redis, http, post, redis_available};
use serde_json::{Value, json};

fn publish_api(node: &Node, body: &str) -> String {
    post(node, "/api/publish", body)
}

fn ids(members: &Value) -> Vec<String> {
    let mut v: Vec<String> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn three_nodes_act_as_one_hub() {
    if !redis_available() {
        return;
    }
    let redis = Redis::start();
    let nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .map(|n| Node::start(&redis, n))
        .collect();
    let mut a = nodes[0].client("ann");
    let mut b = nodes[1].client("bob");
    let mut c = nodes[2].client("cyd");
    assert!(a.id.starts_with("n1."), "ids carry the node: {}", a.id);

    // Presence across nodes.
    let room = a.join("r", json!({}));
    assert_eq!(ids(&room["members"]), vec![a.id.clone()], "{room}");
    let room = b.join("r", json!({}));
    assert_eq!(ids(&room["members"]).len(), 2, "{room}");
    let joined = a.wait("joined");
    assert_eq!(joined["id"], b.id.as_str());
    let room = c.join("r", json!({}));
    let mut want = vec![a.id.clone(), b.id.clone(), c.id.clone()];
    want.sort();
    assert_eq!(ids(&room["members"]), want);
    let epoch = room["epoch"].clone();
    assert_eq!(a.wait("joined")["id"], c.id.as_str());
    assert_eq!(b.wait("joined")["id"], c.id.as_str());
    c.send(json!({"action": "members", "room": "r"}));
    assert_eq!(ids(&c.wait("members")["members"]), want);

    // Everyone publishes at once: all see every message once, in one seq order.
    for i in 0..4 {
        for (n, cl) in [&mut a, &mut b, &mut c].into_iter().enumerate() {
            cl.send(json!({"action": "publish", "room": "r", "message": format!("{n}-{i}")}));
        }
    }
    let mut orders = Vec::new();
    for cl in [&mut a, &mut b, &mut c] {
        let mut seen = Vec::new();
        for _ in 0..12 {
            let m = cl.next_message();
            assert_eq!(m["event"], "message", "{m}");
            seen.push((
                m["seq"].as_u64().unwrap(),
                m["message"].as_str().unwrap().to_owned(),
            ));
        }
        orders.push(seen);
    }
    let seqs: Vec<u64> = orders[0].iter().map(|s| s.0).collect();
    assert_eq!(seqs, (1..=12).collect::<Vec<_>>());
    assert_eq!(orders[0], orders[1]);
    assert_eq!(orders[0], orders[2]);

    // /api/publish on node 2 reaches nodes 1 and 3, with the next seq.
    let r = publish_api(&nodes[1], r#"{"room":"r","message":"api"}"#);
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    for cl in [&mut a, &mut c] {
        let m = cl.next_message();
        assert_eq!(
            (m["message"].as_str(), m["seq"].as_u64()),
            (Some("api"), Some(13)),
            "{m}"
        );
    }
    assert_eq!(b.next_message()["seq"], 13);

    // Resume on another node: c leaves, two more messages, c comes back on node 1.
    drop(c);
    assert_eq!(a.wait("left")["room"], "r");
    a.send(json!({"action": "publish", "room": "r", "message": "m14"}));
    a.send(json!({"action": "publish", "room": "r", "message": "m15"}));
    assert_eq!(a.next_message()["seq"], 14);
    assert_eq!(a.next_message()["seq"], 15);
    let mut c2 = nodes[0].client("cyd");
    let room = c2.join("r", json!({"since": 13, "epoch": epoch}));
    let got: Vec<&str> = room["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["message"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["m14", "m15"], "{room}");
    assert_eq!(
        (room["gap"].as_bool(), room["seq"].as_u64()),
        (Some(false), Some(15))
    );
    let room = c2.join("r", json!({"since": 13, "epoch": "zzz"}));
    assert_eq!(room["gap"], true, "another epoch: {room}");
    c2.send(json!({"action": "history", "room": "r", "since": 14, "epoch": epoch}));
    let page = c2.wait("history");
    assert_eq!(page["history"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(
        (page["gap"].as_bool(), page["more"].as_bool()),
        (Some(false), Some(false))
    );

    // notify: tabs on two nodes; no_such_user only when online nowhere.
    let mut d1 = nodes[0].client("dee");
    let mut d2 = nodes[1].client("dee");
    std::thread::sleep(Duration::from_millis(200));
    b.send(json!({"action": "notify", "user": "dee", "message": "psst", "ref": 1}));
    for d in [&mut d1, &mut d2] {
        let m = d.next_message();
        assert_eq!(
            (m["to"].as_str(), m["message"].as_str()),
            (Some("dee"), Some("psst")),
            "{m}"
        );
    }
    assert_eq!(b.wait("ack")["ref"], 1);
    b.send(json!({"action": "notify", "user": "nobody", "message": "x", "ref": 2}));
    let e = b.wait("error");
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_i64()),
        (Some("no_such_user"), Some(2)),
        "{e}"
    );

    // broadcast reaches every /ws connection of the cluster.
    let mut e3 = nodes[2].client("eve");
    std::thread::sleep(Duration::from_millis(100));
    a.send(json!({"action": "broadcast", "message": "all"}));
    for cl in [&mut b, &mut c2, &mut d1, &mut d2, &mut e3] {
        let m = cl.next_message();
        assert_eq!(m["message"], "all", "{m}");
    }
    let r = publish_api(&nodes[2], r#"{"all":true,"message":"api-all"}"#);
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert_eq!(d1.next_message()["message"], "api-all");

    // Password and max_members hold across nodes.
    a.send(json!({"action": "create", "room": "p", "max_members": 2, "password": "pw", "ref": 3}));
    assert_eq!(a.wait("ack")["ref"], 3);
    assert_eq!(a.join("p", json!({"password": "pw"}))["event"], "room");
    let e = b.join("p", json!({"password": "bad"}));
    assert_eq!(e["code"], "forbidden", "{e}");
    assert_eq!(b.join("p", json!({"password": "pw"}))["event"], "room");
    let e = e3.join("p", json!({"password": "pw"}));
    assert_eq!(e["code"], "room_full", "{e}");
    e3.send(json!({"action": "publish", "room": "p", "message": "x", "ref": 4}));
    assert_eq!(e3.wait("error")["code"], "forbidden");
    e3.send(json!({"action": "members", "room": "p"}));
    assert_eq!(
        e3.wait("error")["code"],
        "forbidden",
        "members of a password room"
    );
    b.send(json!({"action": "members", "room": "p"}));
    assert_eq!(b.wait("members")["total"], 2);

    // The raw /broadcast hub spans the cluster too.
    let mut r1 = cluster_support::ws_connect(&format!("ws://{}/broadcast", nodes[0].addr));
    let mut r3 = cluster_support::ws_connect(&format!("ws://{}/broadcast", nodes[2].addr));
    std::thread::sleep(Duration::from_millis(100));
    r1.send(tungstenite::Message::binary(vec![1u8, 2, 3]))
        .unwrap();
    for r in [&mut r3, &mut r1] {
        assert_eq!(
            cluster_support::next_data(r).into_data().as_ref(),
            [1u8, 2, 3]
        );
    }

    // The sender's ack follows its own message, as on one node.
    a.send(json!({"action": "publish", "room": "r", "message": "last", "ref": 9}));
    let m = a.wait_any(&["message", "ack"]);
    assert_eq!(m["event"], "message", "{m}");
    assert_eq!(a.wait_any(&["message", "ack"])["ref"], 9);

    // rooms: every room of the cluster with its counts.
    c2.send(json!({"action": "rooms"}));
    let rooms = c2.wait("rooms");
    let list = rooms["rooms"].as_array().unwrap();
    let r = list
        .iter()
        .find(|r| r["room"] == "r")
        .expect("room r listed");
    assert_eq!(
        (r["members"].as_u64(), r["subscribers"].as_u64()),
        (Some(3), Some(0)),
        "{rooms}"
    );
    assert!(list.iter().any(|r| r["room"] == "p"), "{rooms}");

    // /healthz and /metrics show the engine.
    let h = http(
        nodes[0].addr,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(h.contains("loopcast_engine_ready 1"), "{h}");
}

/// Kill -9 one node: its members are `left` on the others within the
/// presence TTL. Restart Redis mid-conversation: clients stay connected,
/// get `unavailable` (not silence) while it is down, and the conversation
/// goes on after, nothing twice; the lost history answers `gap: true`.
#[test]
fn node_death_and_redis_restart() {
    if !redis_available() {
        return;
    }
    let mut redis = Redis::start();
    let n1 = Node::start(&redis, "d1");
    let n2 = Node::start(&redis, "d2");
    let mut n3 = Node::start(&redis, "d3");
    let mut a = n1.client("ann");
    let mut b = n2.client("bob");
    let mut c = n3.client("cyd");
    a.set_timeout(Duration::from_secs(30));
    a.join("r", json!({}));
    b.join("r", json!({}));
    c.join("r", json!({}));
    assert_eq!(a.wait("joined")["id"], b.id.as_str());
    assert_eq!(a.wait("joined")["id"], c.id.as_str());
    b.wait("joined");

    // typing crosses nodes, and not back to the typist.
    b.send(json!({"action": "typing", "room": "r", "value": true}));
    let t = a.wait("typing");
    assert_eq!(
        (t["id"].as_str(), t["value"].as_bool()),
        (Some(b.id.as_str()), Some(true))
    );

    a.send(json!({"action": "publish", "room": "r", "message": "before"}));
    let before = b.next_message();
    assert_eq!(before["seq"], 1);
    let room = b.join("r", json!({}));
    let epoch = room["epoch"].clone();

    // Node 3 dies without a goodbye: its member leaves within the TTL.
    let killed = std::time::Instant::now();
    n3.kill();
    drop(c);
    let left = a.wait("left");
    assert_eq!(left["id"], c_id(&left));
    assert!(
        killed.elapsed() < Duration::from_secs(20),
        "{:?}",
        killed.elapsed()
    );
    b.send(json!({"action": "members", "room": "r"}));
    assert_eq!(ids(&b.wait("members")["members"]).len(), 2);

    // Redis goes away: errors, not silence; the clients stay connected.
    redis.kill();
    std::thread::sleep(Duration::from_millis(300));
    a.send(json!({"action": "publish", "room": "r", "message": "lost", "ref": 7}));
    let e = a.wait("error");
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_i64()),
        (Some("unavailable"), Some(7)),
        "{e}"
    );
    let h = http(
        n1.addr,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(
        h.contains(r#""status":"ok""#) && !h.contains(r#""engine":"ready""#),
        "{h}"
    );

    // Back: the nodes reconnect, resubscribe and re-announce their members.
    redis.restart();
    n1.wait_ready();
    n2.wait_ready();
    std::thread::sleep(Duration::from_millis(300));
    a.send(json!({"action": "publish", "room": "r", "message": "after", "ref": 8}));
    let m = b.next_message();
    assert_eq!(m["message"], "after", "nothing lost is delivered late: {m}");
    assert_eq!(a.next_message()["message"], "after");
    assert_eq!(a.wait("ack")["ref"], 8);
    b.send(json!({"action": "members", "room": "r"}));
    assert_eq!(ids(&b.wait("members")["members"]), {
        let mut v = vec![a.id.clone(), b.id.clone()];
        v.sort();
        v
    });
    // The history from before the restart is gone: resume says so.
    let mut late = n2.client("late");
    let room = late.join("r", json!({"since": 1, "epoch": epoch}));
    assert_eq!(room["gap"], true, "{room}");
    // Nothing twice: the next thing b sees is what comes next.
    a.send(json!({"action": "publish", "room": "r", "message": "next"}));
    assert_eq!(b.next_message()["message"], "next");
}

fn c_id(left: &Value) -> String {
    let id = left["id"].as_str().unwrap();
    assert!(id.starts_with("d3."), "{left}");
    id.to_owned()
}

/// One node's pub/sub link drops while Redis and the other nodes go on: what
/// was published meanwhile reaches that node's members after the reconnect,
/// once and in order.
#[test]
fn a_lost_pubsub_link_replays_what_it_missed() {
    if !redis_available() {
        return;
    }
    let redis = Redis::start();
    let n1 = Node::start(&redis, "f1");
    let n2 = Node::start(&redis, "f2");
    let mut a = n1.client("ann");
    let mut b = n2.client("bob");
    a.join("r", json!({}));
    b.join("r", json!({}));
    a.wait("joined");
    a.send(json!({"action": "publish", "room": "r", "message": "m1"}));
    assert_eq!(b.next_message()["seq"], 1);

    let id = cluster_support::redis_client_id(redis.port, "lc-f2-sub");
    cluster_support::redis_command(redis.port, &format!("CLIENT KILL ID {id}"));
    for i in 2..=4 {
        a.send(json!({"action": "publish", "room": "r", "message": format!("m{i}")}));
    }
    n2.wait_ready();
    a.send(json!({"action": "publish", "room": "r", "message": "m5"}));
    let got: Vec<u64> = (0..4)
        .map(|_| b.next_message()["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(got, [2, 3, 4, 5]);
    a.send(json!({"action": "publish", "room": "r", "message": "m6"}));
    assert_eq!(b.next_message()["seq"], 6, "nothing twice");
}
