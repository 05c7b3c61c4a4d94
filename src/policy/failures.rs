//! A per-address budget of failed credentials: after too many, answer 429 for a while.
//!
//! Guessing tokens or API keys costs an HMAC or a compare each; without a
//! budget one client tries thousands per second. Each address (an IPv4
//! address, or an IPv6 /64, which one host usually owns whole) may fail
//! [`AUTH_FAILURES`] times per [`AUTH_FAILURE_WINDOW_MS`]; then every
//! credential it sends is refused unchecked until its window ends. The table
//! is bounded ([`AUTH_FAILURE_ADDRESSES`] entries, about 40 KiB at most,
//! nothing until the first failure): when full, expired entries go first,
//! then the oldest window.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::limits::{AUTH_FAILURE_ADDRESSES, AUTH_FAILURE_WINDOW_MS, AUTH_FAILURES};
use crate::timers::Millis;

/// Failed attempts per address, in the reactor's clock.
#[derive(Debug, Default)]
pub struct FailureBudget {
    table: HashMap<u64, Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    since: Millis,
    failures: u32,
}

/// An IPv4 address, or the /64 an IPv6 address is in (IPv4-mapped ones as IPv4).
fn key(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u64::from(u32::from(v4)),
            // The top bit set keeps /64 prefixes apart from IPv4 keys.
            None => (u128::from(v6) >> 64) as u64 | 1 << 63,
        },
    }
}

impl FailureBudget {
    /// True while `ip` has used up its budget: refuse without checking.
    pub fn exhausted(&self, ip: IpAddr, now: Millis) -> bool {
        self.table
            .get(&key(ip))
            .is_some_and(|e| now < e.since + AUTH_FAILURE_WINDOW_MS && e.failures >= AUTH_FAILURES)
    }

    /// Counts one failed credential from `ip`.
    pub fn fail(&mut self, ip: IpAddr, now: Millis) {
        let key = key(ip);
        if !self.table.contains_key(&key) && self.table.len() >= AUTH_FAILURE_ADDRESSES {
            self.make_room(now);
        }
        let entry = self.table.entry(key).or_insert(Entry {
            since: now,
            failures: 0,
        });
        if now >= entry.since + AUTH_FAILURE_WINDOW_MS {
            *entry = Entry {
                since: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
    }

    /// Addresses tracked now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn make_room(&mut self, now: Millis) {
        self.table
            .retain(|_, e| now < e.since + AUTH_FAILURE_WINDOW_MS);
        if self.table.len() >= AUTH_FAILURE_ADDRESSES
            && let Some(oldest) = self
                .table
                .iter()
                .min_by_key(|(_, e)| e.since)
                .map(|(k, _)| *k)
        {
            self.table.remove(&oldest);
        }
        if self.table.capacity() > 2 * AUTH_FAILURE_ADDRESSES {
            self.table.shrink_to(AUTH_FAILURE_ADDRESSES);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_runs_out_then_refills_after_the_window() {
        let mut b = FailureBudget::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..AUTH_FAILURES {
            assert!(!b.exhausted(ip, 1_000));
            b.fail(ip, 1_000);
        }
        assert!(b.exhausted(ip, 1_000));
        assert!(b.exhausted(ip, 1_000 + AUTH_FAILURE_WINDOW_MS - 1));
        assert!(!b.exhausted("192.0.2.8".parse().unwrap(), 1_000));
        assert!(!b.exhausted(ip, 1_000 + AUTH_FAILURE_WINDOW_MS));
        b.fail(ip, 1_000 + AUTH_FAILURE_WINDOW_MS);
        assert!(!b.exhausted(ip, 1_000 + AUTH_FAILURE_WINDOW_MS));
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let mut b = FailureBudget::default();
        for i in 0..AUTH_FAILURES {
            b.fail(format!("2001:db8:1:2::{i:x}").parse().unwrap(), 0);
        }
        assert!(b.exhausted("2001:db8:1:2:ffff::1".parse().unwrap(), 0));
        assert!(!b.exhausted("2001:db8:1:3::1".parse().unwrap(), 0));
        for _ in 0..AUTH_FAILURES {
            b.fail("::ffff:192.0.2.9".parse().unwrap(), 0);
        }
        assert!(b.exhausted("192.0.2.9".parse().unwrap(), 0));
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut b = FailureBudget::default();
        for i in 0..(3 * AUTH_FAILURE_ADDRESSES as u32) {
            b.fail(IpAddr::from(i.to_be_bytes()), Millis::from(i));
            assert!(b.len() <= AUTH_FAILURE_ADDRESSES);
        }
        // The newest addresses are the ones kept.
        let newest = IpAddr::from((3 * AUTH_FAILURE_ADDRESSES as u32 - 1).to_be_bytes());
        for _ in 1..AUTH_FAILURES {
            b.fail(newest, 5_000);
        }
        assert!(b.exhausted(newest, 5_000));
    }
}
