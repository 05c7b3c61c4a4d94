//! The real binary with `--tls-cert`/`--tls-key`: https://, wss:// rooms and
//! broadcast, start-up errors, and SIGHUP certificate reload.
#![cfg(feature = "tls")]

mod common;
mod tls_support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::Message;

use tls_support::*;

fn recv(ws: &mut Wss) -> Value {
    serde_json::from_str(&next_text(ws)).expect("JSON")
}

fn send(ws: &mut Wss, v: Value) {
    ws.send(Message::text(v.to_string())).unwrap();
}

#[test]
fn https_healthz_page_and_alpn() {
    let certs = Certs::new();
    let server = TlsServer::start(&certs, "");
    let (status, body) = https(
        server.addr,
        &certs,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\""), "{body}");
    let (status, page) = https(
        server.addr,
        &certs,
        "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(status, 200);
    assert!(page.contains("<html") || page.contains("<!doctype") || page.contains("<!DOCTYPE"));
    let s = tls(server.addr, &certs);
    assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[test]
fn two_wss_clients_chat_in_a_room() {
    let certs = Certs::new();
    let server = TlsServer::start(&certs, "");
    let mut alice = wss(server.addr, &certs, "/ws?user=alice");
    assert_eq!(recv(&mut alice)["event"], "welcome");
    let mut bob = wss(server.addr, &certs, "/ws?user=bob");
    assert_eq!(recv(&mut bob)["event"], "welcome");
    send(&mut alice, json!({"action": "join", "room": "lobby"}));
    assert_eq!(recv(&mut alice)["event"], "room");
    send(&mut bob, json!({"action": "join", "room": "lobby"}));
    assert_eq!(recv(&mut bob)["event"], "room");
    assert_eq!(recv(&mut alice)["event"], "joined");
    for (i, (from, to)) in [("alice", "bob"), ("bob", "alice")].iter().enumerate() {
        let (sender, receiver) = if *from == "alice" {
            (&mut alice, &mut bob)
        } else {
            (&mut bob, &mut alice)
        };
        let text = format!("hello {to}, {i}");
        send(
            sender,
            json!({"action": "publish", "room": "lobby", "message": text}),
        );
        for ws in [receiver, sender] {
            let m = recv(ws);
            assert_eq!(m["message"], text.as_str(), "{m}");
            assert_eq!(m["from"], *from, "{m}");
        }
    }
}

#[test]
fn broadcast_to_50_tls_clients_arrives_complete_and_in_order() {
    let certs = Certs::new();
    let server = TlsServer::start(&certs, "");
    let mut clients: Vec<Wss> = (0..50)
        .map(|_| wss(server.addr, &certs, "/broadcast"))
        .collect();
    // Every member is registered once its upgrade is answered; a round trip proves it.
    let mut sender = wss(server.addr, &certs, "/broadcast");
    sender.send(Message::text("ready")).unwrap();
    for ws in clients.iter_mut() {
        assert_eq!(next_text(ws), "ready");
    }
    // Big enough that one turn's output spans several TLS records.
    let filler = "x".repeat(3000);
    for i in 0..200 {
        sender
            .send(Message::text(format!("{i:04} {filler}")))
            .unwrap();
    }
    for ws in clients.iter_mut() {
        for i in 0..200 {
            let got = next_text(ws);
            assert_eq!(&got[..4], format!("{i:04}"));
            assert_eq!(got.len(), 5 + filler.len());
        }
    }
}

#[test]
fn plain_http_on_the_tls_port_is_closed_at_once() {
    let certs = Certs::new();
    let server = TlsServer::start(&certs, "--handshake-timeout 30");
    let mut witness = Witness::new(server.addr, &certs);
    witness.check(1);
    let mut s = tcp(server.addr);
    let started = Instant::now();
    std::io::Write::write_all(&mut s, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    assert_eq!(read_until_closed(&mut s), 0, "no answer in plain text");
    // Far below the 30 s handshake timeout: it was closed, not left hanging.
    assert!(started.elapsed() < Duration::from_secs(10));
    witness.check(2);
}

#[test]
fn bad_certificate_files_exit_2_naming_the_file() {
    let certs = Certs::new();
    let bin = env!("CARGO_BIN_EXE_loopcast");
    let missing = certs.dir.join("missing.pem");
    let run = |cert: &std::path::Path, key: &std::path::Path| {
        let out = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--tls-cert"])
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        err
    };
    let err = run(&missing, &certs.key());
    assert!(
        err.contains("missing.pem") && err.contains("--tls-cert"),
        "{err}"
    );
    let err = run(&certs.cert(), &missing);
    assert!(
        err.contains("missing.pem") && err.contains("--tls-key"),
        "{err}"
    );
    let other = Certs::new();
    let err = run(&certs.cert(), &other.key());
    assert!(err.contains("does not match"), "{err}");
    // Only one of the pair.
    let out = Command::new(bin)
        .args(["--tls-cert"])
        .arg(certs.cert())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sighup_reloads_the_certificate_for_new_connections_only() {
    let mut certs = Certs::new();
    let server = TlsServer::start(&certs, "");
    let old_der = certs.der.clone();
    let mut old = wss(server.addr, &certs, "/echo");
    old.send(Message::text("before")).unwrap();
    assert_eq!(next_text(&mut old), "before");

    certs.regenerate();
    server.hangup();
    // The signal is handled on the next turn: retry briefly until the new certificate shows.
    let started = Instant::now();
    while try_tls(server.addr, certs.client_config()).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "no reload");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(try_tls(server.addr, client_config_trusting(&old_der)).is_err());
    // The old connection keeps its session.
    old.send(Message::text("after")).unwrap();
    assert_eq!(next_text(&mut old), "after");

    // A broken key: the reload fails and the current certificate stays.
    std::fs::write(certs.key(), "-----BEGIN PRIVATE KEY-----\nnot a key\n").unwrap();
    server.hangup();
    std::thread::sleep(Duration::from_millis(300));
    let mut fresh = wss_over(tls(server.addr, &certs), "/echo");
    fresh.send(Message::text("still")).unwrap();
    assert_eq!(next_text(&mut fresh), "still");
    old.send(Message::text("old too")).unwrap();
    assert_eq!(next_text(&mut old), "old too");
}
