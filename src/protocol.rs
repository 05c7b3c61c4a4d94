//! The `/ws` JSON wire format: parsing client actions and writing server events.
//!
//! Parsing borrows from the frame: every field is first captured as raw JSON
//! (so a wrongly typed field is reported by name instead of failing the whole
//! frame, and `message` is re-emitted byte for byte without re-serializing),
//! then checked per action. Writing appends to a caller's `String` (the hub's
//! reused `Outbox` buffer); user-supplied strings are escaped once, at connect.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

pub use crate::limits::{
    MAX_DEPTH, MAX_HISTORY, MAX_PASSWORD, MAX_REF, MAX_ROOM_NAME, MAX_USER_BYTES,
};

/// The `code` of an `error` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The frame is not JSON (or is a binary frame).
    BadJson,
    /// `action` names no known action.
    UnknownAction,
    /// Not an object, or `action` or a required field is absent.
    MissingField,
    /// A field has the wrong type or is out of range.
    BadField,
    /// A room name is empty, too long, or has characters outside `[A-Za-z0-9_.:-]`.
    BadRoomName,
    /// The room has `max_members` members already.
    RoomFull,
    /// Wrong password, or a password room that needs membership.
    Forbidden,
    /// `notify` to a user with no connection.
    NoSuchUser,
    /// Over the per-connection message rate.
    RateLimited,
    /// The connection is in (or has created) `max_rooms` rooms already.
    TooManyRooms,
    /// `leave`/`unsubscribe`/`typing` in a room the connection is not in.
    NotMember,
    /// `create` of a name that exists.
    RoomExists,
    /// The action needs the cluster engine (Redis), which is not reachable now.
    Unavailable,
    /// `delete` of a room that does not exist.
    NoSuchRoom,
}

impl ErrorCode {
    /// The snake_case word sent in `code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::UnknownAction => "unknown_action",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::BadField => "bad_field",
            ErrorCode::BadRoomName => "bad_room_name",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NoSuchUser => "no_such_user",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::NotMember => "not_member",
            ErrorCode::RoomExists => "room_exists",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::NoSuchRoom => "no_such_room",
        }
    }
}

/// One well-formed client frame.
#[derive(Debug)]
pub struct Request<'a> {
    /// The client's `ref`, as raw JSON (a string or a number), echoed verbatim.
    pub reference: Option<&'a str>,
    /// What to do.
    pub action: Action<'a>,
}

/// A client action with its checked fields (room names are valid).
#[derive(Debug)]
pub enum Action<'a> {
    /// `broadcast`.
    Broadcast { message: &'a RawValue },
    /// `notify`.
    Notify {
        user: Cow<'a, str>,
        message: &'a RawValue,
    },
    /// `join` / `join-room`.
    Join {
        room: Cow<'a, str>,
        password: Option<Cow<'a, str>>,
        since: Option<u64>,
        /// The room's `epoch` that `since` counts in (absent: only `since` is checked).
        epoch: Option<Cow<'a, str>>,
    },
    /// `leave` / `leave-room`.
    Leave { room: Cow<'a, str> },
    /// `subscribe`.
    Subscribe {
        room: Cow<'a, str>,
        password: Option<Cow<'a, str>>,
    },
    /// `unsubscribe`.
    Unsubscribe { room: Cow<'a, str> },
    /// `publish` / `send-message`.
    Publish {
        room: Cow<'a, str>,
        message: &'a RawValue,
    },
    /// `typing`.
    Typing { room: Cow<'a, str>, value: bool },
    /// `history`: the next page of a room's kept history, after `since`.
    History {
        room: Cow<'a, str>,
        since: Option<u64>,
        /// The room's `epoch` that `since` counts in, as for `join`.
        epoch: Option<Cow<'a, str>>,
    },
    /// `members`, from the `offset`-th member on.
    Members { room: Cow<'a, str>, offset: usize },
    /// `rooms`, from the `offset`-th room on.
    Rooms { offset: usize },
    /// `delete`: removes a room with its history (the creator's user only).
    Delete { room: Cow<'a, str> },
    /// `create`.
    Create {
        room: Cow<'a, str>,
        max_members: Option<u32>,
        password: Option<Cow<'a, str>>,
        history: Option<usize>,
    },
}

/// Why a frame was refused, with the `ref` when it could be read.
#[derive(Debug)]
pub struct Rejection<'a> {
    /// The frame's `ref`, if the frame was an object with a usable one.
    pub reference: Option<&'a str>,
    /// What was wrong.
    pub problem: Problem<'a>,
}

/// What was wrong with a frame; `Display` gives the human `message`.
#[derive(Debug)]
pub enum Problem<'a> {
    /// Not JSON at all.
    BadJson(serde_json::Error),
    /// JSON, but not an object.
    NotObject,
    /// A required field is absent (or `null`).
    Missing(&'static str),
    /// A field has the wrong type: (field, what it must be).
    BadField(&'static str, &'static str),
    /// A room name breaks the naming rules.
    BadRoomName,
    /// `action` is a string naming no action.
    UnknownAction(Cow<'a, str>),
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A string field longer than its cap: (field, max bytes).
    TooLong(&'static str, usize),
}

impl Problem<'_> {
    /// The error code this problem is reported with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Problem::BadJson(_) | Problem::TooDeep => ErrorCode::BadJson,
            Problem::NotObject | Problem::Missing(_) => ErrorCode::MissingField,
            Problem::BadField(..) | Problem::TooLong(..) => ErrorCode::BadField,
            Problem::BadRoomName => ErrorCode::BadRoomName,
            Problem::UnknownAction(_) => ErrorCode::UnknownAction,
        }
    }
}

impl fmt::Display for Problem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::BadJson(e) => write!(f, "not JSON: {e}"),
            Problem::NotObject => f.write_str("a frame must be a JSON object with an action"),
            Problem::Missing(field) => write!(f, "missing field {field}"),
            Problem::BadField(field, must) => write!(f, "field {field} must be {must}"),
            Problem::TooDeep => write!(f, "JSON nested deeper than {MAX_DEPTH} levels"),
            Problem::TooLong(field, max) => write!(f, "field {field} is over {max} bytes"),
            Problem::BadRoomName => write!(
                f,
                "a room name is 1-{MAX_ROOM_NAME} characters of A-Z a-z 0-9 _ . : -"
            ),
            Problem::UnknownAction(name) => {
                // The name is the client's; a bounded prefix is enough to recognise it.
                let mut end = name.len().min(64);
                while !name.is_char_boundary(end) {
                    end -= 1;
                }
                write!(f, "unknown action {}", &name[..end])
            }
        }
    }
}

