//! Incremental HTTP/1.1 request-head parsing (httparse) and response building.

use std::io::Write as _;

/// Largest request head we accept (the cap lives in `limits`).
pub use crate::limits::MAX_HEAD;

/// Most header lines we look at (the cap lives in `limits`).
use crate::limits::MAX_HEADERS;

/// Request method, as far as routing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    /// Anything else (answered 405 on known paths).
    Other,
}

/// The parts of a request head the server uses; header values trimmed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub method: Option<Method>,
    /// Path without the query string, e.g. `/ws`.
    pub path: String,
    /// Raw query string without `?` (empty when absent).
    pub query: String,
    /// `Host` header.
    pub host: Option<String>,
    /// `Origin` header.
    pub origin: Option<String>,
    /// `Authorization` header.
    pub authorization: Option<String>,
    /// `Content-Type` header.
    pub content_type: Option<String>,
    /// `Upgrade` header contains the token `websocket` (case-insensitive).
    pub upgrade_websocket: bool,
    /// `Connection` header lists the token `upgrade` (case-insensitive, comma list).
    pub connection_upgrade: bool,
    /// `Sec-WebSocket-Version` header.
    pub ws_version: Option<String>,
    /// `Sec-WebSocket-Key` header.
    pub ws_key: Option<String>,
    /// `Sec-WebSocket-Extensions` header(s), repeats joined with `, ` (one list).
    pub ws_extensions: Option<String>,
    /// `Content-Length` header, when present and valid.
    pub content_length: Option<usize>,
    /// `Transfer-Encoding: chunked` was given (we answer 411/400: bodies must have a length).
    pub chunked: bool,
    /// `If-None-Match` header (validated against an asset's `ETag`).
    pub if_none_match: Option<String>,
}

/// Why a request head was rejected; each maps to a status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// Head larger than the limit: 431.
    HeadTooLarge,
    /// Not parseable as HTTP/1.x, or a bad header value: 400.
    Malformed(&'static str),
}

impl HttpError {
    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::HeadTooLarge => 431,
            HttpError::Malformed(_) => 400,
        }
    }
}

/// Parses a request head from the start of `buf`. `Ok(None)` means more bytes
/// are needed (nothing consumed); `Ok(Some((req, n)))` means the head is the
/// first `n` bytes and anything after belongs to the body or the WebSocket stream.
///
/// A head must end within the first `max_head` bytes: once `buf` holds
/// `max_head` bytes without a complete head the answer is
/// [`HttpError::HeadTooLarge`], so a caller that buffers at most `max_head`
/// bytes never waits forever.
pub fn parse_request(buf: &[u8], max_head: usize) -> Result<Option<(Request, usize)>, HttpError> {
    // Looking only at the allowed prefix bounds the work per call and turns an
    // over-long head, complete or not, into a partial one.
    let window = &buf[..buf.len().min(max_head)];
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let n = match parsed.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if window.len() >= max_head => {
            return Err(HttpError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::Malformed(httparse_reason(e))),
    };
    let mut req = Request {
        method: parsed.method.map(method_of),
        ..Request::default()
    };
    let target = parsed.path.unwrap_or("/");
    let (path, query) = split_target(target)?;
    req.path = path.to_owned();
    req.query = query.to_owned();
    for h in parsed.headers.iter() {
        read_header(&mut req, h.name, h.value)?;
    }
    Ok(Some((req, n)))
}

fn httparse_reason(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid request line",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "unsupported HTTP version",
    }
}

fn method_of(m: &str) -> Method {
    // Methods are case-sensitive (RFC 9110 section 9.1): `get` is not GET.
    match m {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        _ => Method::Other,
    }
}

/// Splits a request target into path and query; the absolute form
/// (`http://host/path`) must be accepted by servers too (RFC 9112 section 3.2.2).
fn split_target(target: &str) -> Result<(&str, &str), HttpError> {
    let (absolute, rest) = match strip_scheme(target) {
        Some(after) => {
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            (true, &after[end..])
        }
        None => (false, target),
    };
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if absolute && path.is_empty() {
        return Ok(("/", query));
    }
    if !path.starts_with('/') && path != "*" {
        return Err(HttpError::Malformed("invalid request target"));
    }
    Ok((path, query))
}

fn strip_scheme(target: &str) -> Option<&str> {
    ["http://", "https://"].iter().find_map(|scheme| {
        let head = target.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| &target[scheme.len()..])
    })
}

