//! The `--help` text and the flags' defaults as `--help` shows them.

use super::values::{show_bytes, show_secs};
use super::{Config, FLAGS, Flag};

/// The `--help` text: a usage line, then one line per flag with its env var and default.
pub(super) fn help_text() -> String {
    use std::fmt::Write as _;
    let defaults = Config::default();
    let mut text = format!(
        "loopcast {}: a single-threaded real-time WebSocket messaging server\n\n\
         Usage: loopcast [OPTIONS]\n\n\
         Every option can also be set by its environment variable; \
         flags win over the environment.\n\n\
         Options:\n",
        env!("CARGO_PKG_VERSION")
    );
    for spec in &FLAGS {
        let left = format!("--{} {}", spec.name, spec.metavar);
        let _ = write!(text, "  {left:<28} {} [env: {}]", spec.help, spec.env_var());
        match show_default(&defaults, spec.flag) {
            Some(default) => {
                let _ = writeln!(text, " [default: {default}]");
            }
            None => text.push('\n'),
        }
    }
    let _ = writeln!(text, "  {:<28} print this help and exit", "-h, --help");
    let _ = writeln!(text, "  {:<28} print the version and exit", "-V, --version");
    text
}

/// A field's value in the syntax its flag accepts; `None` when unset.
pub(super) fn show_default(config: &Config, flag: Flag) -> Option<String> {
    Some(match flag {
        Flag::Listen => config.listen.to_string(),
        Flag::MaxConnections => config.max_connections.to_string(),
        Flag::MaxMessage => show_bytes(config.max_message),
        Flag::MaxPending => show_bytes(config.max_pending),
        Flag::PingInterval => show_secs(config.ping_interval),
        Flag::IdleTimeout => show_secs(config.idle_timeout),
        Flag::HandshakeTimeout => show_secs(config.handshake_timeout),
        Flag::LogLevel => config.log_level.as_str().to_ascii_lowercase(),
        Flag::AllowedOrigins if config.allowed_origins.is_empty() => return None,
        Flag::AllowedOrigins => config.allowed_origins.join(","),
        Flag::AllowedHosts if config.allowed_hosts.is_empty() => return None,
        Flag::AllowedHosts => config.allowed_hosts.join(","),
        Flag::AuthSecret | Flag::ApiKey => return None,
        Flag::RateLimit => config.rate_limit.to_string(),
        Flag::History => config.history.to_string(),
        Flag::HistoryBytes => show_bytes(config.history_bytes?),
        Flag::MaxRooms => config.max_rooms.to_string(),
        Flag::MaxMemory => show_bytes(config.max_memory),
        Flag::BroadcastRate => config.broadcast_rate.to_string(),
        Flag::NotifyRate => config.notify_rate.to_string(),
        Flag::RawRateLimit => config.raw_rate_limit.to_string(),
        Flag::MaxConnectionsPerIp => config.max_connections_per_ip.to_string(),
        Flag::DataDir => return None,
        Flag::Fsync => config.fsync.as_str().to_owned(),
        Flag::RoomTtl => show_secs(config.room_ttl),
        Flag::MaxDisk => show_bytes(config.max_disk as usize),
        Flag::Compression => (if config.compression { "on" } else { "off" }).to_owned(),
        Flag::CompressionThreshold => show_bytes(config.compression_threshold),
        Flag::Redis | Flag::NodeId => return None,
        Flag::ReusePort => u8::from(config.reuse_port).to_string(),
        Flag::TlsCert | Flag::TlsKey => return None,
    })
}
