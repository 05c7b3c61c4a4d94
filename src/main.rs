//! The `loopcast` binary: parse flags, start logging, serve until SIGINT/SIGTERM.
//!
//! It starts from the C `main` rather than Rust's: see [`main`] for why.
// Under `cargo test` the harness brings its own `main`; only the argv conversion is tested then.
#![cfg_attr(not(test), no_main)]
#![cfg_attr(test, allow(dead_code, unused_imports))]

use std::ffi::{CStr, OsString, c_char, c_int};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::os::unix::ffi::OsStringExt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use loopcast::config::{Config, ConfigError};
use loopcast::reactor::Server;
use loopcast::systemd::{self, Notifier};

/// The process entry point, in place of the one Rust's runtime generates.
///
/// Why: the standard start-up (`lang_start`) sets up a stack-overflow guard
/// whose probing reads `/proc/self/maps` through libc's stdio and maps an
/// alternate signal stack. For a server whose promise is a tiny idle footprint
/// that costs about 400 KiB of resident memory, a fifth of the whole (measured
/// on the release binary: idle RSS about 2.2 MB with it, 1.8 MB without). What
/// the start-up does that matters here is redone in `start`: SIGPIPE is made
/// harmless, fds 0-2 are guaranteed open, stdout is flushed at exit.
///
/// The flags come from this function's own `argc`/`argv`, never from
/// `std::env::args_os`: std fills that from glibc's `.init_array` hook, which
/// musl does not have, so on `*-linux-musl` it is empty and every flag
/// (`--auth-secret`, `--api-key` included) would be silently dropped.
///
/// `unsafe` appears in the project only in this file: exporting the symbol
/// `main` (nothing else may define it, and nothing does), reading `argv`,
/// taking ownership of a socket-activated listener ([`inherited_listener`]),
/// and calling glibc's `malloc_trim` ([`release_memory`]).
#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    // SAFETY: the C runtime calls `main` with `argc` and an `argv` array of
    // `argc` valid NUL-terminated strings followed by a null pointer, which
    // stay alive and unmodified for the life of the process (C11 5.1.2.2.1).
    let args = unsafe { args_from_c(argc, argv) };
    let code = start(args);
    let _ = std::io::stdout().flush();
    code
}

/// Returns free heap pages to the OS after the server freed a burst's buffers.
/// glibc keeps freed small chunks resident when live ones sit above them;
/// `malloc_trim` gives back every whole free page. musl's allocator returns
/// memory by itself, so there this does nothing.
fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> c_int;
        }
        // SAFETY: malloc_trim takes no pointers and only walks glibc's own
        // heap under its lock; any `pad` is valid.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Copies C's `argv[1..argc]` into owned strings (bytes as given: flags are
/// checked for UTF-8 later, with a clear error naming the flag).
///
/// A null `argv`, a negative `argc` or a null entry before `argc` ends the
/// list early rather than being read past.
///
/// # Safety
/// `argv` must be null or point to at least `argc` pointers, each null or a
/// valid NUL-terminated string that is not modified while this runs.
unsafe fn args_from_c(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
    let count = usize::try_from(argc).unwrap_or(0);
    if argv.is_null() {
        return Vec::new();
    }
    let mut args = Vec::with_capacity(count.saturating_sub(1));
    for i in 1..count {
        // SAFETY: i < argc, so the caller guarantees `argv.add(i)` is readable.
        let arg = unsafe { *argv.add(i) };
        if arg.is_null() {
            break;
        }
        // SAFETY: a non-null entry is a valid NUL-terminated string (caller's contract).
        let bytes = unsafe { CStr::from_ptr(arg) }.to_bytes();
        args.push(OsString::from_vec(bytes.to_vec()));
    }
    args
}

/// Redoes the parts of Rust's runtime start-up we rely on, then runs the server.
fn start(args: Vec<OsString>) -> c_int {
    keep_standard_fds_open();
    // Writes to a closed socket or pipe must fail with EPIPE, not kill the
    // process (sockets also use MSG_NOSIGNAL; this covers stdout and stderr).
    // Likewise a write past RLIMIT_FSIZE (a journal under `--data-dir` on a
    // capped account) must fail with EFBIG, which the store reports and
    // survives, instead of SIGXFSZ killing the server.
    for (signal, name) in [
        (signal_hook::consts::SIGPIPE, "SIGPIPE"),
        (signal_hook::consts::SIGXFSZ, "SIGXFSZ"),
    ] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::new(AtomicBool::new(false))) {
            eprintln!("loopcast: cannot handle {name}: {e}");
            return 1;
        }
    }
    run(args)
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

