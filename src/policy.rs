//! Route policy, pure: which origins, tokens and user names a request may use, and the health JSON.
//!
//! The reactor asks these questions and sends the answers; nothing here touches
//! sockets or the clock, so every rule is unit-tested on its own.

use crate::http::Request;

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(req: &Request) -> Option<&str> {
    let value = req.authorization.as_deref()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares secrets without leaking the position of the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Browsers send `Origin`; other clients do not, and Origin checks only protect browsers.
/// Allowed: no Origin, an Origin naming the same host as `Host`, or one in the list (`*` = any).
pub fn origin_allowed(allowed: &[String], req: &Request) -> bool {
    let Some(origin) = req.origin.as_deref() else {
        return true;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    req.host
        .as_deref()
        .is_some_and(|h| !host.is_empty() && h.eq_ignore_ascii_case(host))
}

/// Why a user name is refused at upgrade (answered 400).
pub const BAD_USER: &[u8] = b"user must be 1-64 printable characters, and not \"server\"\n";

/// "server" is reserved: it marks messages from the publish API.
pub fn user_allowed(name: &str) -> bool {
    !(name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(char::is_control)
        || name == "server")
}

/// The `/healthz` body.
pub fn health_json(connections: usize, rooms: usize, uptime_s: u64) -> String {
    format!(
        "{{\"status\":\"ok\",\"connections\":{connections},\"rooms\":{rooms},\"uptime_s\":{uptime_s}}}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(origin: Option<&str>, host: &str) -> Request {
        Request {
            origin: origin.map(str::to_owned),
            host: Some(host.to_owned()),
            ..Request::default()
        }
    }

    #[test]
    fn origins() {
        let none: Vec<String> = Vec::new();
        assert!(origin_allowed(&none, &req(None, "a:1")));
        assert!(origin_allowed(&none, &req(Some("http://a:1"), "a:1")));
        assert!(origin_allowed(&none, &req(Some("https://A:1"), "a:1")));
        assert!(!origin_allowed(&none, &req(Some("http://evil"), "a:1")));
        assert!(!origin_allowed(&none, &req(Some("null"), "a:1")));
        let list = vec!["https://app.example".to_owned()];
        assert!(origin_allowed(
            &list,
            &req(Some("https://app.example"), "a:1")
        ));
        assert!(!origin_allowed(
            &list,
            &req(Some("https://other.example"), "a:1")
        ));
        assert!(origin_allowed(
            &["*".to_owned()],
            &req(Some("http://x"), "a:1")
        ));
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
        assert!(constant_time_eq(b"k1", b"k1"));
        assert!(!constant_time_eq(b"k1", b"k2"));
        assert!(!constant_time_eq(b"k1", b"k10"));
    }

    #[test]
    fn health_is_json() {
        let v: serde_json::Value = serde_json::from_str(&health_json(3, 2, 9)).unwrap();
        assert_eq!(v["connections"], 3);
        assert_eq!(v["rooms"], 2);
        assert_eq!(v["uptime_s"], 9);
    }
}
