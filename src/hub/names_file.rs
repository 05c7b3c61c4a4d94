//! Name bindings kept in the data dir (`<data-dir>/names.json`), so a restart
//! does not free an offline user's name to a stranger for `--room-ttl`.
//!
//! The file is small (at most [`MAX_NAME_BINDINGS`] entries of a folded name,
//! a key hash and a time) and always rewritten whole: written to a temporary
//! file, synced, then renamed over the old one, so a crash leaves the old or
//! the new file, never a torn one. A file that cannot be read is reported and
//! ignored: the bindings then last only while their names are online.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::names::{Holder, Holders, fold};
use super::{Hub, Now};
use crate::limits::{MAX_NAME_BINDINGS, MAX_USER_BYTES, NAMES_SAVE_EVERY};

const FILE: &str = "names.json";

/// Where and how long offline bindings are kept.
#[derive(Debug)]
pub(crate) struct NamesFile {
    path: PathBuf,
    ttl_ms: u64,
    /// Bindings changed since the last save.
    dirty: bool,
    /// When the file was last written (saves are at most one per [`NAMES_SAVE_EVERY`]).
    saved: Option<Instant>,
}

impl NamesFile {
    /// Whether an offline `holder` has been away longer than the TTL.
    pub(crate) fn expired(&self, holder: &Holder, now_ms: u64) -> bool {
        holder.seen_ms.saturating_add(self.ttl_ms) < now_ms
    }

    pub(crate) fn changed(&mut self) {
        self.dirty = true;
    }

    /// When a pending change is due to be saved after an earlier save. (The
    /// first change is saved at once: by the commit that ends its turn.)
    fn next_save(&self) -> Option<Instant> {
        self.saved
            .filter(|_| self.dirty)
            .map(|at| at + NAMES_SAVE_EVERY)
    }

    fn due(&self, now: Instant) -> bool {
        self.dirty && self.next_save().is_none_or(|at| at <= now)
    }
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The file's bindings that are still within the TTL (the newest first, at most the cap).
fn parse(text: &str, ttl_ms: u64, now_ms: u64) -> Result<Vec<(Box<str>, Holder)>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let list = doc["names"].as_array().ok_or("no \"names\" list")?;
    let mut out = Vec::new();
    for entry in list {
        let (Some(name), Some(seen_ms)) = (entry["name"].as_str(), entry["seen_ms"].as_u64())
        else {
            continue;
        };
        let key = match &entry["key"] {
            Value::Null => None,
            Value::String(k) => match unhex(k) {
                Some(k) => Some(k),
                None => continue,
            },
            _ => continue,
        };
        if name.is_empty() || name.len() > MAX_USER_BYTES || seen_ms.saturating_add(ttl_ms) < now_ms
        {
            continue;
        }
        let holder = Holder {
            key,
            conns: 0,
            seen_ms,
            lasting: true,
        };
        out.push((fold(name), holder));
    }
    out.sort_by_key(|(_, h)| std::cmp::Reverse(h.seen_ms));
    out.truncate(MAX_NAME_BINDINGS);
    Ok(out)
}

/// The bindings to write: every online one, then offline ones within the TTL,
/// the newest first, up to the cap.
fn render(holders: &Holders, file: &NamesFile, now_ms: u64) -> String {
    let mut live: Vec<(&str, &Holder)> = holders
        .iter()
        .filter(|(_, h)| h.lasting && (h.conns > 0 || !file.expired(h, now_ms)))
        .map(|(n, h)| (&**n, h))
        .collect();
    live.sort_by_key(|(_, h)| (h.conns == 0, std::cmp::Reverse(h.seen_ms)));
    live.truncate(MAX_NAME_BINDINGS);
    let names: Vec<Value> = live
        .iter()
        .map(|(name, h)| {
            // A name held now was seen now: that is what its TTL counts from after a crash.
            let seen_ms = if h.conns > 0 { now_ms } else { h.seen_ms };
            json!({"name": name, "key": h.key.as_ref().map(hex), "seen_ms": seen_ms})
        })
        .collect();
    json!({"loopcast_names": 1, "names": names}).to_string()
}

/// Writes `text` to `path` atomically (temporary file, sync, rename).
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

