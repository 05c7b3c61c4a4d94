//! Writing server events: appended to a caller's buffer, strings escaped once.

use std::fmt::{self, Write};

use super::ErrorCode;

/// Appends `s` as a quoted JSON string.
pub fn push_json_str(buf: &mut String, s: &str) {
    buf.push('"');
    // Writing to a String cannot fail.
    let _ = Escaped(buf).write_str(s);
    buf.push('"');
}

/// A `fmt::Write` that JSON-escapes what is written into the inner `String`
/// (for `message` texts built with `write!`, without a temporary string).
pub struct Escaped<'a>(pub &'a mut String);

impl Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let bytes = s.as_bytes();
        let mut clean = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.push_str(&s[clean..i]);
            if escape.is_empty() {
                write!(self.0, "\\u{b:04x}")?;
            } else {
                self.0.push_str(escape);
            }
            clean = i + 1;
        }
        self.0.push_str(&s[clean..]);
        Ok(())
    }
}

/// Where a `message` event went, which decides its extra fields.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// A room message: `room` and `seq`.
    Room { room: &'a str, seq: u64 },
    /// A notification: `to` (escaped when written).
    User { to: &'a str },
    /// A broadcast: nothing more.
    All,
}

/// The limits a client should pace itself by, announced in `welcome`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest message frame in bytes.
    pub max_message: usize,
    /// Sustained actions per second (0: unlimited).
    pub rate: u32,
    /// Actions allowed at once above the sustained rate.
    pub burst: u32,
}

/// `{"event":"welcome","id":..,"user":..,"server":..,"limits":{..}}`; `user_json` is already quoted.
pub fn write_welcome(buf: &mut String, id: &str, user_json: &str, limits: Limits) {
    let Limits {
        max_message,
        rate,
        burst,
    } = limits;
    let _ = write!(
        buf,
        r#"{{"event":"welcome","id":"{id}","user":{user_json},"server":"{}","limits":{{"max_message":{max_message},"rate":{rate},"burst":{burst}}}}}"#,
        crate::VERSION
    );
}

/// A `message` event; `from_json` is already quoted, `message` is raw JSON.
pub fn write_message(buf: &mut String, from_json: &str, scope: Scope, ts: u64, message: &str) {
    buf.push_str(r#"{"event":"message","from":"#);
    buf.push_str(from_json);
    match scope {
        Scope::Room { room, seq } => {
            let _ = write!(buf, r#","room":"{room}","seq":{seq}"#);
        }
        Scope::User { to } => {
            buf.push_str(r#","to":"#);
            push_json_str(buf, to);
        }
        Scope::All => {}
    }
    let _ = write!(buf, r#","ts":{ts},"message":"#);
    buf.push_str(message);
    buf.push('}');
}

/// `joined` or `left` (`event`), about one member.
pub fn write_presence(buf: &mut String, event: &str, room: &str, user_json: &str, id: &str) {
    let _ = write!(
        buf,
        r#"{{"event":"{event}","room":"{room}","user":{user_json},"id":"{id}"}}"#
    );
}

/// `typing`, with the typist's connection `id` as well (for users with several tabs).
pub fn write_typing(buf: &mut String, room: &str, user_json: &str, id: &str, value: bool) {
    let _ = write!(
        buf,
        r#"{{"event":"typing","room":"{room}","user":{user_json},"id":"{id}","value":{value}}}"#
    );
}

/// One `{"user":..,"id":..}` entry of a member list, with its separator.
pub fn write_member(buf: &mut String, first: bool, user_json: &str, id: &str) {
    if !first {
        buf.push(',');
    }
    let _ = write!(buf, r#"{{"user":{user_json},"id":"{id}"}}"#);
}

/// One `{"room":..,"members":..,"subscribers":..}` entry of a `rooms` answer.
pub fn write_room_entry(buf: &mut String, first: bool, room: &str, members: usize, subs: usize) {
    if !first {
        buf.push(',');
    }
    let _ = write!(
        buf,
        r#"{{"room":"{room}","members":{members},"subscribers":{subs}}}"#
    );
}

/// Opens a list answer: `{"event":<event>[,"room":<room>],"<field>":[`.
pub fn write_list_open(buf: &mut String, event: &str, room: Option<&str>, field: &str) {
    let _ = write!(buf, r#"{{"event":"{event}""#);
    if let Some(room) = room {
        let _ = write!(buf, r#","room":"{room}""#);
    }
    let _ = write!(buf, r#","{field}":["#);
}

/// Closes a list answer opened by `write_list_open`.
pub fn write_list_close(buf: &mut String) {
    buf.push_str("]}");
}

/// One already-encoded event of a `history` list, with its separator.
pub fn write_history_entry(buf: &mut String, first: bool, event: &str) {
    if !first {
        buf.push(',');
    }
    buf.push_str(event);
}

/// Closes a `room` or `history` answer: `],"gap":..,"seq":..,"epoch":"..","more":..}`;
/// `more` says that kept history after the last entry did not fit this answer.
pub fn write_room_close(
    buf: &mut String,
    gap: bool,
    seq: u64,
    epoch: impl fmt::Display,
    more: bool,
) {
    let _ = write!(
        buf,
        r#"],"gap":{gap},"seq":{seq},"epoch":"{epoch}","more":{more}}}"#
    );
}

/// Ends the `members` list of a `room` answer (saying whether it was cut) and opens its `history`.
pub fn write_members_close_history_open(buf: &mut String, members_more: bool) {
    let _ = write!(buf, r#"],"members_more":{members_more},"history":["#);
}

/// Closes a paged list answer: `],"offset":..,"total":..,"more":..}`.
pub fn write_page_close(buf: &mut String, offset: usize, total: usize, more: bool) {
    let _ = write!(
        buf,
        r#"],"offset":{offset},"total":{total},"more":{more}}}"#
    );
}

/// `{"event":"deleted","room":..}`: the room is gone, with its history.
pub fn write_deleted(buf: &mut String, room: &str) {
    let _ = write!(buf, r#"{{"event":"deleted","room":"{room}"}}"#);
}

/// `{"event":"ack","ref":..}`; `reference` is raw JSON.
pub fn write_ack(buf: &mut String, reference: &str) {
    let _ = write!(buf, r#"{{"event":"ack","ref":{reference}}}"#);
}

/// `{"event":"error","code":..,"message":..[,"ref":..]}`; `message` is escaped here.
pub fn write_error(
    buf: &mut String,
    code: ErrorCode,
    message: fmt::Arguments,
    reference: Option<&str>,
) {
    let _ = write!(
        buf,
        r#"{{"event":"error","code":"{}","message":""#,
        code.as_str()
    );
    let _ = Escaped(buf).write_fmt(message);
    buf.push('"');
    if let Some(r) = reference {
        buf.push_str(r#","ref":"#);
        buf.push_str(r);
    }
    buf.push('}');
}
