//! The phases of one loop turn (their order and invariant are documented at `Server`).

use std::io;
use std::sync::atomic::Ordering;

use mio::event::Event;

use crate::ClientId;
use crate::limits::{
    ACCEPT_BACKOFF_MS, ACCEPTS_PER_TURN, LINGER_MS, PRESSURE_PAUSE_MS, READ_BUF, READS_PER_TURN,
    SHUTDOWN_MS,
};
use crate::timers::Millis;

use super::conns::{self, Kind, Phase};
use super::{LISTENER, SIGNALS, Server, WAKER, routes, ws};
use signal_hook::consts::SIGHUP;

impl Server {
    /// Phase 1: reads the clients whose read budget ran out last turn, and
    /// accepts more if last turn's accept budget ran out.
    pub(super) fn catch_up(&mut self) {
        self.resume_stalled();
        for id in std::mem::take(&mut self.backlog) {
            self.readable(id);
        }
        if std::mem::take(&mut self.accept_backlog) {
            self.accept();
        }
    }

    /// Moves paused clients back to the backlog once their receivers drained
    /// below the high-water mark, or the pause is over.
    fn resume_stalled(&mut self) {
        if !self.stalled.is_empty()
            && (self.stalled_until.is_some_and(|at| at <= self.now) || self.conns.relieved())
        {
            self.stalled_until = None;
            let stalled = std::mem::take(&mut self.stalled);
            self.backlog.extend(stalled);
        }
    }

