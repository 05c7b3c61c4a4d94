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
