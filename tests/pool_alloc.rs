//! The spare write-buffer pool keeps working in the steady state: a drained
//! buffer is reused for the next message instead of freed and allocated again.
//! Counted with a global allocator that counts only the server thread.

mod common;

use common::alloc::{Counting, allocations, counted_server};
use common::{frame, raw_ws, read_frame};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn drained_write_buffers_are_reused_not_reallocated() {
    let (addr, stop, thread) = counted_server();
    let (mut s, mut rest) = raw_ws(addr, "/echo");
    // 4 000-byte messages: the pool (256 KiB) stopped pooling after ~65 drains,
    // because returning a buffer counted against it and taking one did not.
    let message = frame(true, 2, &[9u8; 4000]);
    let mut round_trip = |s: &mut std::net::TcpStream| {
        use std::io::Write;
        s.write_all(&message).unwrap();
        let f = read_frame(s, &mut rest).expect("echo");
        assert_eq!(f.payload.len(), 4000);
    };
    for _ in 0..200 {
        round_trip(&mut s);
    }
    let before = allocations();
    let rounds = 300;
    for _ in 0..rounds {
        round_trip(&mut s);
    }
    let allocs = allocations() - before;
    stop.shutdown();
    thread.join().unwrap().unwrap();
    // Steady state allocates nothing per message; a few stray allocations are
    // tolerated, one per drain (the defect) is not.
    assert!(
        allocs < rounds / 10,
        "{allocs} allocations in {rounds} echoes"
    );
}