    /// Phase 2: acts on one readiness event.
    pub(super) fn dispatch(&mut self, event: &Event) {
        #[cfg(feature = "redis")]
        if self.redis_event(event) {
            return;
        }
        match event.token() {
            LISTENER => self.accept(),
            WAKER => {
                if self.shutdown_flag.load(Ordering::SeqCst) {
                    self.begin_shutdown();
                }
            }
            SIGNALS => self.signalled(),
            token => {
                let Some(id) = conns::client_of(token) else {
                    return;
                };
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.readable(id);
                }
                if event.is_writable() {
                    self.conns.want_flush(id);
                }
            }
        }
    }

    /// Phase 5: writes every dirty client once and removes those that failed
    /// or are done; resumes a blocked accept once slots are free again.
    pub(super) fn flush(&mut self) {
        let mut dead = std::mem::take(&mut self.dead);
        self.conns.flush_dirty(self.poll.registry(), &mut dead);
        for id in dead.drain(..) {
            self.conns.remove(self.poll.registry(), id);
        }
        self.dead = dead;
        if self.accept_blocked && self.conns.has_room() {
            self.accept();
        }
        // Receivers that drained in this flush let their senders go on at once.
        self.resume_stalled();
    }

    fn accept(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.accept_paused_until = None;
        // The hub must hear of departed clients before their slots are reused.
        self.settle();
        self.accept_blocked = false;
        for _ in 0..ACCEPTS_PER_TURN {
            if !self.conns.has_room() {
                // Leave the rest in the listen backlog: they get an answer (503
                // or service) when slots free up, instead of being dropped.
                self.accept_blocked = true;
                return;
            }
            let Some(listener) = &self.listener else {
                return;
            };
            let (stream, addr) = match listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // EMFILE/ENFILE/ENOBUFS: the pending connection stays queued and
                    // epoll (edge-triggered) will not repeat itself, so retry on a timer
                    // instead of spinning or stalling.
                    log::warn!("accept failed: {e}; retrying in {ACCEPT_BACKOFF_MS} ms");
                    self.accept_paused_until = Some(self.now + ACCEPT_BACKOFF_MS);
                    return;
                }
            };
            let Some(transport) = self.transport_for(stream) else {
                continue;
            };
            let registry = self.poll.registry();
            let Some(admitted) = self.conns.admit(registry, transport, addr.ip(), self.now) else {
                log::debug!("{addr}: dropped (over the connection limit)");
                continue;
            };
            let id = admitted.id;
            log::debug!("client {}: connected from {addr}", id.0);
            let refusal: Option<&[u8]> = if admitted.over_limit {
                Some(b"server full\n")
            } else if admitted.over_ip {
                Some(b"too many connections from your address\n")
            } else {
                None
            };
            if let Some(body) = refusal {
                self.conns.metrics.handshake_failures += 1;
                routes::respond(&mut self.conns, id, 503, "text/plain", &[], body);
                continue;
            }
            let deadline = self.now + self.config.handshake_timeout.as_millis() as Millis;
            self.timers.arm(deadline, id.0, admitted.generation);
        }
        // Budget used up: the listener (edge-triggered) will not tell us again.
        self.accept_backlog = true;
    }

    /// Reads a client until `WouldBlock` (or its per-turn budget) and feeds every chunk on.
    fn readable(&mut self, id: ClientId) {
        if self.stalled.contains(&id) {
            // Its receivers are behind: it is read again in `catch_up`.
            return;
        }
        let mut buf = std::mem::take(&mut self.read_buf);
        if buf.is_empty() {
            buf = vec![0; READ_BUF];
        }
        let mut more = true;
        let mut stall = false;
        self.conns.take_pressure();
        for _ in 0..READS_PER_TURN {
            let Some(c) = self.conns.get_mut(id) else {
                more = false;
                break;
            };
            match c.transport.read(&mut buf) {
                Ok(0) => {
                    self.peer_closed(id);
                    more = false;
                    break;
                }
                Ok(n) => {
                    c.seen(self.now);
                    c.pinged = false;
                    self.conns.metrics.bytes_in += n as u64;
                    self.ingest(id, &mut buf[..n]);
                    if self.conns.take_pressure() {
                        // What this input queued is more than a receiver could take
                        // now: read no more of it until they have drained.
                        stall = true;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    more = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("client {}: read failed: {e}", id.0);
                    // InvalidData comes only from the TLS transport: a bad or
                    // missing ClientHello is a failed handshake.
                    if e.kind() == io::ErrorKind::InvalidData && matches!(c.phase, Phase::Http(_)) {
                        self.conns.metrics.handshake_failures += 1;
                    }
                    self.conns.remove(self.poll.registry(), id);
                    more = false;
                    break;
                }
            }
        }
        if let Some(c) = self.conns.get(id) {
            // Reading may leave the transport with wire bytes to send (a TLS handshake).
            if c.transport.wants_write() {
                self.conns.want_flush(id);
            }
            if stall {
                self.stalled.push(id);
                self.stalled_until
                    .get_or_insert(self.now + PRESSURE_PAUSE_MS);
            } else if more && !self.backlog.contains(&id) {
                // Budget used up with data possibly left: edge-triggered epoll will not
                // tell us again, so come back next turn.
                self.backlog.push(id);
            }
        }
        self.read_buf = buf;
    }

    /// Routes bytes by the connection's phase, and accounts the unfinished
    /// input (partial request or frame) it leaves behind.
    fn ingest(&mut self, id: ClientId, bytes: &mut [u8]) {
        let Some(c) = self.conns.get(id) else {
            return;
        };
        let before = self.conns.input_held(id);
        match &c.phase {
            Phase::Http(_) => self.ingest_http(id, bytes),
            Phase::Open(_) => self.ingest_ws(id, bytes),
            // After our close frame or response, input is only drained until EOF.
            Phase::Closing => return,
        }
        // While its bytes were handled, the client's partial state was out of the
        // slot: a removal or close meanwhile released nothing of it, so the
        // whole change is accounted here (0 after, if it is gone).
        let after = self.conns.input_held(id);
        self.conns.input_resized(before, after);
        if after > before {
            self.enforce_budget();
        }
    }

    /// EOF from the peer: a closing connection is done; anything else was abandoned.
    fn peer_closed(&mut self, id: ClientId) {
        log::debug!("client {}: disconnected", id.0);
        self.conns.peer_closed(self.poll.registry(), id);
    }

    fn signalled(&mut self) {
        let mut stop = false;
        let mut hangup = false;
        if let Some(signals) = &mut self.signals {
            for signal in signals.pending() {
                if signal == SIGHUP {
                    hangup = true;
                    continue;
                }
                log::info!("signal {signal}: shutting down");
                stop = true;
            }
        }
        if hangup {
            self.hangup();
        }
        if stop {
            self.begin_shutdown();
        }
    }

    /// Stops accepting, sends 1001 to every open client, and gives them a short
    /// deadline to take it; the loop returns when all are gone or the time is up.
    fn begin_shutdown(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.notify_stopping();
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for id in self.conns.ids() {
            match self.conns.get(id).map(|c| &c.phase) {
                Some(Phase::Open(_)) => self.conns.close(id, 1001, "server shutting down"),
                Some(Phase::Http(_)) => self.conns.remove(self.poll.registry(), id),
                Some(Phase::Closing) | None => {}
            }
        }
        self.shutdown_deadline = Some(self.now + SHUTDOWN_MS);
    }

    /// Phase 3: fires every due deadline: handshake timeouts, keepalive, lingering
    /// closes, the hub's timers, a paused accept.
    pub(super) fn run_timers(&mut self) {
        let now = self.now;
        while let Some(due) = self.timers.pop_due(now) {
            let id = ClientId(due.key);
            if !self.conns.is_current(id, due.generation) {
                continue;
            }
            match self.conns.get(id).map(|c| &c.phase) {
                Some(Phase::Http(_)) => {
                    log::debug!("client {}: handshake timed out", id.0);
                    self.conns.metrics.handshake_failures += 1;
                    self.conns.remove(self.poll.registry(), id);
                }
                Some(Phase::Open(_)) => self.keepalive(id),
                Some(Phase::Closing) => self.conns.remove(self.poll.registry(), id),
                None => {}
            }
        }
        if let Some(at) = self.hub.poll_timeout()
            && self.millis_of(at) <= now
        {
            let hub_now = self.hub_now();
            self.hub.handle_timeout(hub_now, &mut self.outbox);
            self.drain_outbox();
        }
        if self.accept_paused_until.is_some_and(|at| at <= now) {
            self.accept();
        }
        if self.watchdog_due.is_some_and(|at| at <= now) {
            self.feed_watchdog();
        }
        let conns = &self.conns;
        self.timers
            .compact(|key, generation| conns.is_current(ClientId(key), generation));
    }

    /// Pings a quiet client, closes a silent one, and re-arms its next check.
    fn keepalive(&mut self, id: ClientId) {
        let ping = self.config.ping_interval.as_millis() as Millis;
        let idle_limit = self.config.idle_timeout.as_millis() as Millis;
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let idle = c.idle_for(self.now);
        if idle >= idle_limit {
            log::debug!("client {}: idle for {idle} ms, closing", id.0);
            self.conns.close(id, 1000, "idle timeout");
            return;
        }
        let generation = c.generation();
        let next = if idle < ping {
            self.now.saturating_sub(idle) + ping
        } else {
            let send_ping = !c.pinged;
            c.pinged = true;
            let next = self.now.saturating_sub(idle) + idle_limit;
            if send_ping {
                // If the ping tips a slow consumer over its limit, the close re-arms
                // the slot with a new generation and this entry goes stale.
                self.scratch.clear();
                crate::codec::encode_frame(&mut self.scratch, ws::PING, b"");
                self.conns.queue(id, &self.scratch);
            }
            next
        };
        self.timers.arm(next, id.0, generation);
    }

    /// Phases 4 and 6: tell the hub about clients that stopped being open (which
    /// may queue presence events), and arm linger deadlines for clients that
    /// started closing.
    pub(super) fn settle(&mut self) {
        while self.conns.has_left() {
            let hub_now = self.hub_now();
            for (id, kind) in self.conns.take_left() {
                match kind {
                    Kind::Ws => self.hub.handle_disconnect(hub_now, id, &mut self.outbox),
                    Kind::Broadcast => self.hub.handle_raw_disconnect(id),
                    Kind::Echo | Kind::Http => {}
                }
                self.drain_outbox();
            }
        }
        for id in self.conns.take_closing() {
            if !matches!(self.conns.get(id).map(|c| &c.phase), Some(Phase::Closing)) {
                continue;
            }
            if let Some(generation) = self.conns.rearm(id) {
                self.timers.arm(self.now + LINGER_MS, id.0, generation);
            }
        }
    }
}
