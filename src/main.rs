//! The `loopcast` binary: parse flags, start logging, serve until SIGINT/SIGTERM.
//!
//! It starts from the C `main` rather than Rust's: see [`main`] for why.
#![no_main]

use std::ffi::{c_char, c_int};
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use loopcast::config::{Config, ConfigError};
use loopcast::reactor::Server;

/// The process entry point, in place of the one Rust's runtime generates.
///
/// Why: the standard start-up (`lang_start`) sets up a stack-overflow guard
/// whose probing reads `/proc/self/maps` through libc's stdio and maps an
/// alternate signal stack. For a server whose promise is a tiny idle footprint
/// that costs about 400 KiB of resident memory, a fifth of the whole (measured
/// on the release binary: idle RSS about 2.2 MB with it, 1.8 MB without). What
/// the start-up does that matters here is redone in `start`: SIGPIPE is made
/// harmless, fds 0-2 are guaranteed open, stdout is flushed at exit. glibc
/// still hands argv to std, so `std::env::args_os` works as usual.
///
/// The only `unsafe` in the project is this attribute: exporting the symbol
/// `main` is unsafe because nothing else may define it, and nothing does.
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    let code = start();
    let _ = std::io::stdout().flush();
    code
}

/// Redoes the parts of Rust's runtime start-up we rely on, then runs the server.
fn start() -> c_int {
    keep_standard_fds_open();
    // Writes to a closed socket or pipe must fail with EPIPE, not kill the
    // process (sockets also use MSG_NOSIGNAL; this covers stdout and stderr).
    if let Err(e) = signal_hook::flag::register(
        signal_hook::consts::SIGPIPE,
        Arc::new(AtomicBool::new(false)),
    ) {
        eprintln!("loopcast: cannot handle SIGPIPE: {e}");
        return 1;
    }
    run()
}

/// Started with fd 0, 1 or 2 closed, the first socket would take its number and
/// log lines would go to a client: occupy any free one of them with /dev/null.
fn keep_standard_fds_open() {
    while let Ok(null) = File::open("/dev/null") {
        if null.as_raw_fd() > 2 {
            break;
        }
        // Deliberately kept open for the life of the process.
        std::mem::forget(null);
    }
}

fn run() -> c_int {
    let config = match Config::parse(std::env::args_os().skip(1), |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(ConfigError::Help(text)) => {
            print!("{text}");
            return 0;
        }
        Err(ConfigError::Invalid(line)) => {
            eprintln!("loopcast: {line}");
            return 2;
        }
    };
    // Logging can only fail if a logger is already set, which cannot happen here.
    let _ = simple_logger::SimpleLogger::new()
        .with_level(config.log_level)
        .init();
    let listen = config.listen;
    let store = match loopcast::hub::store::open(&config) {
        Ok(store) => store,
        Err(line) => {
            eprintln!("loopcast: {line}");
            return 2;
        }
    };
    let mut server = match Server::bind_with(config, store) {
        Ok(s) => s,
        // A certificate or key that cannot be used (one line naming the file).
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            eprintln!("loopcast: {e}");
            return 2;
        }
        Err(e) => {
            eprintln!("loopcast: cannot listen on {listen}: {e}");
            return 1;
        }
    };
    if let Err(e) = server.handle_signals() {
        eprintln!("loopcast: cannot install signal handlers: {e}");
        return 1;
    }
    log::info!(
        "{} listening on {}://{}",
        loopcast::VERSION,
        if server.is_tls() { "https" } else { "http" },
        server.local_addr()
    );
    match server.run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("loopcast: {e}");
            1
        }
    }
}
