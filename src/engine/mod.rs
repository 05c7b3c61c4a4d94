//! The Redis engine, sans-IO: two links to one Redis (commands, pub/sub), their
//! handshakes, pipelined commands matched to replies in order, the wanted
//! subscriptions (resubscribed in batches after a reconnect), and reconnects
//! with exponential backoff and jitter. The reactor owns the sockets and moves
//! bytes; the hub submits commands and reads [`Event`]s. Time is passed in.

pub mod gate;
pub mod resp;
pub mod scripts;
#[cfg(test)]
mod tests;
mod url;

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

pub use resp::Value;
pub use url::{RedisUrl, parse_url};

/// First reconnect delay; doubled per failed attempt up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A connect (TCP and handshake) that takes longer than this is abandoned.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Channels per SUBSCRIBE command when resubscribing, so a node with many
/// rooms does not send one huge command (nor one per room).
pub const SUBSCRIBE_BATCH: usize = 256;
/// Unanswered commands allowed on the command link; past this, new commands
/// are refused (`unavailable`) instead of queueing without bound.
pub const MAX_INFLIGHT: usize = 65_536;

/// Which of the two links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Commands and script calls, pipelined.
    Cmd,
    /// SUBSCRIBE and the messages it brings.
    Sub,
}

/// Where the engine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No links; a reconnect is due at `retry_at`.
    Down,
    /// Sockets asked for; waiting for them to connect and finish the handshake.
    Connecting,
    /// Both links are up and the scripts are loaded: commands are accepted.
    Ready,
}

/// What the hub hears from the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Both links are ready (after a start or a reconnect).
    Up,
    /// The links were lost; every unanswered command got `Reply { value: None }` before this.
    Down,
    /// The answer to the command submitted with `tag`; `None`: the link died first.
    Reply { tag: u64, value: Option<Value> },
    /// A message published on a channel this node subscribes to.
    Message { channel: Vec<u8>, payload: Vec<u8> },
    /// Redis confirmed a subscription: messages on `channel` arrive from now on.
    Subscribed { channel: Vec<u8> },
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Commands sent (script calls included, handshakes excluded).
    pub commands: u64,
    /// Messages received on the pub/sub link.
    pub messages: u64,
    /// Times the links were lost after having been ready.
    pub reconnects: u64,
    /// Commands refused because Redis was not ready.
    pub refused: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// AUTH / SELECT: anything but an error is fine.
    Handshake,
    /// SCRIPT LOAD of script `i`: the reply is its SHA1.
    Script(usize),
    /// A hub command.
    Tag(u64),
}

/// One link's buffers.
#[derive(Debug, Default)]
struct Link {
    connected: bool,
    out: Vec<u8>,
    input: Vec<u8>,
    /// Handshake replies still expected (sub link: AUTH).
    handshake: usize,
}

impl Link {
    fn reset(&mut self) {
        self.connected = false;
        self.out.clear();
        self.input.clear();
        self.handshake = 0;
    }
}

/// The engine. See the module docs.
#[derive(Debug)]
pub struct Engine {
    url: RedisUrl,
    state: State,
    cmd: Link,
    sub: Link,
    inflight: VecDeque<Expect>,
    shas: Vec<Option<String>>,
    /// Channels the hub wants; resubscribed on every reconnect.
    channels: BTreeSet<Vec<u8>>,
    events: VecDeque<Event>,
    attempt: u32,
    retry_at: Option<Instant>,
    connect_deadline: Option<Instant>,
    /// Bumped whenever the links are dropped, so the reactor drops its sockets too.
    generation: u64,
    rng: u64,
    /// This node's name, given to Redis (CLIENT SETNAME) so operators see who is who.
    name: Option<String>,
    /// Counters for `/metrics`.
    pub stats: Stats,
}

