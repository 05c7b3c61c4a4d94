//! Every cap the server enforces, with its value and the reason for it, in one place.
//!
//! `Config` parses the flags that set some of these; everything else reads the
//! caps from here (`Limits` for the configurable ones, constants for the fixed
//! ones), so a reader finds every bound of the process in this file. The
//! memory budget (`--max-memory`) and its accounting belong here as well.

pub mod memory;

use std::time::Duration;

use crate::config::Config;
use crate::timers::Millis;

// ---- Defaults of the configurable caps (documented in `Config` and --help). ----

/// `--max-connections`: further clients get 503.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// `--max-message`: larger WebSocket messages (and publish bodies) are refused.
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024;
/// `--max-pending`: a client with more unsent output is a slow consumer (1013).
pub const DEFAULT_MAX_PENDING: usize = 1024 * 1024;
/// `--rate-limit`: sustained actions per second per `/ws` connection.
pub const DEFAULT_RATE_LIMIT: u32 = 50;
/// `--history`: messages kept per room unless `create` says otherwise.
pub const DEFAULT_HISTORY: usize = 32;
/// `--max-rooms`: rooms (and subscriptions) one connection may hold.
pub const DEFAULT_MAX_ROOMS: usize = 128;
/// `--max-memory`: the budget for everything the server buffers (see [`memory`]);
/// sized for a small device.
pub const DEFAULT_MAX_MEMORY: usize = 64 << 20;
/// `--broadcast-rate`: `broadcast` actions per second per `/ws` connection;
/// one of them costs a copy per connection, so it gets far less than the rate limit.
pub const DEFAULT_BROADCAST_RATE: u32 = 5;
/// `--notify-rate`: notifications per second one user may receive from all senders.
pub const DEFAULT_NOTIFY_RATE: u32 = 20;
/// `--room-ttl`: an empty room's history is kept this long (as Centrifugo's history TTL).
pub const DEFAULT_ROOM_TTL: Duration = Duration::from_secs(24 * 3600);
/// `--max-disk`: the data dir's journal never grows past this.
pub const DEFAULT_MAX_DISK: u64 = 256 << 20;
/// `--history-bytes` defaults to `--max-pending` divided by this, so a
/// joiner's `room` answer leaves room in its output queue for what follows.
pub const HISTORY_BYTES_SHARE: usize = 4;
/// `--compression-threshold`: shorter messages go out uncompressed; under it,
/// the deflate block overhead and the CPU outweigh the few bytes saved.
pub const DEFAULT_COMPRESSION_THRESHOLD: usize = 256;

// ---- Fixed caps of the protocol. ----