/// Every field any action uses, as raw JSON; `null` is kept (as `null`).
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, default, deserialize_with = "raw")]
    action: Option<&'a RawValue>,
    #[serde(rename = "ref", borrow, default, deserialize_with = "raw")]
    reference: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    message: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    message_body: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    room: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    topic: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    target: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    user: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    password: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    since: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    epoch: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    value: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    max_members: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    history: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "raw")]
    offset: Option<&'a RawValue>,
}

fn raw<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// Parses one client text frame.
pub fn parse(text: &str) -> Result<Request<'_>, Rejection<'_>> {
    let reject = |problem| Rejection {
        reference: None,
        problem,
    };
    // serde would read a JSON array positionally into `Fields`: only objects are frames.
    if !text.trim_start().starts_with('{') {
        return Err(reject(
            match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Ok(_) => Problem::NotObject,
                Err(e) => Problem::BadJson(e),
            },
        ));
    }
    if !depth_within(text, MAX_DEPTH + 1) {
        return Err(reject(Problem::TooDeep));
    }
    // Syntax errors, and the one data error an object can have: a repeated key.
    let fields: Fields = serde_json::from_str(text).map_err(|e| reject(Problem::BadJson(e)))?;
    let reference = match fields.reference.map(|r| r.get()) {
        None | Some("null") => None,
        Some(r) if r.len() > MAX_REF => {
            return Err(reject(Problem::TooLong("ref", MAX_REF)));
        }
        Some(r) if r.starts_with('"') || r.starts_with('-') || r.as_bytes()[0].is_ascii_digit() => {
            Some(r)
        }
        Some(_) => {
            return Err(Rejection {
                reference: None,
                problem: Problem::BadField("ref", "a string or a number"),
            });
        }
    };
    match action(&fields) {
        Ok(action) => Ok(Request { reference, action }),
        Err(problem) => Err(Rejection { reference, problem }),
    }
}