impl Engine {
    /// An engine for `url`, down, with a connect due at once. `seed` feeds the jitter.
    pub fn new(url: RedisUrl, now: Instant, seed: u64) -> Engine {
        Engine {
            url,
            state: State::Down,
            cmd: Link::default(),
            sub: Link::default(),
            inflight: VecDeque::new(),
            shas: vec![None; scripts::ALL.len()],
            channels: BTreeSet::new(),
            events: VecDeque::new(),
            attempt: 0,
            retry_at: Some(now),
            connect_deadline: None,
            generation: 0,
            rng: seed | 1,
            name: None,
            stats: Stats::default(),
        }
    }

    /// Names the links in Redis' CLIENT LIST: `lc-<name>-cmd` and `lc-<name>-sub`.
    pub fn set_name(&mut self, name: &str) {
        self.name = Some(name.to_owned());
    }

    /// Where Redis is.
    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// Down, connecting or ready.
    pub fn state(&self) -> State {
        self.state
    }

    /// Heap bytes of the links' buffers and the replies waited for, counted
    /// against `--max-memory` like the loop's own buffers.
    pub fn heap_bytes(&self) -> usize {
        [&self.cmd, &self.sub]
            .iter()
            .map(|l| l.out.capacity() + l.input.capacity())
            .sum::<usize>()
            + self.inflight.capacity() * std::mem::size_of::<Expect>()
    }

    /// Changes whenever the links are dropped: sockets of an older generation must be closed.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Commands sent and not answered yet.
    pub fn pending(&self) -> usize {
        self.inflight.len()
    }

    /// Whether the reactor should open the two sockets now.
    pub fn connect_due(&self, now: Instant) -> bool {
        self.state == State::Down && self.retry_at.is_some_and(|at| at <= now)
    }

    /// The reactor opened (is opening) both sockets.
    pub fn connecting(&mut self, now: Instant) {
        self.state = State::Connecting;
        self.retry_at = None;
        self.connect_deadline = Some(now + CONNECT_TIMEOUT);
    }

    /// A socket finished connecting: queue its handshake.
    pub fn link_up(&mut self, side: Side) {
        if self.state != State::Connecting {
            return;
        }
        let auth: Option<Vec<&[u8]>> = self.url.password.as_deref().map(|p| match &self.url.user {
            Some(u) => vec![&b"AUTH"[..], u.as_bytes(), p.as_bytes()],
            None => vec![&b"AUTH"[..], p.as_bytes()],
        });
        match side {
            Side::Cmd => {
                self.cmd.connected = true;
                if let Some(args) = &auth {
                    resp::encode(&mut self.cmd.out, args);
                    self.inflight.push_back(Expect::Handshake);
                }
                if self.url.db != 0 {
                    let db = self.url.db.to_string();
                    resp::encode(&mut self.cmd.out, &[&b"SELECT"[..], db.as_bytes()]);
                    self.inflight.push_back(Expect::Handshake);
                }
                if let Some(name) = &self.name {
                    let name = format!("lc-{name}-cmd");
                    resp::encode(&mut self.cmd.out, &["CLIENT", "SETNAME", &name]);
                    self.inflight.push_back(Expect::Handshake);
                }
                for (i, script) in scripts::ALL.iter().enumerate() {
                    resp::encode(&mut self.cmd.out, &["SCRIPT", "LOAD", script]);
                    self.inflight.push_back(Expect::Script(i));
                }
            }
            Side::Sub => {
                self.sub.connected = true;
                if let Some(args) = &auth {
                    resp::encode(&mut self.sub.out, args);
                    self.sub.handshake += 1;
                }
                if let Some(name) = &self.name {
                    let name = format!("lc-{name}-sub");
                    resp::encode(&mut self.sub.out, &["CLIENT", "SETNAME", &name]);
                    self.sub.handshake += 1;
                }
            }
        }
        self.check_ready();
    }

