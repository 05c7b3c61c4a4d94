//! Tests of request-head parsing, query decoding and response bytes.

use super::*;

/// What Chromium sends to open a WebSocket (trimmed of cookies).
const CHROME_UPGRADE: &[u8] = b"GET /ws?user=alice HTTP/1.1\r\n\
Host: 127.0.0.1:8080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://127.0.0.1:8080\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

fn parse(buf: &[u8]) -> Request {
    match parse_request(buf, MAX_HEAD) {
        Ok(Some((req, n))) => {
            assert_eq!(n, buf.len(), "head should span the whole input");
            req
        }
        other => panic!("expected a complete head, got {other:?}"),
    }
}

fn malformed(buf: &[u8]) -> &'static str {
    match parse_request(buf, MAX_HEAD) {
        Err(HttpError::Malformed(why)) => why,
        other => panic!("expected Malformed for {buf:?}, got {other:?}"),
    }
}

fn with_headers(lines: &str) -> Vec<u8> {
    format!("GET /ws HTTP/1.1\r\nHost: h\r\n{lines}\r\n").into_bytes()
}

#[test]
fn browser_upgrade_is_read_fully() {
    let req = parse(CHROME_UPGRADE);
    assert_eq!(
        req,
        Request {
            method: Some(Method::Get),
            path: "/ws".into(),
            query: "user=alice".into(),
            host: Some("127.0.0.1:8080".into()),
            origin: Some("http://127.0.0.1:8080".into()),
            authorization: None,
            content_type: None,
            upgrade_websocket: true,
            connection_upgrade: true,
            ws_version: Some("13".into()),
            ws_key: Some("dGhlIHNhbXBsZSBub25jZQ==".into()),
            ws_extensions: Some("permessage-deflate; client_max_window_bits".into()),
            content_length: None,
            chunked: false,
            if_none_match: None,
        }
    );
}

#[test]
fn if_none_match_lines_form_one_list() {
    let req = parse(
        b"GET /loopcast.js HTTP/1.1\r\nIf-None-Match: \"a\"\r\nif-none-match: W/\"b\"\r\n\r\n",
    );
    assert_eq!(req.if_none_match.as_deref(), Some("\"a\",W/\"b\""));
}

#[test]
fn every_split_point_needs_more_then_completes() {
    for cut in 0..CHROME_UPGRADE.len() {
        assert_eq!(
            parse_request(&CHROME_UPGRADE[..cut], MAX_HEAD),
            Ok(None),
            "prefix of {cut} bytes"
        );
    }
    parse(CHROME_UPGRADE);
}

#[test]
fn head_length_excludes_pipelined_frame() {
    let mut buf = CHROME_UPGRADE.to_vec();
    // A masked text frame "hi" sent right behind the request.
    let frame = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
    buf.extend_from_slice(&frame);
    let (req, n) = parse_request(&buf, MAX_HEAD).unwrap().unwrap();
    assert_eq!(n, CHROME_UPGRADE.len());
    assert_eq!(&buf[n..], &frame);
    assert!(req.upgrade_websocket);
}

#[test]
fn head_length_excludes_post_body() {
    let buf = b"POST /api/publish HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n{\"all\":true";
    let (req, n) = parse_request(buf, MAX_HEAD).unwrap().unwrap();
    assert_eq!(req.method, Some(Method::Post));
    assert_eq!(req.content_length, Some(11));
    assert_eq!(&buf[n..], b"{\"all\":true");
}

/// A head of exactly `len` bytes, complete when `end` is true.
fn head_of_len(len: usize, end: bool) -> Vec<u8> {
    let mut buf = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
    let tail: &[u8] = if end { b"\r\n\r\n" } else { b"" };
    buf.resize(len - tail.len(), b'a');
    buf.extend_from_slice(tail);
    assert_eq!(buf.len(), len);
    buf
}

#[test]
fn head_of_exactly_the_limit_is_accepted() {
    let buf = head_of_len(MAX_HEAD, true);
    let (_, n) = parse_request(&buf, MAX_HEAD).unwrap().unwrap();
    assert_eq!(n, MAX_HEAD);
}

#[test]
fn complete_head_over_the_limit_is_431() {
    let buf = head_of_len(MAX_HEAD + 1, true);
    assert_eq!(parse_request(&buf, MAX_HEAD), Err(HttpError::HeadTooLarge));
    assert_eq!(HttpError::HeadTooLarge.status(), 431);
}

