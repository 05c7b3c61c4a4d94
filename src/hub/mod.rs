//! The sans-IO hub: who receives what. The JSON hub behind `/ws` (users,
//! rooms, topics, presence, history, typing) and the raw `/broadcast` fan-out.
//!
//! Call order (the reactor's side): `handle_connect` once when a `/ws` upgrade
//! completes; `handle_text`/`handle_binary` per received message;
//! `handle_timeout` when `poll_timeout` is due; `handle_disconnect` exactly once
//! when the connection ends (also after the hub itself asked to close it).
//! For `/broadcast`: `handle_raw_connect`, `raw_recipients` per message,
//! `handle_raw_disconnect` once. After every `handle_*` call the reactor
//! drains the `Outbox`. With a room store (`set_store`, for `--data-dir`):
//! `commit` once per loop turn, before that turn's output is written to
//! sockets, and `close_store` at shutdown.
//!
//! Answers to what PROTOCOL.md leaves open:
//! - Success answers: `join` answers `room`, `history`, `members` and `rooms`
//!   answer with their events (each paged, see `pages`); everything else is silent. With a `ref`, an `ack` follows
//!   (after the answer event, if any); failures always answer `error`.
//! - `join` of a room one is already in answers `room` again, without a
//!   second `joined`. `join` of a room one is subscribed to turns the
//!   subscription into membership (others get `joined`). `subscribe` of a room
//!   one is in changes nothing.
//! - Subscribers get `message` events only; `joined`, `left` and `typing` go to
//!   joined members, and `members` lists joined members only. `max_members`
//!   counts both. `left` follows the member's mode, not the word used to
//!   leave: `unsubscribe` of a joined member still tells the others.
//! - `join`/`subscribe` that creates a room with a `password` sets it.
//! - A `create`d room lives, empty, until someone enters it (then the usual
//!   "removed when empty" applies) or until its creator disconnects; until then
//!   it counts against the creator's `max_rooms`, which bounds empty rooms.
//! - `members` of a room that does not exist lists nobody; of a password room,
//!   it needs membership (`forbidden`).
//! - `typing` needs membership (`not_member`); changes are forwarded, and a
//!   repeated `true` renews the 5 s expiry and is forwarded again once 2 s
//!   passed since the last one (so receivers can time out a lost `false`
//!   without dropping a live typist). `left` implies "stopped typing": no
//!   `typing false` is sent for a member who leaves. `typing` has a budget of
//!   its own (2/s, burst 5) before it counts against the message rate, so
//!   typing never costs a message.
//! - `max_members` counts users, not connections: a user's second tab always
//!   gets in where the first is.
//! - `welcome` announces the limits a client should pace itself by.
//! - `room` carries `seq` (the room's latest) so a client can resume even
//!   before any message, and `epoch` (which run of the room's history that
//!   seq counts in). A `since` above that seq, or with another `epoch` (the
//!   room was recreated), returns the whole history with `gap: true`.
//! - Every frame counts against the rate limit, bad ones included. A frame
//!   over the limit is not parsed (parsing is what a flood would cost), so its
//!   `rate_limited` carries no `ref`; only a frame small enough to be a
//!   `typing` notice (`limits::TYPING_FRAME`) is parsed first while typing's
//!   allowance has a token, and keeps its `ref`.
//! - Fan-out has its own, lower budgets on top of the rate limit: `broadcast`
//!   (one frame to every connection) per sending connection, and `notify`
//!   per receiving user, from all senders together (so many senders cannot
//!   flood one user). Over either, the action answers `rate_limited` and does
//!   nothing; these budgets never close a connection.

mod budget;
#[cfg(feature = "redis")]
pub mod cluster;
mod dispatch;
mod failure;
mod home;
mod invariants;
mod names;
mod names_file;
mod outbox;
mod pages;
mod publish;
mod rate;
mod raw;
mod rooms;
mod state;
pub mod store;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::hash_map::RandomState;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::time::Instant;

use slab::Slab;

use crate::ClientId;
use crate::protocol::{self, ErrorCode, Scope};

use failure::Failure;
pub use names::NameInUse;
pub use outbox::{Outbox, Output};
use rate::{Bucket, Rate};
pub use raw::RawAdmit;
use rooms::{Room, RoomKey, TypingDeadline};

/// The current time, passed in: monotonic for deadlines, wall clock for `ts`.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// For deadlines (typing expiry, rate limiting).
    pub mono: Instant,
    /// Milliseconds since the Unix epoch, for `ts`.
    pub unix_ms: u64,
}

/// The hub's caps; they live in `limits` with every other cap.
pub type HubConfig = crate::limits::HubLimits;

/// Why `/api/publish` was refused: an HTTP status and a reason for the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishError {
    /// HTTP status (400).
    pub status: u16,
    /// Human reason.
    pub message: String,
}

/// The close code for a client that kept flooding past the grace period.
const CLOSE_POLICY: u16 = 1008;

