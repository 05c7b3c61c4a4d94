//! `redis://[[user]:password@]host[:port][/db]`, as `--redis` takes it.

use std::fmt;

/// A parsed `--redis` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// Host name or IP.
    pub host: String,
    /// TCP port (6379 by default).
    pub port: u16,
    /// ACL user name (with a password), if given.
    pub user: Option<String>,
    /// AUTH password, if given.
    pub password: Option<String>,
    /// Database index for SELECT (0 by default).
    pub db: u32,
}

/// Parses a `redis://` URL; the error says what was expected.
pub fn parse_url(text: &str) -> Result<RedisUrl, &'static str> {
    const EXPECT: &str = "expected redis://[:password@]host[:port][/db]";
    let rest = text.strip_prefix("redis://").ok_or(EXPECT)?;
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((auth, rest)) => (Some(auth), rest),
        None => (None, rest),
    };
    let (hostport, db) = match rest.split_once('/') {
        Some((hp, "")) => (hp, 0),
        Some((hp, db)) => (hp, db.parse().map_err(|_| EXPECT)?),
        None => (rest, 0),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h, p.parse().map_err(|_| EXPECT)?)
        }
        _ => (hostport, 6379),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port == 0 {
        return Err(EXPECT);
    }
    let (user, password) = match auth {
        None => (None, None),
        Some(a) => match a.split_once(':') {
            Some(("", p)) => (None, Some(p.to_owned())),
            Some((u, p)) => (Some(u.to_owned()), Some(p.to_owned())),
            None => (None, Some(a.to_owned())),
        },
    };
    Ok(RedisUrl {
        host: host.to_owned(),
        port,
        user,
        password: password.filter(|p| !p.is_empty()),
        db,
    })
}

impl fmt::Display for RedisUrl {
    /// Host, port and db; never the password (this goes to logs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.host, self.port, self.db)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("redis://:pw@10.0.0.1:6380/2").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.password.as_deref(), u.db),
            ("10.0.0.1", 6380, Some("pw"), 2)
        );
        assert_eq!(u.to_string(), "10.0.0.1:6380/2");
        let u = parse_url("redis://localhost").unwrap();
        assert_eq!((u.port, u.db, u.password), (6379, 0, None));
        let u = parse_url("redis://me:pw@h/").unwrap();
        assert_eq!(u.user.as_deref(), Some("me"));
        for bad in [
            "http://x",
            "redis://",
            "redis://h:0",
            "redis://h:x",
            "redis://h/x",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
