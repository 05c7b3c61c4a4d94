//! A counting global allocator for tests about the server's allocations:
//! counts allocations and live bytes of the threads that opted in
//! ([`count_this_thread`]), passing every call to `System` unchanged.
//! A test crate installs it with
//! `#[global_allocator] static GLOBAL: common::alloc::Counting = common::alloc::Counting;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

/// The allocator (see the module docs).
pub struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

/// From now on, the calling thread's allocations are counted.
pub fn count_this_thread() {
    COUNTED.with(|c| c.set(true));
}

/// Allocations and reallocations counted so far.
pub fn allocations() -> usize {
    ALLOCS.load(Ordering::Relaxed)
}

/// Bytes allocated and not yet freed by the counted threads.
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn count(allocation: bool, delta: isize) {
    if COUNTED.with(Cell::get) {
        if allocation {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        LIVE.fetch_add(delta, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed to `System` unchanged; counting touches only
// atomics and a const-initialised thread-local (none of them allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(true, layout.size() as isize);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(false, -(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(true, new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// A server with the default config on 127.0.0.1:<free port>, on its own
/// thread, whose allocations are counted: its address, its stop handle and
/// the thread (join it after `shutdown` to see the run's result).
pub fn counted_server() -> (
    std::net::SocketAddr,
    loopcast::reactor::ShutdownHandle,
    std::thread::JoinHandle<std::io::Result<()>>,
) {
    let config = loopcast::config::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..loopcast::config::Config::default()
    };
    let server = loopcast::reactor::Server::bind(config).unwrap();
    let addr = server.local_addr();
    let stop = server.shutdown_handle();
    let thread = std::thread::spawn(move || {
        count_this_thread();
        server.run()
    });
    (addr, stop, thread)
}
