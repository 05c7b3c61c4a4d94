//! The generator's reactions: dialing, readiness, frames in, closing, publishing.

use std::io;

use mio::{Interest, Token};

use super::conn::{self, Conn, FLOW_RING, Flow, Kind, Seen, State, Tally};
use super::{Generator, MAX_DIALING, MAX_REDIALS, Mode, PAYLOAD, Publisher, Stats, wire};

impl Generator {
    pub(super) fn dial_due(&mut self) {
        while self.dialing < MAX_DIALING && (self.to_open > 0 || self.churners < self.churn_slots) {
            let kind = if self.to_open > 0 {
                self.to_open -= 1;
                self.to_open_kind
            } else {
                self.churners += 1;
                Kind::Churner
            };
            let source = self.sources[self.next_source % self.sources.len()];
            self.next_source += 1;
            self.serial += 1;
            let sock = match conn::dial(source, self.server) {
                Ok(s) => s,
                Err(e) => {
                    if kind == Kind::Churner {
                        self.churners -= 1;
                    }
                    self.failed(kind, &e.to_string());
                    return;
                }
            };
            let mut c = Conn::new(sock, kind, self.publishers, self.serial);
            #[cfg(feature = "tls")]
            {
                c.tls = crate::tls::client_session();
            }
            let path = if self.rooms > 0 { "/ws" } else { "/broadcast" };
            wire::push_upgrade(&mut c.out, &self.host, path);
            if self.rooms > 0 && kind == Kind::Stable {
                c.room = self.next_room % self.rooms;
                self.next_room += 1;
            }
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            let interest = Interest::READABLE | Interest::WRITABLE;
            if self
                .poll
                .registry()
                .register(&mut c.sock, Token(key), interest)
                .is_err()
            {
                if kind == Kind::Churner {
                    self.churners -= 1;
                }
                self.failed(kind, "register failed");
                return;
            }
            if kind == Kind::Stable && self.pubs.len() < self.publishers {
                c.publisher = Some(self.pubs.len() as u32);
                self.pubs.push(Publisher {
                    conn: Some(key),
                    sent: 0,
                    room: c.room,
                });
            }
            entry.insert(c);
            self.dialing += 1;
        }
    }

    pub(super) fn on_ready(&mut self, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if let Err(e) = c.flush() {
            return self.kill(key, false, &e.to_string());
        }
        self.read_all(key);
    }

    fn read_all(&mut self, key: usize) {
        loop {
            let Some(c) = self.conns.get_mut(key) else {
                return;
            };
            let n = match c.read(&mut self.buf) {
                Ok(0) => return self.on_eof(key),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => return self.kill(key, false, &e.to_string()),
            };
            let seen = self.on_bytes(key, n);
            if seen.malformed {
                self.stats.malformed += 1;
                return self.kill(key, false, "malformed frame or refused upgrade");
            }
            if seen.closed {
                return self.on_eof(key);
            }
            let c = &mut self.conns[key];
            if c.flush().is_err() {
                return self.kill(key, false, "write failed");
            }
            // A short read drained the socket (TCP): skip the read that would only say
            // WouldBlock. Not while closing, where an EOF behind the data must be seen.
            // Over TLS a short read says nothing about the socket: read on to WouldBlock.
            if n < self.buf.len() && c.state == State::Open && !c.is_tls() {
                return;
            }
        }
    }

    /// Handles `n` fresh bytes in the shared buffer for client `key`.
    fn on_bytes(&mut self, key: usize, n: usize) -> Seen {
        let now_ns = self.now_ns();
        let mut seen = Seen::default();
        let c = &mut self.conns[key];
        let fresh = &self.buf[..n];
        if c.state == State::Upgrading {
            c.tail.extend_from_slice(fresh);
            match wire::parse_upgrade(&c.tail) {
                wire::Upgrade::Partial => return seen,
                wire::Upgrade::Refused => {
                    seen.malformed = true;
                    return seen;
                }
                wire::Upgrade::Switched(head) => {
                    c.tail.drain(..head);
                    c.state = State::Open;
                    self.dialing -= 1;
                    self.stats.upgrades += 1;
                    if c.kind == Kind::Stable {
                        self.receivers += 1;
                    }
                    if self.rooms > 0 {
                        wire::push_join(&mut c.out, c.mask, c.room);
                    }
                    if c.kind == Kind::Churner {
                        // Leave at once: the churn scenario measures connects and cleanup.
                        self.start_close(key);
                        return seen;
                    }
                }
            }
        } else if c.tail.is_empty() {
            let mut t = tally(
                &mut self.stats,
                &mut self.flow,
                self.receivers,
                now_ns,
                self.counting,
            );
            let used = c.on_frames(fresh, &mut t, &mut seen);
            c.tail.extend_from_slice(&fresh[used..]);
            return seen;
        } else {
            c.tail.extend_from_slice(fresh);
        }
        let c = &mut self.conns[key];
        let mut t = tally(
            &mut self.stats,
            &mut self.flow,
            self.receivers,
            now_ns,
            self.counting,
        );
        // Taken out for the parse and put back, so its capacity is kept.
        let mut tail = std::mem::take(&mut c.tail);
        let used = c.on_frames(&tail, &mut t, &mut seen);
        tail.drain(..used);
        c.tail = tail;
        seen
    }