fn run(args: Vec<OsString>) -> c_int {
    let config = match Config::parse(args, |k| std::env::var(k).ok()) {
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
    // Logs go to stderr and a failed write is dropped: see `loopcast::logger`.
    // Init only fails if a logger is already set, which cannot happen here.
    let _ = loopcast::logger::init(config.log_level);
    let listen = config.listen;
    if !listen.ip().is_loopback() && config.api_key.is_none() {
        log::warn!("not on loopback and no --api-key: POST /api/publish answers 403");
    }
    if listen.ip().is_unspecified() && config.allowed_hosts.is_empty() {
        log::warn!("listening on every address: set --allowed-hosts to refuse DNS rebinding");
    }
    let inherited = match inherited_listener() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("loopcast: socket activation: {e}");
            return 2;
        }
    };
    let notifier = match Notifier::from_env(|k| std::env::var(k).ok()) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("loopcast: NOTIFY_SOCKET: {e}");
            return 2;
        }
    };
    let bound = match inherited {
        Some(listener) => Server::from_listener(config, listener),
        None => Server::bind(config),
    };
    let mut server = match bound {
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
    if let Some(n) = notifier {
        server.notify_systemd(n);
    }
    server.on_release(release_memory);
    match server.run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("loopcast: {e}");
            1
        }
    }
}

/// With socket activation (`LISTEN_PID` is us, `LISTEN_FDS` ≥ 1), the
/// listener systemd passed as fd 3; `Ok(None)` otherwise.
fn inherited_listener() -> Result<Option<std::net::TcpListener>, String> {
    let count = systemd::listen_fds(|k| std::env::var(k).ok());
    if count == 0 {
        return Ok(None);
    }
    if count > 1 {
        log::warn!("socket activation passed {count} sockets; serving on the first only");
    }
    let fd = systemd::LISTEN_FDS_START;
    // SAFETY: LISTEN_PID names this process, so by the sd_listen_fds(3)
    // contract fd 3 was opened for it and is owned by nobody else in it: the
    // only files opened before this point are fds 0-2 (see
    // `keep_standard_fds_open`, which closes anything above them).
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    // A closed fd or one that is not a TCP socket fails here, not in the loop.
    match listener.local_addr() {
        Ok(_) => Ok(Some(listener)),
        Err(e) => {
            // Not ours to close if it was never open: give the number back untouched.
            let _ = listener.into_raw_fd();
            Err(format!("fd {fd} is not a TCP listener: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::ptr;

    /// Builds a C-style argv (with its terminating null) and converts it.
    fn convert(args: &[&[u8]], argc: Option<c_int>) -> Vec<OsString> {
        let owned: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap()).collect();
        let mut argv: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        argv.push(ptr::null());
        let argc = argc.unwrap_or(args.len() as c_int);
        // SAFETY: `argv` holds `args.len()` valid strings and a null, all alive here;
        // the tests only pass an `argc` up to that length plus the null.
        unsafe { args_from_c(argc, argv.as_ptr()) }
    }

    #[test]
    fn argv_skips_the_program_name_and_keeps_order() {
        let args = convert(&[b"loopcast", b"--listen", b":9000", b"--api-key=k"], None);
        assert_eq!(args, ["--listen", ":9000", "--api-key=k"]);
        let config = Config::parse(args, |_| None).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.api_key.as_deref(), Some("k"));
    }

    #[test]
    fn argv_keeps_non_utf8_bytes_for_the_parser_to_name() {
        let args = convert(&[b"loopcast", b"--api-key", b"\xff"], None);
        assert_eq!(args[1].as_encoded_bytes(), b"\xff");
        let Err(ConfigError::Invalid(line)) = Config::parse(args, |_| None) else {
            panic!("non-UTF-8 value accepted");
        };
        assert!(line.contains("--api-key"), "{line}");
    }

    #[test]
    fn odd_argc_and_argv_are_not_read_past() {
        assert!(convert(&[b"loopcast"], None).is_empty());
        assert!(convert(&[], None).is_empty());
        assert!(convert(&[b"loopcast", b"-V"], Some(-1)).is_empty());
        // argc one past the strings: the terminating null ends the list.
        assert_eq!(convert(&[b"loopcast", b"-V"], Some(3)), ["-V"]);
        // SAFETY: a null argv is allowed by the contract.
        assert!(unsafe { args_from_c(5, ptr::null()) }.is_empty());
    }
}