/// Largest request head we accept (request line + headers + blank line).
pub const MAX_HEAD: usize = 8 * 1024;
/// Longest room (topic) name in bytes.
pub const MAX_ROOM_NAME: usize = 64;
/// Largest `history` a `create` may ask for; more is refused with `bad_field`.
pub const MAX_HISTORY: u64 = 1024;
/// Most bytes of history or list entries in one answer (`room`, `history`,
/// `members`, `rooms`); the rest follows on request (`more: true`). Well under
/// `--max-pending`, so an answer never makes its asker a slow consumer.
pub const ANSWER_BYTES: usize = 64 * 1024;
/// How long a client may stay over the rate limit (getting `rate_limited`) before close 1008.
pub const RATE_GRACE: Duration = Duration::from_secs(5);
/// A `typing: true` older than this is cleared by the server.
pub const TYPING_TIMEOUT: Duration = Duration::from_secs(5);
/// Deepest nesting of arrays and objects inside a frame (the frame's own
/// object not counted): deeper frames get `bad_json`, so a relayed message can
/// never crash a recipient's recursive parser.
pub const MAX_DEPTH: usize = 64;
/// Longest room password in bytes (`bad_field` beyond).
pub const MAX_PASSWORD: usize = 128;
/// Longest `ref` in bytes of raw JSON (`bad_field` beyond): it is echoed back.
pub const MAX_REF: usize = 64;
/// Longest user name in characters (`?user=` or a token's `sub`): enough for
/// an e-mail address, short enough for every member list and event.
pub const MAX_USER_CHARS: usize = 64;
/// Longest user name in bytes a `notify` may name (64 characters of up to 4 bytes).
pub const MAX_USER_BYTES: usize = 4 * MAX_USER_CHARS;
/// A held `typing: true` is forwarded again after this long, so receivers see
/// a live typist renewed well inside their own timeout.
pub const TYPING_RENEW: Duration = Duration::from_secs(2);
/// Most name bindings kept for offline users with `--data-dir` (the newest
/// win); with a name of at most [`MAX_USER_BYTES`], the file stays under 4 MiB.
pub const MAX_NAME_BINDINGS: usize = 10_000;
/// Name bindings are saved at most this often (the first change at once), so
/// a connection storm costs a few small writes, not one per connection.
pub const NAMES_SAVE_EVERY: Duration = Duration::from_secs(1);
/// `typing` frames per second, and burst, that do not count against the
/// message rate (past them, typing counts like any other frame).
pub const TYPING_RATE: (u32, u32) = (2, 5);
/// Largest frame that may be a `typing` notice, parsed before the rate check
/// while the typing allowance has a token (so typing never costs a message):
/// the longest real one, `{"action":"typing","room":…,"value":false,"ref":…}`
/// with a 64-byte room and a 64-byte `ref`, is 178 bytes. A larger frame over
/// the rate limit is answered unparsed, so a flood costs no JSON parse.
pub const TYPING_FRAME: usize = 192;
/// A client is "still flooding" (its grace period runs on) while its
/// `rate_limited` answers are less than this apart; a second of quiet starts
/// the grace period afresh.
pub const RATE_QUIET: Duration = Duration::from_secs(1);
/// Most header lines of a request we look at (more: 431); browsers send about
/// 20 on an upgrade, so 64 leaves room for proxies without a large stack array.
pub const MAX_HEADERS: usize = 64;

// ---- Fixed caps of authentication. ----

/// Clock skew tolerated on a JWT's `exp` and `nbf` (RFC 7519 4.1.4/4.1.5 allow
/// "some small leeway"): a token is accepted from `nbf - 30 s` until `exp + 30 s`.
/// Thirty seconds covers an unsynchronised device clock without letting an
/// expired token live much longer.
pub const JWT_LEEWAY_S: u64 = 30;
/// Failed credentials (tokens, API keys) one address may send per window
/// before it is answered 429 unchecked: enough for a user who mistyped, too
/// few for guessing (each guess costs an HMAC or a compare).
pub const AUTH_FAILURES: u32 = 10;
/// Length of a failure window, in ms: a refused address waits at most a minute.
pub const AUTH_FAILURE_WINDOW_MS: Millis = 60_000;
/// Addresses the failure budget tracks at once (about 40 KiB when full), so a
/// spread-out attack cannot grow the table; the oldest entries go first.
pub const AUTH_FAILURE_ADDRESSES: usize = 1024;

// ---- Fixed caps of the reactor. ----

