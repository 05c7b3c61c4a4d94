//! A self-check of the hub's cross-references, for tests and fuzzing.

use std::collections::HashSet;

use super::Hub;
use crate::ClientId;

impl Hub {
    /// Verifies that the hub's indexes agree with each other: every member is
    /// connected and knows its place, every room is named and non-empty (or a
    /// fresh `create`), every user's tab list is exact, no limit is exceeded.
    /// Returns the first broken rule. Cheap enough for tests, not for hot paths.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut live = 0;
        for (key, conn) in self.conns.iter().enumerate() {
            let Some(conn) = conn else { continue };
            let client = ClientId(key);
            live += 1;
            let mut seen = HashSet::new();
            for m in &conn.rooms {
                if !seen.insert(m.room) {
                    return Err(format!("{} is twice in room {}", conn.id, m.room));
                }
                let room = self
                    .rooms
                    .get(m.room)
                    .ok_or_else(|| format!("{} is in missing room {}", conn.id, m.room))?;
                let list = if m.joined {
                    &room.members
                } else {
                    &room.subscribers
                };
                if list.get(m.pos) != Some(&client) {
                    return Err(format!("{} has a wrong pos in {}", conn.id, room.name));
                }
                if m.typing_until.is_some() && !m.typing_queued {
                    return Err(format!(
                        "{} types in {} without a timer",
                        conn.id, room.name
                    ));
                }
            }
            for &key in &conn.created {
                if self.rooms.get(key).and_then(|r| r.creator) != Some(client) {
                    return Err(format!("{} lists room {key} it did not create", conn.id));
                }
            }
            if conn.rooms.len() + conn.created.len() > self.config.max_rooms {
                return Err(format!("{} is over max_rooms", conn.id));
            }
            if !self
                .users
                .get(&conn.user)
                .is_some_and(|t| t.contains(&client))
            {
                return Err(format!("{} is missing from its user's tabs", conn.id));
            }
        }
        if live != self.live {
            return Err(format!("live count {} but {live} connections", self.live));
        }
        let tabs: usize = self.users.values().map(Vec::len).sum();
        if tabs != live || self.users.values().any(Vec::is_empty) {
            return Err(format!("{tabs} tabs for {live} connections"));
        }
        let memberships: usize = self.conns.iter().flatten().map(|c| c.rooms.len()).sum();
        if memberships != self.memberships {
            return Err(format!(
                "{} memberships counted, {memberships} held",
                self.memberships
            ));
        }
        if self.names.len() != self.rooms.len() {
            return Err("room names and rooms differ".into());
        }
        let mut kept = 0;
        for (key, room) in &self.rooms {
            if self.names.get(&room.name) != Some(&key) {
                return Err(format!("room {} is not named", room.name));
            }
            let count = room.members.len() + room.subscribers.len();
            if count == 0 && room.creator.is_none() {
                return Err(format!("room {} is empty", room.name));
            }
            if count > 0 && room.creator.is_some() {
                return Err(format!("room {} is entered but still pending", room.name));
            }
            let mut users: Vec<&str> = room
                .members
                .iter()
                .chain(&room.subscribers)
                .filter_map(|c| self.conns.get(c.0)?.as_ref().map(|c| &*c.user))
                .collect();
            users.sort_unstable();
            users.dedup();
            // max_members counts users: one user's tabs take one place.
            if room
                .max_members
                .is_some_and(|max| users.len() > max as usize)
            {
                return Err(format!("room {} is over max_members", room.name));
            }
            let h = &room.history;
            if h.len() > h.cap()
                || h.len() as u64 > h.seq()
                || h.bytes() > self.config.history_bytes
                || h.bytes() != h.recount()
            {
                return Err(format!("room {} keeps too much history", room.name));
            }
            kept += h.bytes();
            let lists = [(true, &room.members), (false, &room.subscribers)];
            for (joined, list) in lists {
                for &c in list.iter() {
                    let conn = self
                        .conns
                        .get(c.0)
                        .and_then(Option::as_ref)
                        .ok_or_else(|| format!("room {} has a gone member", room.name))?;
                    if !conn
                        .rooms
                        .iter()
                        .any(|m| m.room == key && m.joined == joined)
                    {
                        return Err(format!("room {} lists {} wrongly", room.name, conn.id));
                    }
                }
            }
        }
        if kept != self.history_bytes {
            return Err(format!(
                "history bytes {} but rooms keep {kept}",
                self.history_bytes
            ));
        }
        self.raw.check()?;
        Ok(())
    }
}
