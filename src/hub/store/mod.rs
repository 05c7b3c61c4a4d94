//! Room state's vocabulary and its two homes beyond memory.
//!
//! [`History`] (in `memory.rs`) is a room's state as the hub reads it: the
//! latest `seq`, the `epoch`, the kept encoded message events, the entries
//! after a client's `since` (with `gap`), and the byte count and eviction the
//! memory budget needs. [`Epoch`], [`Since`] and the salted password form are
//! the rest of the vocabulary.
//!
//! Every room action goes through one seam, `hub::home`, whose `Home` is one
//! of three, chosen at start: memory (each room's [`History`]); memory plus
//! a [`Store`] (`--data-dir`, the disk journal in `disk/`: told each change
//! after the hub decided, write-behind, committed per turn); or Redis
//! (`--redis`: Redis decides, allocating `seq` in its publish script; the
//! keys and the reading of its replies are in `redis.rs`, the scripts in
//! `engine::scripts`, the actions in `hub::cluster::home`). Whatever the home,
//! a resume is answered by [`History::after`]. Disk and Redis together are
//! refused at start (config), and a `Home` cannot hold both: one room's `seq`
//! in two homes would fork.

#[cfg(feature = "storage")]
pub mod disk;
mod memory;
#[cfg(feature = "redis")]
pub mod redis;

use std::fmt;
use std::time::Instant;

pub use memory::History;

/// When a store syncs what it wrote to the device (`--fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// After every loop turn that wrote, before the turn's output is sent: a
    /// power cut loses nothing that was acknowledged or delivered.
    Turn,
    /// At most once per second: a power cut loses up to the last second.
    Interval,
    /// Never by us (the kernel writes back, typically within 30 s).
    Never,
}

impl Fsync {
    /// The `--fsync` word.
    pub fn as_str(self) -> &'static str {
        match self {
            Fsync::Turn => "turn",
            Fsync::Interval => "interval",
            Fsync::Never => "never",
        }
    }

    /// Reads an `--fsync` word.
    pub fn parse(word: &str) -> Option<Fsync> {
        [Fsync::Turn, Fsync::Interval, Fsync::Never]
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(word.trim()))
    }
}

/// A room's settings as kept beyond memory, with the start of its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The history's epoch.
    pub epoch: Epoch,
    /// History kept (messages).
    pub cap: usize,
    /// `max_members`, if any.
    pub max_members: Option<u32>,
    /// `create`d: kept until deleted, not only for the room TTL.
    pub created: bool,
    /// The creator's user (may `delete` the room).
    pub owner: Option<Box<str>>,
    /// The password's salted hash in its storage form, if the room has one.
    pub password: Option<Vec<u8>>,
}

/// A room read back from a store: its settings and its history.
#[derive(Debug)]
pub struct Saved {
    /// Settings (the epoch is the history's).
    pub settings: Settings,
    /// Seq and kept events, bounded as the caller asked.
    pub history: History,
}

/// How a store is doing, for `/healthz` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreHealth {
    /// `None` while writes succeed; else why the store stopped writing (the
    /// server then runs from memory only).
    pub failed: Option<String>,
    /// Write or sync errors since start.
    pub errors: u64,
    /// Bytes the store uses on disk now.
    pub disk_bytes: u64,
    /// Rooms the store keeps (in memory or not).
    pub rooms: usize,
}

/// Room state kept beyond memory (`--data-dir`). The hub keeps every room
/// that is in use as a [`History`] in memory and tells the store each change;
/// the store hands back rooms that are not in memory.
///
/// Call order: `started` before a room's first `appended` (and again when
/// its history starts over); `emptied` when a room leaves memory;
/// `commit` once per loop turn, before that turn's output is written to
/// sockets (group commit), and `handle_timeout` when `poll_timeout` is due.
pub trait Store: fmt::Debug + Send {
    /// A room that is not in memory, if the store keeps it; its history is
    /// bounded by its own count and `max_bytes`. The room is in use from now on.
    fn load(&mut self, name: &str, max_bytes: usize) -> Option<Saved>;
    /// Whether the store keeps a room of that name.
    fn contains(&self, name: &str) -> bool;
    /// The names of every room the store keeps (in memory or not), in an
    /// order that stays the same while no room is added or removed (for
    /// paging `rooms`), without reading any history.
    fn names(&self) -> Box<dyn Iterator<Item = &str> + '_>;
    /// A room's history starts (a new epoch), with these settings.
    fn started(&mut self, name: &str, settings: &Settings);
    /// `event` was appended to the room as `seq`.
    fn appended(&mut self, name: &str, seq: u64, event: &str);
    /// The room left memory at `unix_ms` (its last member left): from now
    /// its TTL runs, unless it was `create`d.
    fn emptied(&mut self, name: &str, unix_ms: u64);
    /// The room is deleted: forget it.
    fn deleted(&mut self, name: &str);
    /// Makes the changes since the last commit durable as configured.
    fn commit(&mut self, now: Instant);
    /// The server stops: commit and sync what is left.
    fn close(&mut self, now: Instant);
    /// Timed work (periodic sync, expiring idle rooms, compaction).
    fn handle_timeout(&mut self, now: Instant, unix_ms: u64);
    /// When `handle_timeout` has work next.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Errors and sizes, for health and metrics.
    fn health(&self) -> StoreHealth;
}

