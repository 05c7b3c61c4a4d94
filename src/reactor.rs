//! The mio reactor: the only loop and the only place with sockets and syscalls.
//!
//! SKELETON: the public API below is fixed; bodies are being written.

use std::io;
use std::net::SocketAddr;

use crate::config::Config;

/// A bound server, ready to `run`.
pub struct Server {
    config: Config,
}

/// Asks a running server to shut down gracefully, as SIGTERM does.
#[derive(Clone)]
pub struct ShutdownHandle {}

impl ShutdownHandle {
    /// Starts the graceful shutdown (close 1001 to every client, flush, return).
    pub fn shutdown(&self) {}
}

impl Server {
    /// Binds the listener of `config.listen` (port 0 picks a free port).
    pub fn bind(config: Config) -> io::Result<Server> {
        Ok(Server { config })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.config.listen
    }

    /// A handle that stops this server from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {}
    }

    /// Also shut down gracefully on SIGINT and SIGTERM (the binary does this).
    pub fn handle_signals(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Runs the loop until shutdown.
    pub fn run(self) -> io::Result<()> {
        unimplemented!("reactor::Server::run")
    }
}
