//! `/broadcast`: the raw hub. Every frame a member sends goes, unchanged, to
//! every member (the sender included). The member list lives here so the hub
//! stays the only module that decides who receives what.
//!
//! With `--raw-rate-limit`, each member gets a rate limiter like `/ws` clients:
//! a message over the rate is dropped (the raw protocol has no error event),
//! and a member still over it after the grace period is closed with 1008.

use super::rate::{Rate, Verdict};
use super::{CLOSE_POLICY, Hub, Now, Outbox};
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
    pub fn handle_raw_connect(&mut self, now: Now, client: ClientId) {
        let rate = (self.config.raw_rate_limit > 0).then(|| Rate::new(now.mono));
        self.raw.join(client, rate);
    }

    /// A `/broadcast` connection ended (call once, after it stopped being open).
    pub fn handle_raw_disconnect(&mut self, client: ClientId) {
        self.raw.leave(client);
    }

    /// A `/broadcast` member sent a message: every member gets it as is (unless
    /// the sender is over `--raw-rate-limit`). Returns how many recipients it has.
    pub fn handle_raw_message(
        &mut self,
        now: Now,
        client: ClientId,
        binary: bool,
        payload: &[u8],
        out: &mut Outbox,
    ) -> usize {
        let at = self.raw.at.get(client.0).copied().unwrap_or(NOT_MEMBER);
        if let Some(rate) = self.raw.rates.get_mut(at as usize) {
            let c = &self.config;
            match rate.check(now.mono, c.raw_rate_limit, c.raw_rate_burst, c.rate_grace) {
                Verdict::Pass => {}
                Verdict::Limited => return 0,
                Verdict::Close => {
                    out.close(client, CLOSE_POLICY, "rate limit exceeded");
                    return 0;
                }
            }
        }
        out.frame(binary, payload, &self.raw.list)
    }

    /// `/broadcast` members now.
    pub fn raw_members(&self) -> usize {
        self.raw.list.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{HubConfig, Output};
    use std::time::{Duration, Instant};

    fn now() -> Now {
        Now {
            mono: Instant::now(),
            unix_ms: 0,
        }
    }

    #[test]
    fn members_get_every_frame_and_leave_in_constant_time() {
        let mut hub = Hub::new(HubConfig::default());
        let mut out = Outbox::new();
        for k in [3, 0, 7, 5] {
            hub.handle_raw_connect(now(), ClientId(k));
        }
        hub.handle_raw_connect(now(), ClientId(7));
        assert_eq!(hub.raw_members(), 4);
        hub.handle_raw_disconnect(ClientId(0));
        hub.handle_raw_disconnect(ClientId(0));
        hub.raw.check().unwrap();
        assert_eq!(
            hub.handle_raw_message(now(), ClientId(3), true, b"\x01\x02", &mut out),
            3
        );
        let items: Vec<_> = out.iter().collect();
        let [
            Output::Frame {
                to,
                binary,
                payload,
            },
        ] = items.as_slice()
        else {
            panic!("{items:?}");
        };
        let mut to = to.to_vec();
        to.sort();
        assert_eq!(to, [ClientId(3), ClientId(5), ClientId(7)]);
        assert!(*binary);
        assert_eq!(*payload, b"\x01\x02");
        for k in [3, 5, 7] {
            hub.handle_raw_disconnect(ClientId(k));
        }
        hub.raw.check().unwrap();
        assert!(hub.raw.at.is_empty());
        out.clear();
        assert_eq!(
            hub.handle_raw_message(now(), ClientId(3), false, b"x", &mut out),
            0
        );
        assert!(out.is_empty());
    }

    #[test]
    fn a_raw_rate_limit_drops_the_excess_then_closes_a_flooder() {
        let mut hub = Hub::new(HubConfig {
            raw_rate_limit: 10,
            raw_rate_burst: 20,
            rate_grace: Duration::from_secs(1),
            ..HubConfig::default()
        });
        let mut out = Outbox::new();
        let t0 = now();
        hub.handle_raw_connect(t0, ClientId(1));
        hub.handle_raw_connect(t0, ClientId(2));
        let sent: usize = (0..30)
            .map(|_| hub.handle_raw_message(t0, ClientId(1), false, b"m", &mut out))
            .sum();
        assert_eq!(sent, 20 * 2, "the burst of 20 reached both members");
        assert_eq!(out.len(), 20);
        assert!(out.iter().all(|o| matches!(o, Output::Frame { .. })));
        // The other member's budget is its own.
        assert_eq!(
            hub.handle_raw_message(t0, ClientId(2), false, b"x", &mut out),
            2
        );
        // Flooding on at 100 per second past the 1 s grace: closed with 1008.
        out.clear();
        for ms in (10..1500).step_by(10) {
            let later = Now {
                mono: t0.mono + Duration::from_millis(ms),
                ..t0
            };
            hub.handle_raw_message(later, ClientId(1), false, b"m", &mut out);
        }
        assert!(
            out.iter().any(|o| matches!(
                o,
                Output::Close {
                    client: ClientId(1),
                    code: 1008,
                    ..
                }
            )),
            "{:?}",
            out.iter().collect::<Vec<_>>()
        );
        hub.handle_raw_disconnect(ClientId(1));
        hub.raw.check().unwrap();
        assert_eq!(hub.raw.rates.len(), 1);
    }
}
