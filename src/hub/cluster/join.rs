//! Joining and leaving rooms over Redis: subscribe first, then the join
//! script, then the `room` answer and the payloads the gate held back.

use super::super::rooms::{Membership, Room};
use super::super::store::redis::state_of;
use super::super::store::{Epoch, History, Since};
use super::{Cluster, Link, Waiting, member_entry, unavailable};
use crate::ClientId;
use crate::engine::{Value, scripts};
use crate::hub::failure::Failure;
use crate::hub::home::Done;
use crate::hub::{Hub, Now, Outbox, error};
use crate::protocol::{self, ErrorCode};
use crate::secret::PasswordHash;

/// A join (or subscribe) waiting for its subscription or its script's reply.
#[derive(Debug)]
pub(super) struct JoinWait {
    pub(super) client: ClientId,
    id: Box<str>,
    room: Box<str>,
    /// `join` (true) or `subscribe`.
    joined: bool,
    since: Option<Since>,
    password: Option<Box<str>>,
    /// The room's stored password hash that `password` was found to match
    /// (empty until Redis asked for the check).
    checked: Vec<u8>,
    pub(super) reference: Option<Box<str>>,
}

/// KEYS of the join script: meta, history, members, channel, node set.
pub(super) fn keys(room: &str, node: &str) -> [Vec<u8>; 5] {
    [
        scripts::key('m', room),
        scripts::key('h', room),
        scripts::key('p', room),
        scripts::key('r', room),
        scripts::node_key(node),
    ]
}