fn action<'a>(f: &Fields<'a>) -> Result<Action<'a>, Problem<'a>> {
    let name = string(need(f.action, "action")?, "action")?;
    let room = || room_name(need(f.room.or(f.topic).or(f.target), "room")?);
    // `null` is a message like any other JSON value.
    let message = || {
        f.message
            .or(f.message_body)
            .ok_or(Problem::Missing("message"))
    };
    let password = || {
        opt(f.password)
            .map(|p| capped(p, "password", MAX_PASSWORD))
            .transpose()
    };
    let offset = || -> Result<usize, Problem<'a>> {
        let n = opt(f.offset).map(|o| number(o, "offset")).transpose()?;
        Ok(n.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)))
    };
    Ok(match &*name {
        "broadcast" => Action::Broadcast {
            message: message()?,
        },
        "notify" => Action::Notify {
            user: capped(need(f.user, "user")?, "user", MAX_USER_BYTES)?,
            message: message()?,
        },
        "join" | "join-room" => Action::Join {
            room: room()?,
            password: password()?,
            since: opt(f.since).map(|s| number(s, "since")).transpose()?,
            epoch: opt(f.epoch).map(|e| string(e, "epoch")).transpose()?,
        },
        "leave" | "leave-room" => Action::Leave { room: room()? },
        "subscribe" => Action::Subscribe {
            room: room()?,
            password: password()?,
        },
        "unsubscribe" => Action::Unsubscribe { room: room()? },
        "publish" | "send-message" => Action::Publish {
            room: room()?,
            message: message()?,
        },
        "typing" => Action::Typing {
            room: room()?,
            value: match need(f.value, "value")?.get() {
                "true" => true,
                "false" => false,
                _ => return Err(Problem::BadField("value", "true or false")),
            },
        },
        "history" => Action::History {
            room: room()?,
            since: opt(f.since).map(|s| number(s, "since")).transpose()?,
            epoch: opt(f.epoch).map(|e| string(e, "epoch")).transpose()?,
        },
        "members" => Action::Members {
            room: room()?,
            offset: offset()?,
        },
        "delete" => Action::Delete { room: room()? },
        "rooms" => Action::Rooms { offset: offset()? },
        "create" => Action::Create {
            room: room()?,
            max_members: match opt(f.max_members).map(|m| number(m, "max_members")) {
                None => None,
                Some(Ok(m @ 1..=0xFFFF_FFFF)) => Some(m as u32),
                Some(Ok(_)) => return Err(Problem::BadField("max_members", "1 or more")),
                Some(Err(e)) => return Err(e),
            },
            password: password()?,
            history: match opt(f.history).map(|h| number(h, "history")) {
                None => None,
                Some(Ok(h @ 0..=MAX_HISTORY)) => Some(h as usize),
                Some(Ok(_)) => return Err(Problem::BadField("history", "0 to 1024")),
                Some(Err(e)) => return Err(e),
            },
        },
        _ => return Err(Problem::UnknownAction(name)),
    })
}

/// A present, non-null field.
fn opt(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get() != "null")
}

fn need<'a>(raw: Option<&'a RawValue>, field: &'static str) -> Result<&'a RawValue, Problem<'a>> {
    opt(raw).ok_or(Problem::Missing(field))
}

fn string<'a>(raw: &'a RawValue, field: &'static str) -> Result<Cow<'a, str>, Problem<'a>> {
    let text = raw.get();
    if !text.starts_with('"') {
        return Err(Problem::BadField(field, "a string"));
    }
    let inner = &text[1..text.len() - 1];
    if !inner.contains('\\') {
        // Valid JSON without a backslash has no escapes: the bytes are the string.
        return Ok(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(text)
        .map(Cow::Owned)
        .map_err(|_| Problem::BadField(field, "a valid string"))
}

/// A string field of at most `max` bytes (raw JSON, escapes included: a cheap, safe bound).
fn capped<'a>(
    raw: &'a RawValue,
    field: &'static str,
    max: usize,
) -> Result<Cow<'a, str>, Problem<'a>> {
    if raw.get().len() > max + 2 {
        return Err(Problem::TooLong(field, max));
    }
    string(raw, field)
}

/// Whether `json` nests arrays and objects at most `max` deep. One pass over
/// the bytes, skipping strings; meant for text serde has accepted or will check.
pub fn depth_within(json: &str, max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

fn number<'a>(raw: &RawValue, field: &'static str) -> Result<u64, Problem<'a>> {
    serde_json::from_str::<u64>(raw.get())
        .map_err(|_| Problem::BadField(field, "a non-negative integer"))
}

fn room_name(raw: &RawValue) -> Result<Cow<'_, str>, Problem<'_>> {
    let name = string(raw, "room")?;
    if valid_room_name(&name) {
        Ok(name)
    } else {
        Err(Problem::BadRoomName)
    }
}

/// 1-64 characters of `[A-Za-z0-9_.:-]`.
pub fn valid_room_name(name: &str) -> bool {
    (1..=MAX_ROOM_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

mod events;
#[cfg(test)]
mod tests;

pub use events::*;
