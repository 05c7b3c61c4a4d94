//! Payloads from the pub/sub link to this node's recipients: each is copied
//! into the outbox once, with its recipient list, as local events are.

use std::sync::Arc;

use super::Payload;
use crate::ClientId;
use crate::engine::scripts;
use crate::hub::rooms::RoomKey;
use crate::hub::{Hub, Outbox};
use crate::protocol;

impl Hub {
    /// A message arrived on `channel`.
    pub(super) fn deliver(&mut self, channel: &[u8], payload: &[u8], out: &mut Outbox) {
        if channel == scripts::ALL_CHANNEL {
            let Ok(event) = std::str::from_utf8(payload) else {
                return;
            };
            let mark = out.mark();
            out.buf().push_str(event);
            for (key, conn) in self.conns.iter().enumerate() {
                if conn.is_some() {
                    out.recipient(ClientId(key));
                }
            }
            out.commit(mark);
        } else if channel == scripts::RAW_CHANNEL {
            if let (Some((&kind, bytes)), Some(c)) =
                (payload.split_first(), self.home.cluster_mut())
            {
                c.raw_in.push((kind == b'b', bytes.to_vec()));
            }
        } else if let Some(user) = channel.strip_prefix(b"lc:u:") {
            let (Ok(user), Ok(event)) = (std::str::from_utf8(user), std::str::from_utf8(payload))
            else {
                return;
            };
            let Some(tabs) = self.users.get(user) else {
                return;
            };
            let mark = out.mark();
            out.buf().push_str(event);
            out.recipients(tabs);
            out.commit(mark);
        } else if let Some(room) = channel.strip_prefix(b"lc:r:") {
            let Ok(room) = std::str::from_utf8(room) else {
                return;
            };
            if let Some(p) = parse(payload) {
                self.deliver_room(room, p, out);
            } else {
                log::warn!("redis: malformed payload on lc:r:{room}");
            }
        }
    }

    pub(super) fn deliver_room(&mut self, room: &str, (ev, p): (u64, Payload), out: &mut Outbox) {
        let Some(c) = self.home.cluster_mut() else {
            return;
        };
        if let Some(link) = c.links.get_mut(room) {
            if let Some(held) = &mut link.recovering {
                held.push((ev, p));
                return;
            }
            if p.kind == b'm' {
                link.last_seq = p.seq;
            }
        }
        let p = Arc::new(p);
        let skip = match c.links.get_mut(room) {
            Some(link) => link.gate.arrive(ev, &p),
            None => Vec::new(),
        };
        let acks = match c.links.get_mut(room) {
            Some(link) if link.acks.first().is_some_and(|a| a.0 <= ev) => {
                let (due, later) = link.acks.drain(..).partition(|a| a.0 <= ev);
                link.acks = later;
                due
            }
            _ => Vec::new(),
        };
        let Some(&key) = self.names.get(room) else {
            return self.send_acks(acks, out);
        };
        if p.kind == b'd' {
            // `deleted` first, then the deleter's ack, as on one node.
            self.cluster_deleted(key, &skip, out);
            return self.send_acks(acks, out);
        }
        let r = &self.rooms[key];
        let mark = out.mark();
        out.buf().push_str(&p.event);
        let keep = |c: &ClientId| !skip.contains(c);
        if p.kind == b'm' {
            if skip.is_empty() {
                out.recipients(&r.members);
                out.recipients(&r.subscribers);
            } else {
                for &m in r.members.iter().chain(&r.subscribers).filter(|c| keep(c)) {
                    out.recipient(m);
                }
            }
        } else {
            for &m in r.members.iter().filter(|c| keep(c)) {
                let is_origin = self.conns[m.0].as_ref().is_some_and(|c| *c.id == *p.origin);
                if !is_origin {
                    out.recipient(m);
                }
            }
        }
        out.commit(mark);
        self.send_acks(acks, out);
    }

    /// The room was deleted in Redis: drop it here, its members and
    /// subscribers get `deleted` (as on one node), and their entries in this
    /// node's set go (no `leave` follows for them). Joiners in `fresh` joined
    /// the name again after the delete ran: they stay, in the new room.
    fn cluster_deleted(&mut self, key: RoomKey, fresh: &[ClientId], out: &mut Outbox) {
        let mut kept = Vec::new();
        for &client in fresh {
            let Some(conn) = self.conns.get_mut(client.0).and_then(Option::as_mut) else {
                continue;
            };
            let Some(i) = conn.rooms.iter().position(|m| m.room == key) else {
                continue;
            };
            let m = conn.rooms.swap_remove(i);
            self.memberships -= 1;
            self.detach(client, &m);
            kept.push((client, m.joined));
        }
        let r = &self.rooms[key];
        let name = r.name.clone();
        let entries: Vec<String> = r
            .members
            .iter()
            .chain(&r.subscribers)
            .filter_map(|m| Some(format!("{name} {}", self.conns[m.0].as_ref()?.id)))
            .collect();
        self.remove_room(key, out);
        for (client, joined) in kept {
            self.place(client, &name, joined);
        }
        self.maybe_unlink(&name);
        let Some(c) = self.home.cluster_mut() else {
            return;
        };
        if !entries.is_empty() {
            let set = scripts::node_key(&c.node);
            let mut args: Vec<&[u8]> = vec![b"SREM", &set];
            args.extend(entries.iter().map(String::as_bytes));
            c.command(&args, super::Waiting::Quiet("delete"));
        }
    }

    /// Acks held for publishes whose message has now gone out.
    fn send_acks(&self, acks: Vec<(u64, ClientId, Box<str>, Box<str>)>, out: &mut Outbox) {
        for (_, client, id, reference) in acks {
            let conn = self.conns.get(client.0).and_then(Option::as_ref);
            if conn.is_some_and(|c| c.id == id) {
                let mark = out.mark();
                protocol::write_ack(out.buf(), &reference);
                out.recipient(client);
                out.commit(mark);
            }
        }
    }
}

/// `m<ev>:<seq> <origin> <event>`, `p<ev> <origin> <event>` or (the room
/// was deleted) `d<ev> - <event>`.
fn parse(payload: &[u8]) -> Option<(u64, Payload)> {
    let text = std::str::from_utf8(payload).ok()?;
    let kind = *text.as_bytes().first()?;
    if !matches!(kind, b'm' | b'p' | b'd') {
        return None;
    }
    let (counters, rest) = text[1..].split_once(' ')?;
    let (ev, seq) = match (kind, counters.split_once(':')) {
        (b'm', Some((ev, seq))) => (ev, seq.parse().ok()?),
        (b'p' | b'd', None) => (counters, 0),
        _ => return None,
    };
    let (origin, event) = rest.split_once(' ')?;
    Some((
        ev.parse().ok()?,
        Payload {
            kind,
            seq,
            origin: origin.into(),
            event: event.into(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse() {
        let (ev, p) = parse(br#"m12:5 n1.c3 {"event":"message"}"#).unwrap();
        assert_eq!(p.seq, 5);
        assert_eq!(
            (ev, p.kind, &*p.origin, &*p.event),
            (12, b'm', "n1.c3", r#"{"event":"message"}"#)
        );
        assert_eq!(parse(b"p7 - {}").map(|(ev, p)| (ev, p.seq)), Some((7, 0)));
        for bad in [
            &b"x1 - {}"[..],
            b"m - {}",
            b"m1 - {}",
            b"m1:2 {}",
            b"",
            b"p1",
            b"p1:2 - {}",
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }
}
