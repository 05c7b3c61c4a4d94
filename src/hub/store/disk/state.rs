//! The data dir's `state` file: whether the last run may have lost writes it acknowledged.
//!
//! A journal cannot tell by itself that writes are missing from its end: after
//! a write error (disk full, `EFBIG`, `EIO`) the server went on in memory, and
//! after a power cut with `--fsync interval|never` the last unsynced records
//! are gone, yet the file ends cleanly in both cases. Clients that saw those
//! messages hold a `seq` the journal never reached; if the room kept its epoch
//! they would resume in the wrong place. So each run notes here how it is doing
//! (running, stopped cleanly, failed) with its `--fsync` and the machine's boot
//! id, and the next start gives every room a new epoch when the last run may
//! have lost something.
//!
//! The file has a fixed size and is only ever overwritten in place: marking a
//! failure needs no new disk space, so it still works on a full disk.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::Fsync;

const MAGIC: &[u8; 8] = b"lcstate1";
/// Bytes of the file: magic, flag, fsync, boot id length, boot id, padding.
const LEN: usize = 64;
/// Where the flag byte is.
const FLAG_AT: u64 = 8;
/// The most bytes of boot id kept (a Linux boot id is 36).
const BOOT_MAX: usize = LEN - 11;

/// How a run is doing, as the flag byte says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// Started and not stopped yet (or killed).
    Running = 0,
    /// Stopped cleanly: everything was written and synced.
    Clean = 1,
    /// A write or sync failed: what followed was not stored.
    Failed = 2,
}

/// What the last run left in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    pub flag: Flag,
    pub fsync: Option<Fsync>,
    pub boot_id: String,
}

impl Previous {
    /// Why the last run may have lost acknowledged writes, if it may have,
    /// given this machine's boot id now.
    pub fn lost(&self, boot_id: &str) -> Option<&'static str> {
        match self.flag {
            Flag::Failed => Some("the last run could not write to it"),
            Flag::Running
                if self.fsync != Some(Fsync::Turn)
                    && (boot_id.is_empty() || boot_id != self.boot_id) =>
            {
                Some("the machine restarted under the last run, which did not sync every turn")
            }
            Flag::Running | Flag::Clean => None,
        }
    }
}

/// The open state file.
#[derive(Debug)]
pub struct State {
    file: File,
}

/// The machine's boot id (empty if it cannot be read).
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn fsync_byte(f: Fsync) -> u8 {
    match f {
        Fsync::Turn => 1,
        Fsync::Interval => 2,
        Fsync::Never => 3,
    }
}

fn parse(bytes: &[u8]) -> Option<Previous> {
    if bytes.len() != LEN || !bytes.starts_with(MAGIC) {
        return None;
    }
    let flag = match bytes[8] {
        0 => Flag::Running,
        1 => Flag::Clean,
        2 => Flag::Failed,
        _ => return None,
    };
    let fsync = match bytes[9] {
        1 => Some(Fsync::Turn),
        2 => Some(Fsync::Interval),
        3 => Some(Fsync::Never),
        _ => None,
    };
    let n = (bytes[10] as usize).min(BOOT_MAX);
    let boot_id = String::from_utf8_lossy(&bytes[11..11 + n]).into_owned();
    Some(Previous {
        flag,
        fsync,
        boot_id,
    })
}

impl State {
    /// Opens (or creates) `dir/state` and reads what the last run left; `None`
    /// when there was no file (a new data dir, or one from before this file).
    /// An unreadable file counts as a failed run: nothing says it was clean.
    pub fn open(dir: &Path) -> io::Result<(State, Option<Previous>)> {
        let path = dir.join("state");
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let before = if existed {
            let mut bytes = vec![0; LEN];
            let read = file.read_exact_at(&mut bytes, 0).ok().map(|()| bytes);
            Some(read.and_then(|b| parse(&b)).unwrap_or(Previous {
                flag: Flag::Failed,
                fsync: None,
                boot_id: String::new(),
            }))
        } else {
            None
        };
        Ok((State { file }, before))
    }

    /// Writes the whole record for a run that starts now, synced.
    pub fn start(&self, fsync: Fsync, boot_id: &str) -> io::Result<()> {
        let mut bytes = [0u8; LEN];
        bytes[..8].copy_from_slice(MAGIC);
        bytes[8] = Flag::Running as u8;
        bytes[9] = fsync_byte(fsync);
        let id = &boot_id.as_bytes()[..boot_id.len().min(BOOT_MAX)];
        bytes[10] = id.len() as u8;
        bytes[11..11 + id.len()].copy_from_slice(id);
        self.file.write_all_at(&bytes, 0)?;
        self.file.sync_all()
    }

    /// Overwrites the flag in place (no new disk space needed), synced.
    pub fn mark(&self, flag: Flag) -> io::Result<()> {
        self.file.write_all_at(&[flag as u8], FLAG_AT)?;
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn previous(flag: Flag, fsync: Fsync, boot: &str) -> Previous {
        Previous {
            flag,
            fsync: Some(fsync),
            boot_id: boot.into(),
        }
    }

    #[test]
    fn only_a_failure_or_a_reboot_without_turn_syncs_may_have_lost_writes() {
        assert!(previous(Flag::Failed, Fsync::Turn, "a").lost("a").is_some());
        assert!(previous(Flag::Clean, Fsync::Never, "a").lost("b").is_none());
        // kill -9: every write reached the kernel before its output went out.
        assert!(
            previous(Flag::Running, Fsync::Never, "a")
                .lost("a")
                .is_none()
        );
        // A power cut (new boot id) loses unsynced writes, never synced ones.
        assert!(
            previous(Flag::Running, Fsync::Never, "a")
                .lost("b")
                .is_some()
        );
        assert!(
            previous(Flag::Running, Fsync::Interval, "a")
                .lost("b")
                .is_some()
        );
        assert!(
            previous(Flag::Running, Fsync::Turn, "a")
                .lost("b")
                .is_none()
        );
        // No boot id to compare: assume the worst.
        assert!(previous(Flag::Running, Fsync::Never, "").lost("").is_some());
    }

    #[test]
    fn the_record_round_trips_and_the_flag_is_overwritten_in_place() {
        let dir = std::env::temp_dir().join(format!("loopcast-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (state, before) = State::open(&dir).unwrap();
        assert_eq!(before, None);
        state.start(Fsync::Interval, "boot-1").unwrap();
        state.mark(Flag::Failed).unwrap();
        drop(state);
        let (_, before) = State::open(&dir).unwrap();
        assert_eq!(
            before,
            Some(previous(Flag::Failed, Fsync::Interval, "boot-1"))
        );
        assert_eq!(
            std::fs::metadata(dir.join("state")).unwrap().len(),
            LEN as u64
        );
        // A damaged file is no proof of a clean stop.
        std::fs::write(dir.join("state"), b"junk").unwrap();
        let (_, before) = State::open(&dir).unwrap();
        assert_eq!(before.unwrap().flag, Flag::Failed);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