    /// A socket failed, hung up or timed out: drop both links and retry later.
    pub fn link_down(&mut self, now: Instant, why: &str) {
        if self.state == State::Down {
            return;
        }
        if self.state == State::Ready {
            log::warn!("redis {}: link lost ({why}); reconnecting", self.url);
            self.stats.reconnects += 1;
        } else {
            log::debug!("redis {}: connect failed ({why})", self.url);
        }
        for expect in self.inflight.drain(..) {
            if let Expect::Tag(tag) = expect {
                self.events.push_back(Event::Reply { tag, value: None });
            }
        }
        if self.state == State::Ready {
            self.events.push_back(Event::Down);
        }
        self.cmd.reset();
        self.sub.reset();
        self.shas.iter_mut().for_each(|s| *s = None);
        self.state = State::Down;
        self.generation += 1;
        self.connect_deadline = None;
        let backoff = BACKOFF_MIN
            .saturating_mul(1 << self.attempt.min(16))
            .min(BACKOFF_MAX);
        self.attempt += 1;
        // Full jitter on the upper half: nodes that lost Redis together do not
        // come back in step (a reconnect storm), yet none waits under half.
        let half = backoff / 2;
        let jitter = half.mul_f64((self.next_random() % 1000) as f64 / 1000.0);
        self.retry_at = Some(now + half + jitter);
    }

    /// Bytes read from `side`.
    pub fn input(&mut self, now: Instant, side: Side, bytes: &[u8]) {
        let link = match side {
            Side::Cmd => &mut self.cmd,
            Side::Sub => &mut self.sub,
        };
        link.input.extend_from_slice(bytes);
        let mut used = 0;
        let mut values = Vec::new();
        let result = loop {
            match resp::decode(&link.input[used..]) {
                Ok(Some((v, n))) => {
                    used += n;
                    values.push(v);
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        link.input.drain(..used);
        for v in values {
            let ok = match side {
                Side::Cmd => self.cmd_reply(v),
                Side::Sub => self.sub_reply(v),
            };
            if let Err(why) = ok {
                return self.link_down(now, &why);
            }
        }
        if let Err(e) = result {
            self.link_down(now, &e.to_string());
        }
    }

    /// Output waiting for `side`'s socket; the reactor drains what it wrote.
    pub fn output(&mut self, side: Side) -> &mut Vec<u8> {
        match side {
            Side::Cmd => &mut self.cmd.out,
            Side::Sub => &mut self.sub.out,
        }
    }

    /// The next deadline: a reconnect, or a connect that takes too long.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.retry_at.or(self.connect_deadline)
    }

    /// Acts on deadlines due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.connect_deadline.is_some_and(|at| at <= now) {
            self.link_down(now, "connect timed out");
        }
    }

