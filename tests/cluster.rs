//! Three real loopcast processes over one real Redis behave as one hub:
//! rooms in one `seq` order, presence, notify, broadcast, `/api/publish`,
//! resume on another node, password and `max_members` across nodes.
//! Skipped (with a message) when redis-server is absent, unless
//! LOOPCAST_REQUIRE_REDIS is set (tests/run.sh sets it).

#![cfg(feature = "redis")]

mod cluster_support;

use std::time::Duration;

use cluster_support::{Node, Redis, http, redis_available};
use serde_json::{Value, json};

fn publish_api(node: &Node, body: &str) -> String {
    let req = format!(
        "POST /api/publish HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http(node.addr, &req)
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

    // /healthz and /metrics show the engine.
    let h = http(
        nodes[0].addr,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(h.contains("loopcast_engine_ready 1"), "{h}");
}
