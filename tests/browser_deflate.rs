//! A real browser negotiates permessage-deflate: the embedded page's WebSocket
//! reports the extension the server answered, chats, and gets a room's history
//! answer as one compressed frame (counted by the server's `/metrics`).
//!
//! Skips like tests/browser.rs when chromium or chromedriver is missing, unless
//! `LOOPCAST_REQUIRE_BROWSER` is set.
#![cfg(feature = "deflate")]

mod browser_support;
mod common;

use std::net::SocketAddr;
use std::path::Path;

use browser_support::*;
use fantoccini::Client;
use serde_json::json;
use tungstenite::Message;

/// A counter from `GET /metrics`.
fn metric(addr: SocketAddr, name: &str) -> u64 {
    let resp = common::http(
        addr,
        &format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    );
    let line = resp
        .lines()
        .find(|l| l.starts_with(&format!("loopcast_{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {resp}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

async fn scenario(page: Client, server: RunningServer) {
    let addr = server.addr;
    // A room with a full history of chat-sized messages, from a plain client.
    let mut rust = common::ws_connect(&format!("ws://{addr}/ws?user=rusty"));
    let texts: Vec<String> = (0..32)
        .map(|i| format!("message {i}: the quick brown fox jumps over the lazy dog"))
        .collect();
    let enter = json!({"action": "join", "room": "zip"});
    rust.send(Message::text(enter.to_string())).unwrap();
    for text in &texts {
        let publish = json!({"action": "publish", "room": "zip", "message": text});
        rust.send(Message::text(publish.to_string())).unwrap();
    }
    // `rooms` is answered after the publishes were handled.
    rust.send(Message::text(r#"{"action":"rooms"}"#)).unwrap();
    while !matches!(rust.read().unwrap(), Message::Text(t) if t.contains("\"rooms\"")) {}

    let base = format!("http://{addr}/");
    log_in(&page, &base, "alice").await;
    // A WebSocket of the browser's own, on the page's origin: what did it negotiate?
    js(
        &page,
        "window.pmd = new WebSocket(`ws://${location.host}/echo`)",
        vec![],
    )
    .await;
    let answer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
    wait_for(
        &page,
        "the extension on a browser WebSocket",
        "return window.pmd.readyState === 1 ? window.pmd.extensions : null",
        vec![],
        |v| v == &json!(answer),
    )
    .await;
    let before = metric(addr, "compressed_messages_out_total");
    join(&page, "zip", "").await;
    wait_message(&page, "rusty", &texts[31]).await;
    wait_message(&page, "rusty", &texts[0]).await;
    assert_eq!(
        metric(addr, "compressed_messages_out_total"),
        before + 1,
        "the history answer was not compressed"
    );
    assert!(metric(addr, "compressed_bytes_saved_total") > 1000);
    // Chat both ways: long messages compressed by the browser and by the server.
    let long = "a long line from the browser, ".repeat(20);
    send_message(&page, long.trim_end()).await;
    wait_message(&page, "alice", long.trim_end()).await;
    let reply = "and a long reply from rust, ".repeat(20);
    let publish = json!({"action": "publish", "room": "zip", "message": reply});
    rust.send(Message::text(publish.to_string())).unwrap();
    wait_message(&page, "rusty", &reply).await;
    assert!(metric(addr, "compressed_messages_out_total") >= before + 3);
    server.stop();
}

#[tokio::test]
async fn browser_negotiates_permessage_deflate_and_chats() {
    if !(Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()) {
        assert!(
            std::env::var_os("LOOPCAST_REQUIRE_BROWSER").is_none(),
            "LOOPCAST_REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing"
        );
        eprintln!("SKIPPED: {CHROMIUM} or {CHROMEDRIVER} is missing");
        return;
    }
    let server = RunningServer::start(SocketAddr::from(([127, 0, 0, 1], 0)));
    let driver = Driver::start();
    let tmp = std::env::temp_dir().join(format!("loopcast-e2e-deflate-{}", std::process::id()));
    let page = driver.browser(&tmp).await;
    let outcome = tokio::spawn(scenario(page.clone(), server)).await;
    let _ = page.close().await;
    drop(driver);
    let _ = std::fs::remove_dir_all(&tmp);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
