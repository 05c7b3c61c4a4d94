//! Out of file descriptors: the server neither spins nor stalls, and serves waiting
//! clients once descriptors free up. Runs the real binary under a tiny `ulimit -n`.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn emfile_on_accept_neither_spins_nor_loses_clients() {
    let (mut child, addr) = spawn_binary("ulimit -n 32 &&", "--log-level error");
    // More clients than the server has descriptors: the rest wait in the backlog.
    let mut clients: Vec<_> = (0..60)
        .map(|_| {
            let mut s = raw(addr);
            s.write_all(upgrade_request("/echo").as_bytes()).unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(child.id()) - before;
    // A spinning accept loop would burn about 100 ticks in that second.
    assert!(
        used < 50,
        "server used {used} ticks of CPU in 1 s while out of descriptors"
    );

    // Free descriptors: every remaining client gets its upgrade and an echo.
    let late = clients.split_off(30);
    drop(clients);
    for mut s in late {
        let mut rest = Vec::new();
        let head = read_head(&mut s, &mut rest);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        s.write_all(&frame(true, 1, b"hi")).unwrap();
        assert_eq!(read_frame(&mut s, &mut rest).unwrap().payload, b"hi");
    }
    let _ = child.kill();
    let _ = child.wait();
}
