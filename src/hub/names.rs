//! Who holds a user name: a name is bound to the browser key of its first
//! connection for as long as any connection holds it.
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

use super::Hub;

/// The binding of one (case-folded) name.
#[derive(Debug)]
pub(crate) struct Holder {
    /// The key hash of the connection that took the name (`None`: it sent none).
    key: Option<[u8; 32]>,
    /// Connections holding the name now.
    conns: usize,
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
            "name in use: {} is online in another browser; pick another name",
            self.0
        )
    }
}

fn fold(name: &str) -> Box<str> {
    name.to_lowercase().into()
}

fn hash(key: Option<&str>) -> Option<[u8; 32]> {
    key.filter(|k| !k.is_empty())
        .map(|k| Sha256::digest(k.as_bytes()).into())
}

impl Hub {
    /// Whether a connection with browser `key` may use `name` now.
    pub fn check_name(&self, name: &str, key: Option<&str>) -> Result<(), NameInUse> {
        match self.holders.get(&fold(name)) {
            Some(holder) if holder.key != hash(key) => Err(NameInUse(name.to_owned())),
            _ => Ok(()),
        }
    }

    /// A connection took `name` (checked with `check_name` before, if it matters).
    pub(super) fn hold_name(&mut self, name: &str, key: Option<&str>) {
        let holder = self.holders.entry(fold(name)).or_insert(Holder {
            key: hash(key),
            conns: 0,
        });
        holder.conns += 1;
    }

    /// A connection holding `name` is gone; the last one frees the name.
    pub(super) fn release_name(&mut self, name: &str) {
        let folded = fold(name);
        if let Some(holder) = self.holders.get_mut(&folded) {
            holder.conns -= 1;
            if holder.conns == 0 {
                self.holders.remove(&folded);
            }
        }
    }
}
