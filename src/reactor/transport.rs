//! The byte pipe under a connection: plaintext in and out for http/codec/hub,
//! whatever the wire needs underneath.
//!
//! Today only `Plain` exists. The seam is shaped for an encrypting transport
//! (a `Tls(Box<..>)` variant holding a rustls `ServerConnection`): `read` returns
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
}

impl Transport {
    /// Reads plaintext into `buf`: `Ok(0)` at the peer's end of stream,
    /// `WouldBlock` when nothing more is available now.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
        }
    }

    /// Takes plaintext from `out`, returning how much was taken (`WouldBlock`
    /// when none can be taken now).
    pub fn write(&mut self, out: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(out),
        }
    }

    /// Writes wire bytes the transport still holds (none for `Plain`); done
    /// when `wants_write` turns false.
    pub fn flush_wire(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
        }
    }

    /// The transport holds wire bytes that the socket did not take yet.
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
        }
    }

    /// Ends our direction of the stream (FIN); the peer may still send.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.shutdown(Shutdown::Write),
        }
    }
}

impl Source for Transport {
    fn register(&mut self, r: &Registry, token: Token, interest: Interest) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.register(r, token, interest),
        }
    }

    fn reregister(&mut self, r: &Registry, token: Token, interest: Interest) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.reregister(r, token, interest),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.deregister(r),
        }
    }
}
