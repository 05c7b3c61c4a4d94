//! The hub over Redis (`--redis`): several nodes act as one hub.
//!
//! Redis is the home of room state here (the `Home::Redis` of `hub::home`,
//! the one seam every home implements): `home.rs` turns the seam's actions
//! (append, join/subscribe, history, create, delete) into scripts
//! (`engine::scripts`) that decide in Redis, and answers `Later`. Their
//! events come back on the room's channel to every node that has members
//! there, this one included, so every node delivers them in the one order
//! Redis ran them in; the `ack` (or `error`) follows the script's reply, and
//! a publish's ack is held until its message came by on the channel. With
//! Redis away the seam answers `unavailable`. The rest is not room state:
//! `broadcast`, `notify`, `members` and `rooms` (`actions.rs`), presence and
//! heartbeats, and recovery after a lost link (`recover.rs`).
//!
//! A node subscribes only to the channels of rooms it has members in (or
//! joins waiting), of users connected to it, and to the broadcast channels.
//! Each payload is copied into the outbox once and framed once by the
//! reactor, as on one node. Local state stays the source for fan-out: a room
//! here lists this node's members; presence of others lives in Redis
//! (`members` asks it).

mod actions;
mod deliver;
mod home;
mod join;
mod recover;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::failure::Failure;
use super::store::{Epoch, Since};
use super::{Hub, Now, Outbox, error};
use crate::ClientId;
use crate::engine::gate::Gate;
use crate::engine::{Engine, Event, RedisUrl, State, Value, scripts};
use crate::protocol::{self, ErrorCode};

// A node's heartbeat deadline in Redis and how often the heartbeat runs (see `limits`).
pub use crate::limits::{
    CLUSTER_HEARTBEAT_EVERY as HEARTBEAT_EVERY, CLUSTER_PRESENCE_TTL as PRESENCE_TTL,
};

/// A decoded room-channel payload.
#[derive(Debug)]
pub(super) struct Payload {
    /// `m`: a message (members and subscribers); `p`: presence or typing (members).
    kind: u8,
    /// A message's seq (0 for `p`).
    seq: u64,
    /// The connection that caused it (`-` for none); it gets no `p` payload.
    origin: Box<str>,
    event: Box<str>,
}

/// This node's view of one room channel.
#[derive(Debug, Default)]
struct Link {
    /// Redis confirmed the subscription.
    subscribed: bool,
    /// Joins (by tag) to send once it is.
    queued: Vec<u64>,
    gate: Gate<ClientId, Arc<Payload>>,
    /// Acks of publishes held until their message came by on the channel
    /// (`ev`, client, connection id, ref), so the sender sees its message
    /// before the ack, as on one node.
    acks: Vec<(u64, ClientId, Box<str>, Box<str>)>,
    /// The last message seq delivered here, and its epoch (from the last
    /// join answer or recovery), to replay what a lost link missed.
    last_seq: u64,
    epoch: Option<Epoch>,
    /// After a reconnect, until the room's state came back: payloads held.
    recovering: Option<Vec<(u64, Payload)>>,
}

/// What a command's reply is for.
#[derive(Debug)]
enum Waiting {
    /// An answer for a client: ack, or the error the reply implies.
    Answer {
        client: ClientId,
        id: Box<str>,
        reference: Option<Box<str>>,
        what: Answer,
    },
    Join(join::JoinWait),
    /// A room's state after a reconnect, to replay what this node missed.
    Recover(Box<str>),
    /// Fire and forget (leave, heartbeat, re-announce): errors are logged.
    Quiet(&'static str),
}

#[derive(Debug)]
enum Answer {
    Publish(Box<str>),
    Notify(Box<str>),
    Broadcast,
    Members(Box<str>, usize),
    Create(Box<str>),
    Rooms(usize),
    History(Box<str>, Option<Since>),
    Delete(Box<str>),
}

/// The cluster state the hub keeps with `--redis`.
#[derive(Debug)]
pub struct Cluster {
    pub(super) engine: Engine,
    pub(super) node: Box<str>,
    waiting: HashMap<u64, Waiting>,
    next_tag: u64,
    links: HashMap<Box<str>, Link>,
    heartbeat_at: Option<Instant>,
    /// Raw `/broadcast` frames from the raw channel, for the reactor to frame and fan out.
    raw_in: Vec<(bool, Vec<u8>)>,
}

impl Cluster {
    fn tag(&mut self, waiting: Waiting) -> u64 {
        self.next_tag += 1;
        self.waiting.insert(self.next_tag, waiting);
        self.next_tag
    }