/// Connections the kernel queues for us before `accept` (capped by
/// `net.core.somaxconn`): room for a reconnect storm, or for the clients that
/// wait while every slot is taken, instead of dropped SYNs and retries.
pub const LISTEN_BACKLOG: i32 = 1024;
/// Size of the one read buffer shared by every connection.
pub const READ_BUF: usize = 64 * 1024;
/// Reads per readiness event before moving on, so one flooding client cannot starve the rest.
pub const READS_PER_TURN: usize = 16;
/// Longest pause in reading a client whose input queued more than its
/// receivers could take: reading resumes as soon as they drained below half of
/// `--max-pending`, or after this, so a client that never reads slows the
/// senders only this long per read (and soon gets its 1013).
pub const PRESSURE_PAUSE_MS: Millis = 20;
/// How long a closing connection may take to drain and answer our FIN.
pub const LINGER_MS: Millis = 5_000;
/// How long graceful shutdown waits for clients to take their close frames.
pub const SHUTDOWN_MS: Millis = 2_000;
/// Pause before accepting again when the process is out of file descriptors.
pub const ACCEPT_BACKOFF_MS: Millis = 100;
/// Connections admitted past `--max-connections` only to be answered 503; beyond
/// these a new connection is dropped unanswered (it would cost a slot anyway).
pub const OVERFLOW_SLOTS: usize = 64;
/// Bytes of drained write buffers kept for reuse, so a busy turn does not malloc
/// per client; small enough not to matter on a small device.
pub const SPARE_BYTES: usize = 256 * 1024;
/// Buffers that grew past this are freed rather than kept as spares.
pub const SPARE_MAX_CAPACITY: usize = 8 * 1024;
/// Freeing at least this much at once asks the allocator to return pages.
pub const RELEASE_AFTER: usize = 64 * 1024;
/// The largest `--max-pending`: a connection's output offsets are 32-bit (4
/// bytes less per connection) and one queue may pass the limit by a message.
pub const MAX_PENDING_CEILING: usize = 1 << 30;
/// Spare buffers that no turn needed for this long are freed, so a burst's
/// pool does not stay allocated while the server is idle.
pub const SPARE_TRIM_MS: Millis = 250;
/// The frame scratch buffer keeps this much between turns; one that grew for a
/// large message is given back at the end of the turn.
pub const SCRATCH_KEEP: usize = 4 * 1024;
/// Each outbox buffer keeps at most this much between turns.
pub const LOOP_BUFFER_KEEP: usize = 16 * 1024;
/// New connections accepted per loop turn; the rest wait in the listen queue
/// for the next turn, so a reconnect storm cannot starve connected clients.
pub const ACCEPTS_PER_TURN: usize = 64;
/// Encrypted bytes rustls may hold per TLS client (records the socket has not
/// taken yet); past it, plaintext waits in the client's output, where
/// `--max-pending` counts it. rustls's own default, made explicit.
pub const TLS_BUFFERED: usize = 64 * 1024;
/// Below this many entries, stale entries of a deadline heap (the reactor's
/// timers, the hub's typing expiries) are never worth a sweep.
pub const TIMER_COMPACT_MIN: usize = 1024;
/// Deflate output buffer bytes kept between messages; one that grew for a large
/// message is freed at the next one, so the shared compressor stays small.
pub const DEFLATE_KEEP: usize = 64 * 1024;

// ---- Fixed caps of the room store (`--data-dir`). ----

/// How often `--fsync interval` syncs the journal: at most a second of
/// messages is lost in a power cut.
pub const FSYNC_INTERVAL: Duration = Duration::from_secs(1);
/// How often idle rooms are checked against `--room-ttl`; a room outlives its
/// TTL by at most this.
pub const TTL_SWEEP: Duration = Duration::from_secs(60);
/// The journal is not compacted below this size: rewriting a small file saves
/// too little to be worth the I/O.
pub const JOURNAL_COMPACT_MIN: u64 = 1 << 20;
/// Bytes of new journal a compaction writes per turn, at most about (one
/// room's records may go over): with ~150-byte events about 900 reads of kept
/// events, so one turn's share of the copy stays a few milliseconds.
pub const JOURNAL_COMPACT_STEP: usize = 128 << 10;
/// Bytes of a replaced journal freed per turn: freeing a large file at once
/// takes tens of milliseconds.
pub const JOURNAL_RETIRE_STEP: u64 = 8 << 20;
/// The largest journal record body we write or accept (a 64 KiB message is far
/// below it); a length above this is corruption, not a record.
pub const MAX_RECORD: usize = 16 << 20;

// ---- Fixed caps of the Redis engine (`--redis`). ----

/// First reconnect delay to Redis; doubled per failed attempt up to
/// [`REDIS_BACKOFF_MAX`], so a restarting Redis is not hammered.
pub const REDIS_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay: a node is back within 5 s of Redis.
pub const REDIS_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A connect to Redis (TCP and handshake) that takes longer than this is abandoned.
pub const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Channels per SUBSCRIBE command when resubscribing, so a node with many
/// rooms does not send one huge command (nor one per room).
pub const REDIS_SUBSCRIBE_BATCH: usize = 256;
/// Unanswered commands allowed on the command link; past this, new commands
/// are refused (`unavailable`) instead of queueing without bound.
pub const REDIS_MAX_INFLIGHT: usize = 65_536;
/// Largest RESP bulk string accepted (Redis' own default `proto-max-bulk-len`
/// is 512 MB; our payloads are messages and history entries, bounded far below this).
pub const RESP_MAX_BULK: usize = 16 << 20;
/// Most elements in one RESP array reply (a history or member list).
pub const RESP_MAX_ARRAY: usize = 1 << 20;
/// Deepest nesting of RESP arrays (our scripts return at most two levels).
pub const RESP_MAX_DEPTH: usize = 8;
/// Longest RESP simple string, error or integer line.
pub const RESP_MAX_LINE: usize = 64 * 1024;
/// A node's heartbeat deadline in Redis: a node silent for this long is dead,
/// and its members are `left` on the others. Over three heartbeats, so one
/// late heartbeat does not kill a node.
pub const CLUSTER_PRESENCE_TTL: Duration = Duration::from_secs(10);
/// How often the heartbeat (and reaping of dead nodes) runs.
pub const CLUSTER_HEARTBEAT_EVERY: Duration = Duration::from_secs(3);

