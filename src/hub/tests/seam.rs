//! The room-state seam (`hub::home`): the memory home answers now, the
//! memory-plus-store home tells its store after, and the Redis home (over a
//! scripted Redis, in virtual time) answers later, through the same
//! publish path of the hub.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::json;

use super::Sim;
use crate::ClientId;
use crate::hub::home::{Asker, Sequenced};
use crate::hub::store::{Saved, Settings, Store, StoreHealth};

/// `got` is the message as `seq`, then the ack of `reference`, and nothing else.
fn assert_message_then_ack(got: &[serde_json::Value], seq: u64, reference: i64) {
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0]["event"].as_str(), got[0]["seq"].as_u64()),
        (Some("message"), Some(seq))
    );
    assert_eq!(
        (got[1]["event"].as_str(), got[1]["ref"].as_i64()),
        (Some("ack"), Some(reference))
    );
}

#[test]
fn the_memory_home_sequences_now_and_the_ack_follows_the_event() {
    let mut sim = Sim::new();
    sim.connect(1, Some("ann"));
    sim.connect(2, Some("bob"));
    sim.act(1, json!({"action": "join", "room": "r"}));
    sim.act(2, json!({"action": "join", "room": "r"}));
    sim.take(1);
    sim.take(2);

    sim.act(
        1,
        json!({"action": "publish", "room": "r", "message": "a", "ref": 7}),
    );
    let got = sim.take(1);
    assert_message_then_ack(&got, 1, 7);
    assert_eq!(sim.one(2)["seq"], 1);

    // The seam itself: the next seq, now, and who it reached.
    let now = sim.now();
    let asker = Asker::Client {
        client: ClientId(2),
        reference: None,
    };
    let done = sim.hub.append(now, "r", r#""b""#, asker, &mut sim.out);
    assert_eq!(done.unwrap(), Sequenced::Now { seq: 2, reached: 2 });
    // A room that does not exist swallows it: seq 0, nobody.
    let done = sim
        .hub
        .append(now, "nowhere", "1", Asker::Backend, &mut sim.out);
    assert_eq!(done.unwrap(), Sequenced::Now { seq: 0, reached: 0 });
    assert_eq!(sim.hub.rooms(), 1, "no room was made for it");
}

#[test]
fn the_memory_home_keeps_password_rooms_for_members_but_not_from_the_backend() {
    let mut sim = Sim::new();
    sim.connect(1, Some("ann"));
    sim.connect(2, Some("eve"));
    sim.act(1, json!({"action": "join", "room": "p", "password": "pw"}));
    sim.take(1);
    let e = sim.error(
        2,
        json!({"action": "publish", "room": "p", "message": "x", "ref": 1}),
    );
    assert_eq!(
        (e["code"].as_str(), e["ref"].as_i64()),
        (Some("forbidden"), Some(1))
    );
    sim.quiet(1);
    // The backend is trusted.
    assert_eq!(sim.publish(r#"{"room":"p","message":"hi"}"#), Ok(1));
    assert_eq!(sim.one(1)["seq"], 1);
}

/// What a store was told, in order.
#[derive(Debug, Default)]
struct Told(Vec<String>);

/// A store that records every call (and keeps nothing), to see the order the
/// memory home tells it in.
#[derive(Debug)]
struct Recording(Arc<Mutex<Told>>);

impl Recording {
    fn note(&self, what: String) {
        self.0.lock().unwrap().0.push(what);
    }
}

impl Store for Recording {
    fn load(&mut self, _: &str, _: usize) -> Option<Saved> {
        None
    }
    fn contains(&self, _: &str) -> bool {
        false
    }
    fn names(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Box::new(std::iter::empty())
    }
    fn started(&mut self, name: &str, settings: &Settings) {
        self.note(format!("started {name} cap {}", settings.cap));
    }
    fn appended(&mut self, name: &str, seq: u64, event: &str) {
        self.note(format!("appended {name} {seq} {event}"));
    }
    fn emptied(&mut self, name: &str, _: u64) {
        self.note(format!("emptied {name}"));
    }
    fn deleted(&mut self, name: &str) {
        self.note(format!("deleted {name}"));
    }
    fn commit(&mut self, _: Instant) {
        self.note("commit".into());
    }
    fn close(&mut self, _: Instant) {}
    fn handle_timeout(&mut self, _: Instant, _: u64) {}
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn health(&self) -> StoreHealth {
        StoreHealth::default()
    }
}

#[test]
fn the_memory_home_tells_its_store_each_change_after_it_decided() {
    let told = Arc::new(Mutex::new(Told::default()));
    let mut sim = Sim::new();
    sim.hub.set_store(Box::new(Recording(told.clone())));
    sim.connect(1, Some("ann"));
    sim.act(1, json!({"action": "join", "room": "r"}));
    sim.take(1);
    sim.act(1, json!({"action": "publish", "room": "r", "message": "a"}));
    let sent = sim.one(1);
    assert_eq!(sim.publish(r#"{"room":"r","message":"b"}"#), Ok(1));
    let second = sim.one(1);
    let now = sim.now();
    sim.hub.commit(now);
    sim.act(1, json!({"action": "leave", "room": "r"}));
    let told = std::mem::take(&mut told.lock().unwrap().0);
    assert_eq!(told.len(), 5, "{told:?}");
    assert_eq!(told[0], "started r cap 32");
    // The store gets the very event the members got, with its seq.
    let (seq1, event1) = told[1].strip_prefix("appended r ").unwrap().split_at(2);
    assert_eq!(seq1, "1 ");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(event1).unwrap(),
        sent
    );
    let (seq2, event2) = told[2].strip_prefix("appended r ").unwrap().split_at(2);
    assert_eq!(seq2, "2 ");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(event2).unwrap(),
        second
    );
    assert_eq!(&told[3..], ["commit", "emptied r"]);
}

#[cfg(feature = "redis")]
mod later {
    use serde_json::json;

    use super::super::Sim;
    use super::super::cluster::{attached, bulk, feed, message, sent};
    use crate::ClientId;
    use crate::engine::Side;
    use crate::hub::home::{Asker, Sequenced};

    /// Client 1 of an attached hub, joined to room `r` (its channel confirmed).
    fn joined() -> (Sim, String) {
        let mut sim = attached();
        let id = sim.connect(1, Some("ann"))["id"]
            .as_str()
            .unwrap()
            .to_owned();
        sent(&mut sim, Side::Sub);
        sent(&mut sim, Side::Cmd);
        sim.act(1, json!({"action": "join", "room": "r"}));
        let confirm = format!("*3\r\n{}{}:3\r\n", bulk("subscribe"), bulk("lc:r:r"));
        feed(&mut sim, Side::Sub, &confirm);
        sent(&mut sim, Side::Cmd);
        let answer = format!(
            "*7\r\n{}{}{}:1\r\n{}*0\r\n*0\r\n",
            bulk("ok"),
            bulk("0"),
            bulk("k1"),
            bulk("")
        );
        feed(&mut sim, Side::Cmd, &answer);
        assert_eq!(sim.one(1)["event"], "room");
        (sim, id)
    }

    #[test]
    fn the_redis_home_sequences_later_and_holds_the_ack_for_the_event() {
        let (mut sim, id) = joined();
        sim.act(
            1,
            json!({"action": "publish", "room": "r", "message": "a", "ref": 5}),
        );
        // Nothing yet: the seq is Redis' to allocate.
        sim.quiet(1);
        let script = sent(&mut sim, Side::Cmd);
        assert!(
            script.contains("EVALSHA") && script.contains("lc:h:r"),
            "{script}"
        );
        // The script ran as seq 1, event 2; its reply comes before the event.
        feed(&mut sim, Side::Cmd, "*2\r\n:1\r\n:2\r\n");
        sim.quiet(1);
        let event = r#"{"event":"message","room":"r","seq":1,"message":"a"}"#;
        feed(
            &mut sim,
            Side::Sub,
            &message("lc:r:r", &format!("m2:1 {id} {event}")),
        );
        let got = sim.take(1);
        super::assert_message_then_ack(&got, 1, 5);

        // The seam itself answers `Later`, for a client and for the backend.
        let now = sim.now();
        let asker = Asker::Client {
            client: ClientId(1),
            reference: None,
        };
        let done = sim.hub.append(now, "r", "1", asker, &mut sim.out);
        assert_eq!(done.unwrap(), Sequenced::Later);
        assert_eq!(sim.publish(r#"{"room":"r","message":2}"#), Ok(1));
        assert_eq!(sent(&mut sim, Side::Cmd).matches("EVALSHA").count(), 2);
        sim.quiet(1);
    }

    #[test]
    fn the_redis_home_away_is_unavailable_and_sends_nothing() {
        let (mut sim, _) = joined();
        let now = sim.now();
        sim.hub.engine_mut().unwrap().link_down(now.mono, "test");
        sim.hub.handle_engine(now, &mut sim.out);
        sim.drain();
        sent(&mut sim, Side::Cmd);
        sim.take(1);
        let e = sim.error(
            1,
            json!({"action": "publish", "room": "r", "message": "a", "ref": 9}),
        );
        assert_eq!(
            (e["code"].as_str(), e["ref"].as_i64()),
            (Some("unavailable"), Some(9))
        );
        for frame in [
            json!({"action": "history", "room": "r", "ref": 1}),
            json!({"action": "create", "room": "q", "ref": 2}),
            json!({"action": "delete", "room": "r", "ref": 3}),
            json!({"action": "join", "room": "q", "ref": 4}),
        ] {
            assert_eq!(sim.error(1, frame)["code"], "unavailable");
        }
        let asker = Asker::Client {
            client: ClientId(1),
            reference: None,
        };
        let done = sim.hub.append(now, "r", "1", asker, &mut sim.out);
        assert_eq!(done.unwrap(), Sequenced::Unavailable);
        let refused = sim.publish(r#"{"room":"r","message":1}"#).unwrap_err();
        assert_eq!(refused.status, 503);
        assert!(sent(&mut sim, Side::Cmd).is_empty(), "nothing went out");
        sim.quiet(1);
    }
}
