//! Plain HTTP on the one listener: request assembly, routing, upgrades and small endpoints.

use crate::auth;
use crate::handshake;
use crate::http::{self, Method, Request};
use crate::metrics::Gauges;

use super::Server;
use super::conns::{Conns, HttpConn, Kind, Phase};
use crate::ClientId;

/// The chat page, compiled into the binary.
const PAGE: &str = include_str!("../../assets/index.html");

/// Where a path leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Page,
    Healthz,
    Metrics,
    Publish,
    Upgrade(Kind),
    NotFound,
}

fn route(path: &str) -> Route {
    match path {
        "/" | "/index.html" => Route::Page,
        "/healthz" => Route::Healthz,
        "/metrics" => Route::Metrics,
        // Both backend calls share the method, key and body rules.
        "/api/publish" | "/api/delete" => Route::Publish,
        "/ws" | "/socket" => Route::Upgrade(Kind::Ws),
        "/broadcast" => Route::Upgrade(Kind::Broadcast),
        "/echo" => Route::Upgrade(Kind::Echo),
        _ => Route::NotFound,
    }
}

/// Queues a complete response and starts closing the connection behind it.
pub(super) fn respond(
    conns: &mut Conns,
    id: ClientId,
    status: u16,
    content_type: &str,
    extra: &[&str],
    body: &[u8],
) {
    let mut out = Vec::with_capacity(160 + body.len());
    http::write_response(&mut out, status, content_type, extra, body);
    conns.queue_raw(id, &out);
    conns.enter_closing(id);
}

impl Server {
    /// Accumulates a request (head, then body) and answers it once complete.
    pub(super) fn ingest_http(&mut self, id: ClientId, bytes: &mut [u8]) {
        let Some(Phase::Http(pending)) = self.conns.get_mut(id).map(|c| &mut c.phase) else {
            return;
        };
        match pending.take() {
            // Common case: the whole request arrived in one read; parse it in place.
            None => self.request_bytes(id, bytes),
            Some(mut conn) => {
                conn.buf.extend_from_slice(bytes);
                let mut buf = std::mem::take(&mut conn.buf);
                self.request_bytes_buffered(id, conn, &mut buf);
            }
        }
    }

    fn request_bytes(&mut self, id: ClientId, bytes: &mut [u8]) {
        match http::parse_request(bytes, http::MAX_HEAD) {
            Ok(Some((req, head_len))) => self.with_head(id, req, head_len, bytes),
            Ok(None) => self.keep_partial(id, HttpConn::default(), bytes.to_vec()),
            Err(e) => self.bad_request(id, e),
        }
    }

    fn request_bytes_buffered(&mut self, id: ClientId, mut conn: Box<HttpConn>, buf: &mut Vec<u8>) {
        if let Some((req, head_len)) = conn.head.take() {
            return self.with_head(id, req, head_len, buf);
        }
        match http::parse_request(buf, http::MAX_HEAD) {
            Ok(Some((req, head_len))) => self.with_head(id, req, head_len, buf),
            Ok(None) => self.keep_partial(id, *std::mem::take(&mut conn), std::mem::take(buf)),
            Err(e) => self.bad_request(id, e),
        }
    }

    fn keep_partial(&mut self, id: ClientId, mut conn: HttpConn, buf: Vec<u8>) {
        conn.buf = buf;
        if let Some(c) = self.conns.get_mut(id) {
            c.phase = Phase::Http(Some(Box::new(conn)));
        }
    }

    fn bad_request(&mut self, id: ClientId, e: http::HttpError) {
        self.conns.metrics.handshake_failures += 1;
        let body: &[u8] = match e {
            http::HttpError::HeadTooLarge => b"request head too large\n",
            http::HttpError::Malformed(why) => why.as_bytes(),
        };
        respond(&mut self.conns, id, e.status(), "text/plain", &[], body);
    }

    /// The head is complete: wait for a body if one is due, else answer.
    fn with_head(&mut self, id: ClientId, req: Request, head_len: usize, bytes: &mut [u8]) {
        let route = route(&req.path);
        if route == Route::Publish && req.method == Some(Method::Post) {
            let limit = self.limits.max_message;
            let Some(len) = req.content_length else {
                // Chunked bodies are not supported: a backend can always send a length.
                return respond(
                    &mut self.conns,
                    id,
                    411,
                    "text/plain",
                    &[],
                    b"Content-Length required\n",
                );
            };
            if len > limit {
                return respond(
                    &mut self.conns,
                    id,
                    413,
                    "text/plain",
                    &[],
                    b"body too large\n",
                );
            }
            if bytes.len() < head_len + len {
                let conn = HttpConn {
                    buf: Vec::new(),
                    head: Some((req, head_len)),
                };
                return self.keep_partial(id, conn, bytes.to_vec());
            }
            let body = &bytes[head_len..head_len + len];
            return self.publish(id, &req, body);
        }
        let (_, rest) = bytes.split_at_mut(head_len);
        self.answer(id, route, &req, rest);
    }

