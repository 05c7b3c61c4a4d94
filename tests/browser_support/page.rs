//! The page as new users meet it, on a server with tight limits: what used to
//! go wrong (lost messages, borrowed names, vanishing typing, lost unread
//! state, ...) checked the way a user would see it.

use fantoccini::Client;
use fantoccini::key::Key;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use super::*;

/// The texts of the message bubbles in the shown room.
async fn texts(c: &Client) -> Vec<String> {
    let v = js(
        c,
        "return [...document.querySelectorAll('#messages .msg .text')].map(e => e.textContent)",
        vec![],
    )
    .await;
    let list = v.as_array().cloned().unwrap_or_default();
    list.iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

async fn sys_count(c: &Client, text: &str) -> usize {
    let v = js(
        c,
        "return [...document.querySelectorAll('#messages .sys')].filter(e => e.textContent === arguments[0]).length",
        vec![json!(text)],
    )
    .await;
    v.as_u64().unwrap_or(0) as usize
}

async fn reload(c: &Client, base: &str) {
    c.goto(base).await.expect("reload");
    wait_state(c, "connected").await;
}

async fn press(c: &Client, css: &str, key: Key) {
    type_into(c, css, &char::from(key).to_string()).await;
}

/// `server` runs with `--rate-limit 2 --max-message 1024`.
pub async fn page_scenario(alice: Client, mallory: Client, server: RunningServer) {
    let base = format!("http://{}/", server.addr);
    log_in(&alice, &base, "alice").await;

    // Names are not free for the taking: "Alice" while alice is online is refused, and said so.
    mallory.goto(&base).await.expect("page did not load");
    fill(&mallory, "#name", "Alice").await;
    click(&mallory, "#connect").await;
    wait_text(&mallory, "#login-error", |t| t.contains("name in use")).await;
    let on_login = js(
        &mallory,
        "return !document.querySelector('#login').hidden",
        vec![],
    )
    .await;
    assert_eq!(
        on_login,
        json!(true),
        "the page kept retrying instead of explaining"
    );
    log_in(&mallory, &base, "mallory").await;
    for c in [&alice, &mallory] {
        wait_text(c, "#room-title", |t| t == "# lobby").await;
    }
    wait_present(&alice, "#members li[data-user=mallory]").await;

    // Nothing typed is lost: eight messages at once on a 2/s server all arrive,
    // in order, and none is left failed (the page paces itself by the limits).
    let burst: Vec<String> = (1..=8).map(|i| format!("quick {i}")).collect();
    let enter = char::from(Key::Enter);
    let keys: String = burst.iter().map(|t| format!("{t}{enter}")).collect();
    type_into(&alice, "#input", &keys).await;
    wait_message(&mallory, "alice", "quick 8").await;
    let seen: Vec<String> = texts(&mallory)
        .await
        .into_iter()
        .filter(|t| t.starts_with("quick"))
        .collect();
    assert_eq!(seen, burst);
    wait_for(
        &alice,
        "every bubble sent",
        "return document.querySelectorAll('#messages .msg.pending, #messages .msg.failed').length",
        vec![],
        |v| v == &json!(0),
    )
    .await;

    // Typing stays visible while someone types, past the 5 s server expiry and
    // the page's 6 s timeout: renewals are forwarded.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(8) {
        type_into(&alice, "#input", "t").await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // Without renewals it would have gone at about 6 s, and no change would bring it back.
    wait_text(&mallory, "#typing", |t| t.contains("alice is typing")).await;
    press(&alice, "#input", Key::Enter).await;
    wait_text(&mallory, "#typing", str::is_empty).await;

    // Too long for this server: counted, refused before sending, text kept, still connected.
    js(
        &alice,
        "const i = document.querySelector('#input'); i.value = 'x'.repeat(1500); \
         i.dispatchEvent(new Event('input'));",
        vec![],
    )
    .await;
    wait_present(&alice, "#count.over").await;
    press(&alice, "#input", Key::Enter).await;
    wait_present(&alice, ".toast[data-code=too_big]").await;
    let kept = js(
        &alice,
        "return document.querySelector('#input').value.length",
        vec![],
    )
    .await;
    assert_eq!(kept, json!(1500));
    wait_state(&alice, "connected").await;
    js(
        &alice,
        "document.querySelector('#input').value = ''",
        vec![],
    )
    .await;

    // Reading: indentation kept, text direction left to the text, links clickable and safe.
    send_message(&alice, "  indented").await;
    wait_message(&mallory, "alice", "  indented").await;
    send_message(&alice, "see https://example.com/a?b=1.").await;
    wait_message(&mallory, "alice", "see https://example.com/a?b=1.").await;
    let a = js(
        &mallory,
        "const a = document.querySelector('#messages .text a'); \
         return a && [a.getAttribute('href'), a.rel, a.closest('.text').dir]",
        vec![],
    )
    .await;
    assert_eq!(
        a,
        json!([
            "https://example.com/a?b=1",
            "noopener noreferrer nofollow",
            "auto"
        ])
    );

    // Keyboard and accessibility: every field is labelled, rooms are buttons,
    // Enter on one switches to it and puts the focus in the composer, Esc closes toasts.
    let unlabelled = js(
        &mallory,
        "return [...document.querySelectorAll('input, textarea')] \
         .filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.id)",
        vec![],
    )
    .await;
    assert_eq!(unlabelled, json!([]));
    join(&mallory, "side", "").await;
    wait_text(&mallory, "#room-title", |t| t == "# side").await;
    press(&mallory, "#rooms li[data-room=lobby] > button", Key::Enter).await;
    wait_text(&mallory, "#room-title", |t| t == "# lobby").await;
    wait_for(
        &mallory,
        "the focus in the composer",
        "return document.activeElement && document.activeElement.id",
        vec![],
        |v| v == "input",
    )
    .await;
    join(&mallory, "not a room!", "").await;
    wait_present(&mallory, ".toast").await;
    press(&mallory, "#input", Key::Escape).await;
    wait_for(
        &mallory,
        "Esc to close the toasts",
        "return document.querySelectorAll('.toast').length",
        vec![],
        |v| v == &json!(0),
    )
    .await;

    // The create form keeps what was typed when creation fails.
    click(&mallory, "#create-box summary").await;
    fill(&mallory, "#create-room", "side").await;
    click(&mallory, "#create-btn").await;
    wait_present(&mallory, ".toast[data-code=room_exists]").await;
    let kept = js(
        &mallory,
        "return document.querySelector('#create-room').value",
        vec![],
    )
    .await;
    assert_eq!(kept, json!("side"));

    // Unread state survives a reload, and a reload is not "left" + "joined" for the others.
    join(&alice, "side", "").await;
    wait_text(&alice, "#room-title", |t| t == "# side").await;
    send_message(&alice, "unread one").await;
    send_message(&alice, "unread two").await;
    let badge = "#rooms li[data-room=side] .badge";
    wait_text(&mallory, badge, |t| t == "2 new").await;
    click(&alice, "#rooms li[data-room=lobby]").await;
    wait_text(&alice, "#room-title", |t| t == "# lobby").await;
    let joined_before = sys_count(&alice, "mallory joined").await;
    reload(&mallory, &base).await;
    wait_text(&mallory, badge, |t| t == "2 new").await;
    wait_present(&alice, "#members li[data-user=mallory]").await;
    // The grace for a reload is 4 s: wait it out, then nothing may have been said.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(sys_count(&alice, "mallory left").await, 0);
    assert_eq!(sys_count(&alice, "mallory joined").await, joined_before);
    click(&mallory, "#rooms li[data-room=side]").await;
    wait_text(&mallory, "#room-title", |t| t == "# side").await;
    wait_for(
        &mallory,
        "the badge to go",
        "return document.querySelector(arguments[0]) === null",
        vec![json!(badge)],
        |v| v == &json!(true),
    )
    .await;

    // Private notes are conversations, kept across a reload.
    fill(&alice, "#notify-user", "mallory").await;
    fill(&alice, "#notify-text", "a note for you").await;
    click(&alice, "#notify-btn").await;
    let got = "#inbox li[data-dir=in][data-from=alice] .text";
    wait_text(&mallory, got, |t| t == "a note for you").await;
    click(&mallory, "#inbox li[data-dir=in] button").await;
    type_into(&mallory, "#notify-text", "got it").await;
    click(&mallory, "#notify-btn").await;
    wait_text(
        &alice,
        "#inbox li[data-dir=in][data-from=mallory] .text",
        |t| t == "got it",
    )
    .await;
    reload(&alice, &base).await;
    wait_text(
        &alice,
        "#inbox li[data-dir=out][data-to=mallory] .text",
        |t| t == "a note for you",
    )
    .await;
    wait_present(&alice, "#inbox li[data-dir=in][data-from=mallory]").await;

    // A password room one was in is rejoined after a reload, not silently dropped.
    click(&alice, "#create-box summary").await;
    fill(&alice, "#create-room", "locked").await;
    fill(&alice, "#create-password", "pw1").await;
    click(&alice, "#create-btn").await;
    wait_text(&alice, "#room-title", |t| t == "# locked").await;
    reload(&alice, &base).await;
    wait_present(&alice, "#rooms li.joined[data-room=locked]").await;

    // The creator may delete a room; its members are told and it leaves their list.
    assert_eq!(
        js(
            &mallory,
            "return document.querySelector('#delete').hidden",
            vec![]
        )
        .await,
        json!(true),
        "delete offered for a room mallory did not create"
    );
    click(&alice, "#create-box summary").await;
    fill(&alice, "#create-room", "doomed").await;
    click(&alice, "#create-btn").await;
    wait_text(&alice, "#room-title", |t| t == "# doomed").await;
    join(&mallory, "doomed", "").await;
    wait_text(&mallory, "#room-title", |t| t == "# doomed").await;
    wait_present(&alice, "#members li[data-user=mallory]").await;
    // Toasts go after a few seconds: record every one shown.
    js(
        &mallory,
        "window.toasts = []; new MutationObserver(() => document.querySelectorAll('.toast b') \
         .forEach(b => toasts.push(b.textContent))).observe(document.querySelector('#toasts'), { childList: true })",
        vec![],
    )
    .await;
    js(&alice, "window.confirm = () => true", vec![]).await;
    click(&alice, "#delete").await;
    wait_for(
        &mallory,
        "mallory to be told",
        "return toasts.includes('#doomed was deleted')",
        vec![],
        |v| v == &json!(true),
    )
    .await;
    for c in [&alice, &mallory] {
        wait_for(
            c,
            "the deleted room to go",
            "return [document.querySelector('#rooms li.joined[data-room=doomed]'), app.lc.rooms.has('doomed')]",
            vec![],
            |v| v == &json!([null, false]),
        )
        .await;
    }

    // While disconnected the page says members are unknown rather than "0 members".
    js(&mallory, "app.lc.disconnect()", vec![]).await;
    wait_state(&mallory, "offline").await;
    wait_text(&mallory, "#room-sub", |t| t.contains("unknown")).await;
    js(&mallory, "app.lc.reconnect()", vec![]).await;
    wait_state(&mallory, "connected").await;
    server.stop();
}
