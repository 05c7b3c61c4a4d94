//! Redis as the home of room state: the seam's actions (`hub::home`) as
//! scripts. Each answers `Later` (the reply path acks or refuses) or
//! `Unavailable` (Redis is not ready: nothing ran).

use super::{Answer, Waiting};
use crate::ClientId;
use crate::engine::scripts;
use crate::hub::failure::Failure;
use crate::hub::home::{Asker, Done, NewRoom, Sequenced};
use crate::hub::store::redis::{RoomKeys, sequenced_event};
use crate::hub::store::{Epoch, Since};
use crate::hub::{Hub, Now, publish::SERVER_JSON};
use crate::protocol;
use crate::secret::PasswordHash;

impl Hub {
    /// What the reply to `asker`'s action is waited for as: an answer to the
    /// client, or (for the backend, already answered) a logged reply.
    fn waiting_for(&self, asker: Asker, what: Answer, quiet: &'static str) -> Waiting {
        match asker {
            Asker::Client { client, reference } => Waiting::Answer {
                client,
                id: self.conn(client).id.clone(),
                reference: reference.map(Into::into),
                what,
            },
            Asker::Backend => Waiting::Quiet(quiet),
        }
    }

    /// Whether `client` is in room `name` on this node.
    fn inside(&self, client: ClientId, name: &str) -> bool {
        self.names
            .get(name)
            .is_some_and(|k| self.conn(client).rooms.iter().any(|m| m.room == *k))
    }

    /// The seam's append over Redis: the publish script allocates the seq,
    /// appends to the history and publishes on the room's channel at once.
    pub(in crate::hub) fn cluster_append(
        &mut self,
        now: Now,
        name: &str,
        message: &str,
        asker: Asker,
    ) -> Sequenced {
        let (from, require_member): (Box<str>, bool) = match asker {
            Asker::Client { client, .. } => (
                self.conn(client).user_json.clone(),
                !self.inside(client, name),
            ),
            Asker::Backend => (SERVER_JSON.into(), false),
        };
        let w = self.waiting_for(asker, Answer::Publish(name.into()), "publish");
        if self.publish_script(now, name, &from, message, require_member, w) {
            Sequenced::Later
        } else {
            Sequenced::Unavailable
        }
    }

    /// `history` over Redis: a member here reads the room's state from Redis.
    pub(in crate::hub) fn cluster_history<'r>(
        &mut self,
        client: ClientId,
        name: &'r str,
        since: Option<Since>,
        reference: Option<&str>,
    ) -> Result<Done, Failure<'r>> {
        if !self.inside(client, name) {
            return Err(Failure::NotMember(name));
        }
        let asker = Asker::Client { client, reference };
        let w = self.waiting_for(asker, Answer::History(name.into(), since), "history");
        let k = RoomKeys::of(name);
        let c = self.home.cluster_mut().expect("cluster");
        later(c.eval(scripts::I_FETCH, &[&k.meta, &k.history], &[], w))
    }

    /// `create` over Redis: the room's settings and a new epoch, if the name is free.
    pub(in crate::hub) fn cluster_create<'r>(
        &mut self,
        now: Now,
        client: ClientId,
        name: &'r str,
        settings: NewRoom,
        reference: Option<&str>,
    ) -> Result<Done, Failure<'r>> {
        let NewRoom {
            max_members,
            password,
            history,
        } = settings;
        let epoch = Epoch::fresh(self.epoch_seed, now.unix_ms, self.serial).to_string();
        let max = max_members.map(|m| m.to_string()).unwrap_or_default();
        let cap = history.map(|h| h.to_string()).unwrap_or_default();
        let asker = Asker::Client { client, reference };
        let w = self.waiting_for(asker, Answer::Create(name.into()), "create");
        let (meta, members) = (scripts::key('m', name), scripts::key('p', name));
        // Only the salted hash goes to Redis, as to the data dir.
        let hash = password
            .map(|p| PasswordHash::new(p).to_bytes().to_vec())
            .unwrap_or_default();
        let owner = self.conn(client).user.clone();
        let args: [&[u8]; 5] = [
            &hash,
            max.as_bytes(),
            cap.as_bytes(),
            epoch.as_bytes(),
            owner.as_bytes(),
        ];
        let c = self.home.cluster_mut().expect("cluster");
        later(c.eval(scripts::I_CREATE, &[&meta, &members], &args, w))
    }

    /// `delete` over Redis: every node's members get `deleted` from the
    /// room's channel. A client must own the room; the backend need not.
    pub(in crate::hub) fn cluster_delete<'r>(
        &mut self,
        name: &'r str,
        asker: Asker,
    ) -> Result<Done, Failure<'r>> {
        let owner = match asker {
            Asker::Client { client, .. } => self.conn(client).user.clone(),
            Asker::Backend => "".into(),
        };
        let w = self.waiting_for(asker, Answer::Delete(name.into()), "delete");
        later(self.delete_script(name, &owner, w))
    }

    /// The sequenced publish script for `room`; `require_member`: the sender is
    /// no member here, so a password room refuses it.
    fn publish_script(
        &mut self,
        now: Now,
        room: &str,
        from_json: &str,
        message: &str,
        require_member: bool,
        w: Waiting,
    ) -> bool {
        // The event is written around a seq Redis allocates: split at it.
        let (prefix, suffix) = sequenced_event(from_json, room, now.unix_ms, message);
        let epoch = Epoch::fresh(self.epoch_seed, now.unix_ms, self.serial).to_string();
        let cap = self.config.history.to_string();
        let origin = match &w {
            Waiting::Answer { id, .. } => id.clone(),
            _ => "-".into(),
        };
        let k = RoomKeys::of(room);
        let keys: [&[u8]; 4] = [&k.meta, &k.history, &k.members, &k.channel];
        let flag: &[u8] = if require_member { b"1" } else { b"0" };
        let args: [&[u8]; 6] = [
            prefix.as_bytes(),
            suffix.as_bytes(),
            cap.as_bytes(),
            epoch.as_bytes(),
            flag,
            origin.as_bytes(),
        ];
        let c = self.home.cluster_mut().expect("cluster");
        c.eval(scripts::I_PUBLISH, &keys, &args, w)
    }

    /// The delete script for `room`; `owner` `""` for the backend (no check).
    fn delete_script(&mut self, room: &str, owner: &str, w: Waiting) -> bool {
        let mut event = String::new();
        protocol::write_deleted(&mut event, room);
        let k = RoomKeys::of(room);
        let keys: [&[u8]; 5] = [
            &k.meta,
            &k.history,
            &k.members,
            &k.channel,
            scripts::ROOMS_SET,
        ];
        let args: [&[u8]; 3] = [owner.as_bytes(), room.as_bytes(), event.as_bytes()];
        let c = self.home.cluster_mut().expect("cluster");
        c.eval(scripts::I_DELETE, &keys, &args, w)
    }
}

/// A script handed to Redis answers later; one Redis could not take, never.
fn later<'r>(sent: bool) -> Result<Done, Failure<'r>> {
    if sent {
        Ok(Done::Later)
    } else {
        Err(Failure::Unavailable)
    }
}
