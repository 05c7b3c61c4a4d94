//! The TLS transport: a socket and its rustls session, seen from above as a
//! plaintext pipe (the `Tls` arm of the connection's transport).
//!
//! Read: ciphertext from the socket goes into rustls, the plaintext comes out
//! into the reactor's shared read buffer. Write: at the end-of-turn flush the
//! client's pending plaintext is encrypted once and written in one vectored
//! write; what the socket does not take stays in rustls (bounded by its 64 KiB
//! buffer limit; beyond that the plaintext waits in the client's `out`, where
//! `--max-pending` sees it).

use std::io;
use std::net::Shutdown;

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::tls::{Ingress, TlsError, TlsSession};

/// A TLS connection's socket and session (boxed in the transport, so a plain
/// connection does not pay for it).
#[derive(Debug)]
pub struct TlsStream {
    stream: TcpStream,
    session: TlsSession,
    /// Plaintext was handed over during the handshake: it leaves only once the
    /// handshake ends, so the connection is not drained yet (a 503 to a
    /// TLS client over the connection limit waits for its handshake).
    held_in_handshake: bool,
}

impl TlsStream {
    pub fn new(stream: TcpStream, session: TlsSession) -> TlsStream {
        TlsStream {
            stream,
            session,
            held_in_handshake: false,
        }
    }

    /// The peer's address, from the socket under the session.
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.stream.peer_addr()
    }

    /// Plaintext into `buf`: `Ok(0)` at EOF or close_notify, `WouldBlock` when the
    /// socket is empty. Handshake records are processed on the way; their answer
    /// makes `wants_write` true.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.session.take_plaintext(buf);
            if n > 0 {
                return Ok(n);
            }
            if self.session.peer_closed() {
                return Ok(0);
            }
            match self.session.read_from(&mut self.stream) {
                Ok(Ingress::Eof) => return Ok(0),
                Ok(Ingress::Data(_)) => {}
                Err(TlsError::Io(e)) => return Err(e),
                Err(e @ TlsError::NotTls(_)) => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
                }
                Err(e @ TlsError::Protocol(_)) => {
                    // Best effort: the alert rustls queued tells the peer why.
                    let _ = self.session.write_to(&mut self.stream);
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
                }
            }
        }
    }

    /// Encrypts as much of `out` as rustls takes and writes the records; returns
    /// the plaintext bytes taken (`WouldBlock` when none could be).
    pub fn write(&mut self, out: &[u8]) -> io::Result<usize> {
        let taken = self.session.encrypt(out);
        if taken > 0 && self.session.is_handshaking() {
            self.held_in_handshake = true;
        }
        self.flush_wire()?;
        if taken == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(taken)
    }

    /// Writes records rustls holds until it holds none or the socket is full.
    pub fn flush_wire(&mut self) -> io::Result<()> {
        while self.session.wants_write() {
            match self.session.write_to(&mut self.stream) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Records are waiting for the socket (or plaintext waits for the handshake).
    pub fn wants_write(&self) -> bool {
        self.session.wants_write() || (self.held_in_handshake && self.session.is_handshaking())
    }

    /// close_notify, then FIN. The alert is tiny and follows a drained buffer, so
    /// the socket takes it; if not, the FIN alone still ends the stream.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        if !self.session.is_handshaking() {
            self.session.close();
            self.flush_wire()?;
        }
        self.stream.shutdown(Shutdown::Write)
    }
}

impl Source for TlsStream {
    fn register(&mut self, r: &Registry, token: Token, interest: Interest) -> io::Result<()> {
        self.stream.register(r, token, interest)
    }

    fn reregister(&mut self, r: &Registry, token: Token, interest: Interest) -> io::Result<()> {
        self.stream.reregister(r, token, interest)
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        self.stream.deregister(r)
    }
}
