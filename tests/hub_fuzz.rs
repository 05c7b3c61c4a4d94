//! Fuzz-style test of the hub: thousands of random, malformed and valid-looking
//! frames from several clients, with connects, disconnects, API publishes and
//! timer ticks mixed in, from a seeded RNG (so a failure is reproducible).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use loopcast::ClientId;
use loopcast::hub::{Hub, HubConfig, Now, Outbox, Output};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use serde_json::{Map, Value, json};

const SLOTS: usize = 8;
const ACTIONS: &[&str] = &[
    "broadcast",
    "notify",
    "join",
    "join-room",
    "leave",
    "leave-room",
    "subscribe",
    "unsubscribe",
    "publish",
    "send-message",
    "typing",
    "members",
    "rooms",
    "history",
    "create",
    "dance",
    "",
];
const ROOMS: &[&str] = &["a", "b", "lobby", "x.y:z-1_2", "", "bad name", "é"];
const USERS: &[&str] = &["alice", "bob", "carol", "nobody", "a\"b"];

/// What the test knows about a frame it sent.
#[derive(Debug, PartialEq)]
enum Kind {
    /// Certainly refused: an `error` must come back.
    Bad,
    /// An object with a numeric ref: exactly one ack or error must carry it.
    Ref(u64),
    /// Anything else.
    Other,
}

struct Fuzz {
    rng: StdRng,
    hub: Hub,
    out: Outbox,
    t0: Instant,
    at: Duration,
    connected: HashSet<usize>,
    closing: HashSet<usize>,
    next_ref: u64,
    /// How often each event (errors by code) was received, by anyone.
    seen: HashMap<&'static str, usize>,
}

impl Fuzz {
    fn now(&self) -> Now {
        Now {
            mono: self.t0 + self.at,
            unix_ms: 1_700_000_000_000 + self.at.as_millis() as u64,
        }
    }

    fn random_json(&mut self, depth: u32) -> Value {
        match self.rng.random_range(0..if depth > 2 { 4 } else { 6 }) {
            0 => Value::Null,
            1 => json!(self.rng.random_bool(0.5)),
            2 => json!(self.rng.random_range(-1000i64..100_000)),
            3 => json!(
                ["", "x", "\"q\"", "\n\u{1}", "☃"]
                    .choose(&mut self.rng)
                    .unwrap()
            ),
            4 => Value::Array(
                (0..self.rng.random_range(0..4))
                    .map(|_| self.random_json(depth + 1))
                    .collect(),
            ),
            _ => {
                let mut map = Map::new();
                for k in ["k", "action", "room", "message"] {
                    if self.rng.random_bool(0.4) {
                        map.insert(k.into(), self.random_json(depth + 1));
                    }
                }
                Value::Object(map)
            }
        }
    }

    /// A frame that looks like an action, with random (often wrong) fields.
    fn action_frame(&mut self) -> (String, Kind) {
        let mut map = Map::new();
        let action = *ACTIONS.choose(&mut self.rng).unwrap();
        let mut kind = Kind::Other;
        if self.rng.random_bool(0.95) {
            map.insert("action".into(), json!(action));
        } else {
            kind = Kind::Bad;
        }
        if ["dance", ""].contains(&action) {
            kind = Kind::Bad;
        }
        let room_key = *["room", "topic", "target"].choose(&mut self.rng).unwrap();
        if self.rng.random_bool(0.9) {
            let room = if self.rng.random_bool(0.95) {
                json!(ROOMS.choose(&mut self.rng).unwrap())
            } else {
                self.random_json(1)
            };
            map.insert(room_key.into(), room);
        }
        let fields: [(&str, f64); 10] = [
            ("message", 0.8),
            ("message_body", 0.1),
            ("user", 0.5),
            ("password", 0.2),
            ("since", 0.2),
            ("value", 0.5),
            ("max_members", 0.2),
            ("history", 0.2),
            ("offset", 0.2),
            ("epoch", 0.1),
        ];
        for (field, p) in fields {
            if !self.rng.random_bool(p) {
                continue;
            }
            let value = match (field, self.rng.random_range(0..4)) {
                (_, 0) => self.random_json(1),
                ("user", _) => json!(USERS.choose(&mut self.rng).unwrap()),
                ("password", _) => json!(["pw", "other"].choose(&mut self.rng).unwrap()),
                ("value", _) => json!(self.rng.random_bool(0.5)),
                ("max_members", _) => json!(self.rng.random_range(0u64..4)),
                ("since" | "history" | "offset", _) => json!(self.rng.random_range(0u64..40)),
                ("epoch", _) => json!(["1", "zz", "not one"].choose(&mut self.rng).unwrap()),
                _ => self.random_json(1),
            };
            map.insert(field.into(), value);
        }
        if self.rng.random_bool(0.5) && kind == Kind::Other {
            self.next_ref += 1;
            map.insert("ref".into(), json!(self.next_ref));
            kind = Kind::Ref(self.next_ref);
        } else if self.rng.random_bool(0.1) {
            map.insert("ref".into(), json!("s"));
        }
        (Value::Object(map).to_string(), kind)
    }

