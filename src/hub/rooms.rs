//! Rooms (a.k.a. topics): membership, presence, history, typing.

use std::cmp::Reverse;
use std::time::Instant;

use super::home::NewRoom;
use super::store::{History, Since, Store};
use super::{Failure, Hub, Now, Outbox};
use crate::ClientId;
use crate::protocol::{self, Scope};
use crate::secret::PasswordHash;

/// A room's index in the hub's slab (names are interned to these).
pub(crate) type RoomKey = usize;

/// One room with its properties and recent messages.
#[derive(Debug)]
pub(crate) struct Room {
    pub(crate) name: Box<str>,
    /// Joined members: they get presence and typing, and are listed.
    pub(crate) members: Vec<ClientId>,
    /// Subscribers: silent, they get messages only.
    pub(crate) subscribers: Vec<ClientId>,
    pub(crate) max_members: Option<u32>,
    /// Salted hash, never the password itself (boxed: most rooms have none).
    pub(crate) password: Option<Box<PasswordHash>>,
    /// The room's state: latest seq, epoch and recent message events.
    pub(crate) history: History,
    /// Set while a `create`d room has not been entered yet.
    pub(crate) creator: Option<ClientId>,
    /// `create`d (with `--data-dir`: kept until deleted).
    pub(crate) created: bool,
    /// The user who `create`d it: that user may `delete` it.
    pub(crate) owner: Option<Box<str>>,
}

/// A connection's place in one room.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Membership {
    pub(crate) room: RoomKey,
    /// Index in the room's `members` (joined) or `subscribers` list, kept
    /// exact so leaving is O(1) with `swap_remove`.
    pub(crate) pos: usize,
    pub(crate) joined: bool,
    /// Unique per membership, so stale typing timers are recognised.
    pub(crate) token: u64,
    pub(crate) typing_until: Option<Instant>,
    /// A timer for this membership is in the heap (at most one is).
    pub(crate) typing_queued: bool,
    /// When a `typing: true` was last forwarded for this membership.
    pub(crate) typing_sent: Option<Instant>,
}

/// A typing expiry in the hub's timer heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TypingDeadline {
    pub(crate) at: Instant,
    pub(crate) token: u64,
    pub(crate) client: ClientId,
    pub(crate) room: RoomKey,
}

impl Room {
    pub(super) fn new(name: &str, password: Option<&str>, history: History) -> Room {
        Room {
            name: name.into(),
            members: Vec::new(),
            subscribers: Vec::new(),
            max_members: None,
            password: password.map(|p| Box::new(PasswordHash::new(p))),
            history,
            creator: None,
            created: false,
            owner: None,
        }
    }
}

/// Sends a `joined`/`left` event to the room's joined members.
pub(crate) fn announce(out: &mut Outbox, room: &Room, event: &str, user_json: &str, id: &str) {
    let mark = out.mark();
    protocol::write_presence(out.buf(), event, &room.name, user_json, id);
    out.recipients(&room.members);
    out.commit(mark);
}