#[test]
fn incomplete_head_reaching_the_limit_is_431() {
    let buf = head_of_len(MAX_HEAD - 1, false);
    assert_eq!(parse_request(&buf, MAX_HEAD), Ok(None));
    let buf = head_of_len(MAX_HEAD, false);
    assert_eq!(parse_request(&buf, MAX_HEAD), Err(HttpError::HeadTooLarge));
    let buf = head_of_len(MAX_HEAD + 500, false);
    assert_eq!(parse_request(&buf, MAX_HEAD), Err(HttpError::HeadTooLarge));
}

#[test]
fn endless_blank_lines_hit_the_limit() {
    let buf = b"\r\n".repeat(MAX_HEAD / 2);
    assert_eq!(parse_request(&buf, MAX_HEAD), Err(HttpError::HeadTooLarge));
}

#[test]
fn smaller_limit_is_honoured() {
    assert_eq!(
        parse_request(CHROME_UPGRADE, 64),
        Err(HttpError::HeadTooLarge)
    );
}

#[test]
fn malformed_request_lines_are_400() {
    for buf in [
        &b"GET\r\n\r\n"[..],
        b"GET /\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / HTTP/1.2\r\n\r\n",
        b"GET / FOO/1.1\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"G(T / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\nHost h\n\n",
        b"GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET ws HTTP/1.1\r\n\r\n",
    ] {
        let why = malformed(buf);
        assert!(!why.is_empty());
        assert_eq!(HttpError::Malformed(why).status(), 400);
    }
}

#[test]
fn too_many_headers_is_malformed() {
    let lines: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(malformed(&with_headers(&lines)), "too many headers");
}

#[test]
fn methods_and_versions() {
    let m = |line: &str| parse(format!("{line}\r\n\r\n").as_bytes()).method;
    assert_eq!(m("GET / HTTP/1.1"), Some(Method::Get));
    assert_eq!(m("HEAD / HTTP/1.1"), Some(Method::Head));
    assert_eq!(m("POST / HTTP/1.1"), Some(Method::Post));
    assert_eq!(m("PUT / HTTP/1.1"), Some(Method::Other));
    assert_eq!(m("get / HTTP/1.1"), Some(Method::Other));
    assert_eq!(m("GET / HTTP/1.0"), Some(Method::Get));
}

#[test]
fn target_splits_into_path_and_query() {
    let target = |t: &str| {
        let req = parse(format!("GET {t} HTTP/1.1\r\n\r\n").as_bytes());
        (req.path, req.query)
    };
    let pq = |p: &str, q: &str| (p.to_owned(), q.to_owned());
    assert_eq!(target("/"), pq("/", ""));
    assert_eq!(target("/ws?"), pq("/ws", ""));
    assert_eq!(target("/ws?user=a&token=b"), pq("/ws", "user=a&token=b"));
    assert_eq!(target("/a?b?c"), pq("/a", "b?c"));
    assert_eq!(target("http://example.com/ws?x=1"), pq("/ws", "x=1"));
    assert_eq!(target("HTTP://example.com"), pq("/", ""));
    assert_eq!(target("http://example.com?x=1"), pq("/", "x=1"));
    assert_eq!(target("*"), pq("*", ""));
}

#[test]
fn upgrade_and_connection_tokens() {
    let flags = |lines: &str| {
        let req = parse(&with_headers(lines));
        (req.upgrade_websocket, req.connection_upgrade)
    };
    assert_eq!(
        flags("Upgrade: WebSocket\r\nConnection: Upgrade\r\n"),
        (true, true)
    );
    assert_eq!(
        flags("upgrade: websocket\r\nconnection: keep-alive, Upgrade\r\n"),
        (true, true)
    );
    assert_eq!(
        flags("Upgrade: h2c, websocket\r\nConnection:upgrade,keep-alive\r\n"),
        (true, true)
    );
    assert_eq!(
        flags("Connection: keep-alive\r\nConnection: UPGRADE\r\n"),
        (false, true)
    );
    assert_eq!(
        flags("Upgrade: websockets\r\nConnection: upgraded\r\n"),
        (false, false)
    );
    assert_eq!(
        flags("Upgrade: h2c\r\nConnection: close\r\n"),
        (false, false)
    );
    assert_eq!(flags(""), (false, false));
}

#[test]
fn header_values_are_trimmed() {
    let req = parse(&with_headers(
        "Origin:   https://a.example   \r\nAuthorization: Bearer k\t\r\nSec-WebSocket-Version:13\r\n",
    ));
    assert_eq!(req.origin.as_deref(), Some("https://a.example"));
    assert_eq!(req.authorization.as_deref(), Some("Bearer k"));
    assert_eq!(req.ws_version.as_deref(), Some("13"));
    assert_eq!(req.host.as_deref(), Some("h"));
}

#[test]
fn duplicate_single_headers_are_malformed() {
    assert_eq!(
        malformed(&with_headers("Host: x\r\n")),
        "duplicate Host header"
    );
    assert_eq!(
        malformed(&with_headers(
            "Sec-WebSocket-Key: a\r\nsec-websocket-key: b\r\n"
        )),
        "duplicate Sec-WebSocket-Key header"
    );
    assert_eq!(
        malformed(&with_headers("Origin: a\r\nOrigin: a\r\n")),
        "duplicate Origin header"
    );
}

#[test]
fn kept_header_values_must_be_utf8() {
    // Headers we do not keep may carry any obs-text.
    parse(b"GET / HTTP/1.1\r\nX-Legacy: caf\xe9\r\n\r\n");
    for name in [
        "Origin",
        "Host",
        "Authorization",
        "Sec-WebSocket-Key",
        "Upgrade",
    ] {
        let mut buf = format!("GET / HTTP/1.1\r\n{name}: caf").into_bytes();
        buf.extend_from_slice(b"\xe9\r\n\r\n");
        assert_eq!(malformed(&buf), "header value is not UTF-8", "{name}");
    }
}

#[test]
fn content_length_variants() {
    let cl = |lines: &str| {
        parse_request(&with_headers(lines), MAX_HEAD).map(|r| r.unwrap().0.content_length)
    };
    assert_eq!(cl(""), Ok(None));
    assert_eq!(cl("Content-Length: 0\r\n"), Ok(Some(0)));
    assert_eq!(cl("Content-Length: 42\r\n"), Ok(Some(42)));
    assert_eq!(cl("Content-Length: 42, 42\r\n"), Ok(Some(42)));
    assert_eq!(
        cl("Content-Length: 42\r\ncontent-length: 42\r\n"),
        Ok(Some(42))
    );
    let conflict = Err(HttpError::Malformed("conflicting Content-Length values"));
    assert_eq!(cl("Content-Length: 42, 43\r\n"), conflict);
    assert_eq!(cl("Content-Length: 1\r\nContent-Length: 2\r\n"), conflict);
    let invalid = Err(HttpError::Malformed("invalid Content-Length"));
    for bad in [
        "",
        "-1",
        "+5",
        "0x10",
        "1 2",
        "abc",
        "4,",
        "99999999999999999999999",
    ] {
        assert_eq!(
            cl(&format!("Content-Length: {bad}\r\n")),
            invalid,
            "{bad:?}"
        );
    }
}

#[test]
fn transfer_encoding_variants() {
    let te =
        |lines: &str| parse_request(&with_headers(lines), MAX_HEAD).map(|r| r.unwrap().0.chunked);
    assert_eq!(te(""), Ok(false));
    assert_eq!(te("Transfer-Encoding: chunked\r\n"), Ok(true));
    assert_eq!(te("Transfer-Encoding: gzip, Chunked\r\n"), Ok(true));
    assert_eq!(
        te("Transfer-Encoding: gzip\r\n"),
        Err(HttpError::Malformed("Transfer-Encoding without chunked"))
    );
    let both = Err(HttpError::Malformed(
        "both Content-Length and Transfer-Encoding",
    ));
    assert_eq!(
        te("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"),
        both
    );
    assert_eq!(
        te("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n"),
        both
    );
}

#[test]
fn query_param_decoding() {
    let q = "user=alice&token=a.b.c&msg=hello+world%21&euro=%E2%82%AC&flag&dup=1&dup=2";
    assert_eq!(query_param(q, "user").as_deref(), Some("alice"));
    assert_eq!(query_param(q, "token").as_deref(), Some("a.b.c"));
    assert_eq!(query_param(q, "msg").as_deref(), Some("hello world!"));
    assert_eq!(query_param(q, "euro").as_deref(), Some("€"));
    assert_eq!(query_param(q, "flag").as_deref(), Some(""));
    assert_eq!(query_param(q, "dup").as_deref(), Some("1"));
    assert_eq!(query_param(q, "use"), None);
    assert_eq!(query_param(q, "missing"), None);
    assert_eq!(query_param("", "user"), None);
    assert_eq!(query_param("?user=bob", "user").as_deref(), Some("bob"));
    assert_eq!(
        query_param("username=x&user=y", "user").as_deref(),
        Some("y")
    );
    assert_eq!(query_param("us%65r=z", "user").as_deref(), Some("z"));
    assert_eq!(query_param("a=1&&user=", "user").as_deref(), Some(""));
    assert_eq!(query_param("user=a=b", "user").as_deref(), Some("a=b"));
}

#[test]
fn query_param_keeps_invalid_escapes_and_rejects_bad_utf8() {
    assert_eq!(query_param("x=100%", "x").as_deref(), Some("100%"));
    assert_eq!(query_param("x=%4", "x").as_deref(), Some("%4"));
    assert_eq!(query_param("x=%zz%41", "x").as_deref(), Some("%zzA"));
    assert_eq!(query_param("x=%%41", "x").as_deref(), Some("%A"));
    assert_eq!(query_param("x=%2B%2b", "x").as_deref(), Some("++"));
    assert_eq!(query_param("x=%FF", "x"), None);
    assert_eq!(query_param("x=%C3", "x"), None);
    assert_eq!(query_param("x=%C3%A9", "x").as_deref(), Some("é"));
    // Told apart from an absent value, so a bad `?user=` can be refused.
    assert_eq!(query_value("user=%ff%fe", "user"), Some(Err(NotUtf8)));
    assert_eq!(query_value("user=bob", "user"), Some(Ok("bob".into())));
    assert_eq!(query_value("x=1", "user"), None);
}

#[test]
fn content_type_is_read_once() {
    let head = b"POST /api/publish HTTP/1.1\r\nHost: h\r\nContent-Type: application/json; charset=utf-8\r\n\r\n";
    let (req, _) = parse_request(head, MAX_HEAD).unwrap().unwrap();
    assert_eq!(
        req.content_type.as_deref(),
        Some("application/json; charset=utf-8")
    );
    let dup = b"POST / HTTP/1.1\r\nContent-Type: a/b\r\ncontent-type: a/b\r\n\r\n";
    assert!(parse_request(dup, MAX_HEAD).is_err());
}

#[test]
fn response_bytes_are_exact() {
    let mut out = b"previous".to_vec();
    write_response(
        &mut out,
        404,
        "text/plain; charset=utf-8",
        &[],
        b"not found\n",
    );
    assert_eq!(
        out,
        b"previousHTTP/1.1 404 Not Found\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 10\r\n\
Connection: close\r\n\
\r\n\
not found\n"
    );
}

#[test]
fn response_without_content_type_with_extra_headers() {
    let mut out = Vec::new();
    write_response(
        &mut out,
        426,
        "",
        &["Sec-WebSocket-Version: 13", "Upgrade: websocket"],
        b"",
    );
    assert_eq!(
        out,
        b"HTTP/1.1 426 Upgrade Required\r\n\
Content-Length: 0\r\n\
Connection: close\r\n\
Sec-WebSocket-Version: 13\r\n\
Upgrade: websocket\r\n\
\r\n"
    );
}

#[test]
fn reason_phrases() {
    let expected = [
        (101, "Switching Protocols"),
        (200, "OK"),
        (204, "No Content"),
        (400, "Bad Request"),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (405, "Method Not Allowed"),
        (408, "Request Timeout"),
        (411, "Length Required"),
        (413, "Content Too Large"),
        (426, "Upgrade Required"),
        (431, "Request Header Fields Too Large"),
        (500, "Internal Server Error"),
        (503, "Service Unavailable"),
        (299, "Success"),
        (418, "Client Error"),
        (599, "Server Error"),
        (999, "Unknown"),
    ];
    for (status, phrase) in expected {
        assert_eq!(reason(status), phrase, "{status}");
    }
}
