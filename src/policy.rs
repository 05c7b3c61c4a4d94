//! Route policy, pure: which hosts, origins, keys and user names a request may use, and the health JSON.
//!
//! The reactor asks these questions and sends the answers; nothing here touches
//! sockets or the clock (the failure budget takes `now` as an argument), so
//! every rule is unit-tested on its own.

mod failures;
mod names;

use std::net::{IpAddr, SocketAddr};

use crate::config::Config;
use crate::http::Request;

pub use failures::FailureBudget;
pub use names::{UserError, check_user};

/// A request refused before any body is read: status, extra headers, body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub content_type: &'static str,
    pub extra: &'static [&'static str],
    pub body: &'static [u8],
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

const fn refuse(status: u16, body: &'static [u8]) -> Refusal {
    Refusal {
        status,
        content_type: TEXT,
        extra: &[],
        body,
    }
}

const fn refuse_json(status: u16, body: &'static [u8]) -> Refusal {
    Refusal {
        status,
        content_type: JSON,
        extra: &[],
        body,
    }
}

/// Answer to a request whose `Host` is not allowed (anti DNS rebinding).
pub const HOST_REFUSED: Refusal = refuse(403, b"host not allowed (see --allowed-hosts)\n");
/// Answer to a browser request from an origin that is not allowed.
pub const ORIGIN_REFUSED: Refusal = refuse(403, b"origin not allowed\n");
/// Answer to a failed token: it deliberately does not say what was wrong with it.
pub const UNAUTHORIZED: Refusal = Refusal {
    status: 401,
    content_type: TEXT,
    extra: &["WWW-Authenticate: Bearer"],
    body: b"unauthorized\n",
};
/// Answer while an address has used up its failure budget.
pub const TOO_MANY_FAILURES: Refusal = Refusal {
    status: 429,
    content_type: TEXT,
    extra: &["Retry-After: 60"],
    body: b"too many failed attempts; try again later\n",
};

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(req: &Request) -> Option<&str> {
    let value = req.authorization.as_deref()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The host part of a `Host` header or an Origin's authority: the port and a
/// trailing dot (`localhost.` resolves like `localhost`) are dropped.
pub fn hostname(authority: &str) -> &str {
    let name = if authority.starts_with('[') {
        // [v6]:port
        authority
            .find(']')
            .map_or(authority, |end| &authority[..=end])
    } else {
        match authority.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => authority,
        }
    };
    name.strip_suffix('.').unwrap_or(name)
}

/// Whether a request naming `host` may be served (answered 403 otherwise).
///
/// DNS rebinding points an attacker's name at our address, so the page's
/// requests arrive here with `Host: attacker.example`: naming only our own
/// names defeats it. `allowed` is `--allowed-hosts` (`*` = any); empty means
/// the `--listen` address's names: `localhost`, `127.0.0.1` and `[::1]` on a
/// loopback address, the address itself on any other, and any host on
/// `0.0.0.0` / `[::]` (where we cannot know our names: set the flag there).
/// A request without `Host` (HTTP/1.0 tools) is not a browser's and passes.
pub fn host_allowed(allowed: &[String], listen: SocketAddr, host: Option<&str>) -> bool {
    let Some(host) = host else {
        return true;
    };
    let name = hostname(host);
    if !allowed.is_empty() {
        return allowed
            .iter()
            .any(|a| a == "*" || a.eq_ignore_ascii_case(name));
    }
    match listen.ip() {
        ip if ip.is_unspecified() => true,
        ip if ip.is_loopback() => ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .any(|own| own.eq_ignore_ascii_case(name)),
        IpAddr::V4(ip) => name == ip.to_string(),
        IpAddr::V6(ip) => name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .and_then(|n| n.parse().ok())
            .is_some_and(|n: std::net::Ipv6Addr| n == ip),
    }
}

/// Browsers send `Origin`; other clients do not, and Origin checks only protect browsers.
///
/// Allowed: no Origin, one in `--allowed-origins` (`*` = any), or one naming
/// the request's own `Host` (same host and port) when that host is itself an
/// allowed host, so a rebound name cannot pass as "same host".
pub fn origin_allowed(config: &Config, listen: SocketAddr, req: &Request) -> bool {
    let Some(origin) = req.origin.as_deref() else {
        return true;
    };
    if config
        .allowed_origins
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    !authority.is_empty()
        && req
            .host
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(authority))
        && host_allowed(&config.allowed_hosts, listen, Some(authority))
}

/// Checks a `POST /api/publish` head before any of its body is read.
///
/// Without `--api-key`, only what a browser cannot do is refused: a page
/// elsewhere can send a "simple" cross-site POST (`text/plain`, a form) but not
/// `application/json` without a CORS preflight we never answer, and it always
/// sends its `Origin`. So JSON only (415), browsers only from allowed origins
/// (403), and on a non-loopback address no key means no API at all (403): a
/// LAN or the internet must not be able to post as "server".
pub fn publish_check(config: &Config, listen: SocketAddr, req: &Request) -> Result<(), Refusal> {
    if !origin_allowed(config, listen, req) {
        return Err(refuse_json(403, b"{\"error\":\"origin not allowed\"}\n"));
    }
    match &config.api_key {
        None if !listen.ip().is_loopback() => {
            return Err(refuse_json(
                403,
                b"{\"error\":\"/api/publish needs --api-key when not listening on loopback\"}\n",
            ));
        }
        None => {}
        Some(key) => {
            let given = bearer(req).unwrap_or("");
            if !crate::secret::constant_time_eq(given.as_bytes(), key.as_bytes()) {
                return Err(Refusal {
                    status: 401,
                    content_type: JSON,
                    extra: &["WWW-Authenticate: Bearer"],
                    body: b"{\"error\":\"missing or wrong API key\"}\n",
                });
            }
        }
    }
    if !is_json(req.content_type.as_deref()) {
        return Err(refuse_json(
            415,
            b"{\"error\":\"Content-Type must be application/json\"}\n",
        ));
    }
    Ok(())
}

/// `application/json`, any case, parameters (`; charset=utf-8`) allowed.
fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// The `/healthz` body.
pub fn health_json(connections: usize, rooms: usize, uptime_s: u64) -> String {
    format!(
        "{{\"status\":\"ok\",\"connections\":{connections},\"rooms\":{rooms},\"uptime_s\":{uptime_s}}}\n"
    )
}

#[cfg(test)]
mod tests;
