//! What `loopcast.js` relies on over real sockets: the library served with
//! caching, and WebSocket refusals readable by a plain request.

mod common;

use common::*;

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n")
}

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    let head = resp.split("\r\n\r\n").next()?;
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn the_library_and_its_types_are_served_with_an_etag() {
    let server = TestServer::start();
    let js = http(server.addr, &get("/loopcast.js", ""));
    assert!(js.starts_with("HTTP/1.1 200"), "{js}");
    assert_eq!(
        header(&js, "content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(header(&js, "cache-control"), Some("no-cache"));
    assert_eq!(header(&js, "access-control-allow-origin"), Some("*"));
    assert_eq!(body(&js), include_str!("../assets/loopcast.js"));
    let etag = header(&js, "etag").expect("an ETag").to_owned();

    // The browser's copy is current: 304 without a body.
    let again = http(
        server.addr,
        &get("/loopcast.js", &format!("If-None-Match: {etag}\r\n")),
    );
    assert!(again.starts_with("HTTP/1.1 304"), "{again}");
    assert_eq!(body(&again), "");
    // A 304 (like a HEAD) must not claim an empty file.
    let len = include_str!("../assets/loopcast.js").len().to_string();
    assert_eq!(header(&again, "content-length"), Some(len.as_str()));
    // Another version: the whole file.
    let stale = http(
        server.addr,
        &get("/loopcast.js", "If-None-Match: \"0000000000000000\"\r\n"),
    );
    assert!(stale.starts_with("HTTP/1.1 200"), "{stale}");

    let dts = http(server.addr, &get("/loopcast.d.ts", ""));
    assert!(dts.starts_with("HTTP/1.1 200"), "{dts}");
    assert!(body(&dts).contains("export declare function connect"));
    // The page revalidates the same way, and is for its own origin only.
    let page = http(server.addr, &get("/", ""));
    assert!(header(&page, "etag").is_some());
    assert_eq!(header(&page, "access-control-allow-origin"), None);
}

#[test]
fn a_plain_request_to_the_websocket_url_says_why_an_upgrade_would_fail() {
    let server = TestServer::start();
    let ask = |query: &str| http(server.addr, &get(&format!("/ws?{query}"), ""));
    // Acceptable parameters: only the upgrade itself is missing.
    let ok = ask("user=alice&key=k1");
    assert!(ok.starts_with("HTTP/1.1 426"), "{ok}");
    let reserved = ask("user=server");
    assert!(reserved.starts_with("HTTP/1.1 400"), "{reserved}");
    assert!(body(&reserved).contains("\"server\""), "{reserved}");
    assert_eq!(header(&reserved, "access-control-allow-origin"), Some("*"));

    // alice is online with her browser's key: another key, or none, is refused.
    let (mut alice, _) = tungstenite::connect(server.url("/ws?user=alice&key=k1")).unwrap();
    let welcome = alice.read().unwrap();
    let welcome: serde_json::Value = serde_json::from_str(welcome.to_text().unwrap()).unwrap();
    assert_eq!(welcome["limits"]["max_message"], 64 * 1024);
    assert_eq!(welcome["limits"]["rate"], 50);
    for query in ["user=alice&key=k2", "user=ALICE&key=k2", "user=alice"] {
        let taken = ask(query);
        assert!(taken.starts_with("HTTP/1.1 409"), "{query}: {taken}");
        assert!(body(&taken).contains("name in use"), "{taken}");
    }
    assert!(ask("user=alice&key=k1").starts_with("HTTP/1.1 426"));
    // A real upgrade with another key is refused the same way.
    let err = tungstenite::connect(server.url("/ws?user=alice&key=k2")).unwrap_err();
    match err {
        tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 409),
        other => panic!("expected a 409 refusal, got {other}"),
    }
    // Once alice is gone, the name is free again.
    alice.close(None).unwrap();
    let _ = alice.read();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !ask("user=alice&key=k2").starts_with("HTTP/1.1 426") {
        assert!(
            std::time::Instant::now() < deadline,
            "alice's name stayed taken"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn refusals_for_origin_and_token_are_readable_too() {
    let server = TestServer::with(|c| c.auth_secret = Some("s3cret".into()));
    let resp = http(server.addr, &get("/ws?user=alice", ""));
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    assert!(body(&resp).contains("unauthorized"), "{resp}");
    let server = TestServer::start();
    let resp = http(
        server.addr,
        &get("/ws?user=alice", "Origin: http://elsewhere.example\r\n"),
    );
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    assert!(body(&resp).contains("origin not allowed"), "{resp}");
    assert_eq!(header(&resp, "access-control-allow-origin"), Some("*"));
}

/// The size targets of the issue: the library at most 8 KiB unminified, page and
/// library together under 48 KiB (no build step, so what is served is the source).
#[test]
fn the_library_and_the_page_stay_small() {
    let library = include_str!("../assets/loopcast.js").len();
    let page = include_str!("../assets/index.html").len();
    assert!(
        library <= 8 * 1024,
        "loopcast.js is {library} B, over 8 KiB"
    );
    assert!(
        page + library < 48 * 1024,
        "page {page} B + library {library} B is over 48 KiB"
    );
}
