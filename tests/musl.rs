//! The static musl device build, as a router user runs it: built with cargo,
//! then started with real flags. On musl std leaves `std::env::args` empty,
//! so this is the one test of the argv loopcast takes from its C `main`.
//!
//! Skips (with a message) when the `x86_64-unknown-linux-musl` target is not
//! installed, unless `LOOPCAST_REQUIRE_MUSL=1` (tests/run.sh sets it once it
//! installed the target). The build goes to the usual target dir, so a warm
//! run only checks that it is up to date.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{frame, raw, raw_ws, read_close_code, read_frame};

const TARGET: &str = "x86_64-unknown-linux-musl";

/// Whether the toolchain has the musl target's standard library.
fn target_installed() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&sysroot)
        .join("lib/rustlib")
        .join(TARGET)
        .join("lib")
        .is_dir()
}

/// Builds the device binary (`--no-default-features`) for musl; `None` when
/// the target is missing and not required.
fn musl_binary() -> Option<PathBuf> {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) || !target_installed() {
        let required = std::env::var("LOOPCAST_REQUIRE_MUSL").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "LOOPCAST_REQUIRE_MUSL=1 but the {TARGET} target is not installed \
             (rustup target add {TARGET})"
        );
        eprintln!("SKIPPED: the {TARGET} target is not installed (rustup target add {TARGET})");
        return None;
    }
    let manifest = env!("CARGO_MANIFEST_DIR");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(manifest).join("target"));
    let status = Command::new(cargo)
        .current_dir(manifest)
        .args([
            "build",
            "--release",
            "--no-default-features",
            "--target",
            TARGET,
        ])
        .env("CARGO_TARGET_DIR", &target_dir)
        .stdout(Stdio::null())
        .status()
        .expect("run cargo");
    assert!(status.success(), "the musl build failed");
    Some(target_dir.join(TARGET).join("release/loopcast"))
}

/// Kills the child when dropped, so a failed assertion leaves no server behind.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `bin` with `args` to its end; fails after 10 s (with flags dropped,
/// `--help` would start a server instead of printing and exiting).
fn run(bin: &Path, args: &[&str]) -> std::process::Output {
    let child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Running(child);
    let started = Instant::now();
    while child.0.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "`loopcast {}` did not exit: were its flags dropped?",
            args.join(" ")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let Running(inner) = &mut child;
    let mut out = std::process::Output {
        status: inner.try_wait().unwrap().unwrap(),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    use std::io::Read;
    inner
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut out.stdout)
        .unwrap();
    inner
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut out.stderr)
        .unwrap();
    out
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn the_musl_device_build_reads_its_flags() {
    let Some(bin) = musl_binary() else { return };
    let image = std::fs::read(&bin).unwrap();
    // Static: no dynamic loader named in the binary.
    assert!(
        !image.windows(8).any(|w| w == b"ld-linux"),
        "{} is not a static musl binary",
        bin.display()
    );

    let help = run(&bin, &["--help"]);
    assert_eq!(help.status.code(), Some(0), "--help");
    let text = String::from_utf8(help.stdout).unwrap();
    assert!(
        text.contains("--listen") && text.contains("--auth-secret"),
        "{text}"
    );

    // A bad flag is refused, so flags reach the parser at all.
    let bad = run(&bin, &["--no-such-flag"]);
    assert_eq!(bad.status.code(), Some(2), "a bad flag must exit 2");
    let err = String::from_utf8(bad.stderr).unwrap();
    assert!(err.contains("--no-such-flag"), "{err}");
    let bad = run(&bin, &["--max-message", "lots"]);
    assert_eq!(bad.status.code(), Some(2), "a bad value must exit 2");

    // Served on the port given, with the message cap given (dropped flags
    // would mean port 8080 and 64 KiB).
    let port = free_port();
    let child = Command::new(&bin)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--max-message", "1000", "--log-level", "warn"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Running(child);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let started = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("the musl binary exited with {status} instead of listening on {addr}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not listening on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(raw(addr));
    let (mut ws, mut rest) = raw_ws(addr, "/broadcast");
    use std::io::Write;
    ws.write_all(&frame(true, 1, b"hello from musl")).unwrap();
    let echoed = read_frame(&mut ws, &mut rest).expect("the broadcast");
    assert_eq!(echoed.payload, b"hello from musl");
    ws.write_all(&frame(true, 1, &[b'x'; 1001])).unwrap();
    assert_eq!(
        read_close_code(&mut ws, &mut rest),
        Some(1009),
        "--max-message 1000 ignored"
    );
    drop(child);
}
