//! After a reconnect: what this node's rooms missed while its links were
//! down (Redis itself up, other nodes publishing) is replayed from the
//! history in Redis, once, in order, before anything newer.

use super::Waiting;
use crate::engine::{Value, scripts};
use crate::hub::store::redis::state_of;
use crate::hub::{Hub, Outbox};

impl Hub {
    /// The links are back: hold each local room's payloads and fetch its state.
    pub(super) fn recover_all(&mut self) {
        let rooms: Vec<Box<str>> = self.names.keys().cloned().collect();
        let Some(c) = self.home.cluster_mut() else {
            return;
        };
        for room in rooms {
            let Some(link) = c.links.get_mut(&room) else {
                continue;
            };
            link.recovering = Some(Vec::new());
            let keys = [scripts::key('m', &room), scripts::key('h', &room)];
            let w = Waiting::Recover(room.clone());
            if !c.eval(scripts::I_FETCH, &[&keys[0], &keys[1]], &[], w)
                && let Some(link) = c.links.get_mut(&room)
            {
                link.recovering = None;
            }
        }
    }

    /// A room's state came back: replay the messages after the last one
    /// delivered here (same epoch only: after a Redis restart they are gone),
    /// then the held payloads that are newer than that state.
    pub(super) fn recovered(&mut self, room: &str, value: Option<Value>, out: &mut Outbox) {
        let Some(link) = self.home.cluster_mut().and_then(|c| c.links.get_mut(room)) else {
            return;
        };
        let held = link.recovering.take().unwrap_or_default();
        let items = value.as_ref().and_then(Value::as_array).unwrap_or(&[]);
        let state = (items.first().and_then(Value::as_bytes) == Some(b"ok"))
            .then(|| state_of(items, self.config.history));
        let mut upto = 0;
        if let Some((ev, history)) = &state {
            upto = *ev;
            let missed: Vec<&str> = match link.epoch {
                Some(e) if e == history.epoch() => history
                    .iter()
                    .filter(|(seq, _)| *seq > link.last_seq)
                    .map(|(_, event)| event)
                    .collect(),
                _ => Vec::new(),
            };
            link.epoch = Some(history.epoch());
            link.last_seq = history.seq();
            if let Some(&key) = self.names.get(room) {
                let r = &self.rooms[key];
                for event in missed {
                    let mark = out.mark();
                    out.buf().push_str(event);
                    out.recipients(&r.members);
                    out.recipients(&r.subscribers);
                    out.commit(mark);
                }
            }
        }
        for (ev, p) in held {
            // Messages up to the fetched state were in its history; presence is not kept there.
            if p.kind == b'm' && ev <= upto {
                continue;
            }
            self.deliver_room(room, (ev, p), out);
        }
    }
}
