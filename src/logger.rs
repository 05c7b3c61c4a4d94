//! The log sink: one line per record on stderr, and a write that fails is dropped, never a panic.
//!
//! Why not `println!`-based loggers: a server whose stdout or stderr is a pipe
//! whose reader went away (a closed `| head`, a dead log collector) gets EPIPE
//! on every write, and `println!` panics on that, which takes the whole process
//! down for a log line. Here a failed write is ignored: losing a log line is
//! better than losing every client.

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};

/// Writes `LEVEL [target] message` lines to stderr.
struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(record);
        // One write per line keeps lines whole when several writers share the pipe.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

fn format_line(record: &Record) -> String {
    format!(
        "{:<5} [{}] {}\n",
        record.level(),
        record.target(),
        record.args()
    )
}

/// Installs the stderr logger at `level`. Returns false if a logger was already set.
pub fn init(level: LevelFilter) -> bool {
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_err() {
        return false;
    }
    log::set_max_level(level);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_level_and_target() {
        let line = format_line(
            &Record::builder()
                .level(log::Level::Info)
                .target("loopcast::reactor")
                .args(format_args!("listening on {}", 8080))
                .build(),
        );
        assert_eq!(line, "INFO  [loopcast::reactor] listening on 8080\n");
    }
}
