//! Command-line flags and `LOOPCAST_*` environment variables, with defaults.
//!
//! SKELETON: the public API below is fixed; bodies are to be written.

use std::net::SocketAddr;
use std::time::Duration;

/// Everything the server can be told at start. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `--listen` (127.0.0.1:8080).
    pub listen: SocketAddr,
    /// `--max-connections` (10 000): further clients get 503.
    pub max_connections: usize,
    /// `--max-message` bytes (64 KiB): larger messages close with 1009.
    pub max_message: usize,
    /// `--max-pending` bytes (1 MiB): a client with more unsent output closes with 1013.
    pub max_pending: usize,
    /// `--ping-interval` (30 s).
    pub ping_interval: Duration,
    /// `--idle-timeout` (60 s): a client that sent nothing for this long is closed.
    pub idle_timeout: Duration,
    /// `--handshake-timeout` (10 s): the HTTP request must be complete by then.
    pub handshake_timeout: Duration,
    /// `--log-level` (info).
    pub log_level: log::LevelFilter,
    /// `--allowed-origins` comma list; empty means same host or no Origin.
    pub allowed_origins: Vec<String>,
    /// `--auth-secret`: enables HS256 JWT checks at upgrade.
    pub auth_secret: Option<String>,
    /// `--api-key`: required as `Authorization: Bearer` on `/api/publish`.
    pub api_key: Option<String>,
    /// `--rate-limit` messages per second per `/ws` connection (50; burst is twice that).
    pub rate_limit: u32,
    /// `--history` messages kept per room (32).
    pub history: usize,
    /// `--max-rooms` per connection (128).
    pub max_rooms: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_connections: 10_000,
            max_message: 64 * 1024,
            max_pending: 1024 * 1024,
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            log_level: log::LevelFilter::Info,
            allowed_origins: Vec::new(),
            auth_secret: None,
            api_key: None,
            rate_limit: 50,
            history: 32,
            max_rooms: 128,
        }
    }
}

/// Why the command line did not give a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `--help` or `--version` was asked for: print this text to stdout, exit 0.
    Help(String),
    /// A bad flag or value: print this one line to stderr, exit 2.
    Invalid(String),
}

impl Config {
    /// Parses flags (`args` without the program name) over `LOOPCAST_*` variables
    /// from `env` over the defaults; flags win over env.
    pub fn parse(
        args: impl IntoIterator<Item = std::ffi::OsString>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let _ = (args.into_iter(), env);
        unimplemented!("config::Config::parse")
    }
}
