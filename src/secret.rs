//! Secrets at rest and compared: room passwords kept as salted HMAC-SHA256, compares in constant time.
//!
//! A room password is never kept in memory as given: the room holds
//! `salt ‖ HMAC-SHA256(key = salt, message = password)` (16 + 32 bytes, the
//! stable storage form of [`PasswordHash::to_bytes`] / [`PasswordHash::from_bytes`]),
//! and a `join` recomputes the tag and compares it in constant time. Salts
//! are unique per hash and unpredictable: SHA-256 of a per-process seed (read
//! once from `/dev/urandom`, or clock and pid where that does not exist) and a
//! counter. A salt need not be secret; it makes equal passwords hash apart.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// Bytes of salt in a stored hash.
pub const SALT_LEN: usize = 16;
/// Bytes of HMAC-SHA256 tag in a stored hash.
pub const TAG_LEN: usize = 32;
/// Bytes of the storage form: salt then tag.
pub const STORED_LEN: usize = SALT_LEN + TAG_LEN;

/// A salted password hash.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    stored: [u8; STORED_LEN],
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the bytes: a debug log must not help an offline guess.
        f.write_str("PasswordHash(..)")
    }
}

impl PasswordHash {
    /// Hashes `password` with a fresh salt.
    pub fn new(password: &str) -> PasswordHash {
        PasswordHash::with_salt(password, fresh_salt())
    }

    /// Hashes `password` with the given `salt` (deterministic; for tests and stores).
    pub fn with_salt(password: &str, salt: [u8; SALT_LEN]) -> PasswordHash {
        let mut stored = [0u8; STORED_LEN];
        stored[..SALT_LEN].copy_from_slice(&salt);
        stored[SALT_LEN..].copy_from_slice(&mac(&salt, password).finalize().into_bytes());
        PasswordHash { stored }
    }

    /// True when `password` is the one hashed; constant time in the tag.
    pub fn matches(&self, password: &str) -> bool {
        mac(&self.stored[..SALT_LEN], password)
            .verify_slice(&self.stored[SALT_LEN..])
            .is_ok()
    }

    /// The storage form: salt (16 bytes) then tag (32 bytes).
    pub fn to_bytes(&self) -> [u8; STORED_LEN] {
        self.stored
    }

    /// Reads the storage form back; `None` unless exactly [`STORED_LEN`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<PasswordHash> {
        Some(PasswordHash {
            stored: bytes.try_into().ok()?,
        })
    }
}

fn mac(salt: &[u8], password: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(salt).expect("HMAC accepts any key length");
    mac.update(password.as_bytes());
    mac
}

/// A salt no other hash of this process has: SHA-256(seed ‖ counter), truncated.
fn fresh_salt() -> [u8; SALT_LEN] {
    static SEED: OnceLock<[u8; 32]> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = SEED.get_or_init(process_seed);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let digest = Sha256::new()
        .chain_update(seed)
        .chain_update(n.to_le_bytes())
        .finalize();
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&digest[..SALT_LEN]);
    salt
}

fn process_seed() -> [u8; 32] {
    use std::io::Read;
    let mut seed = [0u8; 32];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut seed));
    if from_os.is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let digest = Sha256::new()
            .chain_update(nanos.to_le_bytes())
            .chain_update(std::process::id().to_le_bytes())
            .finalize();
        seed.copy_from_slice(&digest);
    }
    seed
}

/// Compares secrets without leaking the position of the first difference
/// (the length may show; keys and passwords are not length-secret here).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_matches_only_its_password() {
        let h = PasswordHash::new("hunter2");
        assert!(h.matches("hunter2"));
        assert!(!h.matches("hunter3"));
        assert!(!h.matches(""));
        assert!(!h.matches("hunter2 "));
    }

    #[test]
    fn salts_differ_so_equal_passwords_hash_apart() {
        let (a, b) = (PasswordHash::new("pw"), PasswordHash::new("pw"));
        assert_ne!(a.to_bytes(), b.to_bytes());
        assert!(a.matches("pw") && b.matches("pw"));
    }

    #[test]
    fn storage_form_is_salt_then_hmac_and_round_trips() {
        let h = PasswordHash::with_salt("pw", [7; SALT_LEN]);
        let bytes = h.to_bytes();
        assert_eq!(&bytes[..SALT_LEN], &[7; SALT_LEN]);
        // python3: hmac.new(bytes([7]*16), b'pw', hashlib.sha256).hexdigest()
        let hex: String = bytes[SALT_LEN..]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "385c48ff5c5db17484fd27b2e22e1489df66a7a2acbf78744f489bf7d25deb99"
        );
        let back = PasswordHash::from_bytes(&bytes).unwrap();
        assert!(back.matches("pw"));
        assert_eq!(back, h);
        assert!(PasswordHash::from_bytes(&bytes[1..]).is_none());
        assert_eq!(format!("{h:?}"), "PasswordHash(..)");
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"k1", b"k1"));
        assert!(!constant_time_eq(b"k1", b"k2"));
        assert!(!constant_time_eq(b"k1", b"k10"));
    }
}