    /// The next event for the hub.
    pub fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Sends a command; its answer comes back as `Reply { tag }`. Refused
    /// (`false`) unless the engine is ready, so nothing waits for a Redis that
    /// is not there.
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A], tag: u64) -> bool {
        if self.state != State::Ready || self.inflight.len() >= MAX_INFLIGHT {
            self.stats.refused += 1;
            return false;
        }
        resp::encode(&mut self.cmd.out, args);
        self.inflight.push_back(Expect::Tag(tag));
        self.stats.commands += 1;
        true
    }

    /// Runs script `script` (an index into [`scripts::ALL`]) with `keys` and `args`.
    pub fn eval(&mut self, script: usize, keys: &[&[u8]], args: &[&[u8]], tag: u64) -> bool {
        let Some(sha) = self.shas.get(script).and_then(Option::as_ref) else {
            self.stats.refused += 1;
            return false;
        };
        let nkeys = keys.len().to_string();
        let mut all: Vec<&[u8]> = Vec::with_capacity(3 + keys.len() + args.len());
        all.extend([&b"EVALSHA"[..], sha.as_bytes(), nkeys.as_bytes()]);
        all.extend_from_slice(keys);
        all.extend_from_slice(args);
        // The borrow of `sha` ends with `all`; encode through a temporary buffer.
        let mut buf = Vec::new();
        resp::encode(&mut buf, &all);
        if self.state != State::Ready || self.inflight.len() >= MAX_INFLIGHT {
            self.stats.refused += 1;
            return false;
        }
        self.cmd.out.extend_from_slice(&buf);
        self.inflight.push_back(Expect::Tag(tag));
        self.stats.commands += 1;
        true
    }

    /// Wants messages of `channel` (sent now if the link is up, and after every reconnect).
    pub fn subscribe(&mut self, channel: &[u8]) {
        if self.channels.insert(channel.to_vec()) && self.sub_ready() {
            resp::encode(&mut self.sub.out, &[&b"SUBSCRIBE"[..], channel]);
        }
    }

    /// No longer wants `channel`.
    pub fn unsubscribe(&mut self, channel: &[u8]) {
        if self.channels.remove(channel) && self.sub_ready() {
            resp::encode(&mut self.sub.out, &[&b"UNSUBSCRIBE"[..], channel]);
        }
    }

    /// Whether `channel` is wanted.
    pub fn wants(&self, channel: &[u8]) -> bool {
        self.channels.contains(channel)
    }

    fn sub_ready(&self) -> bool {
        self.state == State::Ready && self.sub.connected && self.sub.handshake == 0
    }

    fn cmd_reply(&mut self, v: Value) -> Result<(), String> {
        let Some(expect) = self.inflight.pop_front() else {
            return Err("reply without a command".into());
        };
        match expect {
            Expect::Handshake => {
                if let Value::Error(e) = v {
                    return Err(format!("handshake refused: {e}"));
                }
            }
            Expect::Script(i) => match v.as_bytes() {
                Some(sha) => self.shas[i] = Some(String::from_utf8_lossy(sha).into_owned()),
                None => return Err(format!("SCRIPT LOAD failed: {v:?}")),
            },
            Expect::Tag(tag) => self.events.push_back(Event::Reply {
                tag,
                value: Some(v),
            }),
        }
        self.check_ready();
        Ok(())
    }

    fn sub_reply(&mut self, v: Value) -> Result<(), String> {
        if self.sub.handshake > 0 {
            self.sub.handshake -= 1;
            if let Value::Error(e) = v {
                return Err(format!("handshake refused: {e}"));
            }
            self.check_ready();
            return Ok(());
        }
        let Some(items) = v.as_array() else {
            return Err(format!("unexpected pub/sub reply {v:?}"));
        };
        match items {
            [kind, channel, payload] if kind.as_bytes() == Some(b"message") => {
                self.stats.messages += 1;
                self.events.push_back(Event::Message {
                    channel: channel.as_bytes().unwrap_or_default().to_vec(),
                    payload: payload.as_bytes().unwrap_or_default().to_vec(),
                });
            }
            [kind, channel, _] if kind.as_bytes() == Some(b"subscribe") => {
                let channel = channel.as_bytes().unwrap_or_default().to_vec();
                // An answer to a SUBSCRIBE the hub has since taken back is not news.
                if self.channels.contains(&channel) {
                    self.events.push_back(Event::Subscribed { channel });
                }
            }
            [kind, ..] if kind.as_bytes() == Some(b"unsubscribe") => {}
            _ => return Err(format!("unexpected pub/sub reply {v:?}")),
        }
        Ok(())
    }

    fn check_ready(&mut self) {
        let cmd_done = self.cmd.connected && self.inflight.is_empty();
        let sub_done = self.sub.connected && self.sub.handshake == 0;
        if self.state != State::Connecting || !cmd_done || !sub_done {
            return;
        }
        self.state = State::Ready;
        self.attempt = 0;
        self.connect_deadline = None;
        log::info!("redis {}: ready", self.url);
        let wanted: Vec<&Vec<u8>> = self.channels.iter().collect();
        for batch in wanted.chunks(SUBSCRIBE_BATCH) {
            let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
            args.extend(batch.iter().map(|c| c.as_slice()));
            resp::encode(&mut self.sub.out, &args);
        }
        self.events.push_back(Event::Up);
    }

    /// xorshift64: jitter needs spread, not quality.
    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
}
