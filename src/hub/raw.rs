//! `/broadcast`: the raw hub. Every frame a member sends goes, unchanged, to
//! every member (the sender included). The member list lives here so the hub
//! stays the only module that decides who receives what.
//!
//! With `--raw-rate-limit`, each member gets a rate limiter like `/ws` clients:
//! a message over the rate is dropped (the raw protocol has no error event),
//! and a member still over it after the grace period is closed with 1008.

use std::time::Instant;

use super::Hub;
use super::rate::{Rate, Verdict};
use crate::ClientId;

/// What to do with one message from a `/broadcast` member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawAdmit {
    /// Within the rate (or no limit): deliver it.
    Deliver,
    /// Over the rate: drop it (the raw protocol has no error event).
    Drop,
    /// Over the rate for the whole grace period: close the sender with 1008.
    Close,
}

/// Marks a client that is not a `/broadcast` member in `RawMembers::at`.
const NOT_MEMBER: u32 = u32::MAX;

/// `/broadcast` members, with O(1) join and leave.
#[derive(Debug, Default)]
pub(super) struct RawMembers {
    /// Members, in no particular order (leave swaps the last one in).
    list: Vec<ClientId>,
    /// Each client's index in `list`, or `NOT_MEMBER`; indexed by the dense client key.
    at: Vec<u32>,
    /// Each member's rate limiter, parallel to `list`; empty when unlimited.
    rates: Vec<Rate>,
}

impl RawMembers {
    fn join(&mut self, client: ClientId, rate: Option<Rate>) {
        if self.at.len() <= client.0 {
            self.at.resize(client.0 + 1, NOT_MEMBER);
        }
        if self.at[client.0] != NOT_MEMBER {
            return;
        }
        self.at[client.0] = self.list.len() as u32;
        self.list.push(client);
        if let Some(rate) = rate {
            self.rates.push(rate);
        }
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
        if !self.rates.is_empty() {
            self.rates.swap_remove(idx as usize);
        }
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
        if !self.rates.is_empty() && self.rates.len() != self.list.len() {
            return Err(format!(
                "{} rate limiters for {} broadcast members",
                self.rates.len(),
                self.list.len()
            ));
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
    pub fn handle_raw_connect(&mut self, now: Instant, client: ClientId) {
        let rate = (self.config.raw_rate_limit > 0).then(|| Rate::new(now));
        self.raw.join(client, rate);
    }

    /// A `/broadcast` connection ended (call once, after it stopped being open).
    pub fn handle_raw_disconnect(&mut self, client: ClientId) {
        self.raw.leave(client);
    }

    /// Whether `/broadcast` members are rate limited (`--raw-rate-limit`), so the
    /// reactor asks [`Hub::raw_admit`] first; without a limit it never needs to.
    pub fn raw_limited(&self) -> bool {
        self.config.raw_rate_limit > 0
    }

    /// Charges one message from `sender` against `--raw-rate-limit`.
    pub fn raw_admit(&mut self, now: Instant, sender: ClientId) -> RawAdmit {
        let at = self.raw.at.get(sender.0).copied().unwrap_or(NOT_MEMBER);
        let Some(rate) = self.raw.rates.get_mut(at as usize) else {
            return RawAdmit::Deliver;
        };
        let c = &self.config;
        match rate.check(now, c.raw_rate_limit, c.raw_rate_burst, c.rate_grace) {
            Verdict::Pass => RawAdmit::Deliver,
            Verdict::Limited => RawAdmit::Drop,
            Verdict::Close => RawAdmit::Close,
        }
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
    use std::time::Duration;

    #[test]
    fn members_get_every_frame_and_leave_in_constant_time() {
        let mut hub = Hub::new(HubConfig::default());
        for k in [3, 0, 7, 5] {
            hub.handle_raw_connect(Instant::now(), ClientId(k));
        }
        hub.handle_raw_connect(Instant::now(), ClientId(7));
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

    #[test]
    fn a_raw_rate_limit_drops_the_excess_then_closes_a_flooder() {
        let mut hub = Hub::new(HubConfig {
            raw_rate_limit: 10,
            raw_rate_burst: 20,
            rate_grace: Duration::from_secs(1),
            ..HubConfig::default()
        });
        assert!(hub.raw_limited());
        assert!(!Hub::new(HubConfig::default()).raw_limited());
        let t0 = Instant::now();
        hub.handle_raw_connect(t0, ClientId(1));
        hub.handle_raw_connect(t0, ClientId(2));
        let verdicts: Vec<RawAdmit> = (0..30).map(|_| hub.raw_admit(t0, ClientId(1))).collect();
        assert!(verdicts[..20].iter().all(|v| *v == RawAdmit::Deliver));
        assert!(verdicts[20..].iter().all(|v| *v == RawAdmit::Drop));
        // The other member's budget is its own.
        assert_eq!(hub.raw_admit(t0, ClientId(2)), RawAdmit::Deliver);
        // Flooding on at 100 per second past the 1 s grace: closed with 1008.
        let last = (10..1500)
            .step_by(10)
            .map(|ms| hub.raw_admit(t0 + Duration::from_millis(ms), ClientId(1)))
            .last();
        assert_eq!(last, Some(RawAdmit::Close));
        hub.handle_raw_disconnect(ClientId(1));
        hub.raw.check().unwrap();
        assert_eq!(hub.raw.rates.len(), 1);
    }
}
