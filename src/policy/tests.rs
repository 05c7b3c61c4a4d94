//! Tests of the route policy: hosts, origins, the publish preflight, user names, health JSON.

use super::*;

const LOOPBACK: &str = "127.0.0.1:8080";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn req(origin: Option<&str>, host: &str) -> Request {
    Request {
        origin: origin.map(str::to_owned),
        host: Some(host.to_owned()),
        ..Request::default()
    }
}

fn config(origins: &[&str], hosts: &[&str]) -> Config {
    Config {
        allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
        allowed_hosts: hosts.iter().map(|s| s.to_string()).collect(),
        ..Config::default()
    }
}

#[test]
fn hostnames_drop_port_and_trailing_dot() {
    assert_eq!(hostname("localhost:8080"), "localhost");
    assert_eq!(hostname("localhost."), "localhost");
    assert_eq!(hostname("[::1]:80"), "[::1]");
    assert_eq!(hostname("[::1]"), "[::1]");
    assert_eq!(hostname("a.example"), "a.example");
}

#[test]
fn default_hosts_follow_the_listen_address() {
    let lo = addr(LOOPBACK);
    for ok in [
        "localhost:8080",
        "127.0.0.1:8080",
        "[::1]:8080",
        "LOCALHOST",
        "localhost.",
    ] {
        assert!(host_allowed(&[], lo, Some(ok)), "{ok}");
    }
    // DNS rebinding: the attacker's name resolves to us, the Host header still says it.
    for bad in [
        "evil.example:8080",
        "127.0.0.1.nip.io",
        "localhost.evil.example",
        "",
    ] {
        assert!(!host_allowed(&[], lo, Some(bad)), "{bad}");
    }
    assert!(host_allowed(&[], lo, None), "no Host: not a browser");
    assert!(host_allowed(&[], addr("[::1]:80"), Some("localhost")));
    // A specific address allows its literal only; 0.0.0.0 / [::] allow any.
    let lan = addr("192.168.1.5:8080");
    assert!(host_allowed(&[], lan, Some("192.168.1.5:8080")));
    assert!(!host_allowed(&[], lan, Some("localhost:8080")));
    let lan6 = addr("[fd00::5]:80");
    assert!(host_allowed(&[], lan6, Some("[fd00:0::5]")));
    assert!(!host_allowed(&[], lan6, Some("fd00::5")));
    assert!(host_allowed(&[], addr("0.0.0.0:80"), Some("anything")));
    assert!(host_allowed(&[], addr("[::]:80"), Some("anything")));
}

#[test]
fn a_host_list_replaces_the_default() {
    let list = ["chat.example".to_string(), "[::1]".to_string()];
    let any = addr("0.0.0.0:80");
    assert!(host_allowed(&list, any, Some("Chat.Example:443")));
    assert!(host_allowed(&list, any, Some("[::1]:80")));
    assert!(!host_allowed(&list, any, Some("localhost")));
    assert!(host_allowed(&["*".into()], addr(LOOPBACK), Some("x")));
}

#[test]
fn origins() {
    let lo = addr(LOOPBACK);
    let none = config(&[], &[]);
    let host = "localhost:8080";
    assert!(origin_allowed(&none, lo, &req(None, host)));
    assert!(origin_allowed(
        &none,
        lo,
        &req(Some("http://localhost:8080"), host)
    ));
    assert!(origin_allowed(
        &none,
        lo,
        &req(Some("https://LOCALHOST:8080"), host)
    ));
    assert!(!origin_allowed(
        &none,
        lo,
        &req(Some("http://localhost:3000"), host)
    ));
    assert!(!origin_allowed(&none, lo, &req(Some("http://evil"), host)));
    assert!(!origin_allowed(&none, lo, &req(Some("null"), host)));
    let list = config(&["https://app.example"], &[]);
    assert!(origin_allowed(
        &list,
        lo,
        &req(Some("https://app.example"), host)
    ));
    assert!(!origin_allowed(
        &list,
        lo,
        &req(Some("https://other.example"), host)
    ));
    assert!(origin_allowed(
        &config(&["*"], &[]),
        lo,
        &req(Some("http://x"), host)
    ));
}

#[test]
fn same_host_origin_uses_allowed_hosts_not_the_raw_host() {
    // A rebound page: Origin and Host agree, but name the attacker.
    let rebound = req(Some("http://evil.example:8080"), "evil.example:8080");
    assert!(!origin_allowed(&config(&[], &[]), addr(LOOPBACK), &rebound));
    let listed = config(&[], &["evil.example"]);
    assert!(origin_allowed(&listed, addr(LOOPBACK), &rebound));
    // On 0.0.0.0 without a list any host is ours: same host is all we can check.
    assert!(origin_allowed(
        &config(&[], &[]),
        addr("0.0.0.0:8080"),
        &rebound
    ));
}

fn publish_req(origin: Option<&str>, content_type: Option<&str>, auth: Option<&str>) -> Request {
    Request {
        origin: origin.map(str::to_owned),
        host: Some("127.0.0.1:8080".into()),
        content_type: content_type.map(str::to_owned),
        authorization: auth.map(str::to_owned),
        ..Request::default()
    }
}

