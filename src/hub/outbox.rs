//! The hub's output queue: every event encoded once, with its recipient list.

use std::ops::Range;

use crate::ClientId;

/// What the hub wants done, filled by `handle_*`, drained by the reactor.
/// Buffers are reused, so steady-state output allocates nothing: all texts
/// live in one `String`, all recipient lists in one `Vec`, and each entry is
/// a pair of ranges into them.
#[derive(Debug, Default)]
pub struct Outbox {
    text: String,
    to: Vec<ClientId>,
    items: Vec<Item>,
}

#[derive(Debug)]
enum Item {
    Text {
        text: Range<usize>,
        to: Range<usize>,
    },
    Close {
        client: ClientId,
        code: u16,
        reason: Range<usize>,
    },
}

/// One item of an `Outbox`.
#[derive(Debug, PartialEq, Eq)]
pub enum Output<'a> {
    /// Send `text` as one text frame to every client in `to` (framed once by the reactor).
    Text { to: &'a [ClientId], text: &'a str },
    /// Close `client` with `code` and `reason`.
    Close {
        client: ClientId,
        code: u16,
        reason: &'a str,
    },
}

/// Where an entry being written started (see `Outbox::mark`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    text: usize,
    to: usize,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// The queued outputs, in order.
    pub fn iter(&self) -> impl Iterator<Item = Output<'_>> {
        self.items.iter().map(|item| match item {
            Item::Text { text, to } => Output::Text {
                to: &self.to[to.clone()],
                text: &self.text[text.clone()],
            },
            Item::Close {
                client,
                code,
                reason,
            } => Output::Close {
                client: *client,
                code: *code,
                reason: &self.text[reason.clone()],
            },
        })
    }

    /// Forgets the queued outputs, keeping the buffers.
    pub fn clear(&mut self) {
        self.text.clear();
        self.to.clear();
        self.items.clear();
    }

    /// Heap bytes the buffers hold (their capacities), for the memory budget.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + self.to.capacity() * std::mem::size_of::<ClientId>()
            + self.items.capacity() * std::mem::size_of::<Item>()
    }

    /// Gives back memory that one large output made the buffers grow to: each
    /// buffer over `max` bytes is cut back to `max`. Call when empty; steady
    /// output below `max` keeps its buffers and allocates nothing.
    pub fn shrink(&mut self, max: usize) {
        debug_assert!(self.is_empty());
        if self.text.capacity() > max {
            self.text.shrink_to(max);
        }
        let ids = max / std::mem::size_of::<ClientId>();
        if self.to.capacity() > ids {
            self.to.shrink_to(ids);
        }
        let items = max / std::mem::size_of::<Item>();
        if self.items.capacity() > items {
            self.items.shrink_to(items);
        }
    }

    /// Nothing queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many outputs are queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Starts an entry: write its text into `buf()` and its recipients with
    /// `recipient`/`recipients`, then `commit` it.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            text: self.text.len(),
            to: self.to.len(),
        }
    }

    /// The text buffer to append the entry's JSON to.
    pub(crate) fn buf(&mut self) -> &mut String {
        &mut self.text
    }

    /// The text written since `mark`.
    pub(crate) fn written(&self, mark: Mark) -> &str {
        &self.text[mark.text..]
    }

    /// Adds one recipient to the entry being written.
    pub(crate) fn recipient(&mut self, client: ClientId) {
        self.to.push(client);
    }

    /// Adds recipients to the entry being written.
    pub(crate) fn recipients(&mut self, clients: &[ClientId]) {
        self.to.extend_from_slice(clients);
    }

    /// Queues the entry started at `mark` and returns its recipient count; an
    /// entry nobody receives is dropped, text and all.
    pub(crate) fn commit(&mut self, mark: Mark) -> usize {
        let recipients = self.to.len() - mark.to;
        if recipients == 0 {
            self.text.truncate(mark.text);
        } else {
            self.items.push(Item::Text {
                text: mark.text..self.text.len(),
                to: mark.to..self.to.len(),
            });
        }
        recipients
    }

    /// Buffer capacities (text, recipients, items), to test that they are reused.
    #[cfg(test)]
    pub(crate) fn capacities(&self) -> (usize, usize, usize) {
        (
            self.text.capacity(),
            self.to.capacity(),
            self.items.capacity(),
        )
    }

    /// Queues a close of `client`.
    pub(crate) fn close(&mut self, client: ClientId, code: u16, reason: &str) {
        let start = self.text.len();
        self.text.push_str(reason);
        self.items.push(Item::Close {
            client,
            code,
            reason: start..self.text.len(),
        });
    }
}
