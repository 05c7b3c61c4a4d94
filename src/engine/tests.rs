//! Engine tests in virtual time: a scripted Redis on both links.

use std::time::{Duration, Instant};

use super::gate::Gate;
use super::*;

fn url() -> RedisUrl {
    parse_url("redis://:secret@127.0.0.1:6399/1").unwrap()
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

fn push(kind: &str, channel: &str, payload: &str) -> String {
    format!("*3\r\n{}{}{}", bulk(kind), bulk(channel), bulk(payload))
}

/// An engine taken through connect and handshake to `Ready`.
fn ready(t0: Instant) -> Engine {
    let mut e = Engine::new(url(), t0, 7);
    assert!(e.connect_due(t0));
    e.connecting(t0);
    e.link_up(Side::Cmd);
    e.link_up(Side::Sub);
    let cmd = String::from_utf8(std::mem::take(e.output(Side::Cmd))).unwrap();
    assert!(
        cmd.starts_with("*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n")
    );
    assert_eq!(cmd.matches("SCRIPT").count(), scripts::ALL.len());
    assert_eq!(
        e.output(Side::Sub).as_slice(),
        b"*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n"
    );
    e.output(Side::Sub).clear();
    let mut replies = String::from("+OK\r\n+OK\r\n");
    for i in 0..scripts::ALL.len() {
        replies += &bulk(&format!("sha{i}"));
    }
    e.input(t0, Side::Cmd, replies.as_bytes());
    assert_eq!(
        e.state(),
        State::Connecting,
        "sub link not authenticated yet"
    );
    e.input(t0, Side::Sub, b"+OK\r\n");
    assert_eq!(e.state(), State::Ready);
    assert_eq!(e.next_event(), Some(Event::Up));
    e
}

#[test]
fn queued_commands_count_as_heap_bytes() {
    let t0 = Instant::now();
    let mut e = ready(t0);
    let before = e.heap_bytes();
    let big = vec![b'x'; 100_000];
    assert!(e.command(&[b"PUBLISH".as_slice(), b"c", &big], 1));
    assert!(
        e.heap_bytes() >= before + 100_000,
        "{} {before}",
        e.heap_bytes()
    );
}

#[test]
fn handshake_then_pipelined_commands_in_order() {
    let t0 = Instant::now();
    let mut e = ready(t0);
    assert!(e.command(&["PUBLISH", "a", "x"], 1));
    assert!(e.eval(scripts::I_PUBLISH, &[b"k"], &[b"v"], 2));
    let out = String::from_utf8(std::mem::take(e.output(Side::Cmd))).unwrap();
    assert!(out.contains("EVALSHA\r\n$4\r\nsha0\r\n$1\r\n1\r\n$1\r\nk\r\n$1\r\nv\r\n"));
    assert_eq!(e.pending(), 2);
    // Both replies in one read, the second split across two.
    e.input(t0, Side::Cmd, b":3\r\n:1");
    e.input(t0, Side::Cmd, b"7\r\n");
    assert_eq!(
        e.next_event(),
        Some(Event::Reply {
            tag: 1,
            value: Some(Value::Int(3))
        })
    );
    assert_eq!(
        e.next_event(),
        Some(Event::Reply {
            tag: 2,
            value: Some(Value::Int(17))
        })
    );
    assert_eq!(e.stats.commands, 2);
}

#[test]
fn not_ready_refuses_and_a_lost_link_fails_what_is_pending_then_backs_off() {
    let t0 = Instant::now();
    let mut e = Engine::new(url(), t0, 3);
    assert!(!e.command(&["PING"], 1), "refused while down");
    let mut e2 = ready(t0);
    e2.subscribe(b"lc:r:a");
    e2.subscribe(b"lc:r:b");
    e2.output(Side::Sub).clear();
    assert!(e2.command(&["PING"], 9));
    let generation = e2.generation();
    e2.link_down(t0, "reset");
    assert_eq!(
        e2.next_event(),
        Some(Event::Reply {
            tag: 9,
            value: None
        })
    );
    assert_eq!(e2.next_event(), Some(Event::Down));
    assert_ne!(e2.generation(), generation);
    assert_eq!(e2.stats.reconnects, 1);
    // Backoff: not due at once, due within the first backoff step.
    assert!(!e2.connect_due(t0));
    let mut waited = Duration::ZERO;
    while !e2.connect_due(t0 + waited) {
        waited += Duration::from_millis(5);
    }
    assert!(waited >= BACKOFF_MIN / 2 && waited <= BACKOFF_MIN + Duration::from_millis(5));
    // Failed attempts back off further, up to the cap, each with jitter.
    let mut now = t0 + waited;
    let mut last = Duration::ZERO;
    for _ in 0..12 {
        e2.connecting(now);
        e2.handle_timeout(now + CONNECT_TIMEOUT);
        now += CONNECT_TIMEOUT;
        let delay = e2.poll_timeout().unwrap() - now;
        assert!(delay <= BACKOFF_MAX);
        assert!(
            delay >= last.min(BACKOFF_MAX / 2) / 2,
            "{delay:?} after {last:?}"
        );
        last = delay;
        now += delay;
        assert!(e2.connect_due(now));
    }
    assert!(last >= BACKOFF_MAX / 2);
    // The reconnect resubscribes every wanted channel in one batch.
    e2.connecting(now);
    e2.link_up(Side::Cmd);
    e2.link_up(Side::Sub);
    e2.output(Side::Cmd).clear();
    e2.output(Side::Sub).clear();
    let mut replies = String::from("+OK\r\n+OK\r\n");
    for i in 0..scripts::ALL.len() {
        replies += &bulk(&format!("sha{i}"));
    }
    e2.input(now, Side::Cmd, replies.as_bytes());
    e2.input(now, Side::Sub, b"+OK\r\n");
    assert_eq!(
        e2.output(Side::Sub).as_slice(),
        b"*3\r\n$9\r\nSUBSCRIBE\r\n$6\r\nlc:r:a\r\n$6\r\nlc:r:b\r\n"
    );
    let _ = e;
}

#[test]
fn a_refused_password_or_garbage_drops_the_links() {
    let t0 = Instant::now();
    let mut e = Engine::new(url(), t0, 3);
    e.connecting(t0);
    e.link_up(Side::Cmd);
    e.link_up(Side::Sub);
    e.input(t0, Side::Sub, b"-WRONGPASS invalid\r\n");
    assert_eq!(e.state(), State::Down);
    let mut e = ready(t0);
    e.input(t0, Side::Sub, b"!garbage\r\n");
    assert_eq!(e.state(), State::Down);
    assert_eq!(e.next_event(), Some(Event::Down));
    let mut e = ready(t0);
    e.input(t0, Side::Cmd, b"+OK\r\n");
    assert_eq!(e.state(), State::Down, "a reply nobody asked for");
}

#[test]
fn subscriptions_and_messages() {
    let t0 = Instant::now();
    let mut e = ready(t0);
    e.subscribe(b"lc:r:a");
    e.subscribe(b"lc:r:a");
    assert_eq!(
        e.output(Side::Sub).as_slice(),
        b"*2\r\n$9\r\nSUBSCRIBE\r\n$6\r\nlc:r:a\r\n"
    );
    let wire = push("subscribe", "lc:r:a", "") + &push("message", "lc:r:a", "m1 - {}");
    // Fed one byte at a time: partial input never loses or repeats anything.
    for b in wire.as_bytes() {
        e.input(t0, Side::Sub, std::slice::from_ref(b));
    }
    assert_eq!(
        e.next_event(),
        Some(Event::Subscribed {
            channel: b"lc:r:a".to_vec()
        })
    );
    assert_eq!(
        e.next_event(),
        Some(Event::Message {
            channel: b"lc:r:a".to_vec(),
            payload: b"m1 - {}".to_vec()
        })
    );
    e.unsubscribe(b"lc:r:a");
    assert!(!e.wants(b"lc:r:a"));
}

/// The ordering rule: a Redis that runs the scripts in one order, with the
/// pub/sub stream and the join answer interleaved in every possible way,
/// and the joiner gets exactly the payloads after its join, once, in order.
#[test]
fn joiner_gets_exactly_the_payloads_after_its_join_in_any_interleaving() {
    const TOTAL: u64 = 8;
    let t0 = Instant::now();
    for join_at in 0..=TOTAL {
        // The answer arrives after `reply_after` payloads went by on the sub link.
        for reply_after in 0..=TOTAL {
            let mut e = ready(t0);
            e.subscribe(b"lc:r:a");
            e.input(t0, Side::Sub, push("subscribe", "lc:r:a", "").as_bytes());
            let _ = e.next_event();
            let mut gate: Gate<u32, u64> = Gate::default();
            let (old, joiner) = (1u32, 2u32);
            assert!(e.eval(scripts::I_JOIN, &[b"k"], &[b"v"], 5));
            gate.wait(joiner);
            let mut got: Vec<(u32, u64)> = Vec::new();
            let mut joined = false;
            let mut step = |e: &mut Engine, gate: &mut Gate<u32, u64>, got: &mut Vec<_>| {
                while let Some(ev) = e.next_event() {
                    match ev {
                        Event::Message { payload, .. } => {
                            let n: u64 =
                                std::str::from_utf8(&payload[1..]).unwrap().parse().unwrap();
                            let skip = gate.arrive(n, &n);
                            got.push((old, n));
                            if joined && !skip.contains(&joiner) {
                                got.push((joiner, n));
                            }
                        }
                        Event::Reply { tag: 5, value } => {
                            let e_at = value.unwrap().as_int().unwrap() as u64;
                            for n in gate.answered(joiner, e_at) {
                                got.push((joiner, n));
                            }
                            joined = true;
                        }
                        other => panic!("{other:?}"),
                    }
                }
            };
            for n in 1..=TOTAL {
                if n - 1 == reply_after {
                    e.input(t0, Side::Cmd, format!(":{join_at}\r\n").as_bytes());
                    step(&mut e, &mut gate, &mut got);
                }
                e.input(
                    t0,
                    Side::Sub,
                    push("message", "lc:r:a", &format!("m{n}")).as_bytes(),
                );
                step(&mut e, &mut gate, &mut got);
            }
            if reply_after == TOTAL {
                e.input(t0, Side::Cmd, format!(":{join_at}\r\n").as_bytes());
                step(&mut e, &mut gate, &mut got);
            }
            let mine: Vec<u64> = got.iter().filter(|g| g.0 == joiner).map(|g| g.1).collect();
            let want: Vec<u64> = (join_at + 1..=TOTAL).collect();
            assert_eq!(mine, want, "join at {join_at}, answer after {reply_after}");
            let theirs: Vec<u64> = got.iter().filter(|g| g.0 == old).map(|g| g.1).collect();
            assert_eq!(theirs, (1..=TOTAL).collect::<Vec<_>>());
            assert!(gate.is_idle() || join_at > TOTAL);
        }
    }
}