impl Hub {
    /// `join`/`subscribe` with `--redis` (the seam's resume over Redis; see
    /// the module docs for the order): `Done::Now` for a `subscribe` where
    /// the client already is, else the answer follows the join script.
    #[allow(clippy::too_many_arguments)]
    pub(in crate::hub) fn cluster_enter<'r>(
        &mut self,
        now: Now,
        client: ClientId,
        room: &'r str,
        password: Option<&str>,
        join: Option<Option<Since>>,
        reference: Option<&str>,
        out: &mut Outbox,
    ) -> Result<Done, Failure<'r>> {
        let max_rooms = self.config.max_rooms;
        let conn = self.conns[client.0].as_ref().expect("client is connected");
        let here = self
            .names
            .get(room)
            .and_then(|&k| conn.rooms.iter().find(|m| m.room == k));
        if join.is_none() && here.is_some() {
            return Ok(Done::Now);
        }
        if here.is_none() && conn.rooms.len() + conn.created.len() >= max_rooms {
            return Err(Failure::TooManyRooms(max_rooms));
        }
        let wait = JoinWait {
            client,
            id: conn.id.clone(),
            room: room.into(),
            joined: join.is_some(),
            since: join.flatten(),
            password: password.map(Into::into),
            checked: Vec::new(),
            reference: reference.map(Into::into),
        };
        let c = self.home.cluster_mut().expect("cluster");
        if c.engine.state() != crate::engine::State::Ready {
            c.engine.stats.refused += 1;
            return Err(Failure::Unavailable);
        }
        let tag = c.tag(Waiting::Join(wait));
        let channel = scripts::key('r', room);
        let link = c.links.entry(room.into()).or_default();
        link.gate.wait(client);
        if link.subscribed {
            self.send_join(now, tag, out);
        } else {
            link.queued.push(tag);
            c.engine.subscribe(&channel);
        }
        Ok(Done::Later)
    }

    /// Redis confirmed a room channel: send the joins that waited for it.
    pub(super) fn subscribed(&mut self, channel: &[u8], now: Now, out: &mut Outbox) {
        let Some(room) = channel.strip_prefix(b"lc:r:") else {
            return;
        };
        let room = String::from_utf8_lossy(room);
        let c = self.home.cluster_mut().expect("cluster");
        let Some(link) = c.links.get_mut(&*room) else {
            return;
        };
        link.subscribed = true;
        for tag in std::mem::take(&mut link.queued) {
            self.send_join(now, tag, out);
        }
    }

    /// Sends the join script for the waiting join `tag`.
    fn send_join(&mut self, now: Now, tag: u64, out: &mut Outbox) {
        let c = self.home.cluster_mut().expect("cluster");
        let Some(Waiting::Join(j)) = c.waiting.get(&tag) else {
            return;
        };
        let Some(conn) = self
            .conns
            .get(j.client.0)
            .and_then(Option::as_ref)
            .filter(|c| c.id == j.id)
        else {
            c.waiting.remove(&tag);
            return;
        };
        let (id, entry) = member_entry(conn, j.joined);
        let epoch = Epoch::fresh(self.epoch_seed, now.unix_ms, tag).to_string();
        let keys = keys(&j.room, &c.node);
        let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        // Redis keeps only a salted hash: the one a new room starts with.
        let (hash, has_pw): (Vec<u8>, &[u8]) = match &j.password {
            Some(p) => (PasswordHash::new(p).to_bytes().to_vec(), b"1"),
            None => (Vec::new(), b"0"),
        };
        let room = j.room.clone();
        let args: [&[u8]; 8] = [
            id.as_bytes(),
            entry.as_bytes(),
            &hash,
            has_pw,
            epoch.as_bytes(),
            room.as_bytes(),
            b"n",
            &j.checked,
        ];
        if !c.engine.eval(scripts::I_JOIN, &keys, &args, tag) {
            // The engine refused: answer as the reply of a dead link would.
            let Some(Waiting::Join(j)) = c.waiting.remove(&tag) else {
                return;
            };
            self.join_answered(now, j, None, out);
        }
    }

    /// The join script answered (`None`: Redis went away first).
    pub(super) fn join_answered(
        &mut self,
        now: Now,
        j: JoinWait,
        value: Option<Value>,
        out: &mut Outbox,
    ) {
        let _ = now;
        let alive = self
            .conns
            .get(j.client.0)
            .and_then(Option::as_ref)
            .is_some_and(|c| c.id == j.id);
        let items = value.as_ref().and_then(Value::as_array).unwrap_or(&[]);
        let ok = items.first().and_then(Value::as_bytes) == Some(b"ok");
        if !alive {
            let c = self.home.cluster_mut().expect("cluster");
            if let Some(link) = c.links.get_mut(&j.room) {
                link.gate.cancel(j.client);
            }
            if ok {
                // Joined in Redis after it left here: take it out again.
                leave_script(c, &j.room, &j.id);
            }
            return self.maybe_unlink(&j.room);
        }
        if items.first().and_then(Value::as_bytes) == Some(b"check") {
            return self.check_password(now, j, items.get(1), out);
        }
        let reference = j.reference.as_deref();
        let client = j.client;
        if !ok {
            if let Some(link) = self
                .home
                .cluster_mut()
                .expect("cluster")
                .links
                .get_mut(&j.room)
            {
                link.gate.cancel(client);
            }
            match (value.as_ref(), items.first().and_then(Value::as_bytes)) {
                (_, Some(b"forbidden")) => error(
                    out,
                    client,
                    ErrorCode::Forbidden,
                    format_args!("wrong password for room {}", j.room),
                    reference,
                ),
                (_, Some(b"full")) => {
                    let max = items.get(1).and_then(Value::as_int).unwrap_or(0);
                    error(
                        out,
                        client,
                        ErrorCode::RoomFull,
                        format_args!("room {} is full (max {max})", j.room),
                        reference,
                    );
                }
                (v, _) => {
                    if let Some(Value::Error(e)) = v {
                        log::warn!("redis join failed: {e}");
                    }
                    unavailable(out, client, reference);
                }
            }
            return self.maybe_unlink(&j.room);
        }
        let (ev, history) = state_of(items, self.config.history);
        // Already in the room here (a repeated join, or a subscriber joining):
        // it has been getting the room's payloads live all along.
        let was_in = self.names.get(&*j.room).is_some_and(|&k| {
            let conn = self.conns[client.0].as_ref().expect("client is connected");
            conn.rooms.iter().any(|m| m.room == k)
        });
        self.place(client, &j.room, j.joined);
        if let Some(link) = self
            .home
            .cluster_mut()
            .and_then(|c| c.links.get_mut(&j.room))
            && link.epoch != Some(history.epoch())
        {
            link.epoch = Some(history.epoch());
            link.last_seq = link.last_seq.max(history.seq());
        }
        let budget = self.config.answer_bytes;
        let mark = out.mark();
        let buf = out.buf();
        protocol::write_list_open(buf, "room", Some(&j.room), "members");
        let (_, members_more) = write_member_list(buf, items.get(6), 0, budget);
        protocol::write_members_close_history_open(buf, members_more);
        let (gap, more) = write_history_page(buf, &history, j.since, budget);
        protocol::write_room_close(buf, gap, history.seq(), history.epoch(), more);
        out.recipient(client);
        out.commit(mark);
        if let Some(reference) = reference {
            let mark = out.mark();
            protocol::write_ack(out.buf(), reference);
            out.recipient(client);
            out.commit(mark);
        }
        let c = self.home.cluster_mut().expect("cluster");
        let Some(link) = c.links.get_mut(&j.room) else {
            return;
        };
        if was_in {
            return link.gate.cancel(client);
        }
        let held = link.gate.answered(client, ev);
        for p in held {
            if p.kind == b'm' || (j.joined && *p.origin != *j.id) {
                let mark = out.mark();
                out.buf().push_str(&p.event);
                out.recipient(client);
                out.commit(mark);
            }
        }
    }

    /// Redis asked to check the password against the room's stored `hash`:
    /// on a match (constant time) the join runs again with that hash, which
    /// Redis accepts only while it is still the room's.
    fn check_password(
        &mut self,
        now: Now,
        mut j: JoinWait,
        hash: Option<&Value>,
        out: &mut Outbox,
    ) {
        let stored = hash.and_then(Value::as_bytes).unwrap_or_default();
        let matches = PasswordHash::from_bytes(stored)
            .zip(j.password.as_deref())
            .is_some_and(|(h, p)| h.matches(p));
        if !matches || !j.checked.is_empty() {
            // A second `check` means the hash changed under us: refuse too.
            let c = self.home.cluster_mut().expect("cluster");
            if let Some(link) = c.links.get_mut(&j.room) {
                link.gate.cancel(j.client);
            }
            error(
                out,
                j.client,
                ErrorCode::Forbidden,
                format_args!("wrong password for room {}", j.room),
                j.reference.as_deref(),
            );
            return self.maybe_unlink(&j.room);
        }
        j.checked = stored.to_vec();
        let c = self.home.cluster_mut().expect("cluster");
        let tag = c.tag(Waiting::Join(j));
        self.send_join(now, tag, out);
    }

    /// Makes `client` a local member (or subscriber) of `name`, creating the
    /// local room; the checks ran in Redis.
    pub(super) fn place(&mut self, client: ClientId, name: &str, joined: bool) {
        let key = match self.names.get(name) {
            Some(&key) => key,
            None => {
                let history = History::new(Epoch::claimed(""), 0, 0);
                let key = self.rooms.insert(Room::new(name, None, history));
                self.names.insert(name.into(), key);
                key
            }
        };
        let conn = self.conns[client.0].as_ref().expect("client is connected");
        if let Some(i) = conn.rooms.iter().position(|m| m.room == key) {
            if conn.rooms[i].joined || !joined {
                return;
            }
            let m = conn.rooms[i];
            self.detach(client, &m);
            let room = &mut self.rooms[key];
            let conn = self.conns[client.0].as_mut().expect("client is connected");
            conn.rooms[i].joined = true;
            conn.rooms[i].pos = room.members.len();
            room.members.push(client);
            return;
        }
        let token = self.next_serial();
        let room = &mut self.rooms[key];
        let list = if joined {
            &mut room.members
        } else {
            &mut room.subscribers
        };
        let conn = self.conns[client.0].as_mut().expect("client is connected");
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
    }

    /// `client` (connection `id`) left `room` here: tell Redis (and so the others).
    pub(in crate::hub) fn cluster_left(&mut self, room: &str, id: &str) {
        if let Some(c) = self.home.cluster_mut() {
            leave_script(c, room, id);
        }
    }

    /// Stops listening on a room channel nobody here needs any more.
    pub(in crate::hub) fn maybe_unlink(&mut self, room: &str) {
        let local = self.names.contains_key(room);
        let Some(c) = self.home.cluster_mut() else {
            return;
        };
        let idle = c
            .links
            .get(room)
            .is_some_and(|l: &Link| l.queued.is_empty() && l.gate.is_idle());
        if !local && idle {
            c.links.remove(room);
            c.engine.unsubscribe(&scripts::key('r', room));
        }
    }

    /// The `members` answer from the room's member hash in Redis.
    pub(super) fn write_members(
        &self,
        client: ClientId,
        room: &str,
        offset: usize,
        value: &Value,
        out: &mut Outbox,
    ) {
        let budget = self.config.answer_bytes;
        let mark = out.mark();
        let buf = out.buf();
        protocol::write_list_open(buf, "members", Some(room), "members");
        let (total, more) = write_member_list(buf, Some(value), offset, budget);
        protocol::write_page_close(buf, offset, total, more);
        out.recipient(client);
        out.commit(mark);
    }

    /// The `history` answer from the FETCH script's reply.
    pub(super) fn write_history(
        &self,
        client: ClientId,
        room: &str,
        since: Option<Since>,
        value: &Value,
        out: &mut Outbox,
    ) {
        let (_, history) = state_of(value.as_array().unwrap_or(&[]), self.config.history);
        let mark = out.mark();
        let buf = out.buf();
        protocol::write_list_open(buf, "history", Some(room), "history");
        let (gap, more) = write_history_page(buf, &history, since, self.config.answer_bytes);
        protocol::write_room_close(buf, gap, history.seq(), history.epoch(), more);
        out.recipient(client);
        out.commit(mark);
    }
}

