//! The TLS transport inside the reactor: ciphertext from the socket, plaintext
//! into the shared read buffer; plaintext out encrypted once at the flush.
//!
//! http / handshake / codec / hub never see TLS: `readable_tls` hands them the
//! same plaintext chunks a plain connection's read would.

use std::io;

use crate::metrics::Metrics;
use crate::tls::{Ingress, TlsError};

use super::client::{Client, Phase};
use super::{READS_PER_TURN, Server};

impl Server {
    /// A new connection's TLS session (None when TLS is off); a failure drops the connection.
    pub(super) fn new_tls_session(&self) -> Result<Option<Box<crate::tls::TlsSession>>, ()> {
        match &self.tls {
            None => Ok(None),
            Some(acceptor) => match acceptor.session() {
                Ok(s) => Ok(Some(Box::new(s))),
                Err(e) => {
                    log::warn!("cannot start a TLS session: {e}");
                    Err(())
                }
            },
        }
    }

    /// Reads a TLS client until `WouldBlock` or its budget; returns false when the
    /// budget ran out (the caller puts it on the backlog).
    pub(super) fn readable_tls(&mut self, key: usize, buf: &mut [u8]) -> bool {
        for _ in 0..READS_PER_TURN {
            let Some(c) = self.conns.slab.get_mut(key) else {
                return true;
            };
            let Some(tls) = c.tls.as_mut() else {
                return true;
            };
            match tls.read_from(&mut c.stream) {
                Ok(Ingress::Eof) => {
                    self.peer_closed(key);
                    return true;
                }
                Ok(Ingress::Data(n)) => {
                    c.last_seen = self.now;
                    c.pinged = false;
                    self.conns.metrics.bytes_in += n as u64;
                    if tls.wants_write() {
                        // Handshake flight, alert or key update: goes out at this turn's flush.
                        self.conns.mark_dirty(key);
                    }
                    if !self.drain_plaintext(key, buf) {
                        return true;
                    }
                }
                Err(TlsError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(TlsError::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("client {key}: {e}, closing");
                    if matches!(c.phase, Phase::Http(_)) {
                        self.conns.metrics.handshake_failures += 1;
                    }
                    // Best effort: the alert rustls queued explains the close to the peer.
                    if !matches!(e, TlsError::NotTls(_)) {
                        let _ = tls.write_to(&mut c.stream);
                    }
                    self.conns.remove(self.poll.registry(), key);
                    return true;
                }
            }
        }
        false
    }

    /// Feeds every decrypted byte through `ingest`; false when the client is gone.
    fn drain_plaintext(&mut self, key: usize, buf: &mut [u8]) -> bool {
        loop {
            let Some(tls) = self.conns.slab.get_mut(key).and_then(|c| c.tls.as_mut()) else {
                return false;
            };
            let n = tls.take_plaintext(buf);
            if n == 0 {
                if tls.peer_closed() {
                    // close_notify: as good as EOF; the peer sends nothing more.
                    self.peer_closed(key);
                    return false;
                }
                return true;
            }
            self.ingest(key, &mut buf[..n]);
        }
    }
}

/// Encrypts the client's pending plaintext (once, all of it that rustls takes) and
/// writes the records. A closing client gets close_notify after its last bytes.
pub(super) fn flush_tls(c: &mut Client, metrics: &mut Metrics) -> io::Result<()> {
    let Some(tls) = c.tls.as_mut() else {
        return Ok(());
    };
    loop {
        if c.sent < c.out.len() {
            c.sent += tls.encrypt(&c.out[c.sent..]);
        }
        if c.sent == c.out.len() && matches!(c.phase, Phase::Closing) && !tls.is_handshaking() {
            tls.close();
        }
        if !tls.wants_write() {
            return Ok(());
        }
        match tls.write_to(&mut c.stream) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => metrics.bytes_out += n as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// All output is on the wire: plaintext taken, records written, and for a
/// closing client close_notify sent (so FIN may follow).
pub(super) fn tls_drained(c: &Client) -> bool {
    match &c.tls {
        None => true,
        Some(tls) => {
            c.pending() == 0
                && !tls.wants_write()
                && (!matches!(c.phase, Phase::Closing) || tls.close_queued())
        }
    }
}
