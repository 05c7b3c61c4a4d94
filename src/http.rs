//! Incremental HTTP/1.1 request-head parsing (httparse) and response building.
//!
//! SKELETON: the public API below is fixed; bodies are to be written.

/// Largest request head we accept (request line + headers + blank line).
pub const MAX_HEAD: usize = 8 * 1024;

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
    /// `Upgrade` header contains the token `websocket` (case-insensitive).
    pub upgrade_websocket: bool,
    /// `Connection` header lists the token `upgrade` (case-insensitive, comma list).
    pub connection_upgrade: bool,
    /// `Sec-WebSocket-Version` header.
    pub ws_version: Option<String>,
    /// `Sec-WebSocket-Key` header.
    pub ws_key: Option<String>,
    /// `Content-Length` header, when present and valid.
    pub content_length: Option<usize>,
    /// `Transfer-Encoding: chunked` was given (we answer 411/400: bodies must have a length).
    pub chunked: bool,
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
pub fn parse_request(buf: &[u8], max_head: usize) -> Result<Option<(Request, usize)>, HttpError> {
    let _ = (buf, max_head);
    unimplemented!("http::parse_request")
}

/// Returns the percent-decoded value of query parameter `name`, if present.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    let _ = (query, name);
    unimplemented!("http::query_param")
}

/// Appends a complete response with `Content-Length` and `Connection: close`.
/// `extra_headers` are full lines without CRLF, e.g. `"Sec-WebSocket-Version: 13"`.
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    extra_headers: &[&str],
    body: &[u8],
) {
    let _ = (out, status, content_type, extra_headers, body);
    unimplemented!("http::write_response")
}

/// The reason phrase for a status code we use.
pub fn reason(status: u16) -> &'static str {
    let _ = status;
    unimplemented!("http::reason")
}