    pub(super) fn start_close(&mut self, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.state != State::Open {
            return self.kill(key, true, "closed before open");
        }
        c.state = State::Closing;
        wire::push_control(&mut c.out, wire::OP_CLOSE, c.mask, &1000u16.to_be_bytes());
        if c.flush().is_err() {
            self.kill(key, true, "write failed");
        }
    }

    fn on_eof(&mut self, key: usize) {
        let asked = self
            .conns
            .get(key)
            .is_some_and(|c| c.state == State::Closing);
        self.kill(key, asked, "EOF");
    }

    /// Drops client `key`; `expected` tells whether we wanted it gone, `why` is kept
    /// as the last failure when it had not yet upgraded.
    fn kill(&mut self, key: usize, expected: bool, why: &str) {
        let Some(mut c) = self.conns.try_remove(key) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut c.sock);
        if c.state == State::Upgrading {
            self.dialing -= 1;
            self.failed(c.kind, why);
        } else {
            if !expected {
                self.stats.dropped += 1;
            }
            if c.kind == Kind::Stable {
                self.receivers -= 1;
                for f in &mut self.flow {
                    f.advance(self.receivers);
                }
            }
        }
        if c.kind == Kind::Churner {
            self.churners -= 1;
        }
        if let Some(p) = c.publisher {
            self.pubs[p as usize].conn = None;
        }
    }

    /// A client failed before its upgrade: a stable one is dialed again (a few times).
    fn failed(&mut self, kind: Kind, why: &str) {
        self.stats.refused += 1;
        self.stats.last_failure.clear();
        self.stats.last_failure.push_str(why);
        if kind == Kind::Stable && self.stats.redials < MAX_REDIALS {
            self.stats.redials += 1;
            self.to_open += 1;
        }
    }

    pub(super) fn publish_due(&mut self) {
        match self.mode {
            Mode::Off => {}
            Mode::Closed { window } => {
                for p in 0..self.pubs.len() {
                    while self.pubs[p].conn.is_some()
                        && self.pubs[p].sent < self.flow[p].echoed + window
                    {
                        self.send(p);
                    }
                }
            }
            Mode::Flow { window } => {
                let window = window.min(FLOW_RING as u64);
                for p in 0..self.pubs.len() {
                    while self.pubs[p].conn.is_some()
                        && self.pubs[p].sent < self.flow[p].done + window
                    {
                        self.send(p);
                    }
                }
            }
            Mode::Rate { per_sec } => {
                let due = (self.rate_start.elapsed().as_secs_f64() * per_sec) as u64 + 1;
                for p in 0..self.pubs.len() {
                    let base = self.rate_base.get(p).copied().unwrap_or(0);
                    while self.pubs[p].conn.is_some() && self.pubs[p].sent < base + due {
                        self.send(p);
                    }
                }
            }
        }
    }

    fn send(&mut self, p: usize) {
        let Some(key) = self.pubs[p].conn else {
            return;
        };
        let seq = self.pubs[p].sent;
        self.pubs[p].sent += 1;
        let ts = self.now_ns();
        let c = &mut self.conns[key];
        if self.rooms > 0 {
            wire::push_room_publish(&mut c.out, c.mask, c.room, p as u32, seq, ts);
        } else {
            wire::push_stamped(&mut c.out, c.mask, p as u32, seq, ts, PAYLOAD);
        }
        if c.flush().is_err() {
            self.kill(key, false, "write failed");
        }
    }
}

fn tally<'a>(
    stats: &'a mut Stats,
    flow: &'a mut [Flow],
    receivers: u32,
    now_ns: u64,
    counting: bool,
) -> Tally<'a> {
    Tally {
        now_ns,
        counting,
        hist: &mut stats.hist,
        deliveries: &mut stats.deliveries,
        total: &mut stats.total,
        order_errors: &mut stats.order_errors,
        foreign: &mut stats.foreign,
        flow,
        receivers,
    }
}