    fn answer(&mut self, id: ClientId, route: Route, req: &Request, rest: &mut [u8]) {
        self.conns.metrics.http_requests += 1;
        let get = matches!(req.method, Some(Method::Get | Method::Head));
        let head_only = req.method == Some(Method::Head);
        let text = "text/plain; charset=utf-8";
        match route {
            Route::NotFound => respond(&mut self.conns, id, 404, text, &[], b"not found\n"),
            Route::Upgrade(kind) => self.upgrade(id, kind, req, rest),
            Route::Publish => respond(
                &mut self.conns,
                id,
                405,
                text,
                &["Allow: POST"],
                b"use POST\n",
            ),
            _ if !get => respond(
                &mut self.conns,
                id,
                405,
                text,
                &["Allow: GET, HEAD"],
                b"method not allowed\n",
            ),
            Route::Page => {
                let body = if head_only { &b""[..] } else { PAGE.as_bytes() };
                respond(
                    &mut self.conns,
                    id,
                    200,
                    "text/html; charset=utf-8",
                    &["Cache-Control: no-cache"],
                    body,
                );
            }
            Route::Healthz => {
                let body = format!(
                    "{{\"status\":\"ok\",\"connections\":{},\"rooms\":{},\"uptime_s\":{}{}}}\n",
                    self.conns.open_count(),
                    self.hub.rooms(),
                    self.started.elapsed().as_secs(),
                    crate::hub::store::health_json(self.hub.store_health().as_ref()),
                );
                let body = if head_only { "" } else { &body };
                respond(
                    &mut self.conns,
                    id,
                    200,
                    "application/json",
                    &[],
                    body.as_bytes(),
                );
            }
            Route::Metrics => {
                let gauges = Gauges {
                    connections: self.conns.open_count(),
                    ws_connections: self.hub.connections(),
                    rooms: self.hub.rooms(),
                    uptime_s: self.started.elapsed().as_secs(),
                };
                let mut body = self.conns.metrics.render(gauges);
                crate::hub::store::render_metrics(self.hub.store_health().as_ref(), &mut body);
                let body = if head_only { "" } else { &body };
                respond(
                    &mut self.conns,
                    id,
                    200,
                    "text/plain; version=0.0.4; charset=utf-8",
                    &[],
                    body.as_bytes(),
                );
            }
        }
    }

    /// Validates origin, token and handshake, answers 101 and opens the WebSocket.
    fn upgrade(&mut self, id: ClientId, kind: Kind, req: &Request, rest: &mut [u8]) {
        let text = "text/plain; charset=utf-8";
        if !origin_allowed(&self.config.allowed_origins, req) {
            self.conns.metrics.handshake_failures += 1;
            return respond(&mut self.conns, id, 403, text, &[], b"origin not allowed\n");
        }
        let accept = match handshake::accept_key(req) {
            Ok(accept) => accept,
            Err(e) => {
                self.conns.metrics.handshake_failures += 1;
                let extra: &[&str] = match e {
                    handshake::HandshakeError::BadVersion => &["Sec-WebSocket-Version: 13"],
                    handshake::HandshakeError::NotGet => &["Allow: GET"],
                    _ => &["Upgrade: websocket"],
                };
                return respond(
                    &mut self.conns,
                    id,
                    e.status(),
                    text,
                    extra,
                    e.message().as_bytes(),
                );
            }
        };
        let mut user = http::query_param(&req.query, "user");
        if let Some(secret) = &self.config.auth_secret {
            let token =
                http::query_param(&req.query, "token").or_else(|| bearer(req).map(str::to_owned));
            let now_unix = self.hub_now().unix_ms / 1000;
            match token
                .ok_or(auth::AuthError::Missing)
                .and_then(|t| auth::verify(&t, secret.as_bytes(), now_unix))
            {
                Ok(sub) => user = Some(sub),
                Err(e) => {
                    self.conns.metrics.handshake_failures += 1;
                    let body = format!("unauthorized: {e:?}\n");
                    return respond(
                        &mut self.conns,
                        id,
                        401,
                        text,
                        &["WWW-Authenticate: Bearer"],
                        body.as_bytes(),
                    );
                }
            }
        }
        // "server" is reserved: it marks messages from the publish API.
        if let Some(name) = &user
            && (name.is_empty()
                || name.chars().count() > 64
                || name.chars().any(char::is_control)
                || name == "server")
        {
            self.conns.metrics.handshake_failures += 1;
            return respond(
                &mut self.conns,
                id,
                400,
                text,
                &[],
                b"user must be 1-64 printable characters, and not \"server\"\n",
            );
        }
        let mut out = Vec::with_capacity(160);
        handshake::write_101(&mut out, &accept);
        self.conns.queue_raw(id, &out);
        log::debug!("client {}: upgraded on {}", id.0, req.path);
        self.open_ws(id, kind, user, rest);
    }

