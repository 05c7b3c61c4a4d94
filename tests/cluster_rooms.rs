//! Room state over Redis across real nodes: password rooms keep only a
//! salted hash in Redis, `delete` and `/api/delete` reach every node's
//! members, and `/api/publish` on one node reaches the others while its
//! `delivered` counts the node's own connections.
//! Skipped (with a message) when redis-server is absent, unless
//! LOOPCAST_REQUIRE_REDIS is set (tests/run.sh sets it).

#![cfg(feature = "redis")]

mod cluster_support;

use std::time::Duration;

use cluster_support::{Node, Redis, post, redis_available, redis_command};
use serde_json::{Value, json};

/// The JSON body of an HTTP answer.
fn body(answer: &str) -> Value {
    let (_, body) = answer.split_once("\r\n\r\n").expect("a body");
    serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

#[test]
fn password_rooms_keep_a_salted_hash_in_redis() {
    if !redis_available() {
        return;
    }
    let redis = Redis::start();
    let n1 = Node::start(&redis, "p1");
    let n2 = Node::start(&redis, "p2");
    let mut a = n1.client("ann");
    let mut b = n2.client("bob");

    // A room created with a password: Redis holds 48 bytes of salt and tag.
    a.send(json!({"action": "create", "room": "vault", "password": "s3cret-pw", "ref": 1}));
    assert_eq!(a.wait("ack")["ref"], 1);
    let len = redis_command(redis.port, "HSTRLEN lc:m:vault password");
    assert_eq!(len.trim(), ":48", "stored hash length");
    let stored = redis_command(redis.port, "HGET lc:m:vault password");
    assert!(!stored.contains("s3cret"), "plaintext in Redis: {stored:?}");
    let dump = redis_command(redis.port, "HGETALL lc:m:vault");
    assert!(!dump.contains("s3cret"), "plaintext in Redis: {dump:?}");

    // The check runs on the nodes: wrong and missing passwords are refused on
    // either node, the right one is let in on both.
    for pw in ["s3cret-pX", ""] {
        let e = b.join("vault", json!({"password": pw}));
        assert_eq!(e["code"], "forbidden", "{e}");
    }
    let e = a.join("vault", json!({"password": "s3cret"}));
    assert_eq!(e["code"], "forbidden", "a prefix: {e}");
    let e = b.join("vault", json!({}));
    assert_eq!(e["code"], "forbidden", "no password: {e}");
    assert_eq!(
        a.join("vault", json!({"password": "s3cret-pw"}))["event"],
        "room"
    );
    assert_eq!(
        b.join("vault", json!({"password": "s3cret-pw"}))["event"],
        "room"
    );
    assert_eq!(a.wait("joined")["id"], b.id.as_str());

    // A room made by its first joiner's password keeps a hash too.
    let mut c = n2.client("cyd");
    assert_eq!(
        c.join("club", json!({"password": "open-sesame"}))["event"],
        "room"
    );
    let len = redis_command(redis.port, "HSTRLEN lc:m:club password");
    assert_eq!(len.trim(), ":48");
    let dump = redis_command(redis.port, "HGETALL lc:m:club");
    assert!(
        !dump.contains("open-sesame"),
        "plaintext in Redis: {dump:?}"
    );
    let e = a.join("club", json!({"password": "open-sesam"}));
    assert_eq!(e["code"], "forbidden", "{e}");
    assert_eq!(
        a.join("club", json!({"password": "open-sesame"}))["event"],
        "room"
    );
}

#[test]
fn delete_and_api_publish_span_the_cluster() {
    if !redis_available() {
        return;
    }
    let redis = Redis::start();
    let nodes: Vec<Node> = ["d1", "d2", "d3"]
        .iter()
        .map(|n| Node::start(&redis, n))
        .collect();
    let mut a = nodes[0].client("ann");
    let mut b = nodes[1].client("bob");
    let mut c = nodes[2].client("cyd");

    // /api/publish on node 2, whose own connections are not in the room:
    // nodes 1 and 3 get it, and `delivered` counts node 2's connections (0).
    assert_eq!(a.join("news", json!({}))["event"], "room");
    assert_eq!(c.join("news", json!({}))["event"], "room");
    let r = post(
        &nodes[1],
        "/api/publish",
        r#"{"room":"news","message":"hi"}"#,
    );
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert_eq!(body(&r)["delivered"], 0, "{r}");
    for cl in [&mut a, &mut c] {
        let m = cl.next_message();
        assert_eq!(
            (m["message"].as_str(), m["seq"].as_u64()),
            (Some("hi"), Some(1)),
            "{m}"
        );
    }
    // With a member on node 2 it counts that one, and everyone still gets it.
    assert_eq!(b.join("news", json!({}))["event"], "room");
    let r = post(
        &nodes[1],
        "/api/publish",
        r#"{"room":"news","message":"again"}"#,
    );
    assert_eq!(body(&r)["delivered"], 1, "{r}");
    for cl in [&mut a, &mut b, &mut c] {
        let m = cl.next_message();
        assert_eq!(
            (m["message"].as_str(), m["seq"].as_u64()),
            (Some("again"), Some(2)),
            "{m}"
        );
    }
    // A user online only on node 3, published through node 1.
    let r = post(
        &nodes[0],
        "/api/publish",
        r#"{"user":"cyd","message":"dm"}"#,
    );
    assert_eq!(body(&r)["delivered"], 0, "{r}");
    assert_eq!(c.next_message()["message"], "dm");

    // delete by the owner reaches members on every node; others may not.
    a.send(json!({"action": "create", "room": "tmp", "ref": 1}));
    assert_eq!(a.wait("ack")["ref"], 1);
    assert_eq!(a.join("tmp", json!({}))["event"], "room");
    assert_eq!(c.join("tmp", json!({}))["event"], "room");
    b.send(json!({"action": "delete", "room": "tmp", "ref": 2}));
    let e = b.wait("error");
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_i64()),
        (Some("forbidden"), Some(2)),
        "{e}"
    );
    b.send(json!({"action": "delete", "room": "nowhere", "ref": 3}));
    assert_eq!(b.wait("error")["code"], "no_such_room");
    a.send(json!({"action": "publish", "room": "tmp", "message": "before", "ref": 4}));
    assert_eq!(a.wait("ack")["ref"], 4);
    let epoch = c.wait("message")["seq"].clone();
    assert_eq!(epoch, 1);
    a.send(json!({"action": "delete", "room": "tmp", "ref": 5}));
    // `deleted` before the ack, as on one node.
    let d = a.wait_any(&["deleted", "ack"]);
    assert_eq!(
        (d["event"].as_str(), d["room"].as_str()),
        (Some("deleted"), Some("tmp")),
        "{d}"
    );
    assert_eq!(a.wait("ack")["ref"], 5);
    assert_eq!(c.wait("deleted")["room"], "tmp");
    let exists = redis_command(redis.port, "EXISTS lc:h:tmp lc:p:tmp");
    assert_eq!(exists.trim(), ":0", "history and members gone");
    // The name starts over: no history, seq from 0.
    let room = c.join("tmp", json!({}));
    assert_eq!(
        (
            room["seq"].as_u64(),
            room["history"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0)),
        "{room}"
    );
    // Only the new joiner is in it.
    c.send(json!({"action": "members", "room": "tmp"}));
    assert_eq!(c.wait("members")["total"], 1);

    // /api/delete from node 2: queued (202), members on nodes 1 and 3 get `deleted`.
    let r = post(&nodes[1], "/api/delete", r#"{"room":"news"}"#);
    assert!(r.starts_with("HTTP/1.1 202"), "{r}");
    assert_eq!(body(&r)["queued"], true);
    for cl in [&mut a, &mut b, &mut c] {
        assert_eq!(cl.wait("deleted")["room"], "news");
    }
    std::thread::sleep(Duration::from_millis(100));
    c.send(json!({"action": "rooms"}));
    let rooms = c.wait("rooms");
    let names: Vec<&str> = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["room"].as_str())
        .collect();
    assert!(!names.contains(&"news"), "{rooms}");
    assert!(names.contains(&"tmp"), "{rooms}");
}