/// Appends a message event to `room`: new seq, kept in history, sent to
/// members and subscribers. Returns how many connections it reached.
/// The event is encoded once, into the outbox; history keeps a copy of it.
/// `kept` is the hub's count of history bytes over all rooms.
pub(super) fn publish_to(
    room: &mut Room,
    kept: &mut usize,
    store: Option<&mut (dyn Store + 'static)>,
    from_json: &str,
    ts: u64,
    message: &str,
    out: &mut Outbox,
) -> usize {
    let before = room.history.bytes();
    let mark = out.mark();
    let scope = Scope::Room {
        room: &room.name,
        seq: room.history.next_seq(),
    };
    protocol::write_message(out.buf(), from_json, scope, ts, message);
    room.history.push(out.written(mark));
    if let Some(store) = store {
        store.appended(&room.name, room.history.seq(), out.written(mark));
    }
    *kept = *kept - before + room.history.bytes();
    out.recipients(&room.members);
    out.recipients(&room.subscribers);
    out.commit(mark)
}

impl Hub {
    /// `join` (with `since`) or, when `join` is `None`, `subscribe`. A room
    /// that is not in memory but kept by the store is loaded first.
    pub(super) fn enter<'r>(
        &mut self,
        now: Now,
        client: ClientId,
        name: &'r str,
        password: Option<&str>,
        join: Option<Option<Since>>,
        out: &mut Outbox,
    ) -> Result<(), Failure<'r>> {
        let loaded = match self.names.get(name) {
            Some(_) => None,
            None => self.load_room(name),
        };
        let entered = self.enter_room(now, client, name, password, join, out);
        if let Some(key) = loaded
            && entered.is_err()
        {
            self.drop_if_empty(key);
        }
        entered
    }

    fn enter_room<'r>(
        &mut self,
        now: Now,
        client: ClientId,
        name: &'r str,
        password: Option<&str>,
        join: Option<Option<Since>>,
        out: &mut Outbox,
    ) -> Result<(), Failure<'r>> {
        let max_rooms = self.config.max_rooms;
        let conn = self.conns[client.0].as_ref().expect("client is connected");
        let key = match self.names.get(name) {
            Some(&key) => {
                if let Some(i) = conn.rooms.iter().position(|m| m.room == key) {
                    let Some(since) = join else {
                        return Ok(());
                    };
                    if !conn.rooms[i].joined {
                        let m = conn.rooms[i];
                        self.detach(client, &m);
                        let room = &mut self.rooms[key];
                        let conn = self.conns[client.0].as_mut().expect("client is connected");
                        announce(out, room, "joined", &conn.user_json, &conn.id);
                        conn.rooms[i].joined = true;
                        conn.rooms[i].pos = room.members.len();
                        room.members.push(client);
                    }
                    self.write_room(client, key, since, out);
                    return Ok(());
                }
                let room = &self.rooms[key];
                if room.creator != Some(client)
                    && conn.rooms.len() + conn.created.len() >= max_rooms
                {
                    return Err(Failure::TooManyRooms(max_rooms));
                }
                if let Some(hash) = &room.password
                    && !password.is_some_and(|p| hash.matches(p))
                {
                    return Err(Failure::WrongPassword(name));
                }
                if let Some(max) = room.max_members
                    && self.room_is_full_for(room, &conn.user, max)
                {
                    return Err(Failure::RoomFull(name, max));
                }
                key
            }
            None => {
                if conn.rooms.len() + conn.created.len() >= max_rooms {
                    return Err(Failure::TooManyRooms(max_rooms));
                }
                let history = self.new_history(now, self.config.history);
                let key = self.rooms.insert(Room::new(name, password, history));
                self.names.insert(name.into(), key);
                self.started(key);
                key
            }
        };
        if let Some(creator) = self.rooms[key].creator.take()
            && let Some(c) = self.conns[creator.0].as_mut()
        {
            c.created.retain(|k| *k != key);
        }
        let token = self.next_serial();
        let room = &mut self.rooms[key];
        let conn = self.conns[client.0].as_mut().expect("client is connected");
        let joined = join.is_some();
        let list = if joined {
            announce(out, room, "joined", &conn.user_json, &conn.id);
            &mut room.members
        } else {
            &mut room.subscribers
        };
        self.memberships += 1;
        conn.rooms.push(Membership {
            room: key,
            pos: list.len(),
            joined,
            token,
            typing_until: None,
            typing_queued: false,
            typing_sent: None,
        });
        list.push(client);
        if let Some(since) = join {
            self.write_room(client, key, since, out);
        }
        Ok(())
    }

    /// `leave` or `unsubscribe`.
    pub(super) fn exit<'r>(
        &mut self,
        client: ClientId,
        name: &'r str,
        out: &mut Outbox,
    ) -> Result<(), Failure<'r>> {
        let conn = self.conns[client.0].as_mut().expect("client is connected");
        let found = self.names.get(name).and_then(|&key| {
            let i = conn.rooms.iter().position(|m| m.room == key)?;
            Some(conn.rooms.swap_remove(i))
        });
        let Some(m) = found else {
            return Err(Failure::NotMember(name));
        };
        self.memberships -= 1;
        self.detach(client, &m);
        #[cfg(feature = "redis")]
        if self.home.is_redis() {
            let (name, id) = (
                self.rooms[m.room].name.clone(),
                self.conn(client).id.clone(),
            );
            self.cluster_left(&name, &id);
            self.drop_if_empty(m.room);
            return Ok(());
        }
        if m.joined {
            let conn = self.conn(client);
            announce(out, &self.rooms[m.room], "left", &conn.user_json, &conn.id);
        }
        self.drop_if_empty(m.room);
        Ok(())
    }

    /// Takes `client` out of the room list `m` points into (the caller has
    /// already removed `m` from the connection), fixing the moved member's `pos`.
    pub(super) fn detach(&mut self, client: ClientId, m: &Membership) {
        let room = &mut self.rooms[m.room];
        let list = if m.joined {
            &mut room.members
        } else {
            &mut room.subscribers
        };
        debug_assert_eq!(list.get(m.pos), Some(&client));
        list.swap_remove(m.pos);
        if let Some(&moved) = list.get(m.pos) {
            let other = self.conns[moved.0].as_mut().expect("member is connected");
            if let Some(mm) = other.rooms.iter_mut().find(|mm| mm.room == m.room) {
                mm.pos = m.pos;
            }
        }
    }

    /// Whether `room` (with `max` users) has no place for `user`: a user with
    /// a connection in it already always gets in; otherwise distinct users count.
    fn room_is_full_for(&self, room: &Room, user: &str, max: u32) -> bool {
        let mut users: Vec<&str> = room
            .members
            .iter()
            .chain(&room.subscribers)
            .map(|c| &*self.conn(*c).user)
            .collect();
        if users.contains(&user) {
            return false;
        }
        users.sort_unstable();
        users.dedup();
        users.len() >= max as usize
    }

    /// Removes the room from memory if nobody is in it and it is not a fresh
    /// `create` (a store keeps it on).
    pub(super) fn drop_if_empty(&mut self, key: RoomKey) {
        let room = &self.rooms[key];
        if room.members.is_empty() && room.subscribers.is_empty() && room.creator.is_none() {
            let room = self.rooms.remove(key);
            self.history_bytes -= room.history.bytes();
            self.names.remove(&room.name);
            if let Some(store) = self.home.disk_mut() {
                store.emptied(&room.name, self.clock_ms);
            }
            #[cfg(feature = "redis")]
            self.maybe_unlink(&room.name);
        }
    }

    /// `typing`: forwards changes to the other joined members, arms the expiry.
    pub(super) fn set_typing<'r>(
        &mut self,
        now: Now,
        client: ClientId,
        name: &'r str,
        value: bool,
        out: &mut Outbox,
    ) -> Result<(), Failure<'r>> {
        self.compact_typing();
        let conn = self.conns[client.0].as_mut().expect("client is connected");
        let member = self
            .names
            .get(name)
            .and_then(|&key| conn.rooms.iter_mut().find(|m| m.room == key));
        let Some(m) = member else {
            return Err(Failure::NotMember(name));
        };
        let changed = if value {
            let at = now.mono + self.config.typing_timeout;
            let started = m.typing_until.replace(at).is_none();
            let renew = m.typing_sent.is_none_or(|t| {
                now.mono.saturating_duration_since(t) >= crate::limits::TYPING_RENEW
            });
            if started || renew {
                m.typing_sent = Some(now.mono);
            }
            if !m.typing_queued {
                m.typing_queued = true;
                self.typing.push(Reverse(TypingDeadline {
                    at,
                    token: m.token,
                    client,
                    room: m.room,
                }));
            }
            started || renew
        } else {
            m.typing_sent = None;
            m.typing_until.take().is_some()
        };
        if changed {
            let key = m.room;
            self.send_typing(client, key, value, out);
        }
        Ok(())
    }

    /// Drops expiries of memberships that are gone once they outnumber the rest,
    /// so connection churn costs memory in proportion to live typers, not to the
    /// churn rate times the typing timeout. Amortized O(1) per `typing`.
    fn compact_typing(&mut self) {
        if self.typing.len() < crate::limits::TIMER_COMPACT_MIN.max(2 * self.typing_compacted) {
            return;
        }
        let conns = &self.conns;
        self.typing.retain(|Reverse(d)| {
            conns
                .get(d.client.0)
                .and_then(Option::as_ref)
                .is_some_and(|c| {
                    c.rooms
                        .iter()
                        .any(|m| m.room == d.room && m.token == d.token)
                })
        });
        self.typing_compacted = self.typing.len();
    }

    /// A typing timer fired: clear a stale `true`, or re-arm for a renewed one.
    pub(super) fn expire_typing(&mut self, now: Now, due: TypingDeadline, out: &mut Outbox) {
        let Some(conn) = self.conns.get_mut(due.client.0).and_then(Option::as_mut) else {
            return;
        };
        let Some(m) = conn
            .rooms
            .iter_mut()
            .find(|m| m.room == due.room && m.token == due.token)
        else {
            return;
        };
        match m.typing_until {
            Some(at) if at > now.mono => self.typing.push(Reverse(TypingDeadline { at, ..due })),
            Some(_) => {
                m.typing_until = None;
                m.typing_sent = None;
                m.typing_queued = false;
                self.send_typing(due.client, due.room, false, out);
            }
            None => m.typing_queued = false,
        }
    }

    fn send_typing(&mut self, client: ClientId, key: RoomKey, value: bool, out: &mut Outbox) {
        let room = &self.rooms[key];
        let conn = self.conn(client);
        #[cfg(feature = "redis")]
        if self.home.is_redis() {
            let mut event = String::new();
            protocol::write_typing(&mut event, &room.name, &conn.user_json, &conn.id, value);
            let (name, id) = (room.name.clone(), conn.id.clone());
            self.cluster_typing(&name, &event, &id);
            return;
        }
        let mark = out.mark();
        protocol::write_typing(out.buf(), &room.name, &conn.user_json, &conn.id, value);
        for &member in &room.members {
            if member != client {
                out.recipient(member);
            }
        }
        out.commit(mark);
    }

    /// `create`: a room with properties, empty until someone enters.
    pub(super) fn create<'r>(
        &mut self,
        now: Now,
        client: ClientId,
        name: &'r str,
        settings: NewRoom,
    ) -> Result<(), Failure<'r>> {
        let NewRoom {
            max_members,
            password,
            history,
        } = settings;
        if self.names.contains_key(name) || self.home.disk().is_some_and(|s| s.contains(name)) {
            return Err(Failure::RoomExists(name));
        }
        let max_rooms = self.config.max_rooms;
        let conn = self.conn(client);
        if conn.rooms.len() + conn.created.len() >= max_rooms {
            return Err(Failure::TooManyRooms(max_rooms));
        }
        let history = self.new_history(now, history.unwrap_or(self.config.history));
        let mut room = Room::new(name, password, history);
        room.max_members = max_members;
        room.creator = Some(client);
        room.created = true;
        room.owner = Some(self.conn(client).user.clone());
        let key = self.rooms.insert(room);
        self.names.insert(name.into(), key);
        self.started(key);
        let conn = self.conns[client.0].as_mut().expect("client is connected");
        conn.created.push(key);
        Ok(())
    }

    /// Used by `/api/publish`: the room's key, if it exists.
    pub(super) fn room_key(&self, name: &str) -> Option<RoomKey> {
        self.names.get(name).copied()
    }
}
