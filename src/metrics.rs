//! Server counters and their Prometheus text exposition for `GET /metrics`.

use std::fmt::Write;

/// Monotonic counters kept by the reactor (gauges are passed in when rendering).
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    pub connections_total: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub slow_consumers_dropped: u64,
    pub handshake_failures: u64,
    pub protocol_errors: u64,
    pub http_requests: u64,
    /// Connections answered 503 because the memory budget was nearly reached.
    pub memory_refused: u64,
    /// Connections closed to bring memory back under the budget.
    pub memory_closed: u64,
    /// History bytes evicted to bring memory back under the budget.
    pub history_evicted_bytes: u64,
    /// Messages queued as permessage-deflate frames (one per recipient).
    pub compressed_out: u64,
    /// Bytes those frames saved against the plain frames.
    pub compressed_saved: u64,
}

/// Values that are read at render time rather than counted.
#[derive(Debug, Default, Clone, Copy)]
pub struct Gauges {
    pub connections: usize,
    pub ws_connections: usize,
    pub rooms: usize,
    pub uptime_s: u64,
    /// Bytes counted against `--max-memory` now.
    pub memory: usize,
    /// `--max-memory`.
    pub memory_budget: usize,
}

impl Metrics {
    /// Renders the Prometheus text format (version 0.0.4).
    pub fn render(&self, g: Gauges) -> String {
        let mut s = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = write!(
                s,
                "# HELP loopcast_{name} {help}\n# TYPE loopcast_{name} {kind}\nloopcast_{name} {value}\n"
            );
        };
        metric(
            "connections",
            "gauge",
            "Open WebSocket connections.",
            g.connections as u64,
        );
        metric(
            "ws_connections",
            "gauge",
            "Open /ws (JSON protocol) connections.",
            g.ws_connections as u64,
        );
        metric("rooms", "gauge", "Rooms that exist now.", g.rooms as u64);
        metric(
            "memory_bytes",
            "gauge",
            "Bytes counted against the memory budget (buffers, history, state).",
            g.memory as u64,
        );
        metric(
            "memory_budget_bytes",
            "gauge",
            "The memory budget (--max-memory).",
            g.memory_budget as u64,
        );
        metric(
            "uptime_seconds",
            "gauge",
            "Seconds since the server started.",
            g.uptime_s,
        );
        metric(
            "connections_total",
            "counter",
            "WebSocket connections accepted since start.",
            self.connections_total,
        );
        metric(
            "messages_in_total",
            "counter",
            "WebSocket messages received.",
            self.messages_in,
        );
        metric(
            "messages_out_total",
            "counter",
            "WebSocket messages queued for sending (one per recipient).",
            self.messages_out,
        );
        metric(
            "bytes_in_total",
            "counter",
            "Bytes read from sockets.",
            self.bytes_in,
        );
        metric(
            "bytes_out_total",
            "counter",
            "Bytes written to sockets.",
            self.bytes_out,
        );
        metric(
            "slow_consumers_dropped_total",
            "counter",
            "Clients closed with 1013 because their output queue passed the limit.",
            self.slow_consumers_dropped,
        );
        metric(
            "handshake_failures_total",
            "counter",
            "HTTP requests on WebSocket paths that did not upgrade, or timed out.",
            self.handshake_failures,
        );
        metric(
            "protocol_errors_total",
            "counter",
            "Connections closed for a WebSocket protocol violation (1002/1007/1009).",
            self.protocol_errors,
        );
        metric(
            "http_requests_total",
            "counter",
            "Plain HTTP requests answered.",
            self.http_requests,
        );
        metric(
            "memory_refused_total",
            "counter",
            "Connections answered 503 because the memory budget was nearly reached.",
            self.memory_refused,
        );
        metric(
            "memory_closed_total",
            "counter",
            "Connections closed (1013) to bring memory back under the budget, biggest first.",
            self.memory_closed,
        );
        metric(
            "history_evicted_bytes_total",
            "counter",
            "Bytes of room history evicted to bring memory back under the budget.",
            self.history_evicted_bytes,
        );
        metric(
            "compressed_messages_out_total",
            "counter",
            "Messages queued compressed with permessage-deflate (one per recipient).",
            self.compressed_out,
        );
        metric(
            "compressed_bytes_saved_total",
            "counter",
            "Bytes permessage-deflate saved against the plain frames of those messages.",
            self.compressed_saved,
        );
        s
    }
}

/// Appends the Redis engine's counters (with `--redis`).
#[cfg(feature = "redis")]
pub fn render_engine(s: &mut String, engine: &crate::engine::Engine) {
    use crate::engine::State;
    let st = engine.stats;
    let ready = u64::from(engine.state() == State::Ready);
    for (name, kind, help, value) in [
        (
            "engine_ready",
            "gauge",
            "1 while the Redis engine is connected and ready.",
            ready,
        ),
        (
            "engine_pending",
            "gauge",
            "Redis commands sent and not answered yet.",
            engine.pending() as u64,
        ),
        (
            "engine_commands_total",
            "counter",
            "Redis commands sent.",
            st.commands,
        ),
        (
            "engine_messages_total",
            "counter",
            "Messages received from Redis pub/sub.",
            st.messages,
        ),
        (
            "engine_reconnects_total",
            "counter",
            "Times the Redis links were lost.",
            st.reconnects,
        ),
        (
            "engine_refused_total",
            "counter",
            "Actions refused because Redis was not ready.",
            st.refused,
        ),
    ] {
        let _ = write!(
            s,
            "# HELP loopcast_{name} {help}\n# TYPE loopcast_{name} {kind}\nloopcast_{name} {value}\n"
        );
    }
}
