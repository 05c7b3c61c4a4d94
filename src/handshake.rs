//! The WebSocket upgrade (RFC 6455 section 4.2): validate the request, answer 101.
//!
//! SKELETON: the public API below is fixed; bodies are to be written.

use crate::http::Request;

/// Why an upgrade request was refused; each maps to a status and a short body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not a GET: 405.
    NotGet,
    /// No `Upgrade: websocket` / `Connection: upgrade`: 426 (Upgrade Required).
    NotUpgrade,
    /// `Sec-WebSocket-Version` missing or not 13: 426 with `Sec-WebSocket-Version: 13`.
    BadVersion,
    /// `Sec-WebSocket-Key` missing or not 16 bytes of base64: 400.
    BadKey,
}

impl HandshakeError {
    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::NotGet => 405,
            HandshakeError::NotUpgrade | HandshakeError::BadVersion => 426,
            HandshakeError::BadKey => 400,
        }
    }

    /// A short human-readable body for the error response.
    pub fn message(&self) -> &'static str {
        match self {
            HandshakeError::NotGet => "WebSocket upgrade needs GET\n",
            HandshakeError::NotUpgrade => "this path needs a WebSocket upgrade\n",
            HandshakeError::BadVersion => "Sec-WebSocket-Version must be 13\n",
            HandshakeError::BadKey => "Sec-WebSocket-Key must be 16 bytes in base64\n",
        }
    }
}

/// Validates an upgrade request and returns the `Sec-WebSocket-Accept` value.
pub fn accept_key(req: &Request) -> Result<String, HandshakeError> {
    let _ = req;
    unimplemented!("handshake::accept_key")
}

/// Appends the `101 Switching Protocols` response for `accept` to `out`.
pub fn write_101(out: &mut Vec<u8>, accept: &str) {
    let _ = (out, accept);
    unimplemented!("handshake::write_101")
}
