//! The `loopcast` binary: parse flags, start logging, serve until SIGINT/SIGTERM.

use std::process::ExitCode;

use loopcast::config::{Config, ConfigError};
use loopcast::reactor::Server;

fn main() -> ExitCode {
    let config = match Config::parse(std::env::args_os().skip(1), |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(ConfigError::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(ConfigError::Invalid(line)) => {
            eprintln!("loopcast: {line}");
            return ExitCode::from(2);
        }
    };
    // Logging can only fail if a logger is already set, which cannot happen here.
    let _ = simple_logger::SimpleLogger::new()
        .with_level(config.log_level)
        .init();
    let listen = config.listen;
    let mut server = match Server::bind(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("loopcast: cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = server.handle_signals() {
        eprintln!("loopcast: cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    log::info!(
        "{} listening on http://{}",
        loopcast::VERSION,
        server.local_addr()
    );
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loopcast: {e}");
            ExitCode::from(1)
        }
    }
}
