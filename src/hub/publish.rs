//! `POST /api/publish`: a backend's message to a room, a user, or everyone.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::failure::Failure;
use super::home::{Asker, Done, Sequenced};
use super::{Hub, Now, Outbox, PublishError};
use crate::protocol::{self, Scope};

/// Messages from the API carry this `from`.
pub(super) const SERVER_JSON: &str = r#""server""#;

/// Where an `/api/publish` message goes.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(super) enum Target {
    Room(String),
    User(String),
    All,
}

#[derive(Deserialize)]
struct Body<'a> {
    room: Option<String>,
    user: Option<String>,
    all: Option<bool>,
    #[serde(borrow, default, deserialize_with = "present")]
    message: Option<&'a RawValue>,
}

/// Keeps a present `null` message as `null` instead of "absent".
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// The answer when the room's home (Redis) cannot take the action now.
fn unreachable_redis() -> PublishError {
    PublishError {
        status: 503,
        message: "redis is not reachable".into(),
    }
}

fn bad(message: impl Into<String>) -> PublishError {
    PublishError {
        status: 400,
        message: message.into(),
    }
}

#[derive(Deserialize)]
struct DeleteBody {
    room: Option<String>,
}

impl Hub {
    /// `POST /api/delete` with `{"room":..}`: deletes the room with its
    /// history (from the store too); its members get `deleted`. Returns
    /// whether there was such a room; `None` with `--redis`, where the delete
    /// runs in Redis after the answer (every node's members get `deleted`).
    pub fn handle_delete(
        &mut self,
        now: Now,
        body: &[u8],
        out: &mut Outbox,
    ) -> Result<Option<bool>, PublishError> {
        let body = std::str::from_utf8(body).map_err(|_| bad("body is not UTF-8"))?;
        if !body.trim_start().starts_with('{') {
            return Err(bad("body must be a JSON object"));
        }
        let body: DeleteBody =
            serde_json::from_str(body).map_err(|e| bad(format!("body is not valid: {e}")))?;
        let room = body.room.ok_or_else(|| bad("missing field room"))?;
        if !protocol::valid_room_name(&room) {
            return Err(bad("bad room name"));
        }
        match self.remove(now, &room, Asker::Backend, out) {
            Ok(Done::Now) => Ok(Some(true)),
            Ok(Done::Later) => Ok(None),
            Err(Failure::Unavailable) => Err(unreachable_redis()),
            Err(_) => Ok(Some(false)),
        }
    }

    /// `POST /api/publish` with `body`; returns how many `/ws` connections were reached.
    ///
    /// The body is `{"room":..,"message":..}`, `{"user":..,"message":..}` or
    /// `{"all":true,"message":..}`: exactly one target (other fields are
    /// ignored, as in client frames). The backend
    /// is trusted: room passwords do not apply. A room that does not exist or
    /// a user who is offline is not an error: 0 were reached. Room messages
    /// get a seq and enter the history like any other.
    pub fn handle_publish(
        &mut self,
        now: Now,
        body: &[u8],
        out: &mut Outbox,
    ) -> Result<usize, PublishError> {
        self.clock_ms = now.unix_ms;
        let body = std::str::from_utf8(body).map_err(|_| bad("body is not UTF-8"))?;
        if !body.trim_start().starts_with('{') {
            // serde would read an array positionally into `Body`.
            return Err(bad("body must be a JSON object"));
        }
        if !protocol::depth_within(body, protocol::MAX_DEPTH + 1) {
            let max = protocol::MAX_DEPTH;
            return Err(bad(format!("JSON nested deeper than {max} levels")));
        }
        let body: Body =
            serde_json::from_str(body).map_err(|e| bad(format!("body is not valid: {e}")))?;
        let Some(message) = body.message else {
            return Err(bad("missing field message"));
        };
        let message = message.get();
        let target = match (body.room, body.user, body.all.unwrap_or(false)) {
            (Some(room), None, false) => {
                if !protocol::valid_room_name(&room) {
                    return Err(bad("bad room name"));
                }
                Target::Room(room)
            }
            (None, Some(user), false) => Target::User(user),
            (None, None, true) => Target::All,
            _ => {
                return Err(bad(
                    r#"give exactly one target: "room", "user" or "all":true"#,
                ));
            }
        };
        match target {
            Target::Room(room) => {
                match self.append(now, &room, message, Asker::Backend, out) {
                    Ok(Sequenced::Now { reached, .. }) => Ok(reached),
                    // Delivered when Redis sends it back: this node's members
                    // and subscribers are who it will reach here.
                    Ok(Sequenced::Later) => Ok(self.room_key(&room).map_or(0, |k| {
                        let r = &self.rooms[k];
                        r.members.len() + r.subscribers.len()
                    })),
                    Ok(Sequenced::Unavailable) | Err(_) => Err(unreachable_redis()),
                }
            }
            #[cfg(feature = "redis")]
            Target::User(user) if self.home.is_redis() => {
                self.cluster_api_publish(now, Some(&user), message)
            }
            #[cfg(feature = "redis")]
            Target::All if self.home.is_redis() => self.cluster_api_publish(now, None, message),
            Target::User(user) => {
                let Some(tabs) = self.users.get(user.as_str()) else {
                    return Ok(0);
                };
                let mark = out.mark();
                let scope = Scope::User { to: &user };
                protocol::write_message(out.buf(), SERVER_JSON, scope, now.unix_ms, message);
                out.recipients(tabs);
                Ok(out.commit(mark))
            }
            Target::All => Ok(self.broadcast_from(SERVER_JSON, now, message, out)),
        }
    }
}
