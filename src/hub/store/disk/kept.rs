//! What the store keeps in memory per room: settings, seq, and where its kept events are.

use std::collections::VecDeque;

use super::record::{self, RoomHead};
use super::{Epoch, Settings};

/// What one room keeps on disk, as seen from memory.
#[derive(Debug)]
pub(super) struct Kept {
    pub settings: Settings,
    pub seq: u64,
    /// File offsets and lengths of the kept events, oldest first; the last
    /// one has `seq`.
    pub entries: VecDeque<(u64, u32)>,
    pub bytes: usize,
    /// When the room left memory (unix ms); `None` while it is in use.
    pub idle_since: Option<u64>,
    /// Events were appended that could not be stored (after a write error):
    /// what the index says is not what memory had, so the room gets a new
    /// epoch when it is read back.
    pub stale: bool,
}

impl Kept {
    pub fn new(settings: Settings, seq: u64) -> Kept {
        Kept {
            settings,
            seq,
            entries: VecDeque::new(),
            bytes: 0,
            idle_since: None,
            stale: false,
        }
    }

    /// Indexes the event for `seq`, applying the same bounds as `History`.
    pub fn push(&mut self, seq: u64, at: u64, len: u32, max_bytes: usize) {
        if seq != self.seq + 1 {
            // A hole (records lost to corruption): what is kept must end at `seq`.
            self.entries.clear();
            self.bytes = 0;
        }
        self.seq = seq;
        let len_bytes = len as usize;
        if self.settings.cap == 0 || len_bytes > max_bytes {
            self.entries.clear();
            self.bytes = 0;
            return;
        }
        while self.entries.len() >= self.settings.cap || self.bytes + len_bytes > max_bytes {
            match self.entries.pop_front() {
                Some((_, old)) => self.bytes -= old as usize,
                None => break,
            }
        }
        self.entries.push_back((at, len));
        self.bytes += len_bytes;
    }

    pub fn head(&self) -> RoomHead {
        let s = &self.settings;
        RoomHead {
            epoch: s.epoch.get(),
            seq: self.seq - self.entries.len() as u64,
            cap: s.cap.min(u32::MAX as usize) as u32,
            max_members: s.max_members.unwrap_or(0),
            created: s.created,
            owner: s.owner.as_deref().unwrap_or("").to_owned(),
            password: s.password.clone().unwrap_or_default(),
        }
    }
}

pub(super) fn settings_of(head: &RoomHead) -> Option<Settings> {
    Some(Settings {
        epoch: Epoch::from_raw(head.epoch)?,
        cap: head.cap as usize,
        max_members: (head.max_members != 0).then_some(head.max_members),
        created: head.created,
        owner: (!head.owner.is_empty()).then(|| head.owner.as_str().into()),
        password: (!head.password.is_empty()).then(|| head.password.clone()),
    })
}

/// About the bytes a room's records take in a compacted journal.
pub(super) fn room_size(k: &Kept, name: &str) -> u64 {
    let per = record::msg_event_offset(name) as u64;
    64 + k.bytes as u64 + per * k.entries.len() as u64
}
