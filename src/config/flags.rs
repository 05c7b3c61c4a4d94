//! The flag table: every flag's name, metavariable and `--help` line, in `--help` order.

/// One flag per `Config` field; the discriminant indexes [`FLAGS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flag {
    Listen,
    MaxConnections,
    MaxMessage,
    MaxPending,
    PingInterval,
    IdleTimeout,
    HandshakeTimeout,
    LogLevel,
    AllowedOrigins,
    AllowedHosts,
    AuthSecret,
    ApiKey,
    RateLimit,
    History,
    HistoryBytes,
    MaxRooms,
    MaxMemory,
    BroadcastRate,
    NotifyRate,
    RawRateLimit,
    MaxConnectionsPerIp,
    DataDir,
    Fsync,
    RoomTtl,
    MaxDisk,
    Redis,
    NodeId,
    ReusePort,
    Compression,
    CompressionThreshold,
    TlsCert,
    TlsKey,
}

/// A flag as `--help` shows it.
pub(super) struct Spec {
    pub(super) flag: Flag,
    pub(super) name: &'static str,
    pub(super) metavar: &'static str,
    pub(super) help: &'static str,
}

impl Spec {
    /// `max-pending` -> `LOOPCAST_MAX_PENDING`.
    #[cold] // start-up only: grouped with the other cold code, off the loop's pages
    pub(super) fn env_var(&self) -> String {
        format!(
            "LOOPCAST_{}",
            self.name.to_ascii_uppercase().replace('-', "_")
        )
    }
}

const fn spec(flag: Flag, name: &'static str, metavar: &'static str, help: &'static str) -> Spec {
    Spec {
        flag,
        name,
        metavar,
        help,
    }
}

pub(super) const FLAGS: [Spec; 32] = [
    spec(
        Flag::Listen,
        "listen",
        "ADDR",
        "address to listen on: IP:PORT, localhost:PORT or :PORT",
    ),
    spec(
        Flag::MaxConnections,
        "max-connections",
        "N",
        "clients served at once; more get 503",
    ),
    spec(
        Flag::MaxMessage,
        "max-message",
        "BYTES",
        "largest message accepted; a larger one closes with 1009",
    ),
    spec(
        Flag::MaxPending,
        "max-pending",
        "BYTES",
        "output queued per client before it is closed with 1013",
    ),
    spec(
        Flag::PingInterval,
        "ping-interval",
        "SECS",
        "ping a quiet client this often",
    ),
    spec(
        Flag::IdleTimeout,
        "idle-timeout",
        "SECS",
        "close a client that sent nothing for this long (more than --ping-interval)",
    ),
    spec(
        Flag::HandshakeTimeout,
        "handshake-timeout",
        "SECS",
        "time allowed for the HTTP request to arrive",
    ),
    spec(
        Flag::LogLevel,
        "log-level",
        "LEVEL",
        "off, error, warn, info, debug or trace",
    ),
    spec(
        Flag::AllowedOrigins,
        "allowed-origins",
        "LIST",
        "comma-separated origins allowed to open WebSockets (unset: same host or no Origin)",
    ),
    spec(
        Flag::AllowedHosts,
        "allowed-hosts",
        "LIST",
        "comma-separated names the Host header may give, * = any \
         (unset: localhost, 127.0.0.1, [::1] on loopback; any on 0.0.0.0 or [::])",
    ),
    spec(
        Flag::AuthSecret,
        "auth-secret",
        "SECRET",
        "HS256 secret: WebSockets then need a JWT (prefer the env var; flags show in ps)",
    ),
    spec(
        Flag::ApiKey,
        "api-key",
        "KEY",
        "key required as 'Authorization: Bearer KEY' on POST /api/publish",
    ),
    spec(
        Flag::RateLimit,
        "rate-limit",
        "N",
        "messages per second per /ws connection, burst twice that; 0 = unlimited",
    ),
    spec(
        Flag::History,
        "history",
        "N",
        "messages kept per room for late joiners; 0 = none",
    ),
    spec(
        Flag::HistoryBytes,
        "history-bytes",
        "BYTES",
        "bytes of messages kept per room (unset: a quarter of --max-pending)",
    ),
    spec(
        Flag::MaxRooms,
        "max-rooms",
        "N",
        "rooms one connection may be in at once",
    ),
    spec(
        Flag::MaxMemory,
        "max-memory",
        "BYTES",
        "memory budget for buffers, history and state; when reached: 503, evict history, drop the biggest backlogs",
    ),
    spec(
        Flag::BroadcastRate,
        "broadcast-rate",
        "N",
        "broadcast actions per second per /ws connection, burst twice that; 0 = only --rate-limit",
    ),
    spec(
        Flag::NotifyRate,
        "notify-rate",
        "N",
        "notifications per second one user may receive from all senders, burst twice that; 0 = unlimited",
    ),
    spec(
        Flag::RawRateLimit,
        "raw-rate-limit",
        "N",
        "messages per second per /broadcast connection, burst twice that; 0 = unlimited",
    ),
    spec(
        Flag::MaxConnectionsPerIp,
        "max-connections-per-ip",
        "N",
        "connections one client address may hold; more get 503; 0 = no cap",
    ),
    spec(
        Flag::DataDir,
        "data-dir",
        "DIR",
        "keep rooms, their history and seq in DIR across restarts (unset: memory only)",
    ),
    spec(
        Flag::Fsync,
        "fsync",
        "WHEN",
        "sync the data dir: turn (before each turn's output), interval (each second) or never",
    ),
    spec(
        Flag::RoomTtl,
        "room-ttl",
        "SECS",
        "with --data-dir: how long an empty room keeps its history (create'd rooms: until deleted) and a user name its browser key",
    ),
    spec(
        Flag::MaxDisk,
        "max-disk",
        "BYTES",
        "with --data-dir: most bytes the data dir may use",
    ),
    spec(
        Flag::Redis,
        "redis",
        "URL",
        "cluster over Redis: redis://[:password@]host[:port][/db] (unset: one node, in memory); not with --data-dir",
    ),
    spec(
        Flag::NodeId,
        "node-id",
        "NAME",
        "this node's name in the cluster, logs and connection ids (unset: host-pid)",
    ),
    spec(
        Flag::ReusePort,
        "reuse-port",
        "",
        "set SO_REUSEPORT so several processes share the port (env: 1 or 0)",
    ),
    spec(
        Flag::Compression,
        "compression",
        "on|off",
        "permessage-deflate: each message compressed once for all its recipients",
    ),
    spec(
        Flag::CompressionThreshold,
        "compression-threshold",
        "BYTES",
        "messages shorter than this go out uncompressed",
    ),
    spec(
        Flag::TlsCert,
        "tls-cert",
        "FILE",
        "PEM certificate chain: serve https:// and wss:// (with --tls-key; SIGHUP reloads)",
    ),
    spec(
        Flag::TlsKey,
        "tls-key",
        "FILE",
        "PEM private key for --tls-cert",
    ),
];
