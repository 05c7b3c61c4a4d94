//! The real binary as a user runs it: help, bad flags, serving, and SIGTERM.

mod common;

use std::process::Command;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_loopcast");

#[test]
fn help_lists_every_flag_with_its_default() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--max-connections",
        "--max-message",
        "--max-pending",
        "--ping-interval",
        "--idle-timeout",
        "--handshake-timeout",
        "--log-level",
        "--allowed-origins",
        "--allowed-hosts",
        "--auth-secret",
        "--api-key",
        "--rate-limit",
        "--history",
        "--history-bytes",
        "--max-rooms",
        "--data-dir",
        "--fsync",
        "--room-ttl",
        "--max-disk",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}:\n{text}");
    }
    assert!(text.contains("[default: 127.0.0.1:8080]"), "{text}");
}

#[test]
fn a_bad_value_is_one_line_and_exit_code_2() {
    let out = Command::new(BIN)
        .args(["--max-pending", "lots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--max-pending") && err.contains("lots"),
        "{err}"
    );
    let out = Command::new(BIN)
        .env("LOOPCAST_IDLE_TIMEOUT", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sigterm_closes_clients_with_1001_and_exits_0() {
    let (mut child, addr) = spawn_binary("", "--log-level warn");
    let (mut s, mut rest) = raw_ws(addr, "/broadcast");
    s.set_nodelay(true).unwrap();
    use std::io::Write;
    s.write_all(&frame(true, 1, b"before")).unwrap();
    assert_eq!(read_frame(&mut s, &mut rest).unwrap().payload, b"before");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert_eq!(read_close_code(&mut s, &mut rest), Some(1001));
    drop(s);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
}

/// Flags reach the server through `main`'s own argv (std's `args_os` is empty on musl):
/// `--api-key` given on the command line must guard `/api/publish`.
#[test]
fn flags_from_main_argv_take_effect() {
    let (mut child, addr) = spawn_binary("", "--log-level off --api-key s3cret");
    let body = r#"{"room":"r","message":"hi"}"#;
    let post = |auth: &str| {
        http(
            addr,
            &format!(
                "POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    let without = post("");
    assert!(without.starts_with("HTTP/1.1 401"), "{without}");
    let with = post("Authorization: Bearer s3cret\r\n");
    assert!(with.starts_with("HTTP/1.1 200"), "{with}");
    child.kill().unwrap();
    let _ = child.wait();
}

/// A log line written to a pipe nobody reads any more (EPIPE) is dropped, not a crash.
#[test]
fn logging_into_closed_pipes_does_not_stop_the_server() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-level",
            "trace",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close both read ends before the server logs anything.
    drop(child.stdout.take());
    drop(child.stderr.take());
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "server exited");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Every request and upgrade logs at debug/trace level.
    for _ in 0..3 {
        let (s, _) = raw_ws(addr, "/ws");
        drop(s);
        let health = http(addr, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    }
    assert!(child.try_wait().unwrap().is_none(), "server died logging");
    child.kill().unwrap();
    let _ = child.wait();
}
