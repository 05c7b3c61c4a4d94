//! The actions over Redis that are not room state (room state goes through
//! the seam, `home.rs`): which script or command each one becomes, and what
//! its reply is waited for as.

use super::{Answer, Waiting, unavailable};
use crate::ClientId;
use crate::engine::{Value, scripts};
use crate::hub::failure::Failure;
use crate::hub::{Hub, Now, Outbox, PublishError, error};
use crate::protocol::{self, Action, Scope};

impl Hub {
    /// Actions that go through Redis outside the room-state seam
    /// (`broadcast`, `notify`, `members`, `rooms`). `None`: handle it as on
    /// one node (room state then goes through the seam); `Some(())`: sent
    /// to Redis, the answer follows its reply, or refused here (errors are
    /// answered here).
    pub(in crate::hub) fn cluster_dispatch(
        &mut self,
        now: Now,
        client: ClientId,
        action: &Action,
        reference: Option<&str>,
        out: &mut Outbox,
    ) -> Option<()> {
        self.home.cluster()?;
        let conn = self.conns[client.0].as_ref().expect("client is connected");
        let conn_id = conn.id.clone();
        let answer = |what| Waiting::Answer {
            client,
            id: conn_id.clone(),
            reference: reference.map(Into::into),
            what,
        };
        let sent = match action {
            Action::Broadcast { message } => {
                // The sender's budget is this node's to keep, as on one node.
                let (rate, burst) = (self.config.broadcast_rate, self.config.broadcast_burst);
                let conn = self.conns[client.0].as_mut().expect("sender is connected");
                if !conn.broadcasts.take(now.mono, rate, burst) {
                    let failure = Failure::BroadcastBudget(rate);
                    error(
                        out,
                        client,
                        failure.code(),
                        format_args!("{failure}"),
                        reference,
                    );
                    return Some(());
                }
                let conn = self.conns[client.0].as_ref().expect("sender is connected");
                let mut event = String::new();
                protocol::write_message(
                    &mut event,
                    &conn.user_json,
                    Scope::All,
                    now.unix_ms,
                    message.get(),
                );
                let w = answer(Answer::Broadcast);
                let c = self.home.cluster_mut().expect("cluster");
                c.command(&[b"PUBLISH", scripts::ALL_CHANNEL, event.as_bytes()], w)
            }
            Action::Notify { user, message } => {
                // The receiver's budget is kept by its oldest tab on this
                // node: over Redis it counts what this node sends it.
                let (rate, burst) = (self.config.notify_rate, self.config.notify_burst);
                if let Some(&keeper) = self.users.get(&**user).and_then(|tabs| tabs.first())
                    && let Some(k) = self.conns[keeper.0].as_mut()
                    && !k.notes.take(now.mono, rate, burst)
                {
                    let failure = Failure::NotifyBudget(user, rate);
                    error(
                        out,
                        client,
                        failure.code(),
                        format_args!("{failure}"),
                        reference,
                    );
                    return Some(());
                }
                let conn = self.conns[client.0].as_ref().expect("sender is connected");
                let mut event = String::new();
                let scope = Scope::User { to: user };
                protocol::write_message(
                    &mut event,
                    &conn.user_json,
                    scope,
                    now.unix_ms,
                    message.get(),
                );
                let w = answer(Answer::Notify((&**user).into()));
                let channel = scripts::user_channel(user);
                let c = self.home.cluster_mut().expect("cluster");
                c.command(&[b"PUBLISH", &channel, event.as_bytes()], w)
            }
            Action::Members { room, offset } => {
                let inside = self
                    .names
                    .get(&**room)
                    .is_some_and(|k| conn.rooms.iter().any(|m| m.room == *k));
                let keys = [scripts::key('m', room), scripts::key('p', room)];
                let w = answer(Answer::Members((&**room).into(), *offset));
                let flag: &[u8] = if inside { b"0" } else { b"1" };
                let c = self.home.cluster_mut().expect("cluster");
                c.eval(scripts::I_MEMBERS, &[&keys[0], &keys[1]], &[flag], w)
            }
            Action::Rooms { offset } => {
                let w = answer(Answer::Rooms(*offset));
                let c = self.home.cluster_mut().expect("cluster");
                c.eval(scripts::I_ROOMS, &[scripts::ROOMS_SET], &[], w)
            }
            // Room state goes through the seam (`hub::home`); leave and
            // typing run locally and tell Redis.
            Action::Publish { .. }
            | Action::Create { .. }
            | Action::Join { .. }
            | Action::Subscribe { .. }
            | Action::History { .. }
            | Action::Delete { .. }
            | Action::Leave { .. }
            | Action::Unsubscribe { .. }
            | Action::Typing { .. } => {
                return None;
            }
        };
        if !sent {
            unavailable(out, client, reference);
        }
        Some(())
    }

