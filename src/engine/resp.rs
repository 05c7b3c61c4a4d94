//! RESP2 framing, sans-IO: commands are encoded into a caller's buffer, replies
//! are decoded incrementally from a byte slice (`Ok(None)` until a whole reply
//! is there), with bounds on sizes and nesting so a broken or hostile peer
//! costs an error, never unbounded memory.

use std::fmt;

/// Largest bulk string accepted (Redis' own default `proto-max-bulk-len` is 512 MB;
/// our payloads are messages and history entries, bounded far below this).
pub const MAX_BULK: usize = 16 << 20;
/// Most elements in one array reply (a history or member list).
pub const MAX_ARRAY: usize = 1 << 20;
/// Deepest nesting of arrays (our scripts return at most two levels).
pub const MAX_DEPTH: usize = 8;
/// Longest simple string, error or integer line.
pub const MAX_LINE: usize = 64 * 1024;

/// One decoded RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`
    Error(String),
    /// `:42`
    Int(i64),
    /// `$n` bytes, or `$-1` (`None`).
    Bulk(Option<Vec<u8>>),
    /// `*n` values, or `*-1` (`None`).
    Array(Option<Vec<Value>>),
}

impl Value {
    /// The integer of an `Int`, or of a bulk string that spells one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            Value::Bulk(Some(b)) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }

    /// The bytes of a bulk or simple string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(Some(b)) => Some(b),
            Value::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The elements of an array (a nil array is empty).
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(Some(v)) => Some(v),
            Value::Array(None) => Some(&[]),
            _ => None,
        }
    }
}

/// Why a reply could not be decoded: the connection cannot be trusted after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespError {
    /// A type byte RESP2 does not have.
    BadType(u8),
    /// A length or integer line that is not a number.
    BadNumber,
    /// A bulk string not followed by CRLF.
    BadTerminator,
    /// Over one of the bounds above.
    TooLarge(&'static str),
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::BadType(b) => write!(f, "unknown RESP type byte 0x{b:02x}"),
            RespError::BadNumber => f.write_str("bad RESP number"),
            RespError::BadTerminator => f.write_str("bulk string without CRLF"),
            RespError::TooLarge(what) => write!(f, "RESP {what} over the bound"),
        }
    }
}

/// Appends one command (an array of bulk strings) to `out`.
pub fn encode<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    push_header(out, b'*', args.len());
    for arg in args {
        let arg = arg.as_ref();
        push_header(out, b'$', arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_header(out: &mut Vec<u8>, kind: u8, n: usize) {
    out.push(kind);
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Decodes one reply from the front of `input`: `Ok(Some((value, used)))`,
/// `Ok(None)` when more bytes are needed, or an error for a broken stream.
pub fn decode(input: &[u8]) -> Result<Option<(Value, usize)>, RespError> {
    let mut at = 0;
    Ok(value(input, &mut at, 0)?.map(|v| (v, at)))
}

fn value(input: &[u8], at: &mut usize, depth: usize) -> Result<Option<Value>, RespError> {
    let Some(&kind) = input.get(*at) else {
        return Ok(None);
    };
    let Some(line) = line(input, *at + 1)? else {
        return Ok(None);
    };
    let text = &input[*at + 1..line];
    let next = line + 2;
    let value = match kind {
        b'+' => Value::Simple(String::from_utf8_lossy(text).into_owned()),
        b'-' => Value::Error(String::from_utf8_lossy(text).into_owned()),
        b':' => Value::Int(number(text)?),
        b'$' => {
            let n = number(text)?;
            if n < 0 {
                *at = next;
                return Ok(Some(Value::Bulk(None)));
            }
            let n = n as usize;
            if n > MAX_BULK {
                return Err(RespError::TooLarge("bulk string"));
            }
            if input.len() < next + n + 2 {
                return Ok(None);
            }
            if &input[next + n..next + n + 2] != b"\r\n" {
                return Err(RespError::BadTerminator);
            }
            *at = next + n + 2;
            return Ok(Some(Value::Bulk(Some(input[next..next + n].to_vec()))));
        }
        b'*' => {
            let n = number(text)?;
            if n < 0 {
                *at = next;
                return Ok(Some(Value::Array(None)));
            }
            if n as usize > MAX_ARRAY {
                return Err(RespError::TooLarge("array"));
            }
            if depth >= MAX_DEPTH {
                return Err(RespError::TooLarge("nesting"));
            }
            let mut cursor = next;
            // Capacity follows what arrived, not what the header claims.
            let mut items = Vec::with_capacity((n as usize).min(64));
            for _ in 0..n {
                match value(input, &mut cursor, depth + 1)? {
                    Some(v) => items.push(v),
                    None => return Ok(None),
                }
            }
            *at = cursor;
            return Ok(Some(Value::Array(Some(items))));
        }
        other => return Err(RespError::BadType(other)),
    };
    *at = next;
    Ok(Some(value))
}

/// The index of the CR of the line starting at `from`, if the line is complete.
fn line(input: &[u8], from: usize) -> Result<Option<usize>, RespError> {
    let rest = input.get(from..).unwrap_or(&[]);
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(i) if i > MAX_LINE => Err(RespError::TooLarge("line")),
        Some(i) => Ok(Some(from + i)),
        None if rest.len() > MAX_LINE => Err(RespError::TooLarge("line")),
        None => Ok(None),
    }
}

fn number(text: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or(RespError::BadNumber)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode(&mut out, &["SET", "k", ""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn every_prefix_of_a_reply_is_partial_and_the_whole_decodes() {
        let wire = b"*3\r\n:7\r\n$5\r\nhe\r\nl\r\n*2\r\n+OK\r\n$-1\r\n-ERR x\r\n";
        let first_len = wire.len() - b"-ERR x\r\n".len();
        for cut in 0..first_len {
            assert_eq!(decode(&wire[..cut]), Ok(None), "cut at {cut}");
        }
        let (v, used) = decode(wire).unwrap().unwrap();
        assert_eq!(used, first_len);
        assert_eq!(
            v,
            Value::Array(Some(vec![
                Value::Int(7),
                Value::Bulk(Some(b"he\r\nl".to_vec())),
                Value::Array(Some(vec![Value::Simple("OK".into()), Value::Bulk(None)])),
            ]))
        );
        let (e, n) = decode(&wire[used..]).unwrap().unwrap();
        assert_eq!((e, n), (Value::Error("ERR x".into()), 8));
    }

    #[test]
    fn broken_or_oversized_input_is_an_error() {
        assert_eq!(decode(b"?x\r\n"), Err(RespError::BadType(b'?')));
        assert_eq!(decode(b":x1\r\n"), Err(RespError::BadNumber));
        assert_eq!(decode(b"$2\r\nabXY"), Err(RespError::BadTerminator));
        let huge = format!("${}\r\n", MAX_BULK + 1);
        assert_eq!(
            decode(huge.as_bytes()),
            Err(RespError::TooLarge("bulk string"))
        );
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1);
        assert_eq!(decode(deep.as_bytes()), Err(RespError::TooLarge("nesting")));
        let long = vec![b'+'; MAX_LINE + 2];
        assert_eq!(decode(&long), Err(RespError::TooLarge("line")));
        // A claimed big array with nothing behind it costs no allocation up front.
        assert_eq!(decode(b"*1000000\r\n"), Ok(None));
    }
}
