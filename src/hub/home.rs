//! The one seam for room state: where every room's `seq` and history live,
//! and the actions that read or change them.
//!
//! The hub has exactly one [`Home`], chosen at start: memory (the default),
//! memory plus the disk journal (`--data-dir`), or Redis (`--redis`). Disk
//! and Redis together cannot be expressed (and are refused at start): one
//! room's `seq` in two homes would fork. Every room action that touches
//! `seq` or history goes through one of the methods below, whatever the
//! home: a message to a room ([`Hub::append`], from a client's `publish`
//! or from `/api/publish`), `join` with `since` and `subscribe`
//! ([`Hub::enter_room_state`]), `history`, `create` and `delete` (from a
//! client or `/api/delete`).
//!
//! Each answers now or later. The memory home (with or without disk) always
//! answers now: the hub holds the room's [`History`](super::store::History)
//! and decides; the disk [`Store`](super::store::Store) is told after, write
//! behind. The Redis home answers later: Redis decides (its publish script
//! allocates the `seq`), and the answer follows its reply; a message is
//! delivered when it comes back on the room's channel, and the sender's ack
//! is held until then, so the sender sees its message before the ack, as in
//! memory. Redis away: [`Sequenced::Unavailable`] / `Failure::Unavailable`,
//! and nothing was sent or changed. Either way the reader of a room's state
//! is the same [`History`](super::store::History): a resume is answered by
//! [`History::after`](super::store::History::after) in every home.
//!
//! The call order is documented at [`Home`].

use super::failure::Failure;
use super::rooms::publish_to;
use super::store::{Since, Store};
use super::{Hub, Now, Outbox, publish::SERVER_JSON};
use crate::ClientId;

/// Where room state lives (see the module docs).
///
/// Call order: the hub calls one of the seam's methods once per room action
/// (`append`, `enter_room_state`, `read_history`, `create_room`, `remove`);
/// each checks what it needs (membership, `max_rooms`, password, owner) in
/// its home and answers. On `Now` (`Sequenced::Now`, `Done::Now`) the event
/// is already in the outbox and the hub writes the ack right after it, in
/// the same turn; on `Later` the hub writes nothing more, and the home's
/// reply path (`hub::cluster`) writes the ack or the error when Redis
/// answered (a publish's ack once its message came back on the room's
/// channel); on `Unavailable` or an error the hub answers the error at once.
/// With a store, [`Hub::commit`] runs once per loop turn, before that turn's
/// output is written (group commit), as the [`Store`] trait asks.
#[derive(Debug)]
pub(super) enum Home {
    /// In memory: each room's [`History`](super::store::History), and with
    /// `--data-dir` a write-behind store told every change.
    Local(Option<Box<dyn Store>>),
    /// In Redis, shared by every node (`--redis`).
    #[cfg(feature = "redis")]
    Redis(Box<super::cluster::Cluster>),
}

impl Home {
    /// The disk store, when the home is memory plus disk.
    pub(super) fn disk(&self) -> Option<&dyn Store> {
        match self {
            Home::Local(store) => store.as_deref(),
            #[cfg(feature = "redis")]
            Home::Redis(_) => None,
        }
    }

    /// The disk store, when the home is memory plus disk.
    pub(super) fn disk_mut(&mut self) -> Option<&mut (dyn Store + 'static)> {
        match self {
            Home::Local(store) => store.as_deref_mut(),
            #[cfg(feature = "redis")]
            Home::Redis(_) => None,
        }
    }

    /// The cluster, when the home is Redis.
    #[cfg(feature = "redis")]
    pub(super) fn cluster(&self) -> Option<&super::cluster::Cluster> {
        match self {
            Home::Redis(c) => Some(c),
            Home::Local(_) => None,
        }
    }

    /// The cluster, when the home is Redis.
    #[cfg(feature = "redis")]
    pub(super) fn cluster_mut(&mut self) -> Option<&mut super::cluster::Cluster> {
        match self {
            Home::Redis(c) => Some(c),
            Home::Local(_) => None,
        }
    }

    /// Whether room state is in Redis.
    #[cfg(feature = "redis")]
    pub(super) fn is_redis(&self) -> bool {
        matches!(self, Home::Redis(_))
    }
}

/// Who asked for a room-state action, and so who gets its answer.
#[derive(Debug, Clone, Copy)]
pub(super) enum Asker<'a> {
    /// A client, whose ack or error carries `reference`.
    Client {
        /// The asking connection.
        client: ClientId,
        /// The frame's `ref`.
        #[cfg_attr(not(feature = "redis"), allow(dead_code))]
        reference: Option<&'a str>,
    },
    /// The HTTP API: trusted (passwords and ownership do not apply), and
    /// answered by the caller at once.
    Backend,
}

/// What a `create` asks of its room, in every home.
#[derive(Debug, Clone, Copy)]
pub(super) struct NewRoom<'a> {
    /// `max_members`, if any.
    pub max_members: Option<u32>,
    /// The password in clear (each home keeps only its salted hash).
    pub password: Option<&'a str>,
    /// History kept (messages); the server's default if `None`.
    pub history: Option<usize>,
}

