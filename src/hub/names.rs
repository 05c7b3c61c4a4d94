//! Who holds a user name: a name is bound to the browser key of its first
//! connection for as long as any connection holds it, and with `--data-dir`
//! for `--room-ttl` after the last one left (across restarts: `names_file`).
//!
//! Without `--auth-secret` anyone may pick any name, so a name alone cannot say
//! who is who. A browser sends a random key of its own (`?key=`, kept in
//! `localStorage`); the hub keeps only its SHA-256, bound to the name while any
//! connection uses the name, and refuses the name to a connection with another
//! key (or none). Names are compared case-insensitively here ("Alice" cannot
//! pass for "alice" while alice is online), and kept as typed everywhere else.

use std::collections::HashMap;
use std::fmt;

use sha2::{Digest, Sha256};

use super::{Hub, Now};

/// The binding of one (case-folded) name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    /// The key hash of the connection that took the name (`None`: it sent none).
    pub(crate) key: Option<[u8; 32]>,
    /// Connections holding the name now (0: kept for `--room-ttl`, `--data-dir` only).
    pub(crate) conns: usize,
    /// Unix ms when the name was last known held (taken, released, or saved while held).
    pub(crate) seen_ms: u64,
    /// Kept after its last connection (`--data-dir`): a name a user chose,
    /// with a browser key. Assigned guest names and keyless ones are not.
    pub(crate) lasting: bool,
}

/// Held names by their case-folded form.
pub(crate) type Holders = HashMap<Box<str>, Holder>;

/// Why a name was refused at connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameInUse(pub String);

impl fmt::Display for NameInUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "name in use: {} belongs to another browser; pick another name",
            self.0
        )
    }
}

pub(crate) fn fold(name: &str) -> Box<str> {
    name.to_lowercase().into()
}

fn hash(key: Option<&str>) -> Option<[u8; 32]> {
    key.filter(|k| !k.is_empty())
        .map(|k| Sha256::digest(k.as_bytes()).into())
}

impl Hub {
    /// Whether a connection with browser `key` may use `name` now.
    pub fn check_name(&self, name: &str, key: Option<&str>) -> Result<(), NameInUse> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.check_name_at(now_ms, name, key)
    }

    /// `check_name` at wall-clock `now_ms` (an offline binding's TTL counts in it).
    pub fn check_name_at(
        &self,
        now_ms: u64,
        name: &str,
        key: Option<&str>,
    ) -> Result<(), NameInUse> {
        match self.holders.get(&fold(name)) {
            Some(holder) if self.binds(holder, now_ms) && holder.key != hash(key) => {
                Err(NameInUse(name.to_owned()))
            }
            _ => Ok(()),
        }
    }

    /// Whether `holder` still binds its name: online, or offline within the TTL.
    fn binds(&self, holder: &Holder, now_ms: u64) -> bool {
        holder.conns > 0
            || self
                .names_file
                .as_ref()
                .is_some_and(|f| !f.expired(holder, now_ms))
    }

    /// A connection took `name` (checked with `check_name` before, if it
    /// matters); `chosen`: the name is the user's, not an assigned guest name.
    pub(super) fn hold_name(&mut self, now: Now, name: &str, key: Option<&str>, chosen: bool) {
        let key = hash(key);
        let fresh = Holder {
            key,
            conns: 0,
            seen_ms: now.unix_ms,
            lasting: chosen && key.is_some(),
        };
        let folded = fold(name);
        // An offline binding past its time (or another key's, if unchecked) starts over.
        let stale = match self.holders.get(&folded) {
            Some(h) => h.conns == 0 && (!self.binds(h, now.unix_ms) || h.key != fresh.key),
            None => false,
        };
        let holder = self.holders.entry(folded).or_insert_with(|| fresh.clone());
        if stale {
            *holder = fresh;
        }
        holder.conns += 1;
        holder.seen_ms = now.unix_ms;
        if let Some(file) = self.names_file.as_mut() {
            file.changed();
        }
    }

    /// A connection holding `name` is gone; the last one frees the name, or
    /// with `--data-dir` leaves it bound to its key for `--room-ttl`.
    pub(super) fn release_name(&mut self, now: Now, name: &str) {
        let folded = fold(name);
        let persist = self.names_file.is_some();
        if let Some(holder) = self.holders.get_mut(&folded) {
            holder.conns -= 1;
            holder.seen_ms = now.unix_ms;
            if holder.conns == 0 && !(persist && holder.lasting) {
                self.holders.remove(&folded);
            }
        }
        if let Some(file) = self.names_file.as_mut() {
            file.changed();
        }
    }
}