    /// A frame that is certainly refused.
    fn bad_frame(&mut self) -> String {
        match self.rng.random_range(0..5) {
            0 => {
                let len = self.rng.random_range(0..40);
                let bytes: Vec<u8> = (0..len).map(|_| self.rng.random()).collect();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                // Random bytes are almost never an action; make sure.
                if text.trim_start().starts_with('{') {
                    format!("x{text}")
                } else {
                    text
                }
            }
            1 => {
                let (frame, _) = self.action_frame();
                let cut = self.rng.random_range(0..frame.len());
                let mut end = cut;
                while !frame.is_char_boundary(end) {
                    end -= 1;
                }
                frame[..end].to_string()
            }
            2 => loop {
                let v = self.random_json(0);
                if !v.is_object() {
                    break v.to_string();
                }
            },
            3 => r#"{"action":"join","room":"a","room":"b"}"#.to_string(),
            _ => "{\"action\":\"broadcast\",\"message\":1}}".to_string(),
        }
    }

    /// An `/api/publish` body: mostly well-formed, sometimes not.
    fn publish_body(&mut self) -> String {
        let message = self.random_json(1);
        match self.rng.random_range(0..6) {
            0 => json!({"room": ROOMS.choose(&mut self.rng).unwrap(), "message": message}),
            1 => json!({"user": USERS.choose(&mut self.rng).unwrap(), "message": message}),
            2 => json!({"all": true, "message": message}),
            3 => json!({"all": true, "room": "a", "message": message}),
            4 => return self.bad_frame(),
            _ => return self.action_frame().0,
        }
        .to_string()
    }

    /// Runs one input and checks every output; returns what `sender` got.
    fn step(&mut self, input: Input, sender: Option<usize>) -> Vec<Value> {
        let now = self.now();
        match input {
            Input::Connect(c) => {
                let user = *USERS.choose(&mut self.rng).unwrap();
                let user = self.rng.random_bool(0.8).then_some(user);
                self.hub
                    .handle_connect(now, ClientId(c), user, &mut self.out);
                self.connected.insert(c);
            }
            Input::Disconnect(c) => {
                self.hub.handle_disconnect(now, ClientId(c), &mut self.out);
                self.connected.remove(&c);
                self.closing.remove(&c);
            }
            Input::Text(c, ref text) => self.hub.handle_text(now, ClientId(c), text, &mut self.out),
            Input::Binary(c) => self.hub.handle_binary(now, ClientId(c), &mut self.out),
            Input::Timeout => self.hub.handle_timeout(now, &mut self.out),
            Input::Publish(ref body) => {
                let r = self.hub.handle_publish(now, body.as_bytes(), &mut self.out);
                if let Err(e) = r {
                    assert_eq!(e.status, 400);
                }
            }
        }
        let mut got = Vec::new();
        for output in self.out.iter() {
            match output {
                Output::Text { to, text } => {
                    let v: Value =
                        serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
                    assert!(v["event"].is_string(), "{text}");
                    *self.seen.entry(event_name(&v)).or_default() += to.len();
                    let unique: HashSet<_> = to.iter().collect();
                    assert_eq!(unique.len(), to.len(), "duplicate recipients of {text}");
                    for c in to {
                        assert!(self.connected.contains(&c.0), "{text} to gone client {c:?}");
                        if Some(c.0) == sender {
                            got.push(v.clone());
                        }
                    }
                }
                Output::Close { client, code, .. } => {
                    assert_eq!(code, 1008);
                    assert!(self.connected.contains(&client.0));
                    assert!(self.closing.insert(client.0), "closed twice");
                }
            }
        }
        self.out.clear();
        if let Err(broken) = self.hub.check_invariants() {
            panic!("invariant broken after {input:?}: {broken}");
        }
        assert_eq!(self.hub.connections(), self.connected.len());
        got
    }
}

#[derive(Debug)]
enum Input {
    Connect(usize),
    Disconnect(usize),
    Text(usize, String),
    Binary(usize),
    Timeout,
    Publish(String),
}