/// One `/ws` connection.
#[derive(Debug)]
struct Conn {
    /// Public id, from the never-reused serial.
    id: Box<str>,
    user: Box<str>,
    /// `user` as a quoted JSON string, escaped once.
    user_json: Box<str>,
    rooms: Vec<rooms::Membership>,
    /// Rooms this connection `create`d that nobody has entered yet.
    created: Vec<RoomKey>,
    rate: Rate,
    /// The `broadcast` budget of this connection.
    broadcasts: Bucket,
    /// The `notify` budget of this connection's user, kept by its oldest tab.
    notes: Bucket,
    /// The separate allowance of `typing` frames.
    typing_rate: Rate,
    /// The hub asked the reactor to close it; its input is ignored.
    closing: bool,
}

/// All `/ws` state: connections, users, rooms.
#[derive(Debug)]
pub struct Hub {
    config: HubConfig,
    /// Indexed by the reactor's slab key, which is dense.
    conns: Vec<Option<Conn>>,
    live: usize,
    users: HashMap<Box<str>, Vec<ClientId>>,
    /// Which browser key holds each online name (and, with `--data-dir`, recent offline ones).
    holders: names::Holders,
    /// Where bindings outlive their connections (`--data-dir`), if anywhere.
    names_file: Option<names_file::NamesFile>,
    rooms: Slab<Room>,
    names: HashMap<Box<str>, RoomKey>,
    /// Typing expiries; entries whose membership is gone are skipped when popped.
    typing: BinaryHeap<Reverse<TypingDeadline>>,
    /// `typing` entries left by the last sweep of stale ones.
    typing_compacted: usize,
    /// Source of connection ids, membership tokens and epochs; never reused.
    serial: u64,
    /// Room memberships (joined or subscribed) of all connections.
    memberships: usize,
    /// `/broadcast` members.
    raw: raw::RawMembers,
    /// Random per process, so epochs differ across restarts.
    epoch_seed: u64,
    /// Bytes kept in every room's history (kept in step by every change).
    history_bytes: usize,
    /// Where room state (`seq`, history) lives: memory, memory plus disk
    /// (`--data-dir`), or Redis with the cluster state (`--redis`).
    home: home::Home,
    /// The wall clock of the latest call (for what the store records).
    clock_ms: u64,
}

impl Hub {
    /// An empty hub.
    #[cold] // start-up only: grouped with the other cold code, off the loop's pages
    pub fn new(config: HubConfig) -> Hub {
        Hub {
            config,
            conns: Vec::new(),
            live: 0,
            users: HashMap::new(),
            holders: HashMap::new(),
            names_file: None,
            rooms: Slab::new(),
            names: HashMap::new(),
            typing: BinaryHeap::new(),
            typing_compacted: 0,
            serial: 0,
            memberships: 0,
            raw: raw::RawMembers::default(),
            // std seeds `RandomState` from the OS's random source.
            epoch_seed: RandomState::new().hash_one(0x6c6f_6f70_u64),
            history_bytes: 0,
            home: home::Home::Local(None),
            clock_ms: 0,
        }
    }

    /// A `/ws` connection was accepted; `user` comes from the token or `?user=`
    /// (`None` or empty: `guest-<id>`). Queues its `welcome`.
    pub fn handle_connect(
        &mut self,
        now: Now,
        client: ClientId,
        user: Option<&str>,
        out: &mut Outbox,
    ) {
        self.handle_connect_keyed(now, client, user, None, out);
    }

    /// `handle_connect` for a connection that sent a browser `key`: the name
    /// stays bound to that key while it is online (see `check_name`).
    pub fn handle_connect_keyed(
        &mut self,
        now: Now,
        client: ClientId,
        user: Option<&str>,
        key: Option<&str>,
        out: &mut Outbox,
    ) {
        if self.conns.get(client.0).is_some_and(Option::is_some) {
            // The reactor reuses a key only after `handle_disconnect`; recover anyway.
            self.handle_disconnect(now, client, out);
        }
        let id = short_id(self.next_serial());
        // Across a cluster, ids carry the node's name so they stay unique.
        #[cfg(feature = "redis")]
        let id = match self.home.cluster() {
            Some(c) => format!("{}.{id}", c.node).into(),
            None => id,
        };
        let chosen = user.is_some_and(|u| !u.is_empty());
        let user: Box<str> = match user {
            Some(u) if chosen => u.into(),
            _ => format!("guest-{id}").into(),
        };
        let mut user_json = String::with_capacity(user.len() + 2);
        protocol::push_json_str(&mut user_json, &user);
        let mark = out.mark();
        let limits = protocol::Limits {
            max_message: self.config.max_message,
            rate: self.config.rate_limit,
            burst: self.config.rate_burst,
        };
        protocol::write_welcome(out.buf(), &id, &user_json, limits);
        out.recipient(client);
        out.commit(mark);

        self.hold_name(now, &user, key, chosen);
        match self.users.get_mut(&user) {
            Some(tabs) => tabs.push(client),
            None => {
                self.users.insert(user.clone(), vec![client]);
                #[cfg(feature = "redis")]
                self.cluster_user(&user, true);
            }
        }
        if self.conns.len() <= client.0 {
            self.conns.resize_with(client.0 + 1, || None);
        }
        self.conns[client.0] = Some(Conn {
            id,
            user,
            user_json: user_json.into(),
            rooms: Vec::new(),
            created: Vec::new(),
            rate: Rate::new(now.mono),
            broadcasts: Bucket::new(now.mono),
            notes: Bucket::new(now.mono),
            typing_rate: Rate::new(now.mono),
            closing: false,
        });
        self.live += 1;
    }