    /// `/api/publish` over Redis to a `user` (`None`: everyone), on the
    /// channels clients use; a room goes through the room-state seam.
    /// Returns how many connections on this node the message will reach.
    pub(in crate::hub) fn cluster_api_publish(
        &mut self,
        now: Now,
        user: Option<&str>,
        message: &str,
    ) -> Result<usize, PublishError> {
        let server = crate::hub::publish::SERVER_JSON;
        let mut event = String::new();
        let (channel, local) = match user {
            Some(user) => {
                let scope = Scope::User { to: user };
                protocol::write_message(&mut event, server, scope, now.unix_ms, message);
                let local = self.users.get(user).map_or(0, Vec::len);
                (scripts::user_channel(user), local)
            }
            None => {
                protocol::write_message(&mut event, server, Scope::All, now.unix_ms, message);
                (scripts::ALL_CHANNEL.to_vec(), self.live)
            }
        };
        let c = self.home.cluster_mut().expect("cluster");
        let args: [&[u8]; 3] = [b"PUBLISH", &channel, event.as_bytes()];
        if !c.command(&args, Waiting::Quiet("publish")) {
            return Err(PublishError {
                status: 503,
                message: "redis is not reachable".into(),
            });
        }
        Ok(local)
    }

    /// A raw `/broadcast` frame over Redis; `false` when Redis is not ready
    /// (the caller then fans out on this node only).
    pub fn cluster_raw(&mut self, binary: bool, payload: &[u8]) -> bool {
        let Some(c) = self.home.cluster_mut() else {
            return false;
        };
        let mut framed = Vec::with_capacity(payload.len() + 1);
        framed.push(if binary { b'b' } else { b't' });
        framed.extend_from_slice(payload);
        c.command(
            &[b"PUBLISH", scripts::RAW_CHANNEL, &framed],
            Waiting::Quiet("broadcast"),
        )
    }

    /// `typing` over Redis: to the room's members on every node.
    pub(in crate::hub) fn cluster_typing(&mut self, room: &str, event: &str, origin: &str) -> bool {
        let Some(c) = self.home.cluster_mut() else {
            return false;
        };
        let keys = [scripts::key('m', room), scripts::key('r', room)];
        c.eval(
            scripts::I_SIGNAL,
            &[&keys[0], &keys[1]],
            &[origin.as_bytes(), event.as_bytes()],
            Waiting::Quiet("typing"),
        );
        true
    }

    /// A user's first connection here: listen on their channel (and, for
    /// the last one, stop).
    pub(in crate::hub) fn cluster_user(&mut self, user: &str, present: bool) {
        if let Some(c) = self.home.cluster_mut() {
            let channel = scripts::user_channel(user);
            if present {
                c.engine.subscribe(&channel);
            } else {
                c.engine.unsubscribe(&channel);
            }
        }
    }
}

/// The `rooms` answer from the ROOMS script's flat list, from the `offset`-th
/// room on, cut at `budget` bytes.
pub(super) fn write_rooms(
    client: ClientId,
    offset: usize,
    budget: usize,
    value: &Value,
    out: &mut Outbox,
) {
    let mark = out.mark();
    let buf = out.buf();
    protocol::write_list_open(buf, "rooms", None, "rooms");
    let items = value.as_array().unwrap_or(&[]);
    let count = |v: &Value| v.as_int().unwrap_or(0).max(0) as usize;
    // Names went in checked; anything else is skipped rather than written as bad JSON.
    let rooms = items.chunks_exact(3).filter_map(|r| {
        let name = std::str::from_utf8(r[0].as_bytes()?).ok()?;
        protocol::valid_room_name(name).then(|| (name, count(&r[1]), count(&r[2])))
    });
    let (start, mut total, mut more) = (buf.len(), 0, false);
    for (name, members, subs) in rooms {
        total += 1;
        if total <= offset || more {
            continue;
        }
        let first = total == offset + 1;
        if !first && buf.len() - start >= budget {
            more = true;
            continue;
        }
        protocol::write_room_entry(buf, first, name, members, subs);
    }
    protocol::write_page_close(buf, offset, total, more);
    out.recipient(client);
    out.commit(mark);
}
