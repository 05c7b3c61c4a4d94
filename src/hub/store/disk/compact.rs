//! Compaction in slices: the kept state is copied to a new journal a bounded
//! number of bytes per loop turn, so one compaction never stalls the loop.
//!
//! The copy is of the state as of the old journal's length at the start,
//! `start_len`: per room, its settings and the kept events written before
//! then (the old journal is append-only, so their offsets stay valid while
//! the copy goes on over several turns). New records keep going to the old
//! journal meanwhile. When every room is copied, the old journal's bytes from
//! `start_len` on (what happened during the copy) are appended verbatim, a
//! slice per turn too: replaying the new journal gives each room as it was,
//! then every change since, the state that replaying the old one gives. Then
//! the new file is synced and renamed over the old one, and each room's
//! offsets are moved to the new file.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use super::kept::{Kept, room_size};
use super::{COMPACT_MIN, Disk, RETIRE_STEP, journal, record};

pub use crate::limits::JOURNAL_COMPACT_STEP as STEP_BYTES;

/// A compaction under way.
#[derive(Debug)]
pub struct Compaction {
    /// The new journal (`journal.<n+1>.tmp`) and where it goes.
    file: File,
    pub tmp: PathBuf,
    /// The old journal's length when the copy started.
    start_len: u64,
    /// Rooms still to copy.
    todo: Vec<Box<str>>,
    /// Per copied room, `(old offset, new offset)` of each event, in old order.
    moved: HashMap<Box<str>, Vec<(u64, u64)>>,
    /// Bytes in the new journal so far.
    written: u64,
    /// Where the new journal's copy of the old one's bytes from `start_len`
    /// on starts, once every room is copied.
    base: Option<u64>,
    /// The next old offset of those bytes to copy.
    tail_at: u64,
    buf: Vec<u8>,
}

impl Compaction {
    /// Starts a compaction of `rooms` as of the old journal's length
    /// `start_len` into `file`, which already holds the magic bytes.
    pub fn new(file: File, tmp: PathBuf, start_len: u64, rooms: Vec<Box<str>>) -> Compaction {
        Compaction {
            file,
            tmp,
            start_len,
            todo: rooms,
            moved: HashMap::new(),
            written: record::MAGIC.len() as u64,
            base: None,
            tail_at: start_len,
            buf: Vec::new(),
        }
    }

    /// Does about `budget` bytes of work: copies rooms as they were at the
    /// start (`read` reads one kept event of the old journal, `old` is it,
    /// `len` bytes long now), then the old journal's bytes since. True once
    /// the new journal is complete and synced.
    pub fn step(
        &mut self,
        budget: usize,
        rooms: &HashMap<Box<str>, Kept>,
        old: &File,
        len: u64,
        mut read: impl FnMut(u64, u32) -> io::Result<String>,
    ) -> io::Result<bool> {
        self.buf.clear();
        while self.buf.len() < budget {
            let Some(name) = self.todo.pop() else { break };
            // Deleted since the start: its delete record is in what follows.
            let Some(kept) = rooms.get(&name) else {
                continue;
            };
            let base = self.written + self.buf.len() as u64;
            let start = self.buf.len();
            let head = kept.head();
            record::write_room(&mut self.buf, &name, &head);
            // Its events from before the start (the older ones, first); the
            // newer ones are in the bytes copied last.
            let old_events = kept
                .entries
                .iter()
                .take_while(|&&(at, _)| at < self.start_len);
            let mut moved = Vec::with_capacity(kept.entries.len());
            for (i, &(at, n)) in old_events.enumerate() {
                let event = read(at, n)?;
                let seq = head.seq + 1 + i as u64;
                let (pos, _) = record::write_msg(&mut self.buf, &name, seq, &event);
                moved.push((at, base + (pos - start) as u64));
            }
            if let Some(ms) = kept.idle_since {
                record::write_idle(&mut self.buf, &name, ms);
            }
            self.moved.insert(name, moved);
        }
        if !self.buf.is_empty() {
            self.file.write_all(&self.buf)?;
            self.written += self.buf.len() as u64;
            // Synced as it goes, so the last step has little left to sync.
            self.file.sync_data()?;
            return Ok(false);
        }
        let base = *self.base.get_or_insert(self.written);
        // What happened since the start, verbatim; all of it once what is
        // left is small, so the copy ends even while records keep coming.
        let left = len - self.tail_at;
        let budget = budget as u64;
        let n = if left <= budget.saturating_mul(4) {
            left
        } else {
            budget
        };
        let mut chunk = vec![0; n as usize];
        old.read_exact_at(&mut chunk, self.tail_at)?;
        self.file.write_all(&chunk)?;
        self.tail_at += n;
        self.written = base + (self.tail_at - self.start_len);
        if self.tail_at < len {
            return Ok(false);
        }
        self.file.sync_all()?;
        Ok(true)
    }

