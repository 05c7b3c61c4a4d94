//! One TLS connection as bytes in, bytes out: no socket, no timers, no threads.
//!
//! Read side: ciphertext comes from a socket read (`read_from`), is decrypted
//! by rustls, and the plaintext is moved into the reactor's shared read buffer
//! (`take_plaintext`), where http / codec / hub see exactly what a plain
//! connection would give them. Write side: at the end-of-turn flush the
//! client's pending plaintext is encrypted once (`encrypt`) and the records go
//! out in one vectored write (`write_to`).

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::{ServerConfig, ServerConnection};

/// The first byte of every TLS record that can start a connection (handshake).
const HANDSHAKE_RECORD: u8 = 0x16;

/// What one `read_from` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// This many ciphertext bytes were read and processed (plaintext may be waiting).
    Data(usize),
    /// The socket reached EOF.
    Eof,
}

/// Why a TLS connection cannot go on.
#[derive(Debug)]
pub enum TlsError {
    /// The first byte was not a TLS handshake record: most likely plain HTTP on the TLS port.
    NotTls(u8),
    /// The socket failed.
    Io(io::Error),
    /// The peer broke the protocol (bad ClientHello, bad record, failed handshake).
    Protocol(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::NotTls(b) => write!(f, "not TLS (first byte {b:#04x}; plain HTTP?)"),
            TlsError::Io(e) => write!(f, "read failed: {e}"),
            TlsError::Protocol(e) => write!(f, "TLS error: {e}"),
        }
    }
}

/// Server side of one TLS connection (boxed inside the reactor's client).
pub struct TlsSession {
    conn: ServerConnection,
    /// Whether the first ciphertext byte was seen (and checked).
    sniffed: bool,
    /// Our close_notify is queued.
    close_queued: bool,
    /// The peer's close_notify arrived.
    peer_closed: bool,
}

impl fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSession")
            .field("handshaking", &self.conn.is_handshaking())
            .field("close_queued", &self.close_queued)
            .finish()
    }
}

impl TlsSession {
    /// A session using `config` for its whole life (a reload does not touch it).
    pub fn new(config: Arc<ServerConfig>) -> Result<TlsSession, rustls::Error> {
        let mut conn = ServerConnection::new(config)?;
        conn.set_buffer_limit(Some(crate::limits::TLS_BUFFERED));
        Ok(TlsSession {
            conn,
            sniffed: false,
            close_queued: false,
            peer_closed: false,
        })
    }

    /// Reads what `src` has (one read) and processes the records. Records that
    /// rustls must answer (handshake flights, alerts) make [`wants_write`](Self::wants_write) true.
    pub fn read_from(&mut self, src: &mut dyn Read) -> Result<Ingress, TlsError> {
        let n = if self.sniffed {
            self.conn.read_tls(src)
        } else {
            let mut first = FirstByte {
                inner: src,
                byte: None,
            };
            let n = self.conn.read_tls(&mut first);
            if let Some(b) = first.byte {
                self.sniffed = true;
                if b != HANDSHAKE_RECORD {
                    return Err(TlsError::NotTls(b));
                }
            }
            n
        }
        .map_err(TlsError::Io)?;
        if n == 0 {
            return Ok(Ingress::Eof);
        }
        let state = self
            .conn
            .process_new_packets()
            .map_err(TlsError::Protocol)?;
        self.peer_closed |= state.peer_has_closed();
        Ok(Ingress::Data(n))
    }

    /// Moves decrypted bytes into `buf`; returns how many (0 when none are waiting).
    pub fn take_plaintext(&mut self, buf: &mut [u8]) -> usize {
        // Ok(0) is a clean close_notify, WouldBlock is "nothing yet", UnexpectedEof
        // an unclean end: none of them carries data, and `peer_closed` tells them apart.
        self.conn.reader().read(buf).unwrap_or(0)
    }

    /// The peer sent close_notify (after which no more data comes).
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Encrypts as much of `plain` as rustls's outgoing buffer takes; returns
    /// how many bytes were taken (the rest stays queued in the client's output,
    /// where it counts against `--max-pending`).
    pub fn encrypt(&mut self, plain: &[u8]) -> usize {
        if plain.is_empty() {
            return 0;
        }
        // Writing into rustls's buffers cannot fail; before the handshake ends the
        // bytes wait in rustls and go out encrypted once it does.
        self.conn.writer().write(plain).unwrap_or(0)
    }

    /// Writes queued records to `dst` (one vectored write); returns bytes written.
    pub fn write_to(&mut self, dst: &mut dyn Write) -> io::Result<usize> {
        self.conn.write_tls(dst)
    }

    /// Records are waiting to be written.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Queues close_notify once (after everything encrypted so far).
    pub fn close(&mut self) {
        if !self.close_queued {
            self.close_queued = true;
            self.conn.send_close_notify();
        }
    }

    /// close_notify is queued (it may not be written yet).
    pub fn close_queued(&self) -> bool {
        self.close_queued
    }

    /// Still in the TLS handshake.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The negotiated ALPN protocol, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }
}

/// Remembers the first byte read through it.
struct FirstByte<'a> {
    inner: &'a mut dyn Read,
    byte: Option<u8>,
}

impl Read for FirstByte<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 && self.byte.is_none() {
            self.byte = Some(buf[0]);
        }
        Ok(n)
    }
}
