//! Paged answers: history after `since`, members and rooms, each within the byte budget.

use serde_json::{Value, json};

use super::Sim;
use crate::hub::HubConfig;

/// A hub whose answers hold about 300 bytes of entries.
fn small_pages() -> Sim {
    Sim::with(HubConfig {
        answer_bytes: 300,
        rate_limit: 0,
        history: 50,
        ..HubConfig::default()
    })
}

fn seqs(answer: &Value) -> Vec<u64> {
    answer["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect()
}

/// Publishes `n` messages of about 100 bytes into `room` from client `c` (a member).
fn fill(sim: &mut Sim, c: usize, room: &str, n: usize) {
    for i in 0..n {
        let text = format!("{i:03}{}", "m".repeat(90));
        sim.act(
            c,
            json!({"action": "publish", "room": room, "message": text}),
        );
    }
    sim.take(c);
}

#[test]
fn history_is_paged_oldest_first_and_resumes_after_since() {
    let mut sim = small_pages();
    sim.connect(1, Some("alice"));
    sim.connect(2, Some("bob"));
    sim.act(1, json!({"action": "join", "room": "r"}));
    sim.take(1);
    fill(&mut sim, 1, "r", 12);
    sim.act(2, json!({"action": "join", "room": "r"}));
    let room = sim.one(2);
    assert_eq!(room["event"], "room");
    assert_eq!(room["more"], true);
    assert_eq!(room["seq"], 12);
    let mut got = seqs(&room);
    assert!(!got.is_empty() && got.len() < 12, "{got:?}");
    // Every answer stays near the budget: one entry may pass it, never more.
    assert!(
        room.to_string().len() < 300 + 2 * 200,
        "{}",
        room.to_string().len()
    );
    while got.len() < 12 {
        let since = *got.last().unwrap();
        sim.act(2, json!({"action": "history", "room": "r", "since": since}));
        let page = sim.one(2);
        assert_eq!(page["event"], "history", "{page}");
        assert_eq!(page["room"], "r");
        assert_eq!(page["gap"], false);
        let more = page["more"] == true;
        let next = seqs(&page);
        assert_eq!(next[0], since + 1);
        got.extend(next);
        assert_eq!(more, got.len() < 12, "{page}");
    }
    assert_eq!(got, (1..=12).collect::<Vec<_>>());
    // Nothing after the latest: an empty last page.
    sim.act(2, json!({"action": "history", "room": "r", "since": 12}));
    let page = sim.one(2);
    assert_eq!(
        (page["history"].clone(), page["more"].clone()),
        (json!([]), json!(false))
    );
}

#[test]
fn one_entry_larger_than_the_budget_still_advances() {
    let mut sim = small_pages();
    sim.connect(1, Some("alice"));
    sim.act(1, json!({"action": "join", "room": "r"}));
    sim.take(1);
    for _ in 0..3 {
        sim.act(
            1,
            json!({"action": "publish", "room": "r", "message": "b".repeat(1000)}),
        );
    }
    sim.take(1);
    sim.act(1, json!({"action": "history", "room": "r", "since": 0}));
    let page = sim.one(1);
    assert_eq!((seqs(&page), page["more"].clone()), (vec![1], json!(true)));
}

#[test]
fn history_needs_membership_or_subscription() {
    let mut sim = small_pages();
    sim.connect(1, Some("alice"));
    sim.connect(2, Some("bob"));
    sim.act(1, json!({"action": "join", "room": "r"}));
    sim.take(1);
    let e = sim.error(2, json!({"action": "history", "room": "r"}));
    assert_eq!(e["code"], "not_member");
    sim.act(2, json!({"action": "subscribe", "room": "r"}));
    sim.act(2, json!({"action": "history", "room": "r", "ref": 1}));
    let got = sim.take(2);
    assert_eq!(got[0]["event"], "history");
    assert_eq!(got[1]["event"], "ack");
}

#[test]
fn members_and_rooms_are_paged_by_offset() {
    let mut sim = small_pages();
    for c in 1..=20 {
        sim.connect(c, Some(&format!("user-{c:02}")));
        sim.act(c, json!({"action": "join", "room": "big"}));
    }
    for c in 1..=20 {
        sim.take(c);
    }
    let mut names = Vec::new();
    loop {
        let offset = names.len();
        sim.act(
            1,
            json!({"action": "members", "room": "big", "offset": offset}),
        );
        let page = sim.one(1);
        assert_eq!(
            (page["offset"].clone(), page["total"].clone()),
            (json!(offset), json!(20))
        );
        for m in page["members"].as_array().unwrap() {
            names.push(m["user"].as_str().unwrap().to_owned());
        }
        if page["more"] == false {
            break;
        }
        assert!(names.len() < 20, "more after the last member");
    }
    names.sort();
    let want: Vec<String> = (1..=20).map(|c| format!("user-{c:02}")).collect();
    assert_eq!(names, want);
    // The room answer's member list is cut the same way.
    sim.connect(21, Some("late"));
    sim.act(21, json!({"action": "join", "room": "big"}));
    let room = sim.one(21);
    assert_eq!(room["members_more"], true);
    assert!(room["members"].as_array().unwrap().len() < 21);
    sim.take(2);

    for i in 0..30 {
        sim.act(
            2,
            json!({"action": "create", "room": format!("room-{i:02}")}),
        );
    }
    let mut rooms = Vec::new();
    loop {
        sim.act(2, json!({"action": "rooms", "offset": rooms.len()}));
        let page = sim.one(2);
        assert_eq!(page["total"], 31);
        for r in page["rooms"].as_array().unwrap() {
            rooms.push(r["room"].as_str().unwrap().to_owned());
        }
        if page["more"] == false {
            break;
        }
    }
    rooms.sort();
    rooms.dedup();
    assert_eq!(rooms.len(), 31);
}
