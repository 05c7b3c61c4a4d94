//! Room state: bounds by count and bytes, resume windows, epochs.

use super::{Epoch, History, Since};

fn epoch(n: u64) -> Epoch {
    Epoch::from_raw(n).unwrap()
}

fn filled(cap: usize, max_bytes: usize, n: u64) -> History {
    let mut h = History::new(epoch(7), cap, max_bytes);
    for i in 1..=n {
        assert_eq!(h.next_seq(), i);
        h.push(&format!("e{i}"));
    }
    h
}

fn window(h: &History, since: Option<Since>) -> (Vec<&str>, bool) {
    let (entries, gap) = h.after(since);
    (entries.collect(), gap)
}

fn since(seq: u64, e: Option<u64>) -> Option<Since> {
    Some(Since {
        seq,
        epoch: e.map(|n| Epoch::from_raw(n).unwrap_or(Epoch::claimed(""))),
    })
}

#[test]
fn count_bound_keeps_the_newest() {
    let h = filled(3, 1 << 20, 5);
    assert_eq!(h.seq(), 5);
    assert_eq!(window(&h, None), (vec!["e3", "e4", "e5"], false));
    assert_eq!(h.bytes(), 6);
    let seqs: Vec<u64> = h.iter().map(|(s, _)| s).collect();
    assert_eq!(seqs, [3, 4, 5]);
}

#[test]
fn byte_bound_keeps_the_newest_that_fit() {
    // Each entry is 2-3 bytes; 7 bytes hold e8, e9, e10 (2 + 2 + 3).
    let h = filled(100, 7, 10);
    assert_eq!(window(&h, None).0, ["e8", "e9", "e10"]);
    assert_eq!(h.bytes(), 7);
}

#[test]
fn an_event_larger_than_the_byte_bound_empties_the_history() {
    let mut h = filled(10, 8, 3);
    h.push("0123456789");
    assert_eq!(h.seq(), 4);
    assert!(h.is_empty());
    assert_eq!(h.bytes(), 0);
    // Resuming from seq 2 now misses 3 and 4: a gap, never a silent skip.
    assert_eq!(window(&h, since(2, Some(7))), (vec![], true));
    assert_eq!(window(&h, since(4, Some(7))), (vec![], false));
}

#[test]
fn zero_cap_keeps_nothing_but_counts() {
    let h = filled(0, 100, 4);
    assert_eq!((h.seq(), h.len(), h.bytes()), (4, 0, 0));
}

#[test]
fn since_in_the_same_epoch_returns_what_was_missed() {
    let h = filled(4, 1 << 20, 6);
    assert_eq!(window(&h, since(4, Some(7))), (vec!["e5", "e6"], false));
    assert_eq!(window(&h, since(6, Some(7))), (vec![], false));
    assert!(!window(&h, since(2, Some(7))).1);
    assert_eq!(
        window(&h, since(1, Some(7))),
        (vec!["e3", "e4", "e5", "e6"], true)
    );
    // Without an epoch (older clients) only the seq is checked.
    assert_eq!(window(&h, since(5, None)), (vec!["e6"], false));
}

#[test]
fn since_from_another_epoch_or_the_future_is_a_gap() {
    let h = filled(4, 1 << 20, 6);
    let all = vec!["e3", "e4", "e5", "e6"];
    assert_eq!(window(&h, since(3, Some(8))), (all.clone(), true));
    assert_eq!(window(&h, since(3, Some(0))), (all.clone(), true));
    assert_eq!(window(&h, since(9, Some(7))), (all.clone(), true));
    assert_eq!(window(&h, since(9, None)), (all, true));
}

#[test]
fn eviction_frees_the_oldest_first() {
    let mut h = filled(10, 1 << 20, 12);
    assert_eq!(h.evict_oldest(), 2, "e3 is the oldest kept");
    assert_eq!(window(&h, None).0.first(), Some(&"e4"));
    assert!(window(&h, since(2, Some(7))).1);
    assert!(!window(&h, since(3, Some(7))).1);
    let mut empty = History::new(epoch(1), 4, 100);
    assert_eq!(empty.evict_oldest(), 0);
}

#[test]
fn restore_applies_the_bounds_and_keeps_seq() {
    let entries = ["a", "bb", "ccc", "dddd"].map(String::from).to_vec();
    let h = History::restore(epoch(5), 40, 3, 7, entries);
    assert_eq!((h.seq(), h.epoch()), (40, epoch(5)));
    assert_eq!(window(&h, None).0, ["ccc", "dddd"]);
    let seqs: Vec<u64> = h.iter().map(|(s, _)| s).collect();
    assert_eq!(seqs, [39, 40]);
    // A stored seq below the entry count cannot number them: the count wins.
    let h = History::restore(epoch(5), 1, 9, 99, vec!["x".into(), "y".into()]);
    assert_eq!(h.seq(), 2);
}

#[test]
fn steady_state_push_reuses_the_oldest_buffer() {
    let mut h = History::new(epoch(1), 2, 1 << 20);
    h.push("aaaa");
    h.push("bbbb");
    let before = h.entries.front().unwrap().as_ptr();
    h.push("cccc");
    assert_eq!(h.entries.back().unwrap().as_ptr(), before);
    // A much smaller event does not keep a big buffer alive.
    let mut h = History::new(epoch(1), 1, 1 << 20);
    h.push(&"x".repeat(4096));
    h.push("y");
    assert!(h.entries.back().unwrap().capacity() < 4096);
}

#[test]
fn epochs_are_distinct_and_round_trip() {
    let a = Epoch::fresh(1, 1_000, 1);
    let b = Epoch::fresh(1, 1_000, 2);
    let c = Epoch::fresh(2, 1_000, 1);
    let d = Epoch::fresh(1, 1_001, 1);
    assert!(a != b && a != c && a != d && b != c && b != d && c != d);
    for e in [a, b, c, d, epoch(1), epoch(u64::MAX)] {
        let text = e.to_string();
        assert!(text.len() <= 13 && text.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(Epoch::parse(&text), Some(e));
        assert_eq!(Epoch::claimed(&text), e);
    }
    for bad in ["", "0", "-1", "zzzzzzzzzzzzzz", "a b", "ÿ"] {
        assert_eq!(Epoch::parse(bad), None, "{bad:?}");
    }
    assert_eq!(Epoch::from_raw(0), None);
}
