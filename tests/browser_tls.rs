//! Browser end-to-end over native TLS: the page is loaded from `https://` and
//! chats over `wss://` (which it derives from `location`).
//!
//! The real binary serves a throw-away self-signed certificate; Chromium is
//! told to accept it (`acceptInsecureCerts` and `--ignore-certificate-errors`).
//! Skips like the plain browser test when chromium/chromedriver are missing.
#![cfg(feature = "tls")]

mod browser_support;
mod common;
mod tls_support;

use std::io::{self, Write};
use std::path::Path;

use browser_support::*;
use fantoccini::Client;
use serde_json::json;
use tls_support::{Certs, TlsServer};

async fn scenario(alice: Client, bob: Client, base: String) {
    log_in(&alice, &base, "alice").await;
    log_in(&bob, &base, "bob").await;
    let protocol = js(&alice, "return location.protocol", vec![]).await;
    assert_eq!(protocol, json!("https:"));
    // The listener speaks only TLS, so "connected" (checked by log_in) means the
    // page opened wss://: a ws:// socket would be closed at its first byte.
    for c in [&alice, &bob] {
        join(c, "tls", "").await;
        wait_text(c, "#room-title", |t| t == "# tls").await;
    }
    wait_present(&alice, "#members li[data-user=bob]").await;
    send_message(&alice, "hello over wss").await;
    wait_message(&bob, "alice", "hello over wss").await;
    send_message(&bob, "encrypted both ways").await;
    wait_message(&alice, "bob", "encrypted both ways").await;
    screenshot(&alice, "chat-https.png").await;
}

#[tokio::test]
async fn the_page_over_https_chats_over_wss() {
    if !(Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()) {
        if std::env::var_os("LOOPCAST_REQUIRE_BROWSER").is_some() {
            panic!("LOOPCAST_REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing");
        }
        let _ = writeln!(
            io::stderr(),
            "SKIPPED https browser test: {CHROMIUM} or {CHROMEDRIVER} is missing"
        );
        return;
    }
    let certs = Certs::new();
    let server = TlsServer::start(&certs, "");
    let base = format!("https://localhost:{}/", server.addr.port());
    let driver = Driver::start();
    let tmp = std::env::temp_dir().join(format!("loopcast-e2e-tls-{}", std::process::id()));
    let alice = driver.insecure_browser(&tmp.join("alice")).await;
    let bob = driver.insecure_browser(&tmp.join("bob")).await;
    let outcome = tokio::spawn(scenario(alice.clone(), bob.clone(), base)).await;
    let _ = alice.close().await;
    let _ = bob.close().await;
    drop(driver);
    drop(server);
    let _ = std::fs::remove_dir_all(&tmp);
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
