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
//! When the journal has grown to twice what is kept (or to 3/4 of
//! `--max-disk`), it is compacted: the kept state is written to a new file a
//! slice per turn (`compact.rs`), synced, and renamed over the old one.

mod compact;
mod journal;
mod kept;
pub mod record;
mod state;
#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use super::Fsync;
use super::{Epoch, History, Saved, Settings, Store, StoreHealth};
use compact::{Compaction, STEP_BYTES};
use kept::{Kept, settings_of};
use state::{Flag, State};

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
// TTL, the size below which the journal is not compacted, and how much of a
// replaced journal is freed per turn.
use crate::limits::{
    FSYNC_INTERVAL as SYNC_EVERY, JOURNAL_COMPACT_MIN as COMPACT_MIN,
    JOURNAL_RETIRE_STEP as RETIRE_STEP, TTL_SWEEP as SWEEP_EVERY,
};

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
    /// The compaction under way, copied a slice per turn.
    compaction: Option<Compaction>,
    /// The journal before the last compaction, being shrunk away.
    retired: Option<File>,
    failed: Option<String>,
    errors: u64,
    /// Notes whether this run may lose writes (read by the next start).
    state: State,
    /// For the new epochs of rooms whose stored history fell behind.
    seed: u64,
    serial: u64,
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
        let (state, previous) = State::open(dir)?;
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
            compaction: None,
            retired: None,
            failed: None,
            errors: 0,
            state,
            seed: std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), unix_ms),
            serial: 0,
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
        let boot_id = state::boot_id();
        let lost = previous.as_ref().and_then(|p| p.lost(&boot_id));
        if let Some(why) = lost {
            // Clients may hold seqs the journal never reached: make them resume
            // from the whole kept history with `gap: true`, not from a wrong place.
            log::warn!(
                "data dir {}: {why}, so messages it acknowledged may be missing; \
                 {} rooms get a new epoch (resuming clients are told of a gap)",
                dir.display(),
                disk.rooms.len()
            );
            let names: Vec<Box<str>> = disk.rooms.keys().cloned().collect();
            for name in names {
                let epoch = disk.fresh_epoch();
                if let Some(kept) = disk.rooms.get_mut(&name) {
                    kept.settings.epoch = epoch;
                }
            }
        }
        disk.compact_at = (2 * disk.kept_size()).max(COMPACT_MIN);
        let damaged = replay.torn > 0 || replay.corrupt > 0;
        if damaged || lost.is_some() || disk.len >= disk.compact_at {
            // Rewrite what is intact (with any new epochs) so the damage is not
            // read (or logged) again.
            disk.compact()?;
        }
        disk.state.start(disk.options.fsync, &boot_id)?;
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

    /// A new epoch for a room whose stored history is behind what clients saw.
    fn fresh_epoch(&mut self) -> Epoch {
        self.serial += 1;
        // The seed is random per process (and folds in the start time).
        Epoch::fresh(self.seed, 0, self.serial)
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
            // In place, so it works on a full disk; the next start then gives
            // every room a new epoch.
            if let Err(e) = self.state.mark(Flag::Failed) {
                log::error!(
                    "data dir {}: cannot note the failure either ({e}); after a restart, \
                     clients that resume may not be told of the messages that were not stored",
                    self.dir.display()
                );
            }
        }
        // Events of this turn that were indexed but not written: their rooms'
        // index no longer matches memory.
        let written = self.len;
        for kept in self.rooms.values_mut() {
            if kept.entries.back().is_some_and(|&(at, _)| at >= written) {
                kept.entries.clear();
                kept.bytes = 0;
                kept.stale = true;
            }
        }
        self.pending.clear();
        if let Some(c) = self.compaction.take() {
            let _ = std::fs::remove_file(&c.tmp);
        }
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
        let (mut settings, seq, stale) = (kept.settings.clone(), kept.seq, kept.stale);
        if stale {
            // Its last events were never stored: resuming clients must see a gap.
            settings.epoch = self.fresh_epoch();
        }
        let history = History::restore(settings.epoch, seq, settings.cap, max_bytes, events);
        if let Some(kept) = self.rooms.get_mut(name) {
            kept.idle_since = None;
            kept.settings.epoch = settings.epoch;
            kept.stale = false;
        }
        record::write_live(&mut self.pending, name);
        Some(Saved { settings, history })
    }

    fn contains(&self, name: &str) -> bool {
        self.rooms.contains_key(name)
    }

    fn names(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Box::new(self.rooms.keys().map(|name| &**name))
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
        if self.failed.is_some() {
            // Nothing is written any more: the index only follows the seq.
            kept.seq = seq;
            kept.entries.clear();
            kept.bytes = 0;
            kept.stale = true;
            return;
        }
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
        }
        self.retire_step();
        if self.compaction.is_some() {
            if let Err(e) = self.compact_step(STEP_BYTES) {
                return self.fail("compaction failed", &e);
            }
            if self.compaction.is_none() && self.len > self.options.max_disk / 2 {
                let e = io::Error::other("rooms in use keep over half of --max-disk");
                return self.fail("disk budget", &e);
            }
        } else if self.len >= self.compact_at.min(self.options.max_disk / 4 * 3)
            && let Err(e) = self.start_compaction()
        {
            return self.fail("compaction failed", &e);
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
        if self.failed.is_some() {
            return;
        }
        // Even with `--fsync never`: a clean stop leaves nothing to lose.
        if self.unsynced {
            self.sync(now);
        }
        if self.failed.is_none()
            && let Err(e) = self.state.mark(Flag::Clean)
        {
            log::warn!(
                "data dir {}: cannot note the clean stop: {e}",
                self.dir.display()
            );
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
        if self.compaction.is_some() || self.retired.is_some() {
            // Due now: a slice per turn, also when no client sends anything.
            return Some(self.last_sync.min(self.next_sweep));
        }
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
