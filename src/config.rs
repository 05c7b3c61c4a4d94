//! Command-line flags and `LOOPCAST_*` environment variables, with defaults.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use lexopt::Arg;

use flags::{FLAGS, Flag};

use crate::hub::store::Fsync;
use crate::limits;

use values::{
    EXPECT_ADDR, EXPECT_LEVEL, EXPECT_SECS, non_empty, parse_bytes, parse_compression, parse_count,
    parse_hosts, parse_level, parse_listen, parse_origins, parse_secs, show_bytes, show_secs,
};

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
    /// `--allowed-hosts` comma list of names a request's `Host` may give (port
    /// ignored; `*` = any); empty means derived from `--listen`, see
    /// [`crate::policy::host_allowed`].
    pub allowed_hosts: Vec<String>,
    /// `--auth-secret`: enables HS256 JWT checks at upgrade.
    pub auth_secret: Option<String>,
    /// `--api-key`: required as `Authorization: Bearer` on `/api/publish`.
    pub api_key: Option<String>,
    /// `--rate-limit` messages per second per `/ws` connection (50; burst is twice that).
    pub rate_limit: u32,
    /// `--history` messages kept per room (32).
    pub history: usize,
    /// `--history-bytes` kept per room; `None`: a quarter of `max_pending`
    /// (see [`Config::history_bytes`]).
    pub history_bytes: Option<usize>,
    /// `--max-rooms` per connection (128).
    pub max_rooms: usize,
    /// `--max-memory` bytes (64 MiB): the budget for everything the server buffers.
    pub max_memory: usize,
    /// `--broadcast-rate` `broadcast` actions per second per `/ws` connection (5; burst twice that).
    pub broadcast_rate: u32,
    /// `--notify-rate` notifications per second one user may receive (20; burst twice that).
    pub notify_rate: u32,
    /// `--raw-rate-limit` messages per second per `/broadcast` connection (0: unlimited).
    pub raw_rate_limit: u32,
    /// `--max-connections-per-ip` (0: no per-address cap).
    pub max_connections_per_ip: usize,
    /// `--data-dir`: keep rooms, history and seq there (unset: memory only).
    pub data_dir: Option<PathBuf>,
    /// `--fsync` (interval): when the data dir's journal is synced.
    pub fsync: Fsync,
    /// `--room-ttl` (24 h): how long an empty room's history is kept.
    pub room_ttl: Duration,
    /// `--max-disk` bytes (256 MiB) the data dir may use.
    pub max_disk: u64,
    /// `--redis URL`: run as one node of a cluster over this Redis (unset: one node, in memory).
    pub redis: Option<String>,
    /// `--node-id`: this node's name in the cluster (unset: host name and pid).
    pub node_id: Option<String>,
    /// `--reuse-port`: SO_REUSEPORT on the listener, so several processes share the port.
    pub reuse_port: bool,
    /// `--compression` (on when built with the `deflate` feature): accept
    /// permessage-deflate offers.
    pub compression: bool,
    /// `--compression-threshold` bytes (256): shorter messages go out uncompressed.
    pub compression_threshold: usize,
    /// `--tls-cert` PEM chain: with `tls_key`, the listener speaks TLS (feature `tls`).
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key` PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_connections: limits::DEFAULT_MAX_CONNECTIONS,
            max_message: limits::DEFAULT_MAX_MESSAGE,
            max_pending: limits::DEFAULT_MAX_PENDING,
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            log_level: log::LevelFilter::Info,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            auth_secret: None,
            api_key: None,
            rate_limit: limits::DEFAULT_RATE_LIMIT,
            history: limits::DEFAULT_HISTORY,
            history_bytes: None,
            max_rooms: limits::DEFAULT_MAX_ROOMS,
            max_memory: limits::DEFAULT_MAX_MEMORY,
            broadcast_rate: limits::DEFAULT_BROADCAST_RATE,
            notify_rate: limits::DEFAULT_NOTIFY_RATE,
            raw_rate_limit: 0,
            max_connections_per_ip: 0,
            data_dir: None,
            fsync: Fsync::Interval,
            room_ttl: limits::DEFAULT_ROOM_TTL,
            max_disk: limits::DEFAULT_MAX_DISK,
            redis: None,
            node_id: None,
            reuse_port: false,
            compression: cfg!(feature = "deflate"),
            compression_threshold: limits::DEFAULT_COMPRESSION_THRESHOLD,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// What `--fsync` accepts.
const EXPECT_FSYNC: &str = "expected turn, interval or never";

/// Why the command line did not give a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `--help` or `--version` was asked for: print this text to stdout, exit 0.
    Help(String),
    /// A bad flag or value: print this one line to stderr, exit 2.
    Invalid(String),
}

impl Config {
    /// Bytes of message events kept per room: `--history-bytes`, else a
    /// quarter of `--max-pending`, so a joiner's `room` answer leaves room
    /// in its output queue for the messages that follow.
    pub fn history_bytes(&self) -> usize {
        self.history_bytes.unwrap_or(self.max_pending / 4)
    }

    /// Parses flags (`args` without the program name) over `LOOPCAST_*` variables
    /// from `env` over the defaults; flags win over env.
    ///
    /// An empty variable counts as unset, as container tools often pass
    /// `LOOPCAST_X=` for "not configured". A variable is not even read when
    /// its flag is given, so a bad value there cannot block a good flag.
    #[cold] // start-up only: grouped with the other cold code, off the loop's pages
    pub fn parse(
        args: impl IntoIterator<Item = OsString>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let given = read_args(args)?;
        let mut config = Config::default();
        let mut sources: [Option<String>; FLAGS.len()] = Default::default();
        for spec in &FLAGS {
            if given.iter().any(|(flag, _)| *flag == spec.flag) {
                continue;
            }
            let var = spec.env_var();
            if let Some(value) = env(&var).filter(|v| !v.is_empty()) {
                config
                    .set(spec.flag, &value)
                    .map_err(|why| invalid(&value, &var, why))?;
                sources[spec.flag as usize] = Some(var);
            }
        }
        for (flag, value) in &given {
            let option = format!("--{}", FLAGS[*flag as usize].name);
            config
                .set(*flag, value)
                .map_err(|why| invalid(value, &option, why))?;
            sources[*flag as usize] = Some(option);
        }
        config.check(&sources)?;
        Ok(config)
    }

    /// Stores one flag's value; the error is what was expected instead.
    #[cold] // start-up only: grouped with the other cold code, off the loop's pages
    fn set(&mut self, flag: Flag, value: &str) -> Result<(), &'static str> {
        const POSITIVE: &str = "must be greater than 0";
        match flag {
            Flag::Listen => self.listen = parse_listen(value).ok_or(EXPECT_ADDR)?,
            Flag::MaxConnections => self.max_connections = positive(parse_count(value))?,
            Flag::MaxMessage => self.max_message = positive(parse_bytes(value))?,
            Flag::MaxPending => self.max_pending = positive(parse_bytes(value))?,
            Flag::PingInterval => self.ping_interval = positive_secs(value)?,
            Flag::IdleTimeout => self.idle_timeout = positive_secs(value)?,
            Flag::HandshakeTimeout => self.handshake_timeout = positive_secs(value)?,
            Flag::LogLevel => self.log_level = parse_level(value).ok_or(EXPECT_LEVEL)?,
            Flag::AllowedOrigins => self.allowed_origins = parse_origins(value)?,
            Flag::AllowedHosts => self.allowed_hosts = parse_hosts(value)?,
            Flag::AuthSecret => self.auth_secret = Some(non_empty(value)?),
            Flag::ApiKey => self.api_key = Some(non_empty(value)?),
            Flag::RateLimit => self.rate_limit = parse_count(value)?,
            Flag::History => self.history = parse_count(value)?,
            Flag::HistoryBytes => self.history_bytes = Some(parse_bytes(value)?),
            Flag::MaxRooms => self.max_rooms = positive(parse_count(value))?,
            Flag::MaxMemory => self.max_memory = positive(parse_bytes(value))?,
            Flag::BroadcastRate => self.broadcast_rate = parse_count(value)?,
            Flag::NotifyRate => self.notify_rate = parse_count(value)?,
            Flag::RawRateLimit => self.raw_rate_limit = parse_count(value)?,
            Flag::MaxConnectionsPerIp => self.max_connections_per_ip = parse_count(value)?,
            Flag::DataDir => self.data_dir = Some(non_empty(value)?.into()),
            Flag::Fsync => self.fsync = Fsync::parse(value).ok_or(EXPECT_FSYNC)?,
            Flag::RoomTtl => self.room_ttl = positive_secs(value)?,
            Flag::MaxDisk => self.max_disk = positive(parse_bytes(value))? as u64,
            Flag::Redis => self.redis = Some(values::parse_redis(value)?),
            Flag::NodeId => self.node_id = Some(values::parse_node_id(value)?),
            Flag::ReusePort => self.reuse_port = values::parse_switch(value)?,
            Flag::Compression => self.compression = parse_compression(value)?,
            Flag::CompressionThreshold => self.compression_threshold = parse_bytes(value)?,
            Flag::TlsCert => self.tls_cert = Some(non_empty(value)?.into()),
            Flag::TlsKey => self.tls_key = Some(non_empty(value)?.into()),
        }
        return Ok(());

        fn positive<T: Default + PartialEq>(
            parsed: Result<T, &'static str>,
        ) -> Result<T, &'static str> {
            match parsed? {
                n if n == T::default() => Err(POSITIVE),
                n => Ok(n),
            }
        }
        fn positive_secs(value: &str) -> Result<Duration, &'static str> {
            match parse_secs(value).ok_or(EXPECT_SECS)? {
                Duration::ZERO => Err(POSITIVE),
                d => Ok(d),
            }
        }
    }

    /// Checks between flags, naming where each value came from.
    fn check(&self, sources: &[Option<String>]) -> Result<(), ConfigError> {
        let from = |flag: Flag| match &sources[flag as usize] {
            Some(source) => source.clone(),
            None => format!("default --{}", FLAGS[flag as usize].name),
        };
        if self.idle_timeout <= self.ping_interval {
            return Err(ConfigError::Invalid(format!(
                "{} {} must be longer than {} {}, \
                 or quiet clients are closed before they are pinged",
                from(Flag::IdleTimeout),
                show_secs(self.idle_timeout),
                from(Flag::PingInterval),
                show_secs(self.ping_interval),
            )));
        }
        if self.max_pending < self.max_message {
            return Err(ConfigError::Invalid(format!(
                "{} {} must be at least {} {}, or one large message closes its receivers",
                from(Flag::MaxPending),
                show_bytes(self.max_pending),
                from(Flag::MaxMessage),
                show_bytes(self.max_message),
            )));
        }
        if self.max_pending > limits::MAX_PENDING_CEILING {
            return Err(ConfigError::Invalid(format!(
                "{} {} is more than {}: one connection's queue is tracked in 32 bits",
                from(Flag::MaxPending),
                show_bytes(self.max_pending),
                show_bytes(limits::MAX_PENDING_CEILING),
            )));
        }
        if self.max_memory < 4 * self.max_pending {
            return Err(ConfigError::Invalid(format!(
                "{} {} must be at least 4 x {} {}, or a few slow clients take the whole budget",
                from(Flag::MaxMemory),
                show_bytes(self.max_memory),
                from(Flag::MaxPending),
                show_bytes(self.max_pending),
            )));
        }
        if self.redis.is_some() && self.data_dir.is_some() {
            // Two homes for one room's seq would fork it: with --redis the
            // room state lives in Redis, which every node shares.
            return Err(ConfigError::Invalid(format!(
                "{} and {} cannot be used together: with --redis the rooms, \
                 their history and seq live in Redis (use Redis persistence to keep them)",
                from(Flag::Redis),
                from(Flag::DataDir),
            )));
        }
        self.check_tls(&from)
    }
}

/// Collects `(flag, value)` pairs in order; `--help` and `--version` end parsing at once.
fn read_args(args: impl IntoIterator<Item = OsString>) -> Result<Vec<(Flag, String)>, ConfigError> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut given = Vec::new();
    loop {
        let arg = parser
            .next()
            .map_err(|e| ConfigError::Invalid(format!("{e} (see --help)")))?;
        let spec = match arg {
            None => return Ok(given),
            Some(Arg::Short('h') | Arg::Long("help")) => {
                return Err(ConfigError::Help(help_text()));
            }
            Some(Arg::Short('V') | Arg::Long("version")) => {
                return Err(ConfigError::Help(format!(
                    "loopcast {}\n",
                    env!("CARGO_PKG_VERSION")
                )));
            }
            Some(Arg::Long(name)) => match FLAGS.iter().find(|s| s.name == name) {
                Some(spec) => spec,
                None => {
                    return Err(invalid_line(format!(
                        "unknown option --{name} (see --help)"
                    )));
                }
            },
            Some(Arg::Short(c)) => {
                return Err(invalid_line(format!("unknown option -{c} (see --help)")));
            }
            Some(Arg::Value(v)) => {
                return Err(invalid_line(format!(
                    "unexpected argument {:?} (see --help)",
                    v.to_string_lossy()
                )));
            }
        };
        if spec.metavar.is_empty() {
            // A switch: present means on.
            given.push((spec.flag, "1".to_owned()));
            continue;
        }
        let option = format!("--{}", spec.name);
        let value = parser
            .value()
            .map_err(|_| invalid_line(format!("missing value for {option} (see --help)")))?
            .into_string()
            .map_err(|v| invalid(&v.to_string_lossy(), &option, "not valid UTF-8"))?;
        given.push((spec.flag, value));
    }
}

fn invalid_line(line: String) -> ConfigError {
    ConfigError::Invalid(line)
}

/// `invalid value "abc" for --max-pending: expected ...`; `{:?}` keeps it on one line.
fn invalid(value: &str, source: &str, why: &str) -> ConfigError {
    ConfigError::Invalid(format!("invalid value {value:?} for {source}: {why}"))
}

mod flags;
mod help;
mod values;

use help::help_text;
#[cfg(test)]
use help::show_default;

mod tls;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_checks;

#[cfg(test)]
mod tests_compression;
#[cfg(test)]
mod tls_tests;
