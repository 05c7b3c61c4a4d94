//! Server and generator measurements read from /proc: CPU time, RSS, peak RSS.

use std::fs;

/// CPU time of every live thread of `pid`, in ns (sum of `/proc/PID/task/*/schedstat`).
///
/// schedstat counts in ns where `utime+stime` counts in 10 ms ticks, which is too coarse
/// for the fixed-load scenario; exited threads would be missed, so `cpu_ticks_ns` is kept
/// as a cross-check.
pub fn cpu_ns(pid: u32) -> u64 {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return cpu_ticks_ns(pid);
    };
    let mut total = 0;
    for entry in dir.flatten() {
        let path = entry.path().join("schedstat");
        if let Ok(text) = fs::read_to_string(path) {
            total += first_number(&text);
        }
    }
    total
}

/// CPU time of this process's calling thread in ns (the generator is one thread).
pub fn self_thread_cpu_ns() -> u64 {
    fs::read_to_string("/proc/thread-self/schedstat")
        .map(|t| first_number(&t))
        .unwrap_or(0)
}

/// `utime + stime` of `pid` from `/proc/PID/stat`, converted from ticks (USER_HZ = 100) to ns.
pub fn cpu_ticks_ns(pid: u32) -> u64 {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // The command name may contain spaces: fields are counted after its closing paren.
    let Some(rest) = text.rfind(')').map(|i| &text[i + 1..]) else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat are at 11 and 12 after "pid (comm)".
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    ticks * 10_000_000
}

/// Memory figures of a process, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// VmRSS: resident now.
    pub rss: u64,
    /// VmHWM: the highest resident size so far.
    pub hwm: u64,
    /// RssAnon: the resident heap and stacks, without the mapped binary's pages.
    pub anon: u64,
}

/// Reads VmRSS and VmHWM of `pid` from `/proc/PID/status`.
pub fn memory(pid: u32) -> Memory {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .map(|l| first_number(&l[key.len()..]) * 1024)
            .unwrap_or(0)
    };
    Memory {
        rss: kib("VmRSS:"),
        hwm: kib("VmHWM:"),
        anon: kib("RssAnon:"),
    }
}

fn first_number(text: &str) -> u64 {
    text.split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or(0)
}

/// Busy time of CPU `cpu` so far in ns (every state of its `/proc/stat` line but idle
/// and iowait), to see how much else ran on the server's core during a window.
pub fn cpu_busy_ns(cpu: usize) -> u64 {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let name = format!("cpu{cpu} ");
    let Some(line) = text.lines().find(|l| l.starts_with(&name)) else {
        return 0;
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let busy: u64 = ticks
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    busy * 10_000_000
}
