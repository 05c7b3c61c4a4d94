//! Room state in Redis (`--redis`): a room's history, `seq`, `epoch` and
//! settings as the cluster keeps them, in the same vocabulary as the memory
//! and disk homes (`History`, `Epoch`, `Since`, the salted password form).
//!
//! Redis is the third home of the room-state seam (`hub::home`). Unlike the
//! disk [`Store`](super::Store), which is told what the hub already decided,
//! Redis *decides*: a room's `seq` is allocated by the sequenced-publish
//! script, atomically with the history append and the PUBLISH, so that every
//! node delivers one order; the seam's `append` therefore answers `Later`.
//! The actions are in `hub::cluster::home`; this module is the two ends of
//! each script call: the keys and arguments that go in, and the [`History`]
//! that comes back, so a resume is answered by `History::after` as in
//! memory. The scripts themselves are in `engine::scripts` (the engine loads
//! them at every connect).

use super::{Epoch, History};
use crate::engine::{Value, scripts};
use crate::protocol::{self, Scope};

/// A room's keys: meta hash, history list, member hash and channel.
pub struct RoomKeys {
    /// `lc:m:R`: `seq`, `epoch`, `ev`, `cap`, `password` (salted hash), `max`, `created`, `owner`.
    pub meta: Vec<u8>,
    /// `lc:h:R`: the newest encoded message events, oldest first.
    pub history: Vec<u8>,
    /// `lc:p:R`: connection id -> `j`/`s` and the member JSON.
    pub members: Vec<u8>,
    /// `lc:r:R`: the room's channel.
    pub channel: Vec<u8>,
}

impl RoomKeys {
    /// The keys of `room`.
    pub fn of(room: &str) -> RoomKeys {
        RoomKeys {
            meta: scripts::key('m', room),
            history: scripts::key('h', room),
            members: scripts::key('p', room),
            channel: scripts::key('r', room),
        }
    }
}

/// A room's state from a JOIN or FETCH reply (`{_, seq, epoch, ev, cap,
/// history, ..}`): the channel's event counter at the reply, and the history
/// as a [`History`], so that `since` is answered by the same code as in
/// memory (exact missed messages, or `gap`). A reply without an epoch (the
/// room is gone) gives an epoch no client holds.
pub fn state_of(items: &[Value], default_cap: usize) -> (u64, History) {
    let int = |i: usize| items.get(i).and_then(Value::as_int);
    let seq = int(1).unwrap_or(0).max(0) as u64;
    let ev = int(3).unwrap_or(0).max(0) as u64;
    let epoch = items
        .get(2)
        .and_then(Value::as_bytes)
        .and_then(|e| Epoch::parse(std::str::from_utf8(e).ok()?))
        .unwrap_or(Epoch::claimed(""));
    let cap = int(4).map_or(default_cap, |c| c.max(0) as usize);
    let entries: Vec<String> = items
        .get(5)
        .and_then(Value::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(|v| Some(String::from_utf8_lossy(v.as_bytes()?).into_owned()))
        .collect();
    // Redis bounds the list by count; the bytes were bounded when each was sent.
    let history = History::restore(epoch, seq, cap.max(entries.len()), usize::MAX, entries);
    (ev, history)
}

/// A room message event cut where its `seq` goes, for the sequenced-publish
/// script: Redis writes `prefix .. seq .. suffix`, encoded once for every node.
pub fn sequenced_event(
    from_json: &str,
    room: &str,
    unix_ms: u64,
    message: &str,
) -> (String, String) {
    let mut prefix = String::new();
    let scope = Scope::Room { room, seq: 0 };
    protocol::write_message(&mut prefix, from_json, scope, unix_ms, message);
    let cut = prefix
        .find(r#","seq":0,"#)
        .expect("room events carry a seq")
        + r#","seq":"#.len();
    let mut suffix = prefix.split_off(cut);
    suffix.remove(0);
    (prefix, suffix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::store::Since;

    fn bulk(s: &str) -> Value {
        Value::Bulk(Some(s.as_bytes().to_vec()))
    }

    #[test]
    fn a_reply_reads_back_as_a_history_that_answers_since() {
        let epoch = Epoch::fresh(1, 2, 3);
        let items = [
            bulk("ok"),
            bulk("7"),
            bulk(&epoch.to_string()),
            Value::Int(12),
            bulk("3"),
            Value::Array(Some(vec![bulk("e5"), bulk("e6"), bulk("e7")])),
        ];
        let (ev, history) = state_of(&items, 100);
        assert_eq!((ev, history.seq(), history.epoch()), (12, 7, epoch));
        let since = Since {
            seq: 5,
            epoch: Some(epoch),
        };
        let (after, gap) = history.after(Some(since));
        let after: Vec<&str> = after.collect();
        assert_eq!((after, gap), (vec!["e6", "e7"], false));
        let other = Since {
            seq: 5,
            epoch: Some(Epoch::fresh(9, 9, 9)),
        };
        assert!(history.after(Some(other)).1, "another epoch is a gap");
        // A room that is gone: no epoch, nothing kept.
        let (_, gone) = state_of(&[bulk("ok"), bulk("0")], 100);
        assert_eq!((gone.seq(), gone.iter().count()), (0, 0));
    }

    #[test]
    fn the_event_is_cut_around_its_seq() {
        let (prefix, suffix) = sequenced_event(r#""ann""#, "r", 5, r#""hi""#);
        let whole = format!("{prefix}42{suffix}");
        let v: serde_json::Value = serde_json::from_str(&whole).expect("valid JSON");
        assert_eq!(
            (v["seq"].as_u64(), v["room"].as_str()),
            (Some(42), Some("r"))
        );
        assert_eq!(v["message"], "hi");
    }
}