    /// Runs `script`, remembering what its reply is for; false if Redis is not ready.
    fn eval(&mut self, script: usize, keys: &[&[u8]], args: &[&[u8]], waiting: Waiting) -> bool {
        let tag = self.tag(waiting);
        if self.engine.eval(script, keys, args, tag) {
            return true;
        }
        self.waiting.remove(&tag);
        false
    }

    fn command(&mut self, args: &[&[u8]], waiting: Waiting) -> bool {
        let tag = self.tag(waiting);
        if self.engine.command(args, tag) {
            return true;
        }
        self.waiting.remove(&tag);
        false
    }
}

impl Hub {
    /// Switches this hub to the Redis engine: `node` names it (in connection
    /// ids and in Redis), `url` says where Redis is. Call before the first client.
    pub fn attach_redis(&mut self, url: RedisUrl, node: &str, now: Instant) {
        let mut engine = Engine::new(url, now, self.epoch_seed);
        engine.set_name(node);
        engine.subscribe(scripts::ALL_CHANNEL);
        engine.subscribe(scripts::RAW_CHANNEL);
        // Disk and Redis together are refused at start (config).
        debug_assert!(
            matches!(self.home, super::home::Home::Local(None)),
            "one home for room state"
        );
        self.home = super::home::Home::Redis(Box::new(Cluster {
            engine,
            node: node.into(),
            waiting: HashMap::new(),
            next_tag: 0,
            links: HashMap::new(),
            heartbeat_at: None,
            raw_in: Vec::new(),
        }));
    }

    /// The Redis engine, for the reactor's sockets (`None` without `--redis`).
    pub fn engine_mut(&mut self) -> Option<&mut Engine> {
        self.home.cluster_mut().map(|c| &mut c.engine)
    }

    /// Heap bytes of the engine and of the answers it is waited for, for
    /// the memory budget (0 without `--redis`).
    pub fn engine_bytes(&self) -> usize {
        self.home.cluster().map_or(0, |c| {
            c.engine.heap_bytes()
                + c.waiting.capacity() * std::mem::size_of::<(u64, Waiting)>()
                + c.links.capacity() * std::mem::size_of::<(Box<str>, Link)>()
        })
    }

    /// The Redis engine, for `/healthz` and `/metrics`.
    pub fn engine(&self) -> Option<&Engine> {
        self.home.cluster().map(|c| &c.engine)
    }

    /// Acts on everything the engine heard (call after feeding it input or timeouts).
    pub fn handle_engine(&mut self, now: Now, out: &mut Outbox) {
        loop {
            let Some(cluster) = self.home.cluster_mut() else {
                return;
            };
            let Some(event) = cluster.engine.next_event() else {
                return;
            };
            match event {
                Event::Up => self.engine_up(now),
                Event::Down => self.engine_down(out),
                Event::Reply { tag, value } => {
                    if let Some(w) = cluster.waiting.remove(&tag) {
                        self.reply(now, w, value, out);
                    }
                }
                Event::Subscribed { channel } => self.subscribed(&channel, now, out),
                Event::Message { channel, payload } => self.deliver(&channel, &payload, out),
            }
        }
    }

    /// Raw `/broadcast` frames that came from Redis (binary flag, payload):
    /// the reactor frames each once for [`Hub::raw_recipients`].
    pub fn take_raw_frames(&mut self) -> Vec<(bool, Vec<u8>)> {
        self.home
            .cluster_mut()
            .map(|c| std::mem::take(&mut c.raw_in))
            .unwrap_or_default()
    }

