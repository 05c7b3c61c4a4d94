//! systemd integration with std only: `Type=notify` messages and socket activation.
//!
//! The notify protocol is one datagram per state change (`READY=1`,
//! `STOPPING=1`, `WATCHDOG=1`) sent to the Unix socket named by
//! `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). Socket
//! activation hands listeners over as fds from 3 on, announced by
//! `LISTEN_FDS` and `LISTEN_PID` (sd_listen_fds(3)). Both are a few lines with
//! `std::os::unix::net::UnixDatagram`, so no crate is needed.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

/// The first fd systemd passes (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: i32 = 3;

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Path(PathBuf),
    /// Linux abstract namespace (`NOTIFY_SOCKET=@name`).
    Abstract(Vec<u8>),
}

/// A connection to the service manager's notify socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    target: Target,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC`/`WATCHDOG_PID` through `env`;
    /// `Ok(None)` when not started by a service manager that wants notifications.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> io::Result<Option<Notifier>> {
        let Some(name) = env("NOTIFY_SOCKET").filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let target = match name.strip_prefix('@') {
            Some(abstract_name) => Target::Abstract(abstract_name.as_bytes().to_vec()),
            None => Target::Path(PathBuf::from(name)),
        };
        let watchdog = watchdog_interval(
            env("WATCHDOG_USEC").as_deref(),
            env("WATCHDOG_PID").as_deref(),
            std::process::id(),
        );
        Ok(Some(Notifier {
            socket: UnixDatagram::unbound()?,
            target,
            watchdog,
        }))
    }

    /// How often to send `WATCHDOG=1` (half the manager's timeout), if asked to.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Sends one notification (`READY=1`, `STOPPING=1`, `WATCHDOG=1`, ...).
    /// The datagram is tiny and the socket local, so this never blocks for long.
    pub fn notify(&self, state: &str) -> io::Result<()> {
        match &self.target {
            Target::Path(path) => self.socket.send_to(state.as_bytes(), path).map(drop),
            Target::Abstract(name) => send_abstract(&self.socket, name, state.as_bytes()),
        }
    }
}

#[cfg(target_os = "linux")]
fn send_abstract(socket: &UnixDatagram, name: &[u8], msg: &[u8]) -> io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    socket.send_to_addr(msg, &addr).map(drop)
}

#[cfg(not(target_os = "linux"))]
fn send_abstract(_: &UnixDatagram, _: &[u8], _: &[u8]) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract NOTIFY_SOCKET needs Linux",
    ))
}

/// Half of `WATCHDOG_USEC`, when it is meant for this process (`WATCHDOG_PID`
/// unset or ours), as sd_watchdog_enabled(3) says.
fn watchdog_interval(usec: Option<&str>, pid: Option<&str>, our_pid: u32) -> Option<Duration> {
    if pid.is_some_and(|p| p.trim().parse::<u32>().ok() != Some(our_pid)) {
        return None;
    }
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

/// How many listeners socket activation passed to this process (fds 3, 4, ...):
/// `LISTEN_FDS`, but only when `LISTEN_PID` names us (else they were meant
/// for a parent and leaked through the environment).
pub fn listen_fds(env: impl Fn(&str) -> Option<String>) -> usize {
    let ours = env("LISTEN_PID")
        .and_then(|p| p.trim().parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    if !ours {
        return 0;
    }
    env("LISTEN_FDS")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn watchdog_is_half_the_timeout_and_only_for_us() {
        let d = |usec, pid| watchdog_interval(usec, pid, 42);
        assert_eq!(d(Some("3000000"), None), Some(Duration::from_millis(1500)));
        assert_eq!(
            d(Some("3000000"), Some("42")),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(d(Some("3000000"), Some("41")), None);
        assert_eq!(d(Some("0"), None), None);
        assert_eq!(d(Some("soon"), None), None);
        assert_eq!(d(None, None), None);
    }

    #[test]
    fn listen_fds_needs_our_pid() {
        let pid = std::process::id().to_string();
        let ours = env(&[("LISTEN_PID", pid.clone()), ("LISTEN_FDS", "1".into())]);
        assert_eq!(listen_fds(ours), 1);
        let other = env(&[("LISTEN_PID", "1".into()), ("LISTEN_FDS", "1".into())]);
        assert_eq!(listen_fds(other), 0);
        assert_eq!(listen_fds(env(&[("LISTEN_FDS", "2".into())])), 0);
        assert_eq!(listen_fds(env(&[("LISTEN_PID", pid)])), 0);
    }

    #[test]
    fn notifications_reach_the_socket() {
        let dir = std::env::temp_dir().join(format!("loopcast-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let manager = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::from_env(env(&[
            ("NOTIFY_SOCKET", path.display().to_string()),
            ("WATCHDOG_USEC", "200000".into()),
        ]))
        .unwrap()
        .expect("NOTIFY_SOCKET is set");
        assert_eq!(n.watchdog(), Some(Duration::from_millis(100)));
        n.notify("READY=1").unwrap();
        let mut buf = [0u8; 64];
        let len = manager.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");
        assert!(Notifier::from_env(env(&[])).unwrap().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
