//! The `--data-dir` store: one append-only journal of checksummed records for all rooms.
//!
//! Every change (a room's settings and epoch, each message event, idle,
//! delete) is appended to this turn's buffer; `commit` writes the buffer with
//! one `write` and, per `--fsync`, at most one `fdatasync`, before the reactor
//! flushes the turn's output. One file for all rooms is what makes that one
//! write: a file per room would cost a write and a sync per room per turn.
//!
//! In memory the store keeps an index only: per room its settings, seq and
//! the file offsets of its kept events (bounded like [`History`]). A room that
//! is not in use is read back from those offsets when someone joins it.
//! When the journal has grown to twice what is kept, it is compacted: the
//! kept state is written to a new file, synced, and renamed over the old one.

mod journal;
pub mod record;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use super::Fsync;
use super::{Epoch, History, Saved, Settings, Store, StoreHealth};
use record::RoomHead;

/// How the store behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// When to sync.
    pub fsync: Fsync,
    /// How long an empty room that was not `create`d is kept.
    pub room_ttl: Duration,
    /// Most bytes the journal may use; compaction keeps it under.
    pub max_disk: u64,
    /// Bytes of events kept per room (as `--history-bytes`).
    pub history_bytes: usize,
}

// How often `Interval` syncs, how often idle rooms are checked against the
// TTL, and the size below which the journal is not compacted.
use crate::limits::{
    FSYNC_INTERVAL as SYNC_EVERY, JOURNAL_COMPACT_MIN as COMPACT_MIN, TTL_SWEEP as SWEEP_EVERY,
};

/// What one room keeps on disk, as seen from memory.
#[derive(Debug)]
struct Kept {
    settings: Settings,
    seq: u64,
    /// File offsets and lengths of the kept events, oldest first; the last
    /// one has `seq`.
    entries: VecDeque<(u64, u32)>,
    bytes: usize,
    /// When the room left memory (unix ms); `None` while it is in use.
    idle_since: Option<u64>,
}

impl Kept {
    fn new(settings: Settings, seq: u64) -> Kept {
        Kept {
            settings,
            seq,
            entries: VecDeque::new(),
            bytes: 0,
            idle_since: None,
        }
    }