    /// The cluster's timers: the heartbeat.
    pub(super) fn cluster_timeout(&mut self, now: Now) {
        let Some(c) = self.home.cluster_mut() else {
            return;
        };
        if c.heartbeat_at.is_some_and(|at| at <= now.mono) {
            c.heartbeat_at = Some(now.mono + HEARTBEAT_EVERY);
            let ttl = PRESENCE_TTL.as_millis().to_string();
            let node = c.node.clone();
            c.eval(
                scripts::I_HEARTBEAT,
                &[scripts::NODES],
                &[node.as_bytes(), ttl.as_bytes()],
                Waiting::Quiet("heartbeat"),
            );
        }
    }

    pub(super) fn cluster_deadline(&self) -> Option<Instant> {
        self.home.cluster()?.heartbeat_at
    }

    /// Redis is (back) up: heartbeat now, and put this node's members back
    /// into Redis (after a Redis restart they are gone from it).
    fn engine_up(&mut self, now: Now) {
        let mut entries = Vec::new();
        for conn in self.conns.iter().flatten() {
            for m in &conn.rooms {
                entries.push((
                    self.rooms[m.room].name.clone(),
                    member_entry(conn, m.joined),
                ));
            }
        }
        let c = self.home.cluster_mut().expect("cluster");
        c.heartbeat_at = Some(now.mono);
        for (room, (id, entry)) in entries {
            let epoch = Epoch::fresh(self.epoch_seed, now.unix_ms, c.next_tag).to_string();
            let keys = join::keys(&room, &c.node);
            let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            let args: [&[u8]; 7] = [
                id.as_bytes(),
                entry.as_bytes(),
                b"",
                b"0",
                epoch.as_bytes(),
                room.as_bytes(),
                b"r",
            ];
            c.eval(scripts::I_JOIN, &keys, &args, Waiting::Quiet("re-announce"));
        }
        self.recover_all();
        self.cluster_timeout(now);
    }

    /// Redis went away: joins waiting for a subscription answer `unavailable`
    /// (the engine already failed every command in flight).
    fn engine_down(&mut self, out: &mut Outbox) {
        let c = self.home.cluster_mut().expect("cluster");
        c.heartbeat_at = None;
        let mut void = Vec::new();
        let mut acks = Vec::new();
        for link in c.links.values_mut() {
            link.subscribed = false;
            // Those publishes ran; only their echo on this link was lost.
            acks.append(&mut link.acks);
            for tag in link.queued.drain(..) {
                if let Some(w) = c.waiting.remove(&tag) {
                    void.push(w);
                }
            }
            link.gate.reset();
        }
        for (_, client, _, reference) in acks {
            let mark = out.mark();
            protocol::write_ack(out.buf(), &reference);
            out.recipient(client);
            out.commit(mark);
        }
        for w in void {
            if let Waiting::Join(j) = w {
                unavailable(out, j.client, j.reference.as_deref());
            }
        }
        let names: Vec<Box<str>> = c.links.keys().cloned().collect();
        for name in names {
            self.maybe_unlink(&name);
        }
    }