fn run(seed: u64, steps: usize, config: HubConfig) -> HashMap<&'static str, usize> {
    let mut f = Fuzz {
        rng: StdRng::seed_from_u64(seed),
        hub: Hub::new(config),
        out: Outbox::default(),
        t0: Instant::now(),
        at: Duration::ZERO,
        connected: HashSet::new(),
        closing: HashSet::new(),
        next_ref: 0,
        seen: HashMap::new(),
    };
    for _ in 0..steps {
        let c = f.rng.random_range(0..SLOTS);
        if !f.connected.contains(&c) {
            f.step(Input::Connect(c), Some(c));
            continue;
        }
        match f.rng.random_range(0..100) {
            0..3 => {
                f.step(Input::Disconnect(c), None);
            }
            3..8 => {
                f.at += Duration::from_millis(f.rng.random_range(0..3000));
                if f.hub.poll_timeout().is_some_and(|t| t <= f.now().mono) {
                    f.step(Input::Timeout, None);
                }
            }
            8..11 => {
                let body = f.publish_body();
                f.step(Input::Publish(body), None);
            }
            11..14 => {
                let got = f.step(Input::Binary(c), Some(c));
                assert!(got.iter().any(|e| e["event"] == "error") || f.closing.contains(&c));
            }
            14..40 => {
                let text = f.bad_frame();
                let got = f.step(Input::Text(c, text.clone()), Some(c));
                let open = !f.closing.contains(&c);
                assert!(
                    !open || got.iter().any(|e| e["event"] == "error"),
                    "no error for {text:?}: {got:?}"
                );
            }
            _ => {
                let (text, kind) = f.action_frame();
                let was_closing = f.closing.contains(&c);
                let got = f.step(Input::Text(c, text.clone()), Some(c));
                if was_closing {
                    assert!(got.is_empty(), "a closing client got {got:?}");
                    continue;
                }
                match kind {
                    Kind::Bad => {
                        assert!(got.iter().any(|e| e["event"] == "error"), "{text}: {got:?}")
                    }
                    Kind::Ref(r) => {
                        let answers: Vec<_> = got.iter().filter(|e| e["ref"] == r).collect();
                        // Over the rate limit a frame is not parsed: its error has no ref.
                        let unparsed = got
                            .iter()
                            .any(|e| e["code"] == "rate_limited" && e.get("ref").is_none());
                        if unparsed && answers.is_empty() {
                            continue;
                        }
                        assert_eq!(answers.len(), 1, "{text}: {got:?}");
                        assert!(["ack", "error"].contains(&answers[0]["event"].as_str().unwrap()));
                    }
                    Kind::Other => {}
                }
            }
        }
    }
    for c in f.connected.clone() {
        f.step(Input::Disconnect(c), None);
    }
    assert_eq!(f.hub.rooms(), 0);
    assert_eq!(f.hub.connections(), 0);
    f.at += Duration::from_secs(60);
    f.step(Input::Timeout, None);
    assert_eq!(f.hub.poll_timeout(), None);
    f.seen
}

/// A static name for an event, errors by code (the set of names is small).
fn event_name(e: &Value) -> &'static str {
    const NAMES: &[&str] = &[
        "welcome",
        "message",
        "joined",
        "left",
        "room",
        "typing",
        "members",
        "rooms",
        "history",
        "ack",
        "error:bad_json",
        "error:unknown_action",
        "error:missing_field",
        "error:bad_field",
        "error:bad_room_name",
        "error:room_full",
        "error:forbidden",
        "error:no_such_user",
        "error:rate_limited",
        "error:too_many_rooms",
        "error:not_member",
        "error:room_exists",
    ];
    let name = match (e["event"].as_str(), e["code"].as_str()) {
        (Some("error"), Some(code)) => format!("error:{code}"),
        (Some(event), _) => event.to_string(),
        _ => String::new(),
    };
    NAMES
        .iter()
        .find(|n| **n == name)
        .copied()
        .unwrap_or_else(|| panic!("unexpected event {e}"))
}

#[test]
fn random_frames_never_break_the_hub() {
    let config = HubConfig {
        rate_limit: 0,
        ..HubConfig::default()
    };
    let mut seen = HashMap::new();
    for seed in 1..=4 {
        for (k, v) in run(seed, 5000, config.clone()) {
            *seen.entry(k).or_insert(0) += v;
        }
    }
    // The random actions reach deep into the protocol, not just its parser.
    for event in [
        "room", "message", "joined", "left", "ack", "members", "rooms", "typing",
    ] {
        assert!(
            seen.get(event).is_some_and(|n| *n > 0),
            "never saw {event}: {seen:?}"
        );
    }
    for code in [
        "bad_json",
        "missing_field",
        "unknown_action",
        "bad_room_name",
        "bad_field",
        "not_member",
    ] {
        let key = format!("error:{code}");
        assert!(seen.contains_key(key.as_str()), "never saw {key}: {seen:?}");
    }
}

#[test]
fn random_frames_under_tight_limits() {
    let config = HubConfig {
        rate_limit: 5,
        rate_burst: 10,
        rate_grace: Duration::from_secs(1),
        history: 3,
        // Small enough that large random messages leave the history.
        history_bytes: 400,
        max_rooms: 2,
        typing_timeout: Duration::from_millis(500),
        broadcast_rate: 2,
        broadcast_burst: 3,
        notify_rate: 2,
        notify_burst: 3,
        max_message: 1024,
        // Answers of a few entries, so paging (`more`) is exercised.
        answer_bytes: 200,
        ..HubConfig::default()
    };
    let seen = run(99, 8000, config);
    assert!(seen.contains_key("error:rate_limited"), "{seen:?}");
    assert!(seen.contains_key("error:too_many_rooms"), "{seen:?}");
}
