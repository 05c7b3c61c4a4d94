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
