//! `/broadcast`: the raw hub. Every frame a member sends goes, unchanged, to
//! every member (the sender included). The member list lives here so the hub
//! stays the only module that decides who receives what.

use super::Hub;
use crate::ClientId;

/// Marks a client that is not a `/broadcast` member in `RawMembers::at`.
const NOT_MEMBER: u32 = u32::MAX;

/// `/broadcast` members, with O(1) join and leave.
#[derive(Debug, Default)]
pub(super) struct RawMembers {
    /// Members, in no particular order (leave swaps the last one in).
    list: Vec<ClientId>,
    /// Each client's index in `list`, or `NOT_MEMBER`; indexed by the dense client key.
    at: Vec<u32>,
}

impl RawMembers {
    fn join(&mut self, client: ClientId) {
        if self.at.len() <= client.0 {
            self.at.resize(client.0 + 1, NOT_MEMBER);
        }
        if self.at[client.0] != NOT_MEMBER {
            return;
        }
        self.at[client.0] = self.list.len() as u32;
        self.list.push(client);
    }

    fn leave(&mut self, client: ClientId) {
        let Some(slot) = self.at.get_mut(client.0) else {
            return;
        };
        let idx = std::mem::replace(slot, NOT_MEMBER);
        if idx == NOT_MEMBER {
            return;
        }
        self.list.swap_remove(idx as usize);
        if let Some(&moved) = self.list.get(idx as usize) {
            self.at[moved.0] = idx;
        }
        // Keys are dense; trailing non-members need not be kept.
        while self.at.last() == Some(&NOT_MEMBER) {
            self.at.pop();
        }
    }

    /// Checks that `list` and `at` agree.
    pub(super) fn check(&self) -> Result<(), String> {
        for (i, c) in self.list.iter().enumerate() {
            if self.at.get(c.0) != Some(&(i as u32)) {
                return Err(format!("broadcast member {} has a wrong index", c.0));
            }
        }
        let marked = self.at.iter().filter(|&&i| i != NOT_MEMBER).count();
        if marked != self.list.len() {
            return Err(format!(
                "{marked} broadcast indexes for {} members",
                self.list.len()
            ));
        }
        Ok(())
    }
}

impl Hub {
    /// A `/broadcast` connection was opened: it receives every member's frames.
    pub fn handle_raw_connect(&mut self, client: ClientId) {
        self.raw.join(client);
    }

    /// A `/broadcast` connection ended (call once, after it stopped being open).
    pub fn handle_raw_disconnect(&mut self, client: ClientId) {
        self.raw.leave(client);
    }

    /// Who receives a message a `/broadcast` member sent: every member, the
    /// sender included. The reactor frames the message once and queues it for
    /// each (a slice, not an outbox entry: this is the hottest fan-out, and the
    /// list only changes in `handle_raw_*connect`, never during delivery).
    pub fn raw_recipients(&self, sender: ClientId) -> &[ClientId] {
        // Every member gets every frame; a per-sender policy would decide here.
        let _ = sender;
        &self.raw.list
    }

    /// `/broadcast` members now.
    pub fn raw_members(&self) -> usize {
        self.raw.list.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::HubConfig;

    #[test]
    fn members_get_every_frame_and_leave_in_constant_time() {
        let mut hub = Hub::new(HubConfig::default());
        for k in [3, 0, 7, 5] {
            hub.handle_raw_connect(ClientId(k));
        }
        hub.handle_raw_connect(ClientId(7));
        assert_eq!(hub.raw_members(), 4);
        hub.handle_raw_disconnect(ClientId(0));
        hub.handle_raw_disconnect(ClientId(0));
        hub.raw.check().unwrap();
        let mut to = hub.raw_recipients(ClientId(3)).to_vec();
        to.sort();
        assert_eq!(to, [ClientId(3), ClientId(5), ClientId(7)]);
        for k in [3, 5, 7] {
            hub.handle_raw_disconnect(ClientId(k));
        }
        hub.raw.check().unwrap();
        assert!(hub.raw.at.is_empty());
        assert!(hub.raw_recipients(ClientId(3)).is_empty());
    }
}
