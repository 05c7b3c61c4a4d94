//! Fuzz target: the JSON protocol parser and the hub, driven by a script of
//! steps from up to four clients (connect, text, binary, disconnect, API
//! publish, time passing), with the hub's invariant checker after every step.
//!
//! Script: one op byte per step; the low 3 bits pick the step, the next 2 the
//! client; text steps take a length byte and that many bytes as the frame.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use loopcast::ClientId;
use loopcast::hub::{Hub, HubConfig, Now, Outbox, Output};

const USERS: [&str; 4] = ["alice", "bob", "alice", ""];

fuzz_target!(|data: &[u8]| {
    let mut hub = Hub::new(HubConfig {
        history: 4,
        max_rooms: 4,
        ..HubConfig::default()
    });
    let mut out = Outbox::new();
    let t0 = Instant::now();
    let mut at = Duration::ZERO;
    let mut connected = [false; 4];
    let mut i = 0;
    while i < data.len() {
        let op = data[i];
        i += 1;
        let c = usize::from(op >> 3) % 4;
        let client = ClientId(c);
        let now = Now {
            mono: t0 + at,
            unix_ms: 1_700_000_000_000 + at.as_millis() as u64,
        };
        match op & 7 {
            0 if !connected[c] => {
                hub.handle_connect(
                    now,
                    client,
                    Some(USERS[c]).filter(|u| !u.is_empty()),
                    &mut out,
                );
                connected[c] = true;
            }
            1 if connected[c] => {
                hub.handle_disconnect(now, client, &mut out);
                connected[c] = false;
            }
            2 if connected[c] => hub.handle_binary(now, client, &mut out),
            3 => {
                at += Duration::from_millis(u64::from(op >> 5) * 700);
                hub.handle_timeout(now, &mut out);
            }
            4 => {
                let body = take(data, &mut i);
                let _ = hub.handle_publish(now, body, &mut out);
            }
            _ if connected[c] => {
                let text = String::from_utf8_lossy(take(data, &mut i)).into_owned();
                hub.handle_text(now, client, &text, &mut out);
            }
            _ => {}
        }
        if let Err(broken) = hub.check_invariants() {
            panic!("invariant broken after op {op:#04x}: {broken}");
        }
        check_outputs(&out, &connected);
        out.clear();
    }
});

/// A length byte, then that many bytes (fewer at the end of the input).
fn take<'a>(data: &'a [u8], i: &mut usize) -> &'a [u8] {
    let len = data.get(*i).map_or(0, |&n| usize::from(n));
    let start = (*i + 1).min(data.len());
    let end = (start + len).min(data.len());
    *i = end;
    &data[start..end]
}

/// Every frame goes to connected clients only, each at most once, and is valid JSON.
fn check_outputs(out: &Outbox, connected: &[bool; 4]) {
    for item in out.iter() {
        match item {
            Output::Text { to, text } => {
                for (n, c) in to.iter().enumerate() {
                    assert!(
                        connected.get(c.0).copied().unwrap_or(false),
                        "frame to a client that is not connected: {c:?}"
                    );
                    assert!(!to[..n].contains(c), "{c:?} twice in one recipient list");
                }
                if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
                    panic!("hub sent invalid JSON ({e}): {text}");
                }
            }
            Output::Close { client, .. } => {
                assert!(
                    connected.get(client.0).copied().unwrap_or(false),
                    "close to {client:?}"
                );
            }
        }
    }
}
