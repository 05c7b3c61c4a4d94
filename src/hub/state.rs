//! Room state beyond membership: the store hooks, `delete`, and the history byte budget.

use std::collections::BinaryHeap;

use super::home::Home;
use super::rooms::{Room, RoomKey};
use super::store::{Epoch, History, Settings, Store, StoreHealth};
use super::{Failure, Hub, Now, Outbox};
use crate::ClientId;
use crate::protocol;
use crate::secret::PasswordHash;

impl Hub {
    /// Keeps room state in `store` too (`--data-dir`); rooms it has are
    /// loaded when someone enters them.
    pub fn set_store(&mut self, store: Box<dyn Store>) {
        // Disk and Redis together are refused at start (config).
        debug_assert!(
            matches!(self.home, Home::Local(None)),
            "one home for room state"
        );
        self.home = Home::Local(Some(store));
    }

    /// The store's health, if there is a store.
    pub fn store_health(&self) -> Option<StoreHealth> {
        self.home.disk().map(|s| s.health())
    }

    /// Makes this turn's room changes durable (group commit): the reactor
    /// calls it once per turn, before writing the turn's output to sockets.
    pub fn commit(&mut self, now: Now) {
        if let Some(store) = self.home.disk_mut() {
            store.commit(now.mono);
        }
        self.save_names(now, false);
    }

    /// The server stops: the store writes and syncs what is left.
    pub fn close_store(&mut self, now: Now) {
        if let Some(store) = self.home.disk_mut() {
            store.close(now.mono);
        }
        self.save_names(now, true);
    }

    /// An empty history for a new room: a new epoch, the configured bounds.
    pub(super) fn new_history(&mut self, now: Now, cap: usize) -> History {
        let epoch = Epoch::fresh(self.epoch_seed, now.unix_ms, self.next_serial());
        History::new(epoch, cap, self.config.history_bytes)
    }

    /// Tells the store that room `key`'s history starts, with its settings.
    pub(super) fn started(&mut self, key: RoomKey) {
        let Some(store) = self.home.disk_mut() else {
            return;
        };
        let room = &self.rooms[key];
        let settings = Settings {
            epoch: room.history.epoch(),
            cap: room.history.cap(),
            max_members: room.max_members,
            created: room.created,
            owner: room.owner.clone(),
            password: room.password.as_ref().map(|h| h.to_bytes().to_vec()),
        };
        store.started(&room.name, &settings);
    }

    /// Brings a room the store keeps into memory (empty, as a `create`d room
    /// that nobody entered yet is); the caller enters it or drops it again.
    pub(super) fn load_room(&mut self, name: &str) -> Option<RoomKey> {
        let max_bytes = self.config.history_bytes;
        let saved = self.home.disk_mut()?.load(name, max_bytes)?;
        let s = saved.settings;
        let mut room = Room::new(name, None, saved.history);
        room.max_members = s.max_members;
        room.created = s.created;
        room.owner = s.owner;
        room.password = s.password.map(|bytes| {
            Box::new(PasswordHash::from_bytes(&bytes).unwrap_or_else(|| {
                // Only a damaged store gets here: lock the room rather than open it.
                log::error!("room {name}: stored password hash is unreadable; room locked");
                PasswordHash::new(&format!("{:x}", self.epoch_seed ^ self.serial))
            }))
        });
        self.history_bytes += room.history.bytes();
        let key = self.rooms.insert(room);
        self.names.insert(name.into(), key);
        Some(key)
    }

    /// `delete` from a client: only the user who `create`d the room may.
    pub(super) fn delete<'r>(
        &mut self,
        client: ClientId,
        name: &'r str,
        out: &mut Outbox,
    ) -> Result<(), Failure<'r>> {
        let (key, loaded) = match self.names.get(name) {
            Some(&key) => (key, false),
            None => (self.load_room(name).ok_or(Failure::NoSuchRoom(name))?, true),
        };
        if self.rooms[key].owner.as_deref() != Some(&*self.conn(client).user) {
            if loaded {
                self.drop_if_empty(key);
            }
            return Err(Failure::NotOwner(name));
        }
        self.remove_room(key, out);
        Ok(())
    }

    /// Deletes a room for the backend (the HTTP API); false if there is none.
    pub fn delete_room(&mut self, now: Now, name: &str, out: &mut Outbox) -> bool {
        self.clock_ms = now.unix_ms;
        let key = match self.names.get(name) {
            Some(&key) => key,
            None => match self.load_room(name) {
                Some(key) => key,
                None => return false,
            },
        };
        self.remove_room(key, out);
        true
    }

    /// Removes a room with its history from memory and store; its members and
    /// subscribers get `deleted` and are no longer in it.
    pub(super) fn remove_room(&mut self, key: RoomKey, out: &mut Outbox) {
        let room = self.rooms.remove(key);
        self.names.remove(&room.name);
        self.history_bytes -= room.history.bytes();
        let mark = out.mark();
        protocol::write_deleted(out.buf(), &room.name);
        out.recipients(&room.members);
        out.recipients(&room.subscribers);
        out.commit(mark);
        for client in room.members.iter().chain(&room.subscribers) {
            if let Some(conn) = self.conns[client.0].as_mut() {
                let before = conn.rooms.len();
                conn.rooms.retain(|m| m.room != key);
                // Keep the memory budget's count of memberships exact.
                self.memberships -= before - conn.rooms.len();
            }
        }
        if let Some(creator) = room.creator
            && let Some(conn) = self.conns[creator.0].as_mut()
        {
            conn.created.retain(|k| *k != key);
        }
        if let Some(store) = self.home.disk_mut() {
            store.deleted(&room.name);
        }
    }

    /// Bytes of message events kept in every room's history.
    pub fn history_bytes(&self) -> usize {
        self.history_bytes
    }

    /// Frees at least `want` bytes of history (or all there is), oldest
    /// events of the largest rooms first; returns the bytes freed. For the
    /// memory budget: a room that keeps the most loses its oldest first, so
    /// small rooms keep their whole history as long as possible.
    pub fn evict_history(&mut self, want: usize) -> usize {
        let mut largest: BinaryHeap<(usize, RoomKey)> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.history.bytes() > 0)
            .map(|(key, r)| (r.history.bytes(), key))
            .collect();
        let mut freed = 0;
        while freed < want {
            let Some((_, key)) = largest.pop() else {
                break;
            };
            let history = &mut self.rooms[key].history;
            freed += history.evict_oldest();
            if history.bytes() > 0 {
                largest.push((history.bytes(), key));
            }
        }
        self.history_bytes -= freed;
        freed
    }
}
