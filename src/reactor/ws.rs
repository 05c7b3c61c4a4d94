//! What WebSocket messages do once decoded: raw broadcast, echo, or the JSON hub.

use crate::ClientId;
use crate::codec::{self, CodecError, Message, OpCode};
use crate::hub::{Output, RawAdmit};
use tungstenite::protocol::frame::coding::{Control, Data};

use super::conns::Kind;
use super::conns::Phase;
use super::{Server, pack};

pub const PING: OpCode = OpCode::Control(Control::Ping);
const PONG: OpCode = OpCode::Control(Control::Pong);
pub(super) const TEXT: OpCode = OpCode::Data(Data::Text);
pub(super) const BINARY: OpCode = OpCode::Data(Data::Binary);
const CLOSE: OpCode = OpCode::Control(Control::Close);

impl Server {
    /// Decodes WebSocket bytes in place and acts on each complete message.
    pub(super) fn ingest_ws(&mut self, id: ClientId, bytes: &mut [u8]) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let kind = c.kind();
        let deflate = c.deflate;
        let Phase::Open(state) = &mut c.phase else {
            return;
        };
        // The state leaves the slab while the callback runs, which may touch any client.
        let mut state = std::mem::take(state);
        let max = self.limits.max_message;
        // So does the shared inflater, lent only to a client that negotiated deflate.
        let mut inflater = self.pack.take_inflater(deflate);
        let result = state.decode_with(bytes, max, inflater.as_deref_mut(), |msg| {
            self.on_message(id, kind, msg)
        });
        self.pack.put_inflater(inflater);
        if let Err(e) = result {
            self.protocol_error(id, e);
            return;
        }
        if let Some(c) = self.conns.get_mut(id)
            && let Phase::Open(slot) = &mut c.phase
        {
            *slot = state;
        }
    }

    fn protocol_error(&mut self, id: ClientId, e: CodecError) {
        log::debug!("client {}: {e:?}, closing with {}", id.0, e.close_code());
        self.conns.metrics.protocol_errors += 1;
        let reason = match e {
            CodecError::Protocol(why) => why,
            CodecError::InvalidUtf8 => "invalid UTF-8",
            CodecError::TooBig => "message too big",
        };
        self.conns.close(id, e.close_code(), reason);
    }

    /// Handles one message; returns whether to keep decoding this client's input.
    fn on_message(&mut self, id: ClientId, kind: Kind, msg: Message<'_>) -> bool {
        match msg {
            Message::Text(text) => self.on_data(id, kind, TEXT, text.as_bytes()),
            Message::Binary(data) => self.on_data(id, kind, BINARY, data),
            Message::Ping(payload) => {
                self.frame_to(id, PONG, payload);
            }
            Message::Pong(_) => {}
            Message::Close(close) => {
                // Echo the peer's code (RFC 6455 5.5.1), then wait for its EOF.
                self.scratch.clear();
                match close {
                    Some((code, _)) => codec::encode_close(&mut self.scratch, code, ""),
                    None => codec::encode_frame(&mut self.scratch, CLOSE, b""),
                }
                self.conns.queue(id, &self.scratch);
                self.conns.enter_closing(id);
                return false;
            }
        }
        self.conns.get(id).is_some_and(|c| c.is_open())
    }

    fn on_data(&mut self, id: ClientId, kind: Kind, opcode: OpCode, payload: &[u8]) {
        self.conns.metrics.messages_in += 1;
        match kind {
            Kind::Broadcast => {
                if self.hub.raw_limited() {
                    let mono = self.started + std::time::Duration::from_millis(self.now);
                    match self.hub.raw_admit(mono, id) {
                        RawAdmit::Deliver => {}
                        RawAdmit::Drop => return,
                        RawAdmit::Close => {
                            return self.conns.close(id, 1008, "rate limit exceeded");
                        }
                    }
                }
                // Over Redis the frame comes back on the raw channel to every
                // node, this one included (see `redis_turn`); with Redis away
                // it stays on this node.
                #[cfg(feature = "redis")]
                if self.hub.cluster_raw(opcode == BINARY, payload) {
                    return;
                }
                // The hub says who; membership changes only after delivery (in `settle`).
                let to = self.hub.raw_recipients(id);
                let (conns, pack, scratch) = (&mut self.conns, &mut self.pack, &mut self.scratch);
                pack::send(conns, pack, scratch, (opcode, payload), to.iter().copied());
                self.conns.metrics.messages_out += to.len() as u64;
            }
            Kind::Echo => {
                self.conns.metrics.messages_out += 1;
                let (conns, pack, scratch) = (&mut self.conns, &mut self.pack, &mut self.scratch);
                pack::send(conns, pack, scratch, (opcode, payload), [id]);
            }
            Kind::Ws => {
                let now = self.hub_now();
                if opcode == TEXT {
                    // The codec has checked UTF-8 already.
                    let text = std::str::from_utf8(payload).unwrap_or_default();
                    self.hub.handle_text(now, id, text, &mut self.outbox);
                } else {
                    self.hub.handle_binary(now, id, &mut self.outbox);
                }
                self.drain_outbox();
            }
            Kind::Http => {}
        }
    }

    /// Encodes one frame and queues it for one client.
    fn frame_to(&mut self, id: ClientId, opcode: OpCode, payload: &[u8]) {
        self.scratch.clear();
        codec::encode_frame(&mut self.scratch, opcode, payload);
        self.conns.queue(id, &self.scratch);
    }

    /// Carries out what the hub asked for: each text framed once (and compressed
    /// at most once, for the recipients that negotiated deflate), copied to its recipients.
    pub(super) fn drain_outbox(&mut self) {
        for output in self.outbox.iter() {
            match output {
                Output::Text { to, text } => {
                    let (conns, pack, scratch) =
                        (&mut self.conns, &mut self.pack, &mut self.scratch);
                    let message = (TEXT, text.as_bytes());
                    pack::send(conns, pack, scratch, message, to.iter().copied());
                    self.conns.metrics.messages_out += to.len() as u64;
                }
                Output::Close {
                    client,
                    code,
                    reason,
                } => self.conns.close(client, code, reason),
            }
        }
        self.outbox.clear();
        self.enforce_budget();
    }

    /// Switches an upgraded client to WebSocket and decodes bytes that came with the request.
    pub(super) fn open_ws(
        &mut self,
        id: ClientId,
        kind: Kind,
        user: Option<String>,
        browser_key: Option<String>,
        rest: &mut [u8],
    ) {
        let generation = self.conns.open(id, kind);
        let ping = self.config.ping_interval.as_millis() as u64;
        self.timers.arm(self.now + ping, id.0, generation);
        match kind {
            Kind::Broadcast => {
                let mono = self.started + std::time::Duration::from_millis(self.now);
                self.hub.handle_raw_connect(mono, id);
            }
            Kind::Ws => {
                let now = self.hub_now();
                self.hub.handle_connect_keyed(
                    now,
                    id,
                    user.as_deref(),
                    browser_key.as_deref(),
                    &mut self.outbox,
                );
                self.drain_outbox();
            }
            Kind::Echo | Kind::Http => {}
        }
        if !rest.is_empty() {
            self.ingest_ws(id, rest);
        }
    }
}