    /// `client` is gone: leave its rooms (presence `left`), clear its typing.
    pub fn handle_disconnect(&mut self, now: Now, client: ClientId, out: &mut Outbox) {
        self.clock_ms = now.unix_ms;
        let Some(mut conn) = self.conns.get_mut(client.0).and_then(Option::take) else {
            return;
        };
        self.live -= 1;
        #[cfg(feature = "redis")]
        self.cluster_gone(client);
        while let Some(m) = conn.rooms.pop() {
            self.memberships -= 1;
            self.detach(client, &m);
            #[cfg(feature = "redis")]
            if self.home.is_redis() {
                let name = self.rooms[m.room].name.clone();
                self.cluster_left(&name, &conn.id);
                self.drop_if_empty(m.room);
                continue;
            }
            if m.joined {
                rooms::announce(out, &self.rooms[m.room], "left", &conn.user_json, &conn.id);
            }
            self.drop_if_empty(m.room);
        }
        for key in conn.created.drain(..) {
            self.rooms[key].creator = None;
            self.drop_if_empty(key);
        }
        self.release_name(now, &conn.user);
        if let Some(tabs) = self.users.get_mut(&conn.user) {
            let kept_budget = tabs.first() == Some(&client);
            tabs.retain(|c| *c != client);
            match tabs.first() {
                None => {
                    self.users.remove(&conn.user);
                    #[cfg(feature = "redis")]
                    self.cluster_user(&conn.user, false);
                }
                // The user's `notify` budget passes to the next-oldest tab.
                Some(next) if kept_budget => {
                    if let Some(Some(heir)) = self.conns.get_mut(next.0) {
                        heir.notes = conn.notes;
                    }
                }
                Some(_) => {}
            }
        }
        // Keys are dense; trailing free slots need not be kept.
        while self.conns.last().is_some_and(Option::is_none) {
            self.conns.pop();
        }
    }

    /// Expires timers due at `now` (stale typing), and the store's (sync,
    /// room TTL).
    pub fn handle_timeout(&mut self, now: Now, out: &mut Outbox) {
        self.clock_ms = now.unix_ms;
        #[cfg(feature = "redis")]
        self.cluster_timeout(now);
        while let Some(Reverse(due)) = self.typing.peek() {
            if due.at > now.mono {
                break;
            }
            let due = self.typing.pop().expect("peeked").0;
            self.expire_typing(now, due, out);
        }
        if let Some(store) = self.home.disk_mut()
            && store.poll_timeout().is_some_and(|at| at <= now.mono)
        {
            store.handle_timeout(now.mono, now.unix_ms);
        }
    }

    /// The next instant `handle_timeout` has work, if any (possibly a timer
    /// that turns out to have nothing left to do).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let typing = self.typing.peek().map(|Reverse(due)| due.at);
        let store = self.home.disk().and_then(|s| s.poll_timeout());
        #[cfg(feature = "redis")]
        let store = match (store, self.cluster_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        [typing, store, self.names_due()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Live `/ws` connections.
    pub fn connections(&self) -> usize {
        self.live
    }

    /// Rooms that exist now: those with a member or subscriber, plus rooms
    /// `create`d that nobody has entered yet.
    pub fn rooms(&self) -> usize {
        self.rooms.len()
    }

    fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// Sends `message` from `from_json` to every `/ws` connection; returns how many.
    fn broadcast_from(&self, from_json: &str, now: Now, message: &str, out: &mut Outbox) -> usize {
        let mark = out.mark();
        protocol::write_message(out.buf(), from_json, Scope::All, now.unix_ms, message);
        for (key, conn) in self.conns.iter().enumerate() {
            if conn.is_some() {
                out.recipient(ClientId(key));
            }
        }
        out.commit(mark)
    }

    fn conn(&self, client: ClientId) -> &Conn {
        self.conns[client.0].as_ref().expect("client is connected")
    }
}

/// Queues an `error` event for `client`.
fn error(
    out: &mut Outbox,
    client: ClientId,
    code: ErrorCode,
    message: fmt::Arguments,
    reference: Option<&str>,
) {
    let mark = out.mark();
    protocol::write_error(out.buf(), code, message, reference);
    out.recipient(client);
    out.commit(mark);
}

/// `c` + the serial in base 36: short, and unique for the process lifetime.
fn short_id(serial: u64) -> Box<str> {
    let mut id = String::with_capacity(14);
    id.push('c');
    push_base36(&mut id, serial);
    id.into()
}

/// Appends `n` in lower-case base 36 (connection ids, room epochs).
pub(crate) fn push_base36(out: &mut String, n: u64) {
    let mut digits = [0u8; 13];
    let mut n = n;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize];
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[i..].iter().map(|&b| b as char));
}