fn read_header(req: &mut Request, name: &str, raw: &[u8]) -> Result<(), HttpError> {
    let known = [
        "host",
        "origin",
        "authorization",
        "content-type",
        "upgrade",
        "connection",
        "sec-websocket-version",
        "sec-websocket-key",
        "sec-websocket-extensions",
        "content-length",
        "transfer-encoding",
        "if-none-match",
    ];
    let Some(&name) = known.iter().find(|k| k.eq_ignore_ascii_case(name)) else {
        return Ok(());
    };
    let value = std::str::from_utf8(raw.trim_ascii())
        .map_err(|_| HttpError::Malformed("header value is not UTF-8"))?;
    match name {
        "host" => set_once(&mut req.host, value, "duplicate Host header"),
        "if-none-match" => {
            // A list header: repeated lines are one list.
            let list = req.if_none_match.get_or_insert_with(String::new);
            if !list.is_empty() {
                list.push(',');
            }
            list.push_str(value);
            Ok(())
        }
        "origin" => set_once(&mut req.origin, value, "duplicate Origin header"),
        "authorization" => set_once(
            &mut req.authorization,
            value,
            "duplicate Authorization header",
        ),
        "content-type" => set_once(
            &mut req.content_type,
            value,
            "duplicate Content-Type header",
        ),
        "sec-websocket-version" => set_once(
            &mut req.ws_version,
            value,
            "duplicate Sec-WebSocket-Version header",
        ),
        "sec-websocket-key" => {
            set_once(&mut req.ws_key, value, "duplicate Sec-WebSocket-Key header")
        }
        // Repeated list headers are one list (RFC 9110 section 5.3).
        "sec-websocket-extensions" => {
            match &mut req.ws_extensions {
                Some(list) => {
                    list.push_str(", ");
                    list.push_str(value);
                }
                None => req.ws_extensions = Some(value.to_owned()),
            }
            Ok(())
        }
        "upgrade" => {
            req.upgrade_websocket |= has_token(value, "websocket");
            Ok(())
        }
        "connection" => {
            req.connection_upgrade |= has_token(value, "upgrade");
            Ok(())
        }
        "transfer-encoding" => {
            if !has_token(value, "chunked") {
                // Without chunked the body length is unknowable (RFC 9112 section 6.3).
                return Err(HttpError::Malformed("Transfer-Encoding without chunked"));
            }
            req.chunked = true;
            Ok(())
        }
        _ => read_content_length(req, value),
    }?;
    // Both framings at once is the classic request-smuggling shape.
    if req.chunked && req.content_length.is_some() {
        return Err(HttpError::Malformed(
            "both Content-Length and Transfer-Encoding",
        ));
    }
    Ok(())
}

fn set_once(slot: &mut Option<String>, value: &str, dup: &'static str) -> Result<(), HttpError> {
    if slot.is_some() {
        return Err(HttpError::Malformed(dup));
    }
    *slot = Some(value.to_owned());
    Ok(())
}

/// True when the comma-separated `list` holds `token`, ignoring ASCII case.
fn has_token(list: &str, token: &str) -> bool {
    list.split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Accepts repeated identical values, as a list or as several lines
/// (RFC 9110 section 8.6); anything else is an error.
fn read_content_length(req: &mut Request, value: &str) -> Result<(), HttpError> {
    for part in value.split(',') {
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HttpError::Malformed("invalid Content-Length"));
        }
        let n: usize = part
            .parse()
            .map_err(|_| HttpError::Malformed("invalid Content-Length"))?;
        match req.content_length {
            Some(old) if old != n => {
                return Err(HttpError::Malformed("conflicting Content-Length values"));
            }
            _ => req.content_length = Some(n),
        }
    }
    Ok(())
}

/// Returns the percent-decoded value of query parameter `name`, if present.
///
/// Decoding follows HTML forms: `+` is a space, `%XX` a byte, and a `%` not
/// followed by two hex digits stays as it is. A parameter without `=` has an
/// empty value; a value that is not UTF-8 once decoded counts as absent
/// (use [`query_value`] to tell it apart).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query_value(query, name).and_then(Result::ok)
}

/// Like [`query_param`], but a value present and not UTF-8 once decoded is
/// `Some(Err(NotUtf8))`, so a caller can refuse it instead of ignoring it.
pub fn query_value(query: &str, name: &str) -> Option<Result<String, NotUtf8>> {
    let query = query.strip_prefix('?').unwrap_or(query);
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(key, _)| percent_decode(key).is_some_and(|k| k == name))
        .map(|(_, value)| percent_decode(value).ok_or(NotUtf8))
}

/// A query value whose percent-decoded bytes are not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8;

fn percent_decode(s: &str) -> Option<String> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(b: Option<&u8>) -> Option<u8> {
    match *b? {
        b @ b'0'..=b'9' => Some(b - b'0'),
        b @ b'a'..=b'f' => Some(b - b'a' + 10),
        b @ b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Appends a complete response with `Content-Length` and `Connection: close`.
/// `extra_headers` are full lines without CRLF, e.g. `"Sec-WebSocket-Version: 13"`.
/// An empty `content_type` leaves the `Content-Type` line out.
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    extra_headers: &[&str],
    body: &[u8],
) {
    write_head(out, status, content_type, extra_headers, body.len());
    out.extend_from_slice(body);
}

/// Writes only the head of a response whose content is `length` bytes: for
/// `HEAD` and `304`, which carry no body but must not misstate its length
/// (RFC 9110 sections 8.6 and 15.4.5).
pub fn write_head(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    extra_headers: &[&str],
    length: usize,
) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "HTTP/1.1 {status} {}\r\n", reason(status));
    if !content_type.is_empty() {
        let _ = write!(out, "Content-Type: {content_type}\r\n");
    }
    let _ = write!(out, "Content-Length: {length}\r\nConnection: close\r\n");
    for line in extra_headers {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The reason phrase for a status code we use (RFC 9110 names), or a generic
/// phrase for its class.
pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Unknown",
        },
    }
}

#[cfg(test)]
mod tests;