/// The configurable caps of one server, read by the reactor (and, as
/// [`HubLimits`], by the hub). Built from `Config` once, at bind.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served; past this, 503 (see [`OVERFLOW_SLOTS`]).
    pub max_connections: usize,
    /// Largest WebSocket message or publish body, in bytes.
    pub max_message: usize,
    /// Unsent output one client may have before it is closed with 1013.
    pub max_pending: usize,
    /// The memory budget in bytes (see [`memory`]).
    pub max_memory: usize,
    /// Connections one client address may hold (0: no cap).
    pub max_connections_per_ip: usize,
    /// The hub's caps.
    pub hub: HubLimits,
}

impl Limits {
    /// The caps `config` asks for.
    pub fn from_config(config: &Config) -> Limits {
        Limits {
            max_connections: config.max_connections,
            max_message: config.max_message,
            max_pending: config.max_pending,
            max_memory: config.max_memory,
            max_connections_per_ip: config.max_connections_per_ip,
            hub: HubLimits {
                rate_limit: config.rate_limit,
                rate_burst: config.rate_limit.saturating_mul(2),
                history: config.history,
                history_bytes: config.history_bytes(),
                max_rooms: config.max_rooms,
                broadcast_rate: config.broadcast_rate,
                broadcast_burst: config.broadcast_rate.saturating_mul(2),
                notify_rate: config.notify_rate,
                notify_burst: config.notify_rate.saturating_mul(2),
                raw_rate_limit: config.raw_rate_limit,
                raw_rate_burst: config.raw_rate_limit.saturating_mul(2),
                max_message: config.max_message,
                // An answer stays a fraction of what a client may have pending.
                answer_bytes: ANSWER_BYTES.min(config.max_pending / 4),
                ..HubLimits::default()
            },
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from_config(&Config::default())
    }
}

/// The hub's caps (also known as `hub::HubConfig`).
#[derive(Debug, Clone)]
pub struct HubLimits {
    /// Sustained actions per second per connection (0: unlimited).
    pub rate_limit: u32,
    /// Burst allowance (actions) above the sustained rate.
    pub rate_burst: u32,
    /// How long a client may stay over the limit (getting `rate_limited`) before close 1008.
    pub rate_grace: Duration,
    /// Default history kept per room (message count).
    pub history: usize,
    /// Most bytes of message events kept per room's history, so a `room`
    /// answer stays well under a client's pending-output limit.
    pub history_bytes: usize,
    /// Rooms one connection may be in.
    pub max_rooms: usize,
    /// A `typing: true` older than this is cleared by the server.
    pub typing_timeout: Duration,
    /// `broadcast` actions per second per connection (0: only the rate limit applies).
    pub broadcast_rate: u32,
    /// `broadcast` burst allowance.
    pub broadcast_burst: u32,
    /// `notify` messages per second one user may receive, from all senders (0: unbounded).
    pub notify_rate: u32,
    /// `notify` burst allowance per receiving user.
    pub notify_burst: u32,
    /// Messages per second per `/broadcast` connection (0: unlimited).
    pub raw_rate_limit: u32,
    /// `/broadcast` burst allowance.
    pub raw_rate_burst: u32,
    /// Largest message a client may send (bytes), announced in `welcome`.
    pub max_message: usize,
    /// Most bytes of history or list entries in one answer (at least one entry is sent).
    pub answer_bytes: usize,
}

impl Default for HubLimits {
    fn default() -> Self {
        HubLimits {
            rate_limit: DEFAULT_RATE_LIMIT,
            rate_burst: DEFAULT_RATE_LIMIT * 2,
            rate_grace: RATE_GRACE,
            history: DEFAULT_HISTORY,
            history_bytes: DEFAULT_MAX_PENDING / HISTORY_BYTES_SHARE,
            max_rooms: DEFAULT_MAX_ROOMS,
            typing_timeout: TYPING_TIMEOUT,
            broadcast_rate: DEFAULT_BROADCAST_RATE,
            broadcast_burst: DEFAULT_BROADCAST_RATE * 2,
            notify_rate: DEFAULT_NOTIFY_RATE,
            notify_burst: DEFAULT_NOTIFY_RATE * 2,
            raw_rate_limit: 0,
            raw_rate_burst: 0,
            max_message: DEFAULT_MAX_MESSAGE,
            answer_bytes: ANSWER_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_config() {
        let config = Config {
            max_connections: 7,
            max_pending: 2 << 20,
            rate_limit: 10,
            history: 3,
            ..Config::default()
        };
        let l = Limits::from_config(&config);
        assert_eq!(l.max_connections, 7);
        assert_eq!(l.max_pending, 2 << 20);
        assert_eq!(l.hub.rate_limit, 10);
        assert_eq!(l.hub.rate_burst, 20);
        assert_eq!(l.hub.history, 3);
        assert_eq!(l.hub.typing_timeout, TYPING_TIMEOUT);
    }

    /// Constants of these types outside this file that are not caps: wire
    /// formats, protocol codes and fixed numbering.
    const NOT_CAPS: &[&str] = &[
        "FIRST_CLIENT",
        "LISTEN_FDS_START",
        "CLOSE_POLICY",
        "HEADER",
        "NOT_MEMBER",
        "SERVER_WINDOW_BITS",
        "LEVEL",
        "SALT_LEN",
        "TAG_LEN",
        "STORED_LEN",
        "HANDSHAKE_RECORD",
        "MAX_CONTROL",
        "RSV1",
        "MAX_HEADER",
        "KIND_ROOM",
        "KIND_MSG",
        "KIND_DELETE",
        "KIND_IDLE",
        "KIND_LIVE",
        // The data dir's `state` file layout (disk/state.rs): offsets, not caps.
        "LEN",
        "FLAG_AT",
        "BOOT_MAX",
    ];

    fn caps_outside(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            // `limits/` is this module; test files hold test inputs, not caps.
            let name = path.file_name().unwrap().to_string_lossy();
            if name == "limits" || name == "tests" || name.starts_with("tests") {
                continue;
            }
            if path.is_dir() {
                caps_outside(&path, found);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || name == "limits.rs" {
                continue;
            }
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                // Only top-level items: constants inside test modules are indented.
                let item = line.strip_prefix("pub ").unwrap_or(line);
                let item = item.strip_prefix("pub(crate) ").unwrap_or(item);
                let item = item.strip_prefix("pub(super) ").unwrap_or(item);
                let Some((name, ty)) = item.strip_prefix("const ").and_then(|r| r.split_once(": "))
                else {
                    continue;
                };
                let numeric = [
                    "u8 ",
                    "u16 ",
                    "u32 ",
                    "u64 ",
                    "usize ",
                    "i32 ",
                    "Duration ",
                    "Millis ",
                ];
                // `I_*`: indexes into a table of scripts.
                let cap = !NOT_CAPS.contains(&name) && !name.starts_with("I_");
                if numeric.iter().any(|t| ty.starts_with(t)) && cap {
                    found.push(format!("{}: {line}", path.display()));
                }
            }
        }
    }

    #[test]
    fn every_fixed_cap_lives_here() {
        let mut found = Vec::new();
        caps_outside(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(found.is_empty(), "caps outside src/limits.rs: {found:#?}");
    }

    #[test]
    fn defaults_agree() {
        let l = Limits::default();
        assert_eq!(l.max_message, DEFAULT_MAX_MESSAGE);
        assert_eq!(l.hub.history, HubLimits::default().history);
        assert_eq!(l.hub.history_bytes, HubLimits::default().history_bytes);
        assert_eq!(l.hub.rate_burst, HubLimits::default().rate_burst);
    }
}
