//! Answers that list things (a room's members and history, `members`, `rooms`),
//! each bounded to `answer_bytes` of entries, with `more` when the rest must be
//! asked for. An answer is a fraction of `--max-pending`, so asking never costs
//! the asker its connection, however big the room or the history.

use super::rooms::RoomKey;
use super::store::Since;
use super::{Failure, Hub, Outbox};
use crate::ClientId;
use crate::protocol;

impl Hub {
    /// Queues the `room` answer for a joiner: the members (cut at the byte
    /// budget, `members_more`), then the kept history after `since`, oldest
    /// first, cut at the byte budget (`more`; the rest via `history`).
    pub(super) fn write_room(
        &self,
        client: ClientId,
        key: RoomKey,
        since: Option<Since>,
        out: &mut Outbox,
    ) {
        let room = &self.rooms[key];
        let budget = self.config.answer_bytes;
        let mark = out.mark();
        let buf = out.buf();
        protocol::write_list_open(buf, "room", Some(&room.name), "members");
        let start = buf.len();
        let mut members_more = false;
        for (i, member) in room.members.iter().enumerate() {
            if i > 0 && buf.len() - start >= budget {
                members_more = true;
                break;
            }
            let c = self.conn(*member);
            protocol::write_member(buf, i == 0, &c.user_json, &c.id);
        }
        protocol::write_members_close_history_open(buf, members_more);
        let (gap, more) = self.write_history_page(buf, key, since);
        let history = &room.history;
        protocol::write_room_close(buf, gap, history.seq(), history.epoch(), more);
        out.recipient(client);
        out.commit(mark);
    }

    /// `history`: the next page of kept history after `since`, for a member or subscriber.
    pub(super) fn history<'r>(
        &self,
        client: ClientId,
        name: &'r str,
        since: Option<Since>,
        out: &mut Outbox,
    ) -> Result<(), Failure<'r>> {
        let key = self
            .names
            .get(name)
            .copied()
            .filter(|&key| self.conn(client).rooms.iter().any(|m| m.room == key))
            .ok_or(Failure::NotMember(name))?;
        let mark = out.mark();
        let buf = out.buf();
        protocol::write_list_open(buf, "history", Some(name), "history");
        let (gap, more) = self.write_history_page(buf, key, since);
        let history = &self.rooms[key].history;
        protocol::write_room_close(buf, gap, history.seq(), history.epoch(), more);
        out.recipient(client);
        out.commit(mark);
        Ok(())
    }

    /// Appends the history entries after `since` that fit the byte budget (at
    /// least one, so paging always advances); returns `(gap, more)`.
    fn write_history_page(
        &self,
        buf: &mut String,
        key: RoomKey,
        since: Option<Since>,
    ) -> (bool, bool) {
        let (entries, gap) = self.rooms[key].history.after(since);
        let start = buf.len();
        for (i, event) in entries.enumerate() {
            if i > 0 && buf.len() - start + event.len() > self.config.answer_bytes {
                return (gap, true);
            }
            protocol::write_history_entry(buf, i == 0, event);
        }
        (gap, false)
    }

    /// `members`: the joined members of a room (nobody if it does not exist),
    /// from the `offset`-th on, cut at the byte budget.
    pub(super) fn members<'r>(
        &self,
        client: ClientId,
        name: &'r str,
        offset: usize,
        out: &mut Outbox,
    ) -> Result<(), Failure<'r>> {
        let room = self.names.get(name).map(|&key| (key, &self.rooms[key]));
        if let Some((key, room)) = room {
            let inside = self.conn(client).rooms.iter().any(|m| m.room == key);
            if room.password.is_some() && !inside {
                return Err(Failure::MembersOnly(name));
            }
        }
        let members = room.map_or(&[][..], |r| &r.1.members[..]);
        let mark = out.mark();
        let buf = out.buf();
        protocol::write_list_open(buf, "members", Some(name), "members");
        let start = buf.len();
        let mut more = false;
        for (i, member) in members.iter().skip(offset).enumerate() {
            if i > 0 && buf.len() - start >= self.config.answer_bytes {
                more = true;
                break;
            }
            let c = self.conn(*member);
            protocol::write_member(buf, i == 0, &c.user_json, &c.id);
        }
        protocol::write_page_close(buf, offset, members.len(), more);
        out.recipient(client);
        out.commit(mark);
        Ok(())
    }

    /// `rooms`: rooms with their member and subscriber counts, from the
    /// `offset`-th on, cut at the byte budget. Rooms in memory come first, then
    /// the rooms the store keeps on disk only (count 0: nobody is in them);
    /// listing those reads no history.
    pub(super) fn list_rooms(&self, client: ClientId, offset: usize, out: &mut Outbox) {
        let live = self
            .rooms
            .iter()
            .map(|(_, room)| (&*room.name, room.members.len(), room.subscribers.len()));
        let total = self.rooms.len() + self.stored_only().count();
        let mark = out.mark();
        let buf = out.buf();
        protocol::write_list_open(buf, "rooms", None, "rooms");
        let start = buf.len();
        let mut more = false;
        let all = live.chain(self.stored_only().map(|name| (name, 0, 0)));
        for (i, (name, members, subs)) in all.skip(offset).enumerate() {
            if i > 0 && buf.len() - start >= self.config.answer_bytes {
                more = true;
                break;
            }
            protocol::write_room_entry(buf, i == 0, name, members, subs);
        }
        protocol::write_page_close(buf, offset, total, more);
        out.recipient(client);
        out.commit(mark);
    }

    /// Names of the rooms the store keeps that are not in memory.
    fn stored_only(&self) -> impl Iterator<Item = &str> + '_ {
        let store = self.home.disk().into_iter();
        store
            .flat_map(|s| s.names())
            .filter(|name| !self.names.contains_key(*name))
    }
}
