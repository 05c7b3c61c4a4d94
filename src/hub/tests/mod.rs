//! Hub tests in virtual time: a `Sim` drives the hub like the reactor would
//! and collects what each client would receive, parsed as JSON.

mod basics;
mod budgets;
#[cfg(feature = "redis")]
mod cluster;
#[cfg(feature = "storage")]
mod durable;
mod history;
mod identity;
mod limits;
mod pages;
mod rooms;
mod seam;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Hub, HubConfig, Now, Outbox, Output};
use crate::ClientId;

/// A hub, its outbox, a virtual clock and every client's received events.
pub(super) struct Sim {
    pub hub: Hub,
    pub out: Outbox,
    t0: Instant,
    pub at: Duration,
    inbox: HashMap<usize, Vec<Value>>,
    pub closed: Vec<(usize, u16, String)>,
}

impl Sim {
    pub fn new() -> Sim {
        Sim::with(HubConfig::default())
    }

    pub fn with(config: HubConfig) -> Sim {
        Sim {
            hub: Hub::new(config),
            out: Outbox::default(),
            t0: Instant::now(),
            at: Duration::ZERO,
            inbox: HashMap::new(),
            closed: Vec::new(),
        }
    }

    pub fn now(&self) -> Now {
        Now {
            mono: self.t0 + self.at,
            unix_ms: 1_700_000_000_000 + self.at.as_millis() as u64,
        }
    }

    pub fn advance(&mut self, by: Duration) {
        self.at += by;
    }

    /// Connects client `c` as `user` and returns its welcome.
    pub fn connect(&mut self, c: usize, user: Option<&str>) -> Value {
        let now = self.now();
        self.hub
            .handle_connect(now, ClientId(c), user, &mut self.out);
        self.drain();
        let mut got = self.take(c);
        assert_eq!(got.len(), 1, "{got:?}");
        let welcome = got.remove(0);
        assert_eq!(welcome["event"], "welcome");
        welcome
    }

    /// Client `c` sends a text frame.
    pub fn send(&mut self, c: usize, text: &str) {
        let now = self.now();
        self.hub.handle_text(now, ClientId(c), text, &mut self.out);
        self.drain();
    }

    /// Client `c` sends `value` as JSON.
    pub fn act(&mut self, c: usize, value: Value) {
        self.send(c, &value.to_string());
    }

    pub fn binary(&mut self, c: usize) {
        let now = self.now();
        self.hub.handle_binary(now, ClientId(c), &mut self.out);
        self.drain();
    }

    pub fn disconnect(&mut self, c: usize) {
        let now = self.now();
        self.hub.handle_disconnect(now, ClientId(c), &mut self.out);
        self.drain();
        self.inbox.remove(&c);
    }

    /// Fires the hub's timers as the reactor would, if due.
    pub fn tick(&mut self) {
        let now = self.now();
        if self.hub.poll_timeout().is_some_and(|t| t <= now.mono) {
            self.hub.handle_timeout(now, &mut self.out);
            self.drain();
        }
    }

    pub fn publish(&mut self, body: &str) -> Result<usize, super::PublishError> {
        let now = self.now();
        let r = self.hub.handle_publish(now, body.as_bytes(), &mut self.out);
        self.drain();
        r
    }

    /// Everything client `c` received since the last `take`.
    pub fn take(&mut self, c: usize) -> Vec<Value> {
        self.inbox.remove(&c).unwrap_or_default()
    }

    /// The one event `c` received since the last `take`.
    pub fn one(&mut self, c: usize) -> Value {
        let mut got = self.take(c);
        assert_eq!(got.len(), 1, "client {c} got {got:?}");
        got.remove(0)
    }

    /// Asserts `c` received nothing.
    pub fn quiet(&mut self, c: usize) {
        let got = self.take(c);
        assert!(got.is_empty(), "client {c} got {got:?}");
    }

    /// Sends a frame and returns the single error it caused for `c`.
    pub fn error(&mut self, c: usize, value: Value) -> Value {
        self.act(c, value);
        let e = self.one(c);
        assert_eq!(e["event"], "error", "{e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
        e
    }

    fn drain(&mut self) {
        for output in self.out.iter() {
            match output {
                Output::Text { to, text } => {
                    let value: Value = serde_json::from_str(text)
                        .unwrap_or_else(|e| panic!("invalid JSON {text}: {e}"));
                    let unique: HashSet<_> = to.iter().collect();
                    assert_eq!(unique.len(), to.len(), "duplicate recipient of {text}");
                    assert!(!to.is_empty());
                    for c in to {
                        self.inbox.entry(c.0).or_default().push(value.clone());
                    }
                }
                Output::Close {
                    client,
                    code,
                    reason,
                } => self.closed.push((client.0, code, reason.to_string())),
            }
        }
        self.out.clear();
        self.hub.check_invariants().unwrap();
    }
}

/// A user's view of a member list: sorted `user` names.
pub(super) fn users(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The `message` payloads of a list of message events.
pub(super) fn payloads(events: &Value) -> Vec<Value> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].clone())
        .collect()
}

#[test]
fn sim_sees_nothing_before_anything() {
    let mut sim = Sim::new();
    assert_eq!(sim.hub.connections(), 0);
    assert_eq!(sim.hub.rooms(), 0);
    assert_eq!(sim.hub.poll_timeout(), None);
    sim.send(3, &json!({"action": "rooms"}).to_string());
    sim.quiet(3);
}