#[test]
fn publish_needs_json_and_an_allowed_origin() {
    let lo = addr(LOOPBACK);
    let open = Config::default();
    let json = Some("application/json");
    assert_eq!(
        publish_check(&open, lo, &publish_req(None, json, None)),
        Ok(())
    );
    let utf8 = Some("Application/JSON; charset=utf-8");
    assert_eq!(
        publish_check(&open, lo, &publish_req(None, utf8, None)),
        Ok(())
    );
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
    ] {
        let r = publish_check(&open, lo, &publish_req(None, ct, None)).unwrap_err();
        assert_eq!(r.status, 415, "{ct:?}");
    }
    // What a page elsewhere sends: refused whatever its content type.
    let page = publish_req(Some("http://evil.example"), Some("text/plain"), None);
    assert_eq!(publish_check(&open, lo, &page).unwrap_err().status, 403);
    let same = publish_req(Some("http://127.0.0.1:8080"), json, None);
    assert_eq!(publish_check(&open, lo, &same), Ok(()));
}

#[test]
fn publish_key_is_checked_and_required_off_loopback() {
    let json = Some("application/json");
    let keyed = Config {
        api_key: Some("k".into()),
        ..Config::default()
    };
    let lo = addr(LOOPBACK);
    let r = publish_check(&keyed, lo, &publish_req(None, json, None)).unwrap_err();
    assert_eq!(r.status, 401);
    let r = publish_check(&keyed, lo, &publish_req(None, json, Some("Bearer x"))).unwrap_err();
    assert_eq!(r.status, 401);
    // The key is checked before the content type: a guess learns nothing else.
    let r = publish_check(&keyed, lo, &publish_req(None, None, Some("Bearer x"))).unwrap_err();
    assert_eq!(r.status, 401);
    assert_eq!(
        publish_check(&keyed, lo, &publish_req(None, json, Some("Bearer k"))),
        Ok(())
    );
    let public = addr("0.0.0.0:8080");
    let r = publish_check(&Config::default(), public, &publish_req(None, json, None)).unwrap_err();
    assert_eq!(r.status, 403);
    assert_eq!(
        publish_check(&keyed, public, &publish_req(None, json, Some("Bearer k"))),
        Ok(())
    );
}

#[test]
fn bearer_tokens() {
    let mut r = Request {
        authorization: Some("Bearer abc.def".into()),
        ..Request::default()
    };
    assert_eq!(bearer(&r), Some("abc.def"));
    r.authorization = Some("Basic xyz".into());
    assert_eq!(bearer(&r), None);
}

#[test]
fn plain_user_names_pass() {
    for ok in [
        "alice",
        "Bob Smith",
        "servers",
        "server2",
        "my server",
        "日本語",
        "émile",
        "🦀",
    ] {
        assert_eq!(check_user(ok), Ok(()), "{ok}");
    }
}

#[test]
fn user_names_that_look_reserved_are_refused() {
    assert_eq!(check_user("server"), Err(UserError::Reserved));
    assert_eq!(check_user("Server"), Err(UserError::Reserved));
    assert_eq!(check_user("SERVER"), Err(UserError::Reserved));
    assert_eq!(check_user("server "), Err(UserError::Padded));
    assert_eq!(check_user(" server"), Err(UserError::Padded));
    assert_eq!(check_user("ser ver"), Err(UserError::Reserved));
    assert_eq!(
        check_user("ser\u{200B}ver"),
        Err(UserError::Reserved),
        "zero-width space"
    );
    assert_eq!(
        check_user("\u{FEFF}server"),
        Err(UserError::Reserved),
        "BOM"
    );
    assert_eq!(
        check_user("serv\u{00AD}er"),
        Err(UserError::Reserved),
        "soft hyphen"
    );
    assert_eq!(
        check_user("s\u{0435}rv\u{0435}r"),
        Err(UserError::Reserved),
        "Cyrillic e"
    );
    assert_eq!(
        check_user("\u{0455}erver"),
        Err(UserError::Reserved),
        "Cyrillic dze"
    );
    assert_eq!(
        check_user("ｓｅｒｖｅｒ"),
        Err(UserError::Reserved),
        "full width"
    );
    assert_eq!(check_user("𝐬𝐞𝐫𝐯𝐞𝐫"), Err(UserError::Reserved), "math bold");
    assert_eq!(check_user("𝖲𝖾𝗋𝗏𝖾𝗋"), Err(UserError::Reserved), "math sans");
    assert_eq!(check_user("serνer"), Err(UserError::Reserved), "Greek nu");
    // RTL override: displays as "server" while holding "revres".
    assert_eq!(check_user("\u{202E}revres"), Err(UserError::Bidi));
    assert_eq!(check_user("a\u{2067}b"), Err(UserError::Bidi));
}

#[test]
fn unprintable_user_names_are_refused() {
    assert_eq!(check_user(""), Err(UserError::NotPrintable));
    assert_eq!(check_user("a\nb"), Err(UserError::NotPrintable));
    assert_eq!(check_user(&"x".repeat(65)), Err(UserError::NotPrintable));
    assert_eq!(check_user(&"é".repeat(64)), Ok(()));
    assert_eq!(
        check_user("\u{3000}x"),
        Err(UserError::Padded),
        "ideographic space"
    );
}

#[test]
fn health_is_json() {
    let v: serde_json::Value = serde_json::from_str(&health_json(3, 2, 9)).unwrap();
    assert_eq!(v["connections"], 3);
    assert_eq!(v["rooms"], 2);
    assert_eq!(v["uptime_s"], 9);
}
