//! permessage-deflate negotiation (RFC 7692 section 7): read the client's offers, pick one, answer.

/// The extension token (RFC 7692 section 7).
const NAME: &str = "permessage-deflate";

/// The LZ77 window the shared deflater uses (2^15 = 32 KiB, the deflate maximum).
/// One deflater serves every client, so a client asking for a smaller server
/// window is declined rather than given a deflater of its own.
pub const SERVER_WINDOW_BITS: u8 = 15;

/// What an accepted offer asked for that changes our answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreement {
    /// The offer named `server_max_window_bits` (necessarily 15, see
    /// [`SERVER_WINDOW_BITS`]); the answer must then repeat it.
    pub server_max_window_bits: bool,
}

impl Agreement {
    /// Appends the `Sec-WebSocket-Extensions` response header line (with CRLF).
    ///
    /// Always `server_no_context_takeover`: each message is an independent
    /// raw-deflate stream, so one compressed frame serves every recipient.
    /// Always `client_no_context_takeover`: RFC 7692 section 7.1.1.2 lets a
    /// server require it whether or not the client offered it, and it lets the
    /// one shared inflater start afresh for every message. A client that sends a
    /// message that refers back to an earlier one anyway fails to inflate and is
    /// closed with 1002, alone.
    pub fn write_header(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            b"Sec-WebSocket-Extensions: permessage-deflate; \
server_no_context_takeover; client_no_context_takeover",
        );
        if self.server_max_window_bits {
            out.extend_from_slice(b"; server_max_window_bits=15");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Picks the first acceptable `permessage-deflate` offer from the
/// `Sec-WebSocket-Extensions` header value(s) (repeated headers joined with `,`).
///
/// An offer is declined, and the next one considered, when it has an unknown
/// or repeated parameter, a value where none belongs, a window-bits value that
/// is not a decimal 8-15 without leading zeros (section 7.1.2), or a
/// `server_max_window_bits` below [`SERVER_WINDOW_BITS`]. `client_max_window_bits`
/// is accepted with or without a value and not repeated in the answer: our
/// inflater keeps a 32 KiB window, which decodes any smaller one. Offers of other
/// extensions are skipped. Nothing here can fail: a header we cannot read is
/// a declined offer, and the connection goes on uncompressed.
pub fn negotiate(header: &str) -> Option<Agreement> {
    split_outside_quotes(header, b',').find_map(accept_offer)
}

/// The agreement for one offer (`name; param; param=value ...`), if acceptable.
fn accept_offer(offer: &str) -> Option<Agreement> {
    let mut parts = split_outside_quotes(offer, b';');
    if !parts.next()?.trim().eq_ignore_ascii_case(NAME) {
        return None;
    }
    let mut seen = [false; 4];
    let mut agreement = Agreement {
        server_max_window_bits: false,
    };
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(unquote(value.trim())?)),
            None => (param.trim(), None),
        };
        let index = match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() => 0,
            "client_no_context_takeover" if value.is_none() => 1,
            "server_max_window_bits" => {
                if window_bits(value?)? < SERVER_WINDOW_BITS {
                    return None;
                }
                agreement.server_max_window_bits = true;
                2
            }
            "client_max_window_bits" => {
                if let Some(value) = value {
                    window_bits(value)?;
                }
                3
            }
            _ => return None,
        };
        if std::mem::replace(&mut seen[index], true) {
            return None;
        }
    }
    Some(agreement)
}

/// A window-bits value: a decimal 8-15 without leading zeros.
fn window_bits(value: &str) -> Option<u8> {
    match value.as_bytes() {
        [d @ b'8'..=b'9'] => Some(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Some(10 + d - b'0'),
        _ => None,
    }
}

/// A parameter value as a token: a quoted string loses its quotes (RFC 6455
/// section 9.1 allows either form); an escape or a stray quote declines the offer.
fn unquote(value: &str) -> Option<&str> {
    let inner = match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?,
        None => value,
    };
    let token = |b: u8| b.is_ascii_graphic() && !b"\"\\(),/:;<=>?@[]{}".contains(&b);
    (!inner.is_empty() && inner.bytes().all(token)).then_some(inner)
}

/// Splits on `sep` except inside double quotes, so `a="x,y", b` is two items.
fn split_outside_quotes(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        let mut quoted = false;
        for (i, b) in s.bytes().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b if b == sep && !quoted => {
                    rest = Some(&s[i + 1..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Agreement = Agreement {
        server_max_window_bits: false,
    };

    fn answer(header: &str) -> Option<String> {
        let agreement = negotiate(header)?;
        let mut out = Vec::new();
        agreement.write_header(&mut out);
        Some(String::from_utf8(out).unwrap())
    }

    #[test]
    fn rfc7692_examples() {
        // Section 7.1.1.1/7.1.2.2 style offers, and Chromium's and Firefox's.
        for offer in [
            "permessage-deflate",
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; client_max_window_bits=10",
            "permessage-deflate; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover",
            "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
            "permessage-deflate;client_max_window_bits=\"10\"",
            "PerMessage-Deflate; Client_Max_Window_Bits",
        ] {
            assert_eq!(negotiate(offer), Some(PLAIN), "{offer}");
        }
        assert_eq!(
            answer("permessage-deflate; client_max_window_bits").unwrap(),
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
client_no_context_takeover\r\n"
        );
    }

    #[test]
    fn server_window_below_ours_is_declined_and_the_next_offer_taken() {
        // Section 7.1.3's example list: a window limit first, a fallback after it.
        let header = "permessage-deflate; server_max_window_bits=10, permessage-deflate";
        assert_eq!(negotiate(header), Some(PLAIN));
        assert_eq!(
            negotiate("permessage-deflate; server_max_window_bits=10"),
            None
        );
        assert_eq!(
            negotiate("permessage-deflate; server_max_window_bits=8"),
            None
        );
        let full = negotiate("permessage-deflate; server_max_window_bits=15").unwrap();
        assert!(full.server_max_window_bits);
        assert!(
            answer("permessage-deflate; server_max_window_bits=15")
                .unwrap()
                .ends_with("; server_max_window_bits=15\r\n")
        );
    }

    #[test]
    fn malformed_offers_are_declined() {
        for offer in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=015",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=",
            "permessage-deflate; client_max_window_bits=abc",
            "permessage-deflate; client_max_window_bits=\"10",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "permessage-deflate; unknown_param",
            "permessage-deflate; ",
            "x-webkit-deflate-frame",
            "",
            ",,,;;;===\"",
        ] {
            assert_eq!(negotiate(offer), None, "{offer:?}");
        }
    }

    #[test]
    fn first_acceptable_of_several_offers() {
        let header = "x-webkit-deflate-frame, permessage-deflate; bogus, \
permessage-deflate; client_max_window_bits=\"9\", permessage-deflate; server_max_window_bits=15";
        assert_eq!(negotiate(header), Some(PLAIN));
        // A comma inside a quoted value does not split the offer.
        assert_eq!(
            negotiate("permessage-deflate; client_max_window_bits=\"1,0\""),
            None
        );
    }

    #[test]
    fn window_bits_range() {
        for (text, bits) in [("8", 8), ("9", 9), ("10", 10), ("15", 15)] {
            assert_eq!(window_bits(text), Some(bits));
        }
        for text in ["7", "16", "08", "1", "+9", " 9", "150"] {
            assert_eq!(window_bits(text), None, "{text}");
        }
    }
}
