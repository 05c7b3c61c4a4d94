//! Plain HTTP on the one listener: request assembly, routing, upgrades and small endpoints.

use crate::assets::{self, Asset};
use crate::auth;
use crate::handshake;
use crate::http::{self, Method, Request};
use crate::metrics::Gauges;
use crate::policy::{self, Refusal, bearer};

use super::Server;
use super::conns::{Conns, HttpConn, Kind, Phase};
use crate::ClientId;

/// Where a path leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Asset(&'static Asset),
    Healthz,
    Metrics,
    Publish,
    Upgrade(Kind),
    NotFound,
}

fn route(path: &str) -> Route {
    match path {
        "/healthz" => Route::Healthz,
        "/metrics" => Route::Metrics,
        // Both backend calls share the method, key and body rules.
        "/api/publish" | "/api/delete" => Route::Publish,
        "/ws" | "/socket" => Route::Upgrade(Kind::Ws),
        "/broadcast" => Route::Upgrade(Kind::Broadcast),
        "/echo" => Route::Upgrade(Kind::Echo),
        _ => assets::find(path).map_or(Route::NotFound, Route::Asset),
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
                let complete = conn.absorb(bytes);
                if !complete {
                    // Still short: keep the bytes where they are, parse nothing again.
                    if let Some(c) = self.conns.get_mut(id) {
                        c.phase = Phase::Http(Some(conn));
                    }
                    return;
                }
                let mut buf = std::mem::take(&mut conn.buf);
                self.request_bytes_buffered(id, conn, &mut buf);
            }
        }
    }

    fn request_bytes(&mut self, id: ClientId, bytes: &mut [u8]) {
        match http::parse_request(bytes, http::MAX_HEAD) {
            Ok(Some((req, head_len))) => self.with_head(id, req, head_len, bytes),
            Ok(None) => self.keep_partial(id, Box::default(), bytes.to_vec()),
            Err(e) => self.bad_request(id, e),
        }
    }

    fn request_bytes_buffered(&mut self, id: ClientId, mut conn: Box<HttpConn>, buf: &mut Vec<u8>) {
        if let Some((req, head_len)) = conn.head.take() {
            return self.publish_body(id, req, head_len, buf);
        }
        match http::parse_request(buf, http::MAX_HEAD) {
            Ok(Some((req, head_len))) => self.with_head(id, req, head_len, buf),
            Ok(None) => self.keep_partial(id, conn, std::mem::take(buf)),
            Err(e) => self.bad_request(id, e),
        }
    }

    fn keep_partial(&mut self, id: ClientId, mut conn: Box<HttpConn>, buf: Vec<u8>) {
        conn.buf = buf;
        if let Some(c) = self.conns.get_mut(id) {
            c.phase = Phase::Http(Some(conn));
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

    /// The head is complete: check it, wait for a body if one is due, else answer.
    fn with_head(&mut self, id: ClientId, req: Request, head_len: usize, bytes: &mut [u8]) {
        let listen = self.local_addr;
        if !policy::host_allowed(&self.config.allowed_hosts, listen, req.host.as_deref()) {
            self.conns.metrics.http_requests += 1;
            return self.refuse(id, policy::HOST_REFUSED);
        }
        let route = route(&req.path);
        if matches!(route, Route::Upgrade(_) | Route::Publish) && !self.memory_admits() {
            // Near the memory budget nothing new is taken on; health checks,
            // metrics and the page still answer.
            self.conns.metrics.memory_refused += 1;
            self.conns.metrics.handshake_failures += 1;
            let body = b"server busy: memory budget reached\n";
            return respond(&mut self.conns, id, 503, "text/plain", &[], body);
        }
        if route == Route::Publish && req.method == Some(Method::Post) {
            // Everything about the head is settled before a byte of body is kept.
            let checked_key = self.config.api_key.is_some();
            if checked_key && self.budget_used_up(id) {
                self.conns.metrics.http_requests += 1;
                return self.refuse(id, policy::TOO_MANY_FAILURES);
            }
            if let Err(refusal) = policy::publish_check(&self.config, listen, &req) {
                if refusal.status == 401 {
                    self.count_failure(id);
                }
                self.conns.metrics.http_requests += 1;
                return self.refuse(id, refusal);
            }
            return self.publish_body(id, req, head_len, bytes);
        }
        let (_, rest) = bytes.split_at_mut(head_len);
        self.answer(id, route, &req, rest);
    }

    /// A checked `POST /api/publish`: wait for its `Content-Length` body, then publish.
    fn publish_body(&mut self, id: ClientId, req: Request, head_len: usize, bytes: &mut [u8]) {
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
            // The one copy of the request: sized for all of it, never regrown.
            let mut buf = Vec::with_capacity(head_len + len);
            buf.extend_from_slice(bytes);
            let conn = Box::new(HttpConn {
                buf: Vec::new(),
                head: Some((req, head_len)),
            });
            return self.keep_partial(id, conn, buf);
        }
        let body = &bytes[head_len..head_len + len];
        self.publish(id, &req.path, body);
    }

    fn refuse(&mut self, id: ClientId, r: Refusal) {
        respond(
            &mut self.conns,
            id,
            r.status,
            r.content_type,
            r.extra,
            r.body,
        );
    }

    /// The client's address, asked of the socket only when a credential is at stake.
    fn peer_ip(&self, id: ClientId) -> Option<std::net::IpAddr> {
        let client = self.conns.get(id)?;
        client.transport.peer_addr().ok().map(|a| a.ip())
    }

    fn budget_used_up(&self, id: ClientId) -> bool {
        self.peer_ip(id)
            .is_some_and(|ip| self.failures.exhausted(ip, self.now))
    }

    fn count_failure(&mut self, id: ClientId) {
        if let Some(ip) = self.peer_ip(id) {
            self.failures.fail(ip, self.now);
        }
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
            Route::Asset(asset) => self.serve_asset(id, asset, req),
            Route::Healthz => {
                let mut body = policy::health_json(
                    self.conns.open_count(),
                    self.hub.rooms(),
                    self.started.elapsed().as_secs(),
                );
                let storage = crate::hub::store::health_json(self.hub.store_health().as_ref());
                if !storage.is_empty() {
                    // Into the object: before its closing brace and newline.
                    body.insert_str(body.len() - 2, &storage);
                }
                #[cfg(feature = "redis")]
                if let Some(state) = self.hub.engine_state() {
                    // `status` stays "ok": the node serves its clients with Redis away too.
                    body.insert_str(body.len() - 2, &format!(",\"engine\":\"{state}\""));
                }
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
                    memory: self.usage().total(),
                    memory_budget: self.limits.max_memory,
                };
                let mut body = self.conns.metrics.render(gauges);
                crate::hub::store::render_metrics(self.hub.store_health().as_ref(), &mut body);
                #[cfg(feature = "redis")]
                if let Some(engine) = self.hub.engine() {
                    crate::metrics::render_engine(&mut body, engine);
                }
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

    /// A compiled-in file: `304` when the browser's copy is current.
    fn serve_asset(&mut self, id: ClientId, asset: &Asset, req: &Request) {
        let etag = format!("ETag: {}", asset.etag());
        let mut extra = vec![etag.as_str(), "Cache-Control: no-cache"];
        if asset.shared {
            extra.push("Access-Control-Allow-Origin: *");
        }
        let fresh = asset.matches(req.if_none_match.as_deref());
        let status = if fresh { 304 } else { 200 };
        let mut out = Vec::with_capacity(256 + asset.body.len());
        http::write_head(
            &mut out,
            status,
            asset.content_type,
            &extra,
            asset.body.len(),
        );
        if !fresh && req.method != Some(Method::Head) {
            out.extend_from_slice(asset.body);
        }
        self.conns.queue_raw(id, &out);
        self.conns.enter_closing(id);
    }

    /// Validates origin, token, user name and handshake, answers 101 and opens the WebSocket.
    ///
    /// Who may connect is decided before the handshake is looked at, so a plain
    /// `GET` of a WebSocket URL (which a browser's `WebSocket` cannot do: it
    /// never sees the status of a refused upgrade) answers the refusal as text,
    /// or `426` when an upgrade with those parameters would be accepted.
    fn upgrade(&mut self, id: ClientId, kind: Kind, req: &Request, rest: &mut [u8]) {
        if req.method != Some(Method::Get) {
            let body = b"WebSocket upgrade needs GET\n";
            return self.refuse_upgrade(id, 405, &["Allow: GET"], body);
        }
        if !policy::origin_allowed(&self.config, self.local_addr, req) {
            return self.refuse_upgrade_with(id, policy::ORIGIN_REFUSED);
        }
        // A browser's random key: while a name is online, only its key may use it.
        let mut browser_key = http::query_param(&req.query, "key");
        let user = if self.config.auth_secret.is_some() {
            match self.authenticate(id, req) {
                Ok(sub) => {
                    // The token proves who this is: no key is needed to hold the name.
                    browser_key = None;
                    Some(sub)
                }
                Err(refusal) => return self.refuse_upgrade_with(id, refusal),
            }
        } else {
            match http::query_value(&req.query, "user") {
                None => None,
                Some(Ok(name)) => Some(name),
                Some(Err(http::NotUtf8)) => {
                    let body = policy::UserError::NotUtf8.message();
                    return self.refuse_upgrade(id, 400, &[], body);
                }
            }
        };
        if let Some(name) = &user
            && let Err(e) = policy::check_user(name)
        {
            return self.refuse_upgrade(id, 400, &[], e.message());
        }
        if let Some(name) = &user
            && let Err(taken) = self.hub.check_name(name, browser_key.as_deref())
        {
            let body = format!("{taken}\n");
            return self.refuse_upgrade(id, 409, &[], body.as_bytes());
        }
        let accept = match handshake::accept_key(req) {
            Ok(accept) => accept,
            Err(e) => {
                let extra: &[&str] = match e {
                    handshake::HandshakeError::BadVersion => &["Sec-WebSocket-Version: 13"],
                    handshake::HandshakeError::NotGet => &["Allow: GET"],
                    _ => &["Upgrade: websocket"],
                };
                return self.refuse_upgrade(id, e.status(), extra, e.message().as_bytes());
            }
        };
        let mut extensions = Vec::new();
        let deflate = self.pack.negotiate(req, &mut extensions);
        let mut out = Vec::with_capacity(160 + extensions.len());
        handshake::write_101(&mut out, &accept, &extensions);
        self.conns.queue_raw(id, &out);
        if let Some(c) = self.conns.get_mut(id) {
            c.deflate = deflate;
        }
        log::debug!("client {}: upgraded on {}", id.0, req.path);
        self.open_ws(id, kind, user, browser_key, rest);
    }

    /// Answers a WebSocket path without upgrading. Readable from any origin:
    /// a page elsewhere learns why it was refused (nothing here is secret, and
    /// a disallowed origin learns only that).
    fn refuse_upgrade(&mut self, id: ClientId, status: u16, extra: &[&str], body: &[u8]) {
        self.conns.metrics.handshake_failures += 1;
        let mut headers = extra.to_vec();
        headers.push("Access-Control-Allow-Origin: *");
        respond(
            &mut self.conns,
            id,
            status,
            "text/plain; charset=utf-8",
            &headers,
            body,
        );
    }

    fn refuse_upgrade_with(&mut self, id: ClientId, r: Refusal) {
        self.refuse_upgrade(id, r.status, r.extra, r.body);
    }

    /// The token of `?token=` or `Authorization: Bearer`, verified; its `sub` is the user.
    /// The reason for a refusal is logged, never sent: it would help a forger.
    fn authenticate(&mut self, id: ClientId, req: &Request) -> Result<String, Refusal> {
        if self.budget_used_up(id) {
            return Err(policy::TOO_MANY_FAILURES);
        }
        let token =
            http::query_param(&req.query, "token").or_else(|| bearer(req).map(str::to_owned));
        let now_unix = self.hub_now().unix_ms / 1000;
        let secret = self.config.auth_secret.as_deref().unwrap_or_default();
        let verdict = token
            .ok_or(auth::AuthError::Missing)
            .and_then(|t| auth::verify(&t, secret.as_bytes(), now_unix));
        verdict.map_err(|e| {
            log::debug!("client {}: token refused: {e}", id.0);
            self.count_failure(id);
            policy::UNAUTHORIZED
        })
    }

    /// `POST /api/publish` (or `/api/delete`) with a checked head: hands the body to the hub.
    fn publish(&mut self, id: ClientId, path: &str, body: &[u8]) {
        self.conns.metrics.http_requests += 1;
        let json = "application/json";
        let now = self.hub_now();
        let result = if path == "/api/delete" {
            let deleted = self.hub.handle_delete(now, body, &mut self.outbox);
            // `None`: over Redis the delete runs after this answer (202).
            deleted.map(|d| match d {
                Some(d) => (200, format!("{{\"deleted\":{d}}}\n")),
                None => (202, "{\"queued\":true}\n".to_owned()),
            })
        } else {
            let delivered = self.hub.handle_publish(now, body, &mut self.outbox);
            delivered.map(|n| (200, format!("{{\"delivered\":{n}}}\n")))
        };
        self.drain_outbox();
        match result {
            Ok((status, body)) => {
                respond(&mut self.conns, id, status, json, &[], body.as_bytes());
            }
            Err(e) => {
                let body = serde_json::json!({ "error": e.message }).to_string() + "\n";
                respond(&mut self.conns, id, e.status, json, &[], body.as_bytes());
            }
        }
    }
}

impl HttpConn {
    /// Appends bytes of a request that is still arriving; returns whether it
    /// may now be complete (worth parsing or answering). Cost is linear in the
    /// bytes received: the buffer is never re-copied, and an incomplete head is
    /// re-parsed only once its blank line may have arrived.
    pub(super) fn absorb(&mut self, bytes: &[u8]) -> bool {
        let old = self.buf.len();
        self.buf.extend_from_slice(bytes);
        match &self.head {
            Some((req, head_len)) => self.buf.len() >= head_len + req.content_length.unwrap_or(0),
            None => {
                // The terminator may straddle the previous read's end.
                let from = old.saturating_sub(3);
                let tail = &self.buf[from..];
                self.buf.len() > http::MAX_HEAD
                    || tail.windows(2).any(|w| w == b"\n\n")
                    || tail.windows(3).any(|w| w == b"\n\r\n")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_in_small_pieces_is_copied_once() {
        let body = vec![b'x'; 4000];
        let head = format!(
            "POST /api/publish HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let (req, head_len) = http::parse_request(head.as_bytes(), http::MAX_HEAD)
            .unwrap()
            .unwrap();
        // As `with_head` leaves it: the head and the first piece, sized for everything.
        let mut buf = Vec::with_capacity(head_len + body.len());
        buf.extend_from_slice(head.as_bytes());
        let mut conn = HttpConn {
            buf,
            head: Some((req, head_len)),
        };
        let start = conn.buf.as_ptr();
        for (i, piece) in body.chunks(7).enumerate() {
            let complete = conn.absorb(piece);
            assert_eq!(complete, (i + 1) * 7 >= body.len(), "piece {i}");
            assert_eq!(conn.buf.as_ptr(), start, "piece {i} moved the buffer");
        }
        assert_eq!(conn.buf.len(), head_len + body.len());
    }

    #[test]
    fn a_head_in_small_pieces_is_parsed_once_its_end_may_be_there() {
        let head = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut conn = HttpConn::default();
        let mut ready = Vec::new();
        for piece in head.chunks(1) {
            ready.push(conn.absorb(piece));
        }
        // Only the last byte (the final \n of \r\n\r\n) can complete the head.
        assert_eq!(ready.iter().filter(|r| **r).count(), 1);
        assert!(ready[ready.len() - 1]);
        // Past the size limit it must be parsed (to be refused with 431).
        let mut conn = HttpConn::default();
        assert!(!conn.absorb(&[b'a'; 100]));
        assert!(conn.absorb(&vec![b'a'; http::MAX_HEAD]));
    }

    #[test]
    fn routes() {
        assert!(matches!(route("/"), Route::Asset(a) if a.path == "/"));
        assert!(matches!(route("/loopcast.js"), Route::Asset(a) if a.shared));
        assert_eq!(route("/socket"), Route::Upgrade(Kind::Ws));
        assert_eq!(route("/echo"), Route::Upgrade(Kind::Echo));
        assert_eq!(route("/nope"), Route::NotFound);
    }
}