    fn reply(&mut self, now: Now, w: Waiting, value: Option<Value>, out: &mut Outbox) {
        match w {
            Waiting::Quiet(what) => {
                if let Some(Value::Error(e)) = value {
                    log::warn!("redis {what} failed: {e}");
                }
            }
            Waiting::Join(j) => self.join_answered(now, j, value, out),
            Waiting::Recover(room) => self.recovered(&room, value, out),
            Waiting::Answer {
                client,
                id,
                reference,
                what,
            } => {
                let gone = self.conns.get(client.0).and_then(Option::as_ref);
                if gone.is_none_or(|c| c.id != id) {
                    return;
                }
                let reference = reference.as_deref();
                let Some(value) = value else {
                    return unavailable(out, client, reference);
                };
                if let Value::Error(e) = &value {
                    if e.contains("forbidden") {
                        return error(
                            out,
                            client,
                            ErrorCode::Forbidden,
                            format_args!("room has a password: join it first"),
                            reference,
                        );
                    }
                    log::warn!("redis command failed: {e}");
                    return unavailable(out, client, reference);
                }
                match what {
                    Answer::Notify(user) if value.as_int() == Some(0) => {
                        return error(
                            out,
                            client,
                            ErrorCode::NoSuchUser,
                            format_args!("user {user} is not online"),
                            reference,
                        );
                    }
                    Answer::Create(room) if value.as_int() == Some(0) => {
                        return error(
                            out,
                            client,
                            ErrorCode::RoomExists,
                            format_args!("room {room} exists"),
                            reference,
                        );
                    }
                    Answer::Members(room, offset) => {
                        self.write_members(client, &room, offset, &value, out);
                    }
                    Answer::Rooms(offset) => {
                        actions::write_rooms(client, offset, self.config.answer_bytes, &value, out);
                    }
                    Answer::History(room, since) => {
                        self.write_history(client, &room, since, &value, out);
                    }
                    Answer::Delete(room) => {
                        let word = value.as_array().and_then(|v| v.first()?.as_bytes());
                        let failure = match word {
                            Some(b"ok") => None,
                            Some(b"not_owner") => Some(Failure::NotOwner(&room)),
                            _ => Some(Failure::NoSuchRoom(&room)),
                        };
                        if let Some(f) = failure {
                            return error(out, client, f.code(), format_args!("{f}"), reference);
                        }
                        let ev = value.as_array().and_then(|v| v.get(1)?.as_int());
                        let c = self.home.cluster_mut().expect("cluster");
                        // Held until the `deleted` came by here, as a publish's ack is.
                        if let (Some(link), Some(ev), Some(reference)) =
                            (c.links.get_mut(&room), ev, reference)
                            && link.gate.seen() < ev as u64
                        {
                            link.acks.push((ev as u64, client, id, reference.into()));
                            return;
                        }
                    }
                    Answer::Publish(room) => {
                        let ev = value.as_array().and_then(|v| v.get(1)?.as_int());
                        let c = self.home.cluster_mut().expect("cluster");
                        if let (Some(link), Some(ev), Some(reference)) =
                            (c.links.get_mut(&room), ev, reference)
                            && link.gate.seen() < ev as u64
                        {
                            link.acks.push((ev as u64, client, id, reference.into()));
                            return;
                        }
                    }
                    _ => {}
                }
                if let Some(reference) = reference {
                    let mark = out.mark();
                    protocol::write_ack(out.buf(), reference);
                    out.recipient(client);
                    out.commit(mark);
                }
            }
        }
    }

    /// `client` is going away: forget its joins in flight (their replies are
    /// then undone in Redis).
    pub(super) fn cluster_gone(&mut self, client: ClientId) {
        if let Some(c) = self.home.cluster_mut() {
            for link in c.links.values_mut() {
                link.gate.cancel(client);
            }
        }
    }

    /// The engine state for `/healthz`: `null` without `--redis`.
    pub fn engine_state(&self) -> Option<&'static str> {
        Some(match self.engine()?.state() {
            State::Down => "down",
            State::Connecting => "connecting",
            State::Ready => "ready",
        })
    }
}

/// `(id, entry)` of a connection in a room's member hash.
pub(super) fn member_entry(conn: &super::Conn, joined: bool) -> (Box<str>, String) {
    let mut entry = String::from(if joined { "j" } else { "s" });
    protocol::write_member(&mut entry, true, &conn.user_json, &conn.id);
    (conn.id.clone(), entry)
}

pub(super) fn unavailable(out: &mut Outbox, client: ClientId, reference: Option<&str>) {
    error(
        out,
        client,
        ErrorCode::Unavailable,
        format_args!("the cluster engine (redis) is not reachable; try again"),
        reference,
    );
}
