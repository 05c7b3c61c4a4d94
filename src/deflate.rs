//! permessage-deflate (RFC 7692) with no per-connection compression state.
//!
//! The server always answers `server_no_context_takeover` and
//! `client_no_context_takeover`, so every message is an independent raw-deflate
//! stream in both directions. That lets the whole loop share one deflater and
//! one inflater, each reset per message, in the way of uWebSockets' shared
//! compressor: a broadcast is compressed once and the same RSV1 frame is copied
//! to every recipient that negotiated the extension, and a connection costs one
//! flag bit, not the hundreds of KiB a zlib context per connection would.

mod offer;
mod shared;

pub use offer::{Agreement, SERVER_WINDOW_BITS, negotiate};
pub use shared::{Deflater, Inflater};

#[cfg(test)]
mod tests;
