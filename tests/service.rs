//! The real binary under a (fake) service manager: `Type=notify` datagrams
//! on `NOTIFY_SOCKET`, and a socket-activated listener on fd 3.

mod common;

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http;

const BIN: &str = env!("CARGO_BIN_EXE_loopcast");

/// Receives the next notification, failing the test after a generous wait.
fn next_notification(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("no notification in time");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn terminate(child: &mut Child) {
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
}

#[test]
fn notify_socket_gets_ready_watchdog_pings_and_stopping() {
    let dir = std::env::temp_dir().join(format!("loopcast-sd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify");
    let manager = UnixDatagram::bind(&path).unwrap();
    manager
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--log-level", "warn"])
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "200000")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    let ready = next_notification(&manager);
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    assert!(
        ready.contains(&format!("MAINPID={}", child.id())),
        "{ready:?}"
    );
    // READY comes once listening: the address it names answers at once.
    let addr: SocketAddr = ready
        .lines()
        .find_map(|l| l.strip_prefix("STATUS=listening on "))
        .expect("STATUS names the address")
        .parse()
        .unwrap();
    assert!(
        http(addr, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").starts_with("HTTP/1.1 200")
    );

    // Pings come from the loop's timer (every 100 ms here), also while idle.
    for _ in 0..3 {
        assert_eq!(next_notification(&manager), "WATCHDOG=1");
    }
    terminate(&mut child);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = next_notification(&manager);
        if n == "STOPPING=1" {
            break;
        }
        assert_eq!(n, "WATCHDOG=1", "unexpected notification");
        assert!(Instant::now() < deadline, "no STOPPING=1");
    }
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn socket_activation_serves_on_fd_3() {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(128).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    // Handed to the child like systemd does: as fd 3, with LISTEN_PID naming it
    // (the shell's pid is the server's, since it execs).
    socket.set_cloexec(false).unwrap();
    let fd = socket.as_raw_fd();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "export LISTEN_PID=$$; exec {BIN} --listen 127.0.0.1:9 --log-level warn 3<&{fd}"
        ))
        .env("LISTEN_FDS", "1")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    drop(socket);
    // Connections queue on the inherited listener even before the server polls it.
    let answer = http(addr, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"status\":\"ok\""), "{answer}");
    terminate(&mut child);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn a_socket_activated_fd_that_is_not_a_listener_exits_2() {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("export LISTEN_PID=$$; exec {BIN} 3</dev/null"))
        .env("LISTEN_FDS", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fd 3"), "{err}");
}
