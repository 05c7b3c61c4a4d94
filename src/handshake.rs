//! The WebSocket upgrade (RFC 6455 section 4.2): validate the request, answer 101.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::http::{Method, Request};

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
///
/// Checks run in the order of the error variants, so a plain browser visit to
/// a WebSocket path gets `NotUpgrade` (426) rather than a complaint about keys.
pub fn accept_key(req: &Request) -> Result<String, HandshakeError> {
    if req.method != Some(Method::Get) {
        return Err(HandshakeError::NotGet);
    }
    if !(req.upgrade_websocket && req.connection_upgrade) {
        return Err(HandshakeError::NotUpgrade);
    }
    if req.ws_version.as_deref() != Some("13") {
        return Err(HandshakeError::BadVersion);
    }
    let key = req.ws_key.as_deref().ok_or(HandshakeError::BadKey)?;
    if !is_valid_key(key) {
        return Err(HandshakeError::BadKey);
    }
    Ok(tungstenite::handshake::derive_accept_key(key.as_bytes()))
}

/// A key is 16 bytes in padded base64, which is always 24 characters
/// (RFC 6455 section 4.1); checking the length first keeps decoding on the stack.
fn is_valid_key(key: &str) -> bool {
    let mut decoded = [0u8; 18];
    key.len() == 24 && STANDARD.decode_slice(key, &mut decoded) == Ok(16)
}

/// The request's first acceptable permessage-deflate offer (RFC 7692 section 5),
/// if it makes one; declined offers leave the connection uncompressed.
#[cfg(feature = "deflate")]
pub fn deflate_agreement(req: &Request) -> Option<crate::deflate::Agreement> {
    crate::deflate::negotiate(req.ws_extensions.as_deref()?)
}

/// Appends the `101 Switching Protocols` response for `accept` to `out`, with
/// `headers` (complete CRLF-ended lines, e.g. `Sec-WebSocket-Extensions`) before the blank line.
pub fn write_101(out: &mut Vec<u8>, accept: &str, headers: &[u8]) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: ",
    );
    out.extend_from_slice(accept.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(headers);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The opening handshake of RFC 6455 section 1.3, as a parsed request.
    fn rfc_request() -> Request {
        Request {
            method: Some(Method::Get),
            path: "/chat".into(),
            host: Some("server.example.com".into()),
            origin: Some("http://example.com".into()),
            upgrade_websocket: true,
            connection_upgrade: true,
            ws_version: Some("13".into()),
            ws_key: Some("dGhlIHNhbXBsZSBub25jZQ==".into()),
            ..Request::default()
        }
    }

    #[test]
    fn rfc6455_sample_key() {
        assert_eq!(
            accept_key(&rfc_request()).as_deref(),
            Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
    }

    #[test]
    fn parsed_browser_request_is_accepted() {
        let buf = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\n\
Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        let (req, _) = crate::http::parse_request(buf, crate::http::MAX_HEAD)
            .unwrap()
            .unwrap();
        assert_eq!(
            accept_key(&req).as_deref(),
            Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
    }

    #[test]
    fn method_must_be_get() {
        for method in [Method::Head, Method::Post, Method::Other] {
            let req = Request {
                method: Some(method),
                ..rfc_request()
            };
            assert_eq!(accept_key(&req), Err(HandshakeError::NotGet));
        }
        let req = Request {
            method: None,
            ..rfc_request()
        };
        assert_eq!(accept_key(&req), Err(HandshakeError::NotGet));
        assert_eq!(HandshakeError::NotGet.status(), 405);
    }

    #[test]
    fn both_upgrade_headers_are_needed() {
        let no_upgrade = Request {
            upgrade_websocket: false,
            ..rfc_request()
        };
        let no_connection = Request {
            connection_upgrade: false,
            ..rfc_request()
        };
        for req in [no_upgrade, no_connection] {
            assert_eq!(accept_key(&req), Err(HandshakeError::NotUpgrade));
        }
        assert_eq!(HandshakeError::NotUpgrade.status(), 426);
    }

    #[test]
    fn version_must_be_13() {
        for version in [
            None,
            Some(""),
            Some("8"),
            Some("12"),
            Some("13, 8"),
            Some("013"),
        ] {
            let req = Request {
                ws_version: version.map(str::to_owned),
                ..rfc_request()
            };
            assert_eq!(
                accept_key(&req),
                Err(HandshakeError::BadVersion),
                "{version:?}"
            );
        }
        assert_eq!(HandshakeError::BadVersion.status(), 426);
    }

    #[test]
    fn key_must_be_16_bytes_of_padded_base64() {
        for key in [
            None,
            Some(""),
            // 15, 17 and 18 bytes.
            Some("dGhlIHNhbXBsZSBub25j"),
            Some("dGhlIHNhbXBsZSBub25jZSE="),
            Some("dGhlIHNhbXBsZSBub25jZSEh"),
            // Unpadded, URL-safe alphabet, stray characters, non-canonical trailing bits.
            Some("dGhlIHNhbXBsZSBub25jZQ"),
            Some("-_hlIHNhbXBsZSBub25jZQ=="),
            Some("dGhlIHNhbXBsZSBub25jZQ=!"),
            Some("dGhlIHNhbXBsZSBub25jZR=="),
        ] {
            let req = Request {
                ws_key: key.map(str::to_owned),
                ..rfc_request()
            };
            assert_eq!(accept_key(&req), Err(HandshakeError::BadKey), "{key:?}");
        }
        assert_eq!(HandshakeError::BadKey.status(), 400);
    }

    #[test]
    fn other_16_byte_keys_are_accepted() {
        // A key of sixteen 0xff bytes uses `+` and `/` of the standard alphabet.
        let req = Request {
            ws_key: Some("/////////////////////w==".into()),
            ..rfc_request()
        };
        // Expected value computed independently (Python hashlib + base64).
        assert_eq!(
            accept_key(&req).as_deref(),
            Ok("XXpj4jYzLM2yUE0C7TIgMwTQh2g=")
        );
    }

    #[test]
    fn response_101_bytes_are_exact() {
        let mut out = b"x".to_vec();
        write_101(&mut out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", b"");
        assert_eq!(
            out,
            b"xHTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
\r\n"
        );
    }

    #[test]
    fn response_101_carries_extra_headers() {
        let mut out = Vec::new();
        write_101(
            &mut out,
            "k",
            b"Sec-WebSocket-Extensions: permessage-deflate\r\n",
        );
        assert!(out.ends_with(
            b"Sec-WebSocket-Accept: k\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        ));
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn deflate_offer_from_repeated_extension_headers() {
        let buf = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
        let (req, _) = crate::http::parse_request(buf, crate::http::MAX_HEAD)
            .unwrap()
            .unwrap();
        let agreement = deflate_agreement(&req).unwrap();
        assert!(!agreement.server_max_window_bits);
        assert_eq!(deflate_agreement(&rfc_request()), None);
    }

    #[test]
    fn every_error_has_a_one_line_message() {
        for e in [
            HandshakeError::NotGet,
            HandshakeError::NotUpgrade,
            HandshakeError::BadVersion,
            HandshakeError::BadKey,
        ] {
            let m = e.message();
            assert!(m.ends_with('\n') && m.matches('\n').count() == 1, "{m:?}");
        }
    }
}