/// Identifies one run of a room's history: chosen when the history starts, so
/// a `seq` from another run (a server restart without `--data-dir`, a room
/// that emptied and was made again) is recognised instead of being trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Epoch(u64);

impl Epoch {
    /// A new epoch from a per-process random `seed`, the wall clock and a
    /// counter that is never reused within the process: distinct across
    /// restarts (the seed) and across rooms made in the same millisecond.
    pub fn fresh(seed: u64, unix_ms: u64, serial: u64) -> Epoch {
        let mixed = mix(seed ^ mix(unix_ms ^ mix(serial)));
        // 0 is kept out so a default value is never mistaken for a real epoch.
        Epoch(mixed.max(1))
    }

    /// An epoch read back from storage or from the wire (base 36, as `Display` writes it).
    pub fn parse(text: &str) -> Option<Epoch> {
        if text.is_empty() || text.len() > 13 {
            return None;
        }
        let value = u64::from_str_radix(text, 36).ok()?;
        (value != 0).then_some(Epoch(value))
    }

    /// The epoch a client sent with `since`: text that is no epoch gives a
    /// value that matches no room, so the client gets the whole history and
    /// `gap: true` rather than a silent skip.
    pub fn claimed(text: &str) -> Epoch {
        Epoch::parse(text).unwrap_or(Epoch(0))
    }

    /// The raw value (for storage).
    pub fn get(self) -> u64 {
        self.0
    }

    /// From a raw value (for storage); 0 is not an epoch.
    pub fn from_raw(value: u64) -> Option<Epoch> {
        (value != 0).then_some(Epoch(value))
    }
}

impl fmt::Display for Epoch {
    /// Lower-case base 36, at most 13 characters: short on the wire, and a
    /// string so that JavaScript clients do not round it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(13);
        super::push_base36(&mut text, self.0);
        f.write_str(&text)
    }
}

/// Where a joiner resumes: the last `seq` it saw, and the epoch it saw it in
/// (`None` from clients that predate epochs: then only the seq is checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Since {
    /// The last seq the client has.
    pub seq: u64,
    /// The epoch of that seq (see [`Epoch::claimed`]).
    pub epoch: Option<Epoch>,
}

/// Opens the store `config` asks for: `None` without `--data-dir`. The error
/// is one line saying why the server must not start (exit code 2).
#[cold] // start-up only: grouped with the other cold code, off the loop's pages
pub fn open(config: &crate::config::Config) -> Result<Option<Box<dyn Store>>, String> {
    let Some(dir) = &config.data_dir else {
        return Ok(None);
    };
    #[cfg(feature = "storage")]
    {
        let options = disk::Options {
            fsync: config.fsync,
            room_ttl: config.room_ttl,
            max_disk: config.max_disk,
            history_bytes: config.history_bytes(),
        };
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        match disk::Disk::open(dir, options, Instant::now(), unix_ms) {
            Ok(disk) => Ok(Some(Box::new(disk))),
            Err(e) => Err(format!("cannot use --data-dir {}: {e}", dir.display())),
        }
    }
    #[cfg(not(feature = "storage"))]
    Err(format!(
        "--data-dir {}: this build has no storage (cargo feature \"storage\")",
        dir.display()
    ))
}

/// `,"storage":{..}` for `/healthz` (empty without a store).
pub fn health_json(health: Option<&StoreHealth>) -> String {
    let Some(h) = health else {
        return String::new();
    };
    let mut s = format!(
        r#","storage":{{"state":"{}","errors":{},"disk_bytes":{},"rooms":{}"#,
        if h.failed.is_some() { "failed" } else { "ok" },
        h.errors,
        h.disk_bytes,
        h.rooms
    );
    if let Some(why) = &h.failed {
        s.push_str(r#","error":"#);
        crate::protocol::push_json_str(&mut s, why);
    }
    s.push('}');
    s
}

/// Prometheus lines about the store (none without a store).
pub fn render_metrics(health: Option<&StoreHealth>, out: &mut String) {
    use std::fmt::Write;
    let Some(h) = health else {
        return;
    };
    let lines = [
        (
            "storage_ok",
            "gauge",
            "1 while the data dir is written, 0 after an I/O error (memory only).",
            u64::from(h.failed.is_none()),
        ),
        (
            "storage_errors_total",
            "counter",
            "Data dir write or sync errors.",
            h.errors,
        ),
        (
            "storage_disk_bytes",
            "gauge",
            "Bytes of the data dir's journal.",
            h.disk_bytes,
        ),
        (
            "storage_rooms",
            "gauge",
            "Rooms kept in the data dir.",
            h.rooms as u64,
        ),
    ];
    for (name, kind, help, value) in lines {
        let _ = write!(
            out,
            "# HELP loopcast_{name} {help}\n# TYPE loopcast_{name} {kind}\nloopcast_{name} {value}\n"
        );
    }
}

/// splitmix64's finalizer: every input bit moves every output bit.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
