//! The spare write-buffer pool keeps working in the steady state: a drained
//! buffer is reused for the next message instead of freed and allocated again.
//! Counted with a global allocator that counts only the server thread.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{frame, raw_ws, read_frame};
use loopcast::config::Config;
use loopcast::reactor::Server;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is passed to `System` unchanged; counting touches only an
// atomic and a const-initialised thread-local (neither allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTED.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTED.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn drained_write_buffers_are_reused_not_reallocated() {
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
    let before = ALLOCS.load(Ordering::Relaxed);
    let rounds = 300;
    for _ in 0..rounds {
        round_trip(&mut s);
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    stop.shutdown();
    thread.join().unwrap().unwrap();
    // Steady state allocates nothing per message; a few stray allocations are
    // tolerated, one per drain (the defect) is not.
    assert!(
        allocs < rounds / 10,
        "{allocs} allocations in {rounds} echoes"
    );
}
