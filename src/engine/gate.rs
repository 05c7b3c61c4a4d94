//! The ordering rule for joiners, sans-IO.
//!
//! A room's channel payloads carry the room's event counter `ev`, and arrive
//! on the pub/sub link in `ev` order. A join runs as one script on the
//! command link and answers with the `ev` it ran at, `E`: the joiner's `room`
//! answer (history, members) reflects every payload up to `E`, so it must
//! get exactly the payloads after `E`. The two links interleave freely: the
//! answer may come before payloads up to `E` have arrived (those must not
//! reach the joiner again) or after payloads past `E` went by (those must
//! still reach it, after its answer). [`Gate`] keeps that straight for one
//! room's channel.

/// One room channel's joiners between "script sent" and "caught up".
#[derive(Debug)]
pub struct Gate<K, T> {
    /// The highest `ev` that arrived on the channel.
    seen: u64,
    /// Joins whose answer has not come: the payloads that arrived meanwhile.
    waiting: Vec<(K, Vec<(u64, T)>)>,
    /// Joined at `E` > `seen`: payloads up to `E` are not theirs.
    fresh: Vec<(K, u64)>,
}

impl<K: PartialEq + Copy, T: Clone> Default for Gate<K, T> {
    fn default() -> Self {
        Gate {
            seen: 0,
            waiting: Vec::new(),
            fresh: Vec::new(),
        }
    }
}

impl<K: PartialEq + Copy, T: Clone> Gate<K, T> {
    /// A join script for `who` was sent.
    pub fn wait(&mut self, who: K) {
        self.waiting.push((who, Vec::new()));
    }

    /// A join of `who` was answered with an error or given up: forget it.
    pub fn cancel(&mut self, who: K) {
        self.waiting.retain(|(k, _)| *k != who);
        self.fresh.retain(|(k, _)| *k != who);
    }

    /// The highest `ev` that arrived.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Nobody is between "sent" and "caught up".
    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.fresh.is_empty()
    }

    /// A payload `ev` arrived: buffers it for waiting joiners and returns the
    /// joiners it must not reach (joined at or after it). The caller delivers
    /// it to every other current member.
    pub fn arrive(&mut self, ev: u64, item: &T) -> Vec<K> {
        self.seen = self.seen.max(ev);
        for (_, buffer) in &mut self.waiting {
            buffer.push((ev, item.clone()));
        }
        let mut skip = Vec::new();
        self.fresh.retain(|&(k, e)| {
            if ev <= e {
                skip.push(k);
            }
            // Once the channel passed `E`, the joiner is like any member.
            e > ev
        });
        skip
    }

    /// The join of `who` was answered at `e`: returns the buffered payloads
    /// it must get after its answer, in order. From now on the caller counts
    /// it as a member and passes it to `arrive`'s exclusions.
    pub fn answered(&mut self, who: K, e: u64) -> Vec<T> {
        let Some(i) = self.waiting.iter().position(|(k, _)| *k == who) else {
            return Vec::new();
        };
        let (_, buffer) = self.waiting.swap_remove(i);
        if e > self.seen {
            self.fresh.push((who, e));
        }
        buffer
            .into_iter()
            .filter(|(ev, _)| *ev > e)
            .map(|(_, item)| item)
            .collect()
    }

    /// The link was lost: every waiting join is void (its caller answers
    /// `unavailable`); the counter restarts with the next payloads.
    pub fn reset(&mut self) -> Vec<K> {
        self.fresh.clear();
        self.seen = 0;
        self.waiting.drain(..).map(|(k, _)| k).collect()
    }
}