/// The entries after `since` that fit `budget` (at least one); returns `(gap, more)`.
fn write_history_page(
    buf: &mut String,
    history: &History,
    since: Option<Since>,
    budget: usize,
) -> (bool, bool) {
    let (entries, gap) = history.after(since);
    let start = buf.len();
    for (i, event) in entries.enumerate() {
        if i > 0 && buf.len() - start + event.len() > budget {
            return (gap, true);
        }
        protocol::write_history_entry(buf, i == 0, event);
    }
    (gap, false)
}

/// Writes the joined entries of a member hash's values (`j{...}`) from the
/// `offset`-th on, cut at `budget`; returns `(total, more)`.
fn write_member_list(
    buf: &mut String,
    values: Option<&Value>,
    offset: usize,
    budget: usize,
) -> (usize, bool) {
    let joined = values
        .and_then(Value::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|v| std::str::from_utf8(v.as_bytes()?).ok()?.strip_prefix('j'));
    let (start, mut total, mut more) = (buf.len(), 0, false);
    for member in joined {
        total += 1;
        if total <= offset || more {
            continue;
        }
        if total > offset + 1 {
            if buf.len() - start >= budget {
                more = true;
                continue;
            }
            buf.push(',');
        }
        buf.push_str(member);
    }
    (total, more)
}

fn leave_script(c: &mut Cluster, room: &str, id: &str) {
    let keys = [
        scripts::key('m', room),
        scripts::key('p', room),
        scripts::key('r', room),
        scripts::node_key(&c.node),
    ];
    let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    c.eval(
        scripts::I_LEAVE,
        &keys,
        &[id.as_bytes(), room.as_bytes()],
        Waiting::Quiet("leave"),
    );
}
