//! The client library on its own, in a real browser: a tiny test page imports
//! `/loopcast.js` and the test checks what an app built on it would see.

use fantoccini::Client;
use serde_json::{Value, json};

use super::*;

/// The test page's script: two clients (a reader that keeps the room, a
/// writer that publishes) and a record of everything the reader got.
const SETUP: &str = r#"
return import('/loopcast.js').then(({ connect }) => {
const T = window.T = { got: [], rooms: [], states: [], errors: [] };
T.reader = connect('/ws', { user: 'reader', key: 'reader-key', rooms: ['lib'], maxDelay: 1000 });
T.reader.on('message', m => { if (m.room === 'lib') T.got.push(m.message); });
T.reader.on('room', r => T.rooms.push({ seq: r.seq, gap: r.gap, reset: r.reset, rejoin: r.rejoin }));
T.reader.on('state', s => T.states.push(s.state));
T.writer = connect('/ws', { user: 'writer', key: 'writer-key', maxDelay: 1000 });
T.writer.on('error', e => T.errors.push(e.code));
T.refusal = (user, key) => new Promise(done => {
  const c = connect('/ws', { user, key });
  c.on('state', s => { if (s.state === 'refused' || s.state === 'open') { done([s.state, s.status || 0, s.reason || '']); c.close(); } });
});
return true;
});
"#;

async fn both_open(c: &Client) {
    wait_for(
        c,
        "both clients open",
        "return T.reader.state === 'open' && T.writer.state === 'open' && T.reader.rooms.has('lib')",
        vec![],
        |v| v == &json!(true),
    )
    .await;
}

/// Waits until the reader holds `n` messages and returns them.
async fn got(c: &Client, n: usize) -> Vec<Value> {
    let v = wait_for(
        c,
        &format!("{n} messages at the reader"),
        "return T.got",
        vec![],
        |v| v.as_array().is_some_and(|a| a.len() >= n),
    )
    .await;
    v.as_array().cloned().unwrap_or_default()
}

/// join/publish/ack/error as promises, resume with `since` across dropped
/// connections and a server restart, each message exactly once and in order.
pub async fn library_scenario(c: Client, server: RunningServer) {
    // Any document of the server's origin will do as the page.
    c.goto(&format!("http://{}/healthz", server.addr))
        .await
        .expect("page did not load");
    js(&c, SETUP, vec![]).await;
    both_open(&c).await;

    // A join resolves with the room answer, a publish with its ack, a bad call rejects with the code.
    let answer = js(
        &c,
        "return T.writer.join('lib').then(r => [r.event, r.members.map(m => m.user).sort()])",
        vec![],
    )
    .await;
    assert_eq!(answer, json!(["room", ["reader", "writer"]]));
    let ack = js(
        &c,
        "return T.writer.publish('lib', 1).then(a => a.event)",
        vec![],
    )
    .await;
    assert_eq!(ack, json!("ack"));
    let err = js(
        &c,
        "return T.writer.join('not a room!').then(() => 'resolved', e => [e.name, e.code])",
        vec![],
    )
    .await;
    assert_eq!(err, json!(["LoopcastError", "bad_room_name"]));
    let err = js(
        &c,
        "return T.writer.notify('nobody', 'hi').then(() => 'resolved', e => e.code)",
        vec![],
    )
    .await;
    assert_eq!(err, json!("no_such_user"));

    // Five times: the reader's connection drops in the middle of ten publishes.
    // Whatever the old connection did not deliver comes with the rejoin's `since`.
    let mut next = 2;
    for _ in 0..5 {
        js(
            &c,
            "const [from] = arguments; const sent = [];
             for (let i = 0; i < 10; i++) { sent.push(T.writer.publish('lib', from + i)); if (i === 4) T.reader.reconnect(); }
             return Promise.all(sent).then(() => true)",
            vec![json!(next)],
        )
        .await;
        next += 10;
        // The round is over once the reader has rejoined and caught up.
        got(&c, next as usize - 1).await;
    }
    let expected: Vec<Value> = (1..next).map(|i| json!(i)).collect();
    assert_eq!(
        got(&c, expected.len()).await,
        expected,
        "lost, doubled or reordered"
    );
    let rooms = js(&c, "return T.rooms", vec![]).await;
    let rejoins = rooms
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rejoin"] == true);
    assert_eq!(rejoins.count(), 5, "{rooms}");

    // A name in use, and a reserved one, are refused with the server's reason; no retrying.
    let refused = js(&c, "return T.refusal('Reader', 'another-browser')", vec![]).await;
    assert_eq!(refused[0], "refused", "{refused}");
    assert_eq!(refused[1], 409, "{refused}");
    assert!(
        refused[2].as_str().unwrap().contains("name in use"),
        "{refused}"
    );
    let refused = js(&c, "return T.refusal('server', 'k')", vec![]).await;
    assert_eq!((&refused[0], &refused[1]), (&json!("refused"), &json!(400)));
    // The reader's own key may open a second connection under its name.
    let second = js(&c, "return T.refusal('reader', 'reader-key')", vec![]).await;
    assert_eq!(second[0], "open", "{second}");

    // The server restarts (its rooms start over): both reconnect by themselves,
    // the reader rejoins, learns the room was reset, and misses nothing new.
    let addr = server.addr;
    server.stop();
    wait_for(
        &c,
        "the reader to notice",
        "return T.reader.state",
        vec![],
        |v| v == "reconnecting",
    )
    .await;
    let server = RunningServer::start(addr);
    both_open(&c).await;
    js(
        &c,
        "const sent = []; for (let i = 101; i <= 105; i++) sent.push(T.writer.publish('lib', i));
         return Promise.all(sent).then(() => true)",
        vec![],
    )
    .await;
    let all = got(&c, expected.len() + 5).await;
    let fresh: Vec<Value> = (101..=105).map(|i| json!(i)).collect();
    assert_eq!(all[..expected.len()], expected[..]);
    assert_eq!(all[expected.len()..], fresh[..], "after the restart");
    let last = js(&c, "return T.rooms[T.rooms.length - 1]", vec![]).await;
    assert_eq!(
        (&last["rejoin"], &last["reset"], &last["gap"]),
        (&json!(true), &json!(true), &json!(true)),
        "{last}"
    );
    // Every publish was acked: nothing reached the app as an error event.
    assert_eq!(js(&c, "return T.errors", vec![]).await, json!([]));

    // The library is cached by browsers and revalidated with its ETag.
    let cached = js(
        &c,
        "return fetch('/loopcast.js').then(r => [r.status, r.headers.get('content-type'), r.headers.get('etag')])",
        vec![],
    )
    .await;
    assert_eq!(cached[0], 200);
    assert_eq!(cached[1], "text/javascript; charset=utf-8");
    assert!(cached[2].as_str().is_some_and(|t| t.starts_with('"')));
    server.stop();
}

