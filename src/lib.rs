//! loopcast: a single-threaded real-time messaging server (WebSocket broadcast,
//! rooms, pub/sub topics, notifications, presence) on one mio reactor.
//!
//! # Layout
//!
//! ```text
//!  TcpListener ──accept──▶ reactor (mio Poll: the only loop, the only syscalls)
//!                              │ bytes in                  ▲ bytes out (one write per client per turn)
//!                              ▼                           │
//!                          http / handshake   (pure: bytes -> request / upgrade / response bytes)
//!                          policy + auth      (pure: may this host, origin, key, token, name pass?)
//!                              ▼
//!                          codec              (pure: bytes -> frames -> messages; encode once)
//!                              ▼
//!                          hub + protocol     (pure: users, rooms, topics, presence, history;
//!                                              message in -> deliveries out; time passed in)
//! ```
//!
//! Everything below the reactor is sans-IO: it takes bytes and `now` and
//! returns bytes, deliveries and deadlines, so it is tested without sockets.
#![forbid(unsafe_code)]

pub mod assets;
pub mod auth;
pub mod codec;
pub mod config;
#[cfg(feature = "deflate")]
pub mod deflate;
#[cfg(feature = "redis")]
pub mod engine;
pub mod handshake;
pub mod http;
pub mod hub;
pub mod limits;
pub mod logger;
pub mod metrics;
pub mod policy;
pub mod protocol;
pub mod reactor;
pub mod secret;
pub mod systemd;
pub mod timers;
#[cfg(feature = "tls")]
pub mod tls;

/// A connected client, by its slab key. Keys are reused after a client leaves,
/// so anything that outlives a connection uses the hub's connection serial instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub usize);

/// The server's version string, as sent in `welcome` and `/healthz`.
pub const VERSION: &str = concat!("loopcast/", env!("CARGO_PKG_VERSION"));