/// How far a message to a room got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sequenced {
    /// Sequenced as `seq` and sent to the `reached` connections here, now.
    /// `seq` 0 (never a message's): no such room, the message went nowhere.
    Now {
        /// The message's seq.
        seq: u64,
        /// Connections it was queued for.
        reached: usize,
    },
    /// Handed to the home that allocates the seq (Redis): the message is
    /// delivered when it comes back on the room's channel, and the asker's
    /// ack (or error) follows the home's reply.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Later,
    /// The home cannot sequence now (Redis away): nothing was sent.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Unavailable,
}

/// When an action's answer goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Done {
    /// It is done: the caller acks now.
    Now,
    /// The answer (ack or error) follows the home's reply.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Later,
}

impl Hub {
    /// A message to room `name` from `asker`: the seam's append. The memory
    /// home gives it the next seq, encodes it once into `out` (which the
    /// history copies and the store is told), and queues it for the room;
    /// the Redis home runs the publish script (see [`Sequenced::Later`]).
    /// A client that is not in a password room is refused (`forbidden`).
    pub(super) fn append<'r>(
        &mut self,
        now: Now,
        name: &'r str,
        message: &str,
        asker: Asker,
        out: &mut Outbox,
    ) -> Result<Sequenced, Failure<'r>> {
        #[cfg(feature = "redis")]
        if self.home.is_redis() {
            return Ok(self.cluster_append(now, name, message, asker));
        }
        // A room only the store keeps is loaded for the message, then unloaded.
        let Some(key) = self.room_key(name).or_else(|| self.load_room(name)) else {
            return Ok(Sequenced::Now { seq: 0, reached: 0 });
        };
        let from = match asker {
            Asker::Client { client, .. } => {
                let conn = self.conns[client.0].as_ref().expect("client is connected");
                if self.rooms[key].password.is_some() && !conn.rooms.iter().any(|m| m.room == key) {
                    self.drop_if_empty(key);
                    return Err(Failure::MembersOnly(name));
                }
                &conn.user_json
            }
            Asker::Backend => SERVER_JSON,
        };
        let room = &mut self.rooms[key];
        let store = self.home.disk_mut();
        let reached = publish_to(
            room,
            &mut self.history_bytes,
            store,
            from,
            now.unix_ms,
            message,
            out,
        );
        let seq = room.history.seq();
        self.drop_if_empty(key);
        Ok(Sequenced::Now { seq, reached })
    }

    /// `join` (`join` is `Some(since)`) or `subscribe` (`None`) from `client`:
    /// the seam's resume. The memory home answers with the room's state and
    /// the history after `since` now; the Redis home subscribes to the room's
    /// channel, runs the join script and answers from its reply.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn enter_room_state<'r>(
        &mut self,
        now: Now,
        client: ClientId,
        name: &'r str,
        password: Option<&str>,
        join: Option<Option<Since>>,
        reference: Option<&str>,
        out: &mut Outbox,
    ) -> Result<Done, Failure<'r>> {
        #[cfg(feature = "redis")]
        if self.home.is_redis() {
            return self.cluster_enter(now, client, name, password, join, reference, out);
        }
        let _ = reference;
        self.enter(now, client, name, password, join, out)
            .map(|()| Done::Now)
    }

    /// `history` after `since` for a member or subscriber of `name`.
    pub(super) fn read_history<'r>(
        &mut self,
        client: ClientId,
        name: &'r str,
        since: Option<Since>,
        reference: Option<&str>,
        out: &mut Outbox,
    ) -> Result<Done, Failure<'r>> {
        #[cfg(feature = "redis")]
        if self.home.is_redis() {
            return self.cluster_history(client, name, since, reference);
        }
        let _ = reference;
        self.history(client, name, since, out).map(|()| Done::Now)
    }

    /// `create` from `client`: a room with settings and a new epoch.
    pub(super) fn create_room<'r>(
        &mut self,
        now: Now,
        client: ClientId,
        name: &'r str,
        settings: NewRoom,
        reference: Option<&str>,
    ) -> Result<Done, Failure<'r>> {
        #[cfg(feature = "redis")]
        if self.home.is_redis() {
            return self.cluster_create(now, client, name, settings, reference);
        }
        let _ = reference;
        self.create(now, client, name, settings).map(|()| Done::Now)
    }

    /// `delete` of room `name` with its history, by its creator (a client)
    /// or by the backend; every member gets `deleted`. `NoSuchRoom` when the
    /// memory home has no such room.
    pub(super) fn remove<'r>(
        &mut self,
        now: Now,
        name: &'r str,
        asker: Asker,
        out: &mut Outbox,
    ) -> Result<Done, Failure<'r>> {
        #[cfg(feature = "redis")]
        if self.home.is_redis() {
            return self.cluster_delete(name, asker);
        }
        match asker {
            Asker::Client { client, .. } => self.delete(client, name, out).map(|()| Done::Now),
            Asker::Backend if self.delete_room(now, name, out) => Ok(Done::Now),
            Asker::Backend => Err(Failure::NoSuchRoom(name)),
        }
    }
}
