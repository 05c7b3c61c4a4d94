//! The sans-IO JSON hub behind `/ws`: users, rooms, topics, presence, history, typing.
//!
//! SKELETON: the public API below is fixed; bodies are to be written.
//!
//! Call order (the reactor's side): `handle_connect` once when a `/ws` upgrade
//! completes; `handle_text`/`handle_binary` per received message;
//! `handle_timeout` when `poll_timeout` is due; `handle_disconnect` exactly once
//! when the connection ends (also after the hub itself asked to close it).
//! After every `handle_*` call the reactor drains the `Outbox`.

use std::time::{Duration, Instant};

use crate::ClientId;

/// The current time, passed in: monotonic for deadlines, wall clock for `ts`.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Instant,
    pub unix_ms: u64,
}

/// Limits and sizes of the hub (from `Config`).
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Sustained actions per second per connection.
    pub rate_limit: u32,
    /// Burst allowance (actions) above the sustained rate.
    pub rate_burst: u32,
    /// How long a client may stay over the limit (getting `rate_limited`) before close 1008.
    pub rate_grace: Duration,
    /// Default history kept per room.
    pub history: usize,
    /// Rooms one connection may be in.
    pub max_rooms: usize,
    /// A `typing: true` older than this is cleared by the server.
    pub typing_timeout: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            rate_limit: 50,
            rate_burst: 100,
            rate_grace: Duration::from_secs(5),
            history: 32,
            max_rooms: 128,
            typing_timeout: Duration::from_secs(5),
        }
    }
}

/// What the hub wants done, filled by `handle_*`, drained by the reactor.
/// Buffers are reused, so steady-state output allocates nothing.
#[derive(Debug, Default)]
pub struct Outbox {}

/// One item of an `Outbox`.
#[derive(Debug, PartialEq, Eq)]
pub enum Output<'a> {
    /// Send `text` as one text frame to every client in `to` (framed once by the reactor).
    Text { to: &'a [ClientId], text: &'a str },
    /// Close `client` with `code` and `reason`.
    Close {
        client: ClientId,
        code: u16,
        reason: &'a str,
    },
}

impl Outbox {
    /// The queued outputs, in order.
    pub fn iter(&self) -> impl Iterator<Item = Output<'_>> {
        std::iter::empty()
    }

    /// Forgets the queued outputs, keeping the buffers.
    pub fn clear(&mut self) {}

    /// Nothing queued.
    pub fn is_empty(&self) -> bool {
        true
    }
}

/// Why `/api/publish` was refused: an HTTP status and a reason for the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishError {
    pub status: u16,
    pub message: String,
}

/// All `/ws` state: connections, users, rooms.
#[derive(Debug)]
pub struct Hub {
    config: HubConfig,
}

impl Hub {
    /// An empty hub.
    pub fn new(config: HubConfig) -> Hub {
        Hub { config }
    }

    /// A `/ws` connection was accepted; `user` comes from the token or `?user=`.
    /// Queues its `welcome`.
    pub fn handle_connect(
        &mut self,
        now: Now,
        client: ClientId,
        user: Option<&str>,
        out: &mut Outbox,
    ) {
        let _ = (now, client, user, out, &self.config);
        unimplemented!("hub::Hub::handle_connect")
    }

    /// A text message arrived from `client`.
    pub fn handle_text(&mut self, now: Now, client: ClientId, text: &str, out: &mut Outbox) {
        let _ = (now, client, text, out);
        unimplemented!("hub::Hub::handle_text")
    }

    /// A binary message arrived from `client` (answered with `bad_json`).
    pub fn handle_binary(&mut self, now: Now, client: ClientId, out: &mut Outbox) {
        let _ = (now, client, out);
        unimplemented!("hub::Hub::handle_binary")
    }

    /// `client` is gone: leave its rooms (presence `left`), clear its typing.
    pub fn handle_disconnect(&mut self, now: Now, client: ClientId, out: &mut Outbox) {
        let _ = (now, client, out);
        unimplemented!("hub::Hub::handle_disconnect")
    }

    /// Expires timers due at `now` (stale typing).
    pub fn handle_timeout(&mut self, now: Now, out: &mut Outbox) {
        let _ = (now, out);
        unimplemented!("hub::Hub::handle_timeout")
    }

    /// The next instant `handle_timeout` has work, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// `POST /api/publish` with `body`; returns how many `/ws` connections were reached.
    pub fn handle_publish(
        &mut self,
        now: Now,
        body: &[u8],
        out: &mut Outbox,
    ) -> Result<usize, PublishError> {
        let _ = (now, body, out);
        unimplemented!("hub::Hub::handle_publish")
    }

    /// Live `/ws` connections.
    pub fn connections(&self) -> usize {
        0
    }

    /// Rooms that exist now.
    pub fn rooms(&self) -> usize {
        0
    }
}