    /// Indexes the event for `seq`, applying the same bounds as `History`.
    fn push(&mut self, seq: u64, at: u64, len: u32, max_bytes: usize) {
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

    fn head(&self) -> RoomHead {
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

fn settings_of(head: &RoomHead) -> Option<Settings> {
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
fn room_size(k: &Kept, name: &str) -> u64 {
    let per = record::msg_event_offset(name) as u64;
    64 + k.bytes as u64 + per * k.entries.len() as u64
}

/// The on-disk store.
#[derive(Debug)]
pub struct Disk {
    dir: PathBuf,
    options: Options,
    /// The journal being appended to.
    file: File,
    /// Its number (`journal.<n>`).
    number: u64,
    /// Bytes written to it.
    len: u64,
    /// Records of this turn, written at `commit`.
    pending: Vec<u8>,
    rooms: HashMap<Box<str>, Kept>,
    /// Written since the last sync.
    unsynced: bool,
    last_sync: Instant,
    next_sweep: Instant,
    /// Compact when the journal reaches this size.
    compact_at: u64,
    failed: Option<String>,
    errors: u64,
    /// Held for the process's lifetime: one server per data dir.
    _lock: File,
}

impl Disk {
    /// Opens (or creates) the store in `dir`, reading back every intact
    /// record. Torn or corrupted records are skipped and logged; an error
    /// here (no such dir can be made, it is not writable, another server
    /// holds it) means the server must not start.
    pub fn open(dir: &Path, options: Options, now: Instant, unix_ms: u64) -> io::Result<Disk> {
        let opened = journal::open(dir)?;
        let mut disk = Disk {
            dir: dir.to_owned(),
            options,
            file: opened.file,
            number: opened.number,
            len: opened.bytes.len() as u64,
            pending: Vec::new(),
            rooms: HashMap::new(),
            unsynced: false,
            last_sync: now,
            next_sweep: now,
            compact_at: COMPACT_MIN,
            failed: None,
            errors: 0,
            _lock: opened.lock,
        };
        let replay = journal::replay(&opened.bytes, |at, record| disk.apply(at, record));
        for kept in disk.rooms.values_mut() {
            // In use when the server stopped: its TTL starts now.
            kept.idle_since.get_or_insert(unix_ms);
        }
        if replay.torn > 0 {
            log::warn!(
                "data dir {}: dropped a torn record at the end ({} bytes)",
                dir.display(),
                replay.torn
            );
        }
        if replay.corrupt > 0 || replay.orphans > 0 {
            log::warn!(
                "data dir {}: skipped {} corrupted bytes and {} records of unknown rooms",
                dir.display(),
                replay.corrupt,
                replay.orphans
            );
        }
        log::info!(
            "data dir {}: {} rooms, {} bytes of journal",
            dir.display(),
            disk.rooms.len(),
            disk.len
        );
        disk.compact_at = (2 * disk.kept_size()).max(COMPACT_MIN);
        if replay.torn > 0 || replay.corrupt > 0 || disk.len >= disk.compact_at {
            // Rewrite what is intact so the damage is not read (or logged) again.
            disk.compact()?;
        }
        Ok(disk)
    }

    /// Replays one record read at file offset `at`; false if it was for a
    /// room that is not known.
    fn apply(&mut self, at: u64, record: record::Record<'_>) -> bool {
        use record::Record;
        match record {
            Record::Room { name, head } => match settings_of(&head) {
                Some(settings) => {
                    self.rooms
                        .insert(name.into(), Kept::new(settings, head.seq));
                }
                None => return false,
            },
            Record::Msg { name, seq, event } => {
                let Some(kept) = self.rooms.get_mut(name) else {
                    return false;
                };
                let offset = at + record::msg_event_offset(name) as u64;
                kept.push(seq, offset, event.len() as u32, self.options.history_bytes);
                kept.idle_since = None;
            }
            Record::Delete { name } => {
                self.rooms.remove(name);
            }
            Record::Idle { name, unix_ms } => match self.rooms.get_mut(name) {
                Some(kept) => kept.idle_since = Some(unix_ms),
                None => return false,
            },
            Record::Live { name } => match self.rooms.get_mut(name) {
                Some(kept) => kept.idle_since = None,
                None => return false,
            },
        }
        true
    }

    /// Stops writing after an I/O error: the server goes on from memory.
    fn fail(&mut self, what: &str, e: &io::Error) {
        self.errors += 1;
        if self.failed.is_none() {
            log::warn!(
                "data dir {}: {what}: {e}; rooms go on in memory only, nothing more is stored",
                self.dir.display()
            );
            self.failed = Some(format!("{what}: {e}"));
        }
        self.pending.clear();
    }

    fn sync(&mut self, now: Instant) {
        if let Err(e) = self.file.sync_data() {
            self.fail("sync failed", &e);
        }
        self.unsynced = false;
        self.last_sync = now;
    }

    /// Reads one kept event, from the file or from this turn's buffer.
    fn read_event(&self, at: u64, len: u32) -> io::Result<String> {
        let mut buf = vec![0; len as usize];
        if at >= self.len {
            let start = (at - self.len) as usize;
            let src = self
                .pending
                .get(start..start + len as usize)
                .ok_or_else(|| io::Error::other("event past the journal"))?;
            buf.copy_from_slice(src);
        } else {
            use std::os::unix::fs::FileExt;
            self.file.read_exact_at(&mut buf, at)?;
        }
        String::from_utf8(buf).map_err(|_| io::Error::other("event is not UTF-8"))
    }

    /// Writes the kept state to a new journal and switches to it; rooms over
    /// `--max-disk` go first (idle ones, oldest first).
    fn compact(&mut self) -> io::Result<()> {
        self.trim_to(self.options.max_disk / 2);
        let (bytes, offsets) = self.snapshot()?;
        let (file, number) = journal::replace(&self.dir, self.number, &bytes)?;
        for (name, entries) in offsets {
            if let Some(kept) = self.rooms.get_mut(&*name) {
                kept.entries = entries;
            }
        }
        self.file = file;
        self.number = number;
        self.len = bytes.len() as u64;
        self.unsynced = false;
        self.compact_at = (2 * self.len).max(COMPACT_MIN);
        log::debug!(
            "data dir {}: compacted to {} bytes",
            self.dir.display(),
            self.len
        );
        Ok(())
    }

    /// The kept state as a journal, and each room's new event offsets.
    #[allow(clippy::type_complexity)]
    fn snapshot(&self) -> io::Result<(Vec<u8>, Vec<(Box<str>, VecDeque<(u64, u32)>)>)> {
        let mut out = record::MAGIC.to_vec();
        let mut offsets = Vec::with_capacity(self.rooms.len());
        for (name, kept) in &self.rooms {
            record::write_room(&mut out, name, &kept.head());
            let mut entries = VecDeque::with_capacity(kept.entries.len());
            let first = kept.seq - kept.entries.len() as u64;
            for (i, &(at, len)) in kept.entries.iter().enumerate() {
                let event = self.read_event(at, len)?;
                let (pos, _) = record::write_msg(&mut out, name, first + 1 + i as u64, &event);
                entries.push_back((pos as u64, len));
            }
            if let Some(ms) = kept.idle_since {
                record::write_idle(&mut out, name, ms);
            }
            offsets.push((name.clone(), entries));
        }
        Ok((out, offsets))
    }

    /// About how many bytes a compacted journal of the kept state takes.
    fn kept_size(&self) -> u64 {
        self.rooms.iter().map(|(n, k)| room_size(k, n)).sum()
    }

    /// Drops rooms until the kept state is about `budget` bytes: idle rooms
    /// that were not `create`d first, then the history of idle `create`d
    /// rooms, oldest idle first. Rooms in use are never dropped here.
    fn trim_to(&mut self, budget: u64) {
        let size = room_size;
        let mut total = self.kept_size();
        if total <= budget {
            return;
        }
        let mut idle: Vec<(bool, u64, Box<str>)> = self
            .rooms
            .iter()
            .filter_map(|(n, k)| Some((k.settings.created, k.idle_since?, n.clone())))
            .collect();
        idle.sort();
        for (created, _, name) in idle {
            if total <= budget {
                break;
            }
            let Some(kept) = self.rooms.get_mut(&name) else {
                continue;
            };
            total -= size(kept, &name);
            if created {
                kept.entries.clear();
                kept.bytes = 0;
                total += size(kept, &name);
            } else {
                self.rooms.remove(&name);
            }
            log::warn!("data dir: --max-disk reached, dropped the history of room {name}");
        }
    }

    /// Removes idle rooms past the TTL (never `create`d ones).
    fn sweep(&mut self, unix_ms: u64) {
        let ttl = self.options.room_ttl.as_millis() as u64;
        let expired: Vec<Box<str>> = self
            .rooms
            .iter()
            .filter(|(_, k)| !k.settings.created)
            .filter(|(_, k)| {
                k.idle_since
                    .is_some_and(|t| t.saturating_add(ttl) <= unix_ms)
            })
            .map(|(n, _)| n.clone())
            .collect();
        for name in expired {
            log::debug!("room {name}: expired after the room TTL");
            self.deleted(&name);
        }
    }
}

impl Store for Disk {
    fn load(&mut self, name: &str, max_bytes: usize) -> Option<Saved> {
        let kept = self.rooms.get(name)?;
        let mut events = Vec::with_capacity(kept.entries.len());
        for &(at, len) in &kept.entries {
            match self.read_event(at, len) {
                Ok(event) => events.push(event),
                Err(e) => {
                    // What is kept must be contiguous: keep only what follows.
                    log::warn!("room {name}: cannot read its history back: {e}");
                    events.clear();
                }
            }
        }
        let (settings, seq) = (kept.settings.clone(), kept.seq);
        let history = History::restore(settings.epoch, seq, settings.cap, max_bytes, events);
        if let Some(kept) = self.rooms.get_mut(name) {
            kept.idle_since = None;
        }
        record::write_live(&mut self.pending, name);
        Some(Saved { settings, history })
    }

    fn contains(&self, name: &str) -> bool {
        self.rooms.contains_key(name)
    }

    fn started(&mut self, name: &str, settings: &Settings) {
        let kept = Kept::new(settings.clone(), 0);
        record::write_room(&mut self.pending, name, &kept.head());
        self.rooms.insert(name.into(), kept);
    }

    fn appended(&mut self, name: &str, seq: u64, event: &str) {
        let Some(kept) = self.rooms.get_mut(name) else {
            debug_assert!(false, "room {name} appended before it started");
            return;
        };
        let (pos, len) = record::write_msg(&mut self.pending, name, seq, event);
        let at = self.len + pos as u64;
        kept.push(seq, at, len as u32, self.options.history_bytes);
    }

    fn emptied(&mut self, name: &str, unix_ms: u64) {
        if let Some(kept) = self.rooms.get_mut(name) {
            kept.idle_since = Some(unix_ms);
            record::write_idle(&mut self.pending, name, unix_ms);
        }
    }

    fn deleted(&mut self, name: &str) {
        if self.rooms.remove(name).is_some() {
            record::write_delete(&mut self.pending, name);
        }
    }

    fn commit(&mut self, now: Instant) {
        if self.failed.is_some() {
            self.pending.clear();
            return;
        }
        if !self.pending.is_empty() {
            let written = journal::append(&mut self.file, &self.pending);
            let n = self.pending.len() as u64;
            self.pending.clear();
            if let Err(e) = written {
                return self.fail("write failed", &e);
            }
            self.len += n;
            self.unsynced = true;
            if self.options.fsync == Fsync::Turn {
                self.sync(now);
            }
            if self.len > self.options.max_disk {
                let e = io::Error::other(format!("journal over --max-disk ({} bytes)", self.len));
                return self.fail("disk budget", &e);
            }
            if self.len >= self.compact_at.min(self.options.max_disk) {
                if let Err(e) = self.compact() {
                    return self.fail("compaction failed", &e);
                }
                if self.len > self.options.max_disk / 2 {
                    let e = io::Error::other("rooms in use keep over half of --max-disk");
                    return self.fail("disk budget", &e);
                }
            }
        }
        if self.unsynced
            && self.options.fsync == Fsync::Interval
            && now >= self.last_sync + SYNC_EVERY
        {
            self.sync(now);
        }
    }

    fn close(&mut self, now: Instant) {
        self.commit(now);
        if self.unsynced && self.failed.is_none() && self.options.fsync != Fsync::Never {
            self.sync(now);
        }
    }

    fn handle_timeout(&mut self, now: Instant, unix_ms: u64) {
        if now >= self.next_sweep {
            self.next_sweep = now + SWEEP_EVERY;
            self.sweep(unix_ms);
        }
        self.commit(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let sync = (self.unsynced && self.options.fsync == Fsync::Interval)
            .then_some(self.last_sync + SYNC_EVERY);
        Some(sync.map_or(self.next_sweep, |s| s.min(self.next_sweep)))
    }

    fn health(&self) -> StoreHealth {
        StoreHealth {
            failed: self.failed.clone(),
            errors: self.errors,
            disk_bytes: self.len,
            rooms: self.rooms.len(),
        }
    }
}
