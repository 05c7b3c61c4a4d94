//! Value syntaxes of the flags: addresses, counts, byte sizes, seconds, levels, origins.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

pub(super) const EXPECT_ADDR: &str =
    "expected an address like 127.0.0.1:8080, [::]:8080, localhost:8080 or :8080";
pub(super) const EXPECT_COUNT: &str = "expected a whole number like 100";
pub(super) const EXPECT_BYTES: &str = "expected bytes like 1048576 or 1MiB";
pub(super) const EXPECT_SECS: &str = "expected seconds like 30, 0.5 or 500ms";
pub(super) const EXPECT_LEVEL: &str = "expected one of off, error, warn, info, debug, trace";
pub(super) const EXPECT_HOSTS: &str =
    "expected host names without port like example.com,192.168.1.10,[fd00::1] (or *)";
pub(super) const EXPECT_ORIGINS: &str =
    "expected origins like https://example.com,http://localhost:8080 (or * or null)";

/// `on` or `off`; `on` only in a build with the `deflate` feature.
pub(super) fn parse_compression(value: &str) -> Result<bool, &'static str> {
    match value.trim().to_ascii_lowercase().as_str() {
        "off" => Ok(false),
        "on" if cfg!(feature = "deflate") => Ok(true),
        "on" => Err("this build has no deflate feature; only off"),
        _ => Err("expected on or off"),
    }
}

pub(super) fn parse_listen(value: &str) -> Option<SocketAddr> {
    let value = value.trim();
    if let Ok(addr) = value.parse() {
        return Some(addr);
    }
    let port = match value.split_once(':') {
        Some((host, port)) if host.is_empty() || host.eq_ignore_ascii_case("localhost") => port,
        Some(_) => return None,
        None => value,
    };
    let port = parse_count(port).ok()?;
    Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// Digits only: `str::parse` alone would also take `+5`.
pub(super) fn parse_count<T: std::str::FromStr>(value: &str) -> Result<T, &'static str> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EXPECT_COUNT);
    }
    value.parse().map_err(|_| EXPECT_COUNT)
}

/// Plain bytes or a binary (1024-based) K/M/G suffix: `64K`, `64KB`, `1MiB`.
pub(super) fn parse_bytes(value: &str) -> Result<usize, &'static str> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, suffix) = value.split_at(split);
    let unit: usize = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(EXPECT_BYTES),
    };
    let n: usize = parse_count(digits).map_err(|_| EXPECT_BYTES)?;
    n.checked_mul(unit).ok_or(EXPECT_BYTES)
}

/// `30`, `0.5`, `2s` or `500ms`, exactly (no floating point).
pub(super) fn parse_secs(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Some(ms) = value.strip_suffix("ms") {
        return parse_count(ms).ok().map(Duration::from_millis);
    }
    let value = value.strip_suffix('s').unwrap_or(value);
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let secs: u64 = parse_count(whole).ok()?;
    if value.contains('.') && (fraction.is_empty() || fraction.len() > 9) {
        return None;
    }
    let nanos = if fraction.is_empty() {
        0
    } else {
        let digits: u32 = parse_count(fraction).ok()?;
        digits * 10u32.pow(9 - fraction.len() as u32)
    };
    Some(Duration::new(secs, nanos))
}

pub(super) fn parse_level(value: &str) -> Option<log::LevelFilter> {
    let value = value.trim();
    [
        log::LevelFilter::Off,
        log::LevelFilter::Error,
        log::LevelFilter::Warn,
        log::LevelFilter::Info,
        log::LevelFilter::Debug,
        log::LevelFilter::Trace,
    ]
    .into_iter()
    .find(|level| level.as_str().eq_ignore_ascii_case(value))
}

/// Browsers send `scheme://host[:port]` with no path, so a trailing `/` is
/// dropped; an entry without a scheme could never match and is refused.
pub(super) fn parse_origins(value: &str) -> Result<Vec<String>, &'static str> {
    value
        .split(',')
        .map(|entry| entry.trim().trim_end_matches('/'))
        .filter(|entry| !entry.is_empty())
        .map(|entry| match entry {
            "*" | "null" => Ok(entry.to_owned()),
            _ if entry.contains("://") => Ok(entry.to_owned()),
            _ => Err(EXPECT_ORIGINS),
        })
        .collect()
}

/// Host names as the `Host` header gives them, without a port: `example.com`,
/// `192.168.1.10`, `[fd00::1]`, or `*`. Lower-cased, as names compare without case.
pub(super) fn parse_hosts(value: &str) -> Result<Vec<String>, &'static str> {
    let hosts: Vec<String> = value
        .split(',')
        .map(|entry| entry.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|entry| !entry.is_empty())
        .collect();
    let valid = |h: &String| {
        h == "*"
            || (h.starts_with('[')
                && h.ends_with(']')
                && h[1..h.len() - 1].parse::<std::net::Ipv6Addr>().is_ok())
            || (!h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'))
    };
    if hosts.is_empty() || !hosts.iter().all(valid) {
        return Err(EXPECT_HOSTS);
    }
    Ok(hosts)
}

/// Secrets are kept exactly as given; only an empty one is refused.
pub(super) fn non_empty(value: &str) -> Result<String, &'static str> {
    if value.is_empty() {
        return Err("expected a non-empty value");
    }
    Ok(value.to_owned())
}

/// `1048576` -> `1MiB`, `65536` -> `64KiB`, else plain bytes.
pub(super) fn show_bytes(n: usize) -> String {
    match n {
        0 => "0".to_owned(),
        n if n % (1 << 30) == 0 => format!("{}GiB", n >> 30),
        n if n % (1 << 20) == 0 => format!("{}MiB", n >> 20),
        n if n % (1 << 10) == 0 => format!("{}KiB", n >> 10),
        n => n.to_string(),
    }
}

/// `30s`, `0.5s`, `1.25s`: the shortest exact form [`parse_secs`] reads back.
pub(super) fn show_secs(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        return format!("{}s", d.as_secs());
    }
    let fraction = format!("{nanos:09}");
    format!("{}.{}s", d.as_secs(), fraction.trim_end_matches('0'))
}

/// A `redis://` URL, checked at start so a typo exits 2 instead of retrying forever.
pub(super) fn parse_redis(value: &str) -> Result<String, &'static str> {
    #[cfg(feature = "redis")]
    {
        let value = value.trim();
        crate::engine::parse_url(value)?;
        Ok(value.to_owned())
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = value;
        Err("this build has no Redis engine (cargo feature redis)")
    }
}

/// 1-64 of `[A-Za-z0-9_.-]`: it goes into Redis keys, payloads and connection ids.
pub(super) fn parse_node_id(value: &str) -> Result<String, &'static str> {
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(value.to_owned())
    } else {
        Err("expected 1-64 characters of A-Z a-z 0-9 _ . -")
    }
}

/// `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`.
pub(super) fn parse_switch(value: &str) -> Result<bool, &'static str> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected 1 or 0"),
    }
}
