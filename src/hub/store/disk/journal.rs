//! The journal files in a data dir: finding, locking, reading, appending, replacing.
//!
//! The dir holds `lock` (held with `flock` while a server runs) and one
//! `journal.<n>`. A compaction writes `journal.<n+1>.tmp`, syncs it, renames it
//! to `journal.<n+1>`, syncs the dir and removes `journal.<n>`: at any crash
//! point the highest-numbered complete journal is the state.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::record::{self, Decoded, MAGIC, Record};

/// A journal opened for appending, with its contents.
pub struct Opened {
    pub file: File,
    pub number: u64,
    pub bytes: Vec<u8>,
    pub lock: File,
}

/// What replaying found besides intact records.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replay {
    /// Bytes of an incomplete last record (dropped).
    pub torn: usize,
    /// Bytes skipped because they were no valid record.
    pub corrupt: usize,
    /// Intact records about rooms that were not known (their start was lost).
    pub orphans: usize,
}

fn journal_name(number: u64) -> String {
    format!("journal.{number}")
}

/// Opens the newest journal in `dir` (creating the dir and a first journal
/// if needed), after taking the dir's lock and removing leftovers of an
/// interrupted compaction.
pub fn open(dir: &Path) -> io::Result<Opened> {
    fs::create_dir_all(dir)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            return Err(io::Error::other("another loopcast process uses it"));
        }
        Err(fs::TryLockError::Error(e)) => return Err(e),
    }
    let mut numbers = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(rest) = name.strip_prefix("journal.") {
            if rest.ends_with(".tmp") {
                fs::remove_file(dir.join(name))?;
            } else if let Ok(n) = rest.parse::<u64>() {
                numbers.push(n);
            }
        }
    }
    numbers.sort_unstable();
    let Some(&number) = numbers.last() else {
        let (file, number) = replace(dir, 0, MAGIC)?;
        return Ok(Opened {
            file,
            number,
            bytes: MAGIC.to_vec(),
            lock,
        });
    };
    for &older in &numbers[..numbers.len() - 1] {
        fs::remove_file(dir.join(journal_name(older)))?;
    }
    let path = dir.join(journal_name(number));
    let mut bytes = fs::read(&path)?;
    let file = OpenOptions::new().read(true).append(true).open(&path)?;
    if !bytes.starts_with(MAGIC) {
        // Not ours, or its first bytes are damaged: keep it aside, start empty.
        let aside = dir.join(format!("journal.{number}.unreadable"));
        log::warn!(
            "{}: not a loopcast journal; moved to {} and starting empty",
            path.display(),
            aside.display()
        );
        fs::rename(&path, &aside)?;
        let (file, number) = replace(dir, number, MAGIC)?;
        bytes = MAGIC.to_vec();
        return Ok(Opened {
            file,
            number,
            bytes,
            lock,
        });
    }
    // Proves the dir is writable now rather than at the first message.
    file.sync_all()?;
    Ok(Opened {
        file,
        number,
        bytes,
        lock,
    })
}

/// Feeds every intact record of `bytes` (a whole journal) to `apply` with
/// its offset; `apply` returns false for a record about an unknown room.
pub fn replay(bytes: &[u8], mut apply: impl FnMut(u64, Record<'_>) -> bool) -> Replay {
    let mut found = Replay::default();
    let mut at = MAGIC.len();
    while at < bytes.len() {
        match record::decode(&bytes[at..]) {
            Decoded::Record(rec, used) => {
                if !apply(at as u64, rec) {
                    found.orphans += 1;
                }
                at += used;
            }
            Decoded::Short if resync(bytes, at + 1).is_none() => {
                found.torn = bytes.len() - at;
                break;
            }
            // A damaged length can look short: look for the next intact record.
            Decoded::Short | Decoded::Corrupt => match resync(bytes, at + 1) {
                Some(next) => {
                    found.corrupt += next - at;
                    at = next;
                }
                None => {
                    found.corrupt += bytes.len() - at;
                    break;
                }
            },
        }
    }
    found
}

/// The first offset from `from` where an intact record starts.
fn resync(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len()).find(|&i| matches!(record::decode(&bytes[i..]), Decoded::Record(..)))
}

/// Appends `bytes` to the journal in one write.
pub fn append(file: &mut File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)
}

/// Writes `bytes` as journal `number + 1` (synced, renamed into place, the
/// dir synced), removes journal `number`, and returns the new one opened
/// for appending.
pub fn replace(dir: &Path, number: u64, bytes: &[u8]) -> io::Result<(File, u64)> {
    let (mut f, tmp) = create_tmp(dir, number)?;
    f.write_all(&bytes[MAGIC.len()..])?;
    f.sync_all()?;
    install(dir, number, &tmp)
}

/// Creates `journal.<number+1>.tmp` holding the magic bytes, for a new journal.
pub fn create_tmp(dir: &Path, number: u64) -> io::Result<(File, PathBuf)> {
    let tmp = dir.join(format!("{}.tmp", journal_name(number + 1)));
    let mut f = File::create(&tmp)?;
    f.write_all(MAGIC)?;
    Ok((f, tmp))
}

/// Renames the synced `tmp` to journal `number + 1`, syncs the dir, removes
/// journal `number`, and returns the new one opened for appending.
pub fn install(dir: &Path, number: u64, tmp: &Path) -> io::Result<(File, u64)> {
    let next = number + 1;
    let path = dir.join(journal_name(next));
    fs::rename(tmp, &path)?;
    File::open(dir)?.sync_all()?;
    let old = dir.join(journal_name(number));
    if number > 0 && old.exists() {
        fs::remove_file(old)?;
    }
    let file = OpenOptions::new().read(true).append(true).open(&path)?;
    Ok((file, next))
}
