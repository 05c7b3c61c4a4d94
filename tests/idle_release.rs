//! A server whose clients all left holds about what a fresh one holds: the
//! shared read buffer, the drained write buffers and the handshake state go
//! back. Counted with a global allocator that tracks the server thread's live
//! bytes.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use common::{frame, raw_ws, read_frame};
use loopcast::config::Config;
use loopcast::reactor::Server;

struct Live;

static LIVE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count(delta: isize) {
    if COUNTED.with(Cell::get) {
        LIVE.fetch_add(delta, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed to `System` unchanged; counting touches only an
// atomic and a const-initialised thread-local (neither allocates).
unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Live = Live;

#[test]
fn a_server_whose_clients_left_gives_their_buffers_back() {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    let server = Server::bind(config).unwrap();
    let addr = server.local_addr();
    let stop = server.shutdown_handle();
    let thread = std::thread::spawn(move || {
        COUNTED.with(|c| c.set(true));
        server.run()
    });
    std::thread::sleep(Duration::from_millis(300));
    let fresh = LIVE.load(Ordering::Relaxed);
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
    let left = LIVE.load(Ordering::Relaxed);
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