    /// The new journal's length (once complete).
    pub fn len(&self) -> u64 {
        self.written
    }

    /// Moves a room's event offsets (oldest first, as kept) to the new journal.
    /// False if one is not there (cannot happen; the caller then drops them).
    pub fn move_entries(&self, name: &str, entries: &mut VecDeque<(u64, u32)>) -> bool {
        let base = self.base.unwrap_or(self.written);
        let moved = self.moved.get(name).map_or(&[][..], Vec::as_slice);
        // The events from before the start still kept are the newest of those
        // copied (older ones may have been dropped since): find the first.
        let mut i = match entries.front() {
            Some(&(at, _)) if at < self.start_len => {
                match moved.binary_search_by_key(&at, |&(old, _)| old) {
                    Ok(i) => i,
                    Err(_) => return false,
                }
            }
            _ => 0,
        };
        for entry in entries.iter_mut() {
            if entry.0 >= self.start_len {
                entry.0 = base + (entry.0 - self.start_len);
            } else {
                match moved.get(i) {
                    Some(&(old, new)) if old == entry.0 => entry.0 = new,
                    _ => return false,
                }
                i += 1;
            }
        }
        true
    }
}

/// The compaction's side of the store: when and how much, and switching files.
impl Disk {
    /// Compacts at once (at start-up, where no client waits yet).
    pub(super) fn compact(&mut self) -> io::Result<()> {
        self.start_compaction()?;
        while self.compaction.is_some() {
            self.compact_step(usize::MAX)?;
        }
        Ok(())
    }

    /// Starts a compaction of the kept state as it is now; rooms over
    /// `--max-disk` go first (idle ones, oldest first). The copy is done a
    /// slice per turn by `compact_step`.
    pub(super) fn start_compaction(&mut self) -> io::Result<()> {
        self.trim_to(self.options.max_disk / 2);
        let (file, tmp) = journal::create_tmp(&self.dir, self.number)?;
        let rooms = self.rooms.keys().cloned().collect();
        self.compaction = Some(Compaction::new(file, tmp, self.len, rooms));
        Ok(())
    }

    /// Does about `budget` bytes of the compaction under way, and switches
    /// to the new journal once it is complete. Call with this turn's records
    /// written (nothing pending). On an error the new file is removed.
    pub(super) fn compact_step(&mut self, budget: usize) -> io::Result<()> {
        let Some(mut c) = self.compaction.take() else {
            return Ok(());
        };
        match self.compact_with(&mut c, budget) {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.compaction = Some(c);
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_file(&c.tmp);
                Err(e)
            }
        }
    }

    /// One slice of `c`; true once the new journal is in place.
    pub(super) fn compact_with(&mut self, c: &mut Compaction, budget: usize) -> io::Result<bool> {
        let read = |at, len| self.read_event(at, len);
        if !c.step(budget, &self.rooms, &self.file, self.len, read)? {
            return Ok(false);
        }
        let (file, number) = journal::install(&self.dir, self.number, &c.tmp)?;
        for (name, kept) in self.rooms.iter_mut() {
            if !c.move_entries(name, &mut kept.entries) {
                // Cannot happen; if it did, drop the history rather than serve wrong bytes.
                kept.entries.clear();
                kept.bytes = 0;
            }
        }
        // Its pages are freed a slice per turn, not all at once on close.
        self.retired = Some(std::mem::replace(&mut self.file, file));
        self.number = number;
        self.len = c.len();
        self.unsynced = false;
        self.compact_at = (2 * self.len).max(COMPACT_MIN);
        log::debug!(
            "data dir {}: compacted to {} bytes",
            self.dir.display(),
            self.len
        );
        Ok(true)
    }

    /// Shrinks the old journal after a compaction (its name is gone already),
    /// `RETIRE_STEP` bytes per turn, and closes it once empty.
    pub(super) fn retire_step(&mut self) {
        let Some(old) = &self.retired else { return };
        let left = old
            .metadata()
            .map_or(0, |m| m.len())
            .saturating_sub(RETIRE_STEP);
        if left == 0 || old.set_len(left).is_err() {
            self.retired = None;
        }
    }

    /// About how many bytes a compacted journal of the kept state takes.
    pub(super) fn kept_size(&self) -> u64 {
        self.rooms.iter().map(|(n, k)| room_size(k, n)).sum()
    }

    /// Drops rooms until the kept state is about `budget` bytes: idle rooms
    /// that were not `create`d first, then the history of idle `create`d
    /// rooms, oldest idle first. Rooms in use are never dropped here.
    pub(super) fn trim_to(&mut self, budget: u64) {
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
}
