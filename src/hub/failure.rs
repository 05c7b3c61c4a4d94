//! Why an action failed: each variant is one `error` event (code and message).

use std::fmt;

use crate::protocol::ErrorCode;

/// A failed action, reported as an `error` event.
#[derive(Debug)]
pub(super) enum Failure<'r> {
    RoomFull(&'r str, u32),
    WrongPassword(&'r str),
    MembersOnly(&'r str),
    NoSuchUser(&'r str),
    TooManyRooms(usize),
    NotMember(&'r str),
    RoomExists(&'r str),
    NoSuchRoom(&'r str),
    NotOwner(&'r str),
    /// Over the `broadcast` budget (per second).
    BroadcastBudget(u32),
    /// The receiving user is over its `notify` budget (per second).
    NotifyBudget(&'r str, u32),
    /// The room's home (Redis) is not reachable: nothing was done.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Unavailable,
}

impl Failure<'_> {
    pub(super) fn code(&self) -> ErrorCode {
        match self {
            Failure::RoomFull(..) => ErrorCode::RoomFull,
            Failure::WrongPassword(_) | Failure::MembersOnly(_) => ErrorCode::Forbidden,
            Failure::NoSuchUser(_) => ErrorCode::NoSuchUser,
            Failure::TooManyRooms(_) => ErrorCode::TooManyRooms,
            Failure::NotMember(_) => ErrorCode::NotMember,
            Failure::RoomExists(_) => ErrorCode::RoomExists,
            Failure::NoSuchRoom(_) => ErrorCode::NoSuchRoom,
            Failure::NotOwner(_) => ErrorCode::Forbidden,
            Failure::BroadcastBudget(_) | Failure::NotifyBudget(..) => ErrorCode::RateLimited,
            Failure::Unavailable => ErrorCode::Unavailable,
        }
    }
}

impl fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::RoomFull(room, max) => write!(f, "room {room} is full (max {max})"),
            Failure::WrongPassword(room) => write!(f, "wrong password for room {room}"),
            Failure::MembersOnly(room) => write!(f, "room {room} has a password: join it first"),
            Failure::NoSuchUser(user) => write!(f, "user {user} is not online"),
            Failure::TooManyRooms(max) => write!(f, "at most {max} rooms per connection"),
            Failure::NotMember(room) => write!(f, "not a member of room {room}"),
            Failure::RoomExists(room) => write!(f, "room {room} exists"),
            Failure::NoSuchRoom(room) => write!(f, "no room {room}"),
            Failure::NotOwner(room) => {
                write!(f, "only the user who created room {room} may delete it")
            }
            Failure::BroadcastBudget(max) => {
                write!(f, "at most {max} broadcasts per second: slow down")
            }
            Failure::NotifyBudget(user, max) => {
                write!(
                    f,
                    "user {user} takes at most {max} notifications per second"
                )
            }
            Failure::Unavailable => {
                write!(f, "the cluster engine (redis) is not reachable; try again")
            }
        }
    }
}