/// A stand-in for the browser's WebSocket: the library takes the global one
/// when it opens, so the test can close "from the server" with any code.
const FAKE: &str = r#"
return import('/loopcast.js').then(({ connect }) => {
  const F = window.F = { opened: [], states: [], errors: [] };
  window.WebSocket = class {
    constructor(url) {
      F.socket = this;
      F.opened.push(Date.now());
      setTimeout(() => this.onmessage?.({ data: JSON.stringify({ event: 'welcome', id: 'c1', user: 'u', limits: { max_message: 1000, rate: 0, burst: 0 } }) }));
    }
    send() {}
    close() {}
  };
  F.lc = connect('/ws', { user: 'u', key: 'k', minDelay: 100, maxDelay: 200 });
  F.lc.on('state', s => F.states.push(s));
  F.lc.on('error', e => F.errors.push([e.code, e.message]));
  F.close = (code, reason) => { F.closedAt = Date.now(); F.socket.onclose({ code, reason }); };
  return true;
});
"#;

async fn fake_open(c: &Client, opened: usize) {
    wait_for(
        c,
        &format!("open number {opened}"),
        "return [F.lc.state, F.opened.length]",
        vec![],
        |v| v == &json!(["open", opened]),
    )
    .await;
}

/// The last `reconnecting` state's delay.
async fn last_delay(c: &Client) -> f64 {
    let v = js(
        c,
        "return F.states.filter(s => s.state === 'reconnecting').pop().delay",
        vec![],
    )
    .await;
    v.as_f64().expect("a reconnecting state with a delay")
}

/// Close codes as documented: an ordinary drop retries within `maxDelay`, 1013
/// waits at least 2.5 s (half of the 5 s floor, the jitter), 1008 ends it with
/// the reason and no further attempt.
pub async fn close_codes_scenario(c: Client, server: RunningServer) {
    c.goto(&format!("http://{}/healthz", server.addr))
        .await
        .expect("page did not load");
    js(&c, FAKE, vec![]).await;
    fake_open(&c, 1).await;

    // An abnormal close: back soon.
    js(&c, "F.close(1006, '')", vec![]).await;
    assert!(last_delay(&c).await <= 200.0);
    fake_open(&c, 2).await;

    // 1013 (slow consumer or busy server): at least 5 s, jittered to 50-100 %.
    js(&c, "F.close(1013, 'too slow')", vec![]).await;
    let delay = last_delay(&c).await;
    assert!((2500.0..=5000.0).contains(&delay), "1013 delay {delay}");
    fake_open(&c, 3).await;
    let waited = js(&c, "return F.opened[2] - F.closedAt", vec![]).await;
    assert!(
        waited.as_f64().unwrap() >= 2500.0,
        "reopened after {waited} ms"
    );

    // 1008 (policy): final, with the server's reason, and no new socket.
    js(&c, "F.close(1008, 'rate limit exceeded')", vec![]).await;
    let last = js(&c, "return F.states[F.states.length - 1]", vec![]).await;
    assert_eq!(
        (&last["state"], &last["code"], &last["reason"]),
        (
            &json!("closed"),
            &json!(1008),
            &json!("rate limit exceeded")
        ),
        "{last}"
    );
    assert_eq!(
        js(&c, "return F.errors", vec![]).await,
        json!([["policy", "rate limit exceeded"]])
    );
    let refused = js(
        &c,
        "return F.lc.publish('r', 1).then(() => 'sent', e => e.code)",
        vec![],
    )
    .await;
    assert_eq!(refused, json!("closed"));
    // Five times the longest backoff: an attempt would have come by now.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(js(&c, "return F.opened.length", vec![]).await, json!(3));
    server.stop();
}