    /// `POST /api/publish`: checks the API id, hands the body to the hub.
    fn publish(&mut self, id: ClientId, req: &Request, body: &[u8]) {
        self.conns.metrics.http_requests += 1;
        let json = "application/json";
        if let Some(api_key) = &self.config.api_key
            && !bearer(req)
                .is_some_and(|given| constant_time_eq(given.as_bytes(), api_key.as_bytes()))
        {
            return respond(
                &mut self.conns,
                id,
                401,
                json,
                &["WWW-Authenticate: Bearer"],
                b"{\"error\":\"missing or wrong API key\"}\n",
            );
        }
        let now = self.hub_now();
        let result = if req.path == "/api/delete" {
            let deleted = self.hub.handle_delete(now, body, &mut self.outbox);
            deleted.map(|d| format!("{{\"deleted\":{d}}}\n"))
        } else {
            let delivered = self.hub.handle_publish(now, body, &mut self.outbox);
            delivered.map(|n| format!("{{\"delivered\":{n}}}\n"))
        };
        self.drain_outbox();
        match result {
            Ok(body) => {
                respond(&mut self.conns, id, 200, json, &[], body.as_bytes());
            }
            Err(e) => {
                let body = serde_json::json!({ "error": e.message }).to_string() + "\n";
                respond(&mut self.conns, id, e.status, json, &[], body.as_bytes());
            }
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(req: &Request) -> Option<&str> {
    let value = req.authorization.as_deref()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares secrets without leaking the position of the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Browsers send `Origin`; other clients do not, and Origin checks only protect browsers.
/// Allowed: no Origin, an Origin naming the same host as `Host`, or one in the list (`*` = any).
fn origin_allowed(allowed: &[String], req: &Request) -> bool {
    let Some(origin) = req.origin.as_deref() else {
        return true;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    req.host
        .as_deref()
        .is_some_and(|h| !host.is_empty() && h.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(origin: Option<&str>, host: &str) -> Request {
        Request {
            origin: origin.map(str::to_owned),
            host: Some(host.to_owned()),
            ..Request::default()
        }
    }

    #[test]
    fn origins() {
        let none: Vec<String> = Vec::new();
        assert!(origin_allowed(&none, &req(None, "a:1")));
        assert!(origin_allowed(&none, &req(Some("http://a:1"), "a:1")));
        assert!(origin_allowed(&none, &req(Some("https://A:1"), "a:1")));
        assert!(!origin_allowed(&none, &req(Some("http://evil"), "a:1")));
        assert!(!origin_allowed(&none, &req(Some("null"), "a:1")));
        let list = vec!["https://app.example".to_owned()];
        assert!(origin_allowed(
            &list,
            &req(Some("https://app.example"), "a:1")
        ));
        assert!(!origin_allowed(
            &list,
            &req(Some("https://other.example"), "a:1")
        ));
        assert!(origin_allowed(
            &["*".to_owned()],
            &req(Some("http://x"), "a:1")
        ));
    }

    #[test]
    fn bearer_tokens() {
        let mut r = Request {
            authorization: Some("Bearer abc.def".into()),
            ..Request::default()
        };
        assert_eq!(bearer(&r), Some("abc.def"));
        r.authorization = Some("Basic xyz".into());
        assert_eq!(bearer(&r), None);
        assert!(constant_time_eq(b"k1", b"k1"));
        assert!(!constant_time_eq(b"k1", b"k2"));
        assert!(!constant_time_eq(b"k1", b"k10"));
    }

    #[test]
    fn routes() {
        assert_eq!(route("/"), Route::Page);
        assert_eq!(route("/socket"), Route::Upgrade(Kind::Ws));
        assert_eq!(route("/echo"), Route::Upgrade(Kind::Echo));
        assert_eq!(route("/nope"), Route::NotFound);
    }
}