impl Hub {
    /// Keeps name bindings in `dir` for `ttl` after their last connection
    /// (`--data-dir`, `--room-ttl`), loading those a previous run left.
    pub fn keep_names(&mut self, dir: &Path, ttl: Duration, now_ms: u64) {
        let file = NamesFile {
            path: dir.join(FILE),
            ttl_ms: ttl.as_millis() as u64,
            dirty: false,
            saved: None,
        };
        // Bounded read: a file over what the cap allows is not ours to trust.
        let most = (MAX_NAME_BINDINGS * (MAX_USER_BYTES + 160)) as u64;
        match fs::metadata(&file.path) {
            Ok(meta) if meta.len() > most => {
                log::warn!("{}: over {most} bytes; ignored", file.path.display());
            }
            Ok(_) => match fs::read_to_string(&file.path)
                .map_err(|e| e.to_string())
                .and_then(|t| parse(&t, file.ttl_ms, now_ms))
            {
                Ok(list) => {
                    log::info!("{} name bindings kept from the last run", list.len());
                    for (name, holder) in list {
                        self.holders.entry(name).or_insert(holder);
                    }
                }
                Err(e) => log::warn!("{}: unreadable ({e}); ignored", file.path.display()),
            },
            Err(_) => {} // first run
        }
        self.names_file = Some(file);
    }

    /// When the bindings are next due to be saved, if a change is pending.
    pub(super) fn names_due(&self) -> Option<Instant> {
        self.names_file.as_ref().and_then(NamesFile::next_save)
    }

    /// Saves the bindings if a change is due, or always with `force` (at
    /// shutdown: the names online until now are held until now); drops
    /// expired offline ones from memory first.
    pub(super) fn save_names(&mut self, now: Now, force: bool) {
        let Some(file) = self.names_file.as_ref() else {
            return;
        };
        if !(force || file.due(now.mono)) {
            return;
        }
        self.holders
            .retain(|_, h| h.conns > 0 || !file.expired(h, now.unix_ms));
        // Memory holds no more offline bindings than the file would: the oldest go.
        let mut offline: Vec<(u64, Box<str>)> = self
            .holders
            .iter()
            .filter(|(_, h)| h.conns == 0)
            .map(|(n, h)| (h.seen_ms, n.clone()))
            .collect();
        if offline.len() > MAX_NAME_BINDINGS {
            offline.sort_unstable();
            for (_, name) in &offline[..offline.len() - MAX_NAME_BINDINGS] {
                self.holders.remove(name);
            }
        }
        let text = render(&self.holders, file, now.unix_ms);
        if let Err(e) = write_atomically(&file.path, &text) {
            log::warn!("{}: cannot save name bindings: {e}", file.path.display());
        }
        let file = self.names_file.as_mut().expect("checked above");
        file.dirty = false;
        file.saved = Some(now.mono);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(key: u8, conns: usize, seen_ms: u64) -> Holder {
        Holder {
            key: Some([key; 32]),
            conns,
            seen_ms,
            lasting: true,
        }
    }

    fn file(ttl_ms: u64) -> NamesFile {
        NamesFile {
            path: PathBuf::from("unused"),
            ttl_ms,
            dirty: false,
            saved: None,
        }
    }

    #[test]
    fn bindings_round_trip_and_expire() {
        let mut holders = Holders::new();
        holders.insert("alice".into(), holder(1, 0, 1_000));
        holders.insert("bob".into(), holder(2, 2, 500));
        holders.insert("old".into(), holder(3, 0, 10));
        holders.insert(
            "bot".into(),
            Holder {
                key: None,
                conns: 0,
                seen_ms: 900,
                lasting: true,
            },
        );
        let text = render(&holders, &file(1_000), 1_500);
        // "old" (seen at 10) is past the 1 s TTL at 1.5 s; bob is online, so seen now.
        let back = parse(&text, 1_000, 1_500).unwrap();
        let names: Vec<&str> = back.iter().map(|(n, _)| &**n).collect();
        assert_eq!(names, ["bob", "alice", "bot"]);
        assert_eq!(back[0].1, holder(2, 0, 1_500));
        assert_eq!(back[1].1, holder(1, 0, 1_000));
        assert_eq!(back[2].1.key, None);
        // Later, alice and the bot are past their time too.
        let later = parse(&text, 1_000, 2_100).unwrap();
        assert_eq!(later.len(), 1);
    }

    #[test]
    fn bad_files_and_entries_are_refused_or_skipped() {
        assert!(parse("not json", 1, 0).is_err());
        assert!(parse("{\"other\":1}", 1, 0).is_err());
        let text = r#"{"names":[
            {"name":"ok","key":null,"seen_ms":5},
            {"name":"badkey","key":"zz","seen_ms":5},
            {"name":"","key":null,"seen_ms":5},
            {"key":null,"seen_ms":5},
            {"name":"Mixed","key":null,"seen_ms":5}]}"#;
        let list = parse(text, 100, 10).unwrap();
        let names: Vec<&str> = list.iter().map(|(n, _)| &**n).collect();
        assert_eq!(names, ["ok", "mixed"]);
    }

    #[test]
    fn hex_round_trips() {
        let k = [0xab; 32];
        assert_eq!(unhex(&hex(&k)), Some(k));
        assert_eq!(unhex("ab"), None);
    }
}
