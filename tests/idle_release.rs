//! A server whose clients all left holds about what a fresh one holds: the
//! shared read buffer, the drained write buffers and the handshake state go
//! back. Counted with a global allocator that tracks the server thread's live
//! bytes.

mod common;

use std::time::Duration;

use common::alloc::{Counting, counted_server, live_bytes};
use common::{frame, raw_ws, read_frame};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_server_whose_clients_left_gives_their_buffers_back() {
    let (addr, stop, thread) = counted_server();
    std::thread::sleep(Duration::from_millis(300));
    let fresh = live_bytes();
    // Two clients, one after the other, each with a large echo: the read
    // buffer, write buffers and a grown frame buffer all come into use.
    for _ in 0..2 {
        let (mut s, mut rest) = raw_ws(addr, "/echo");
        use std::io::Write;
        s.write_all(&frame(true, 2, &[7u8; 60_000])).unwrap();
        let echoed = read_frame(&mut s, &mut rest).expect("echo");
        assert_eq!(echoed.payload.len(), 60_000);
        drop(s);
        // Past the spare pool's trim delay (250 ms), a few turns later.
        std::thread::sleep(Duration::from_millis(700));
    }
    let left = live_bytes();
    stop.shutdown();
    thread.join().unwrap().unwrap();
    // What stays is bookkeeping sized by the connections ever open (slab
    // slots, map capacity): well under one 64 KiB buffer.
    assert!(
        left - fresh < 16 * 1024,
        "{} bytes more than a fresh server after every client left (fresh {fresh})",
        left - fresh
    );
}
