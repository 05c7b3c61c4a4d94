//! The byte pipe under a connection: plaintext in and out for http/codec/hub,
//! whatever the wire needs underneath.
//!
//! `Plain` is TCP as is; `Tls` (feature `tls`) holds the socket and its rustls
//! session in a box, so a plain connection pays only for the enum. `read` returns
//! plaintext into the shared read buffer, `write` takes plaintext from the
//! client's out buffer at the end-of-turn flush, `wants_write` reports wire
//! bytes still buffered inside the transport (so WRITABLE interest follows
//! them), and `shutdown_write` ends the stream the transport's way (TLS sends
//! close_notify before the FIN). Nothing above the reactor sees which it is.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

/// How one connection's bytes reach the wire.
#[derive(Debug)]
pub enum Transport {
    /// Plain TCP: what we read and write is what is on the wire.
    Plain(TcpStream),
    /// TLS over TCP (see `reactor::tls`).
    #[cfg(feature = "tls")]
    Tls(Box<super::tls::TlsStream>),
}

impl Transport {
    /// Reads plaintext into `buf`: `Ok(0)` at the peer's end of stream,
    /// `WouldBlock` when nothing more is available now.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.read(buf),
        }
    }

    /// Takes plaintext from `out`, returning how much was taken (`WouldBlock`
    /// when none can be taken now).
    pub fn write(&mut self, out: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(out),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.write(out),
        }
    }

    /// Writes wire bytes the transport still holds (none for `Plain`); done
    /// when `wants_write` turns false.
    pub fn flush_wire(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.flush_wire(),
        }
    }

    /// Heap bytes the transport may hold, for the memory budget: nothing for
    /// `Plain`; for `Tls`, an upper estimate of the session and its record buffers.
    pub fn heap_estimate(&self) -> usize {
        match self {
            Transport::Plain(_) => 0,
            #[cfg(feature = "tls")]
            Transport::Tls(_) => crate::limits::memory::TLS_STATE,
        }
    }

    /// The transport holds wire bytes that the socket did not take yet.
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.wants_write(),
        }
    }

    /// The peer's address (a syscall: asked only when a credential failed or
    /// is about to be checked, so no connection stores it).
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        match self {
            Transport::Plain(s) => s.peer_addr(),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.peer_addr(),
        }
    }

    /// Ends our direction of the stream (FIN); the peer may still send.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.shutdown(Shutdown::Write),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.shutdown_write(),
        }
    }
}

impl Source for Transport {
    fn register(&mut self, r: &Registry, token: Token, interest: Interest) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.register(r, token, interest),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.register(r, token, interest),
        }
    }

    fn reregister(&mut self, r: &Registry, token: Token, interest: Interest) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.reregister(r, token, interest),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.reregister(r, token, interest),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.deregister(r),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.deregister(r),
        }
    }
}
