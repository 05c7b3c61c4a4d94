//! Running as a system service: a listener handed over by socket activation,
//! and `READY`/`STOPPING`/`WATCHDOG` notifications from the loop itself.

use std::io;

use mio::net::TcpListener;

use super::Server;
use crate::config::Config;
use crate::systemd::Notifier;
use crate::timers::Millis;

impl Server {
    /// A server on a listener someone else bound (systemd socket activation):
    /// `config.listen` is ignored. The listener is made non-blocking here.
    pub fn from_listener(config: Config, listener: std::net::TcpListener) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        Server::on_listener(config, TcpListener::from_std(listener))
    }

    /// Tells the service manager we are listening (`READY=1`) and, when it
    /// asked for a watchdog, sends `WATCHDOG=1` from the loop's own timer at
    /// half its timeout: a hung loop stops the pings and gets restarted.
    pub fn notify_systemd(&mut self, notifier: Notifier) {
        let ready = format!(
            "READY=1\nSTATUS=listening on {}\nMAINPID={}",
            self.local_addr,
            std::process::id()
        );
        if let Err(e) = notifier.notify(&ready) {
            log::warn!("cannot notify the service manager: {e}");
        }
        if let Some(every) = notifier.watchdog() {
            let now = self.started.elapsed().as_millis() as Millis;
            self.watchdog_due = Some(now + (every.as_millis() as Millis).max(1));
        }
        self.notifier = Some(notifier);
    }

    /// The watchdog timer fired: ping and re-arm.
    pub(super) fn feed_watchdog(&mut self) {
        let Some(n) = &self.notifier else {
            self.watchdog_due = None;
            return;
        };
        if let Err(e) = n.notify("WATCHDOG=1") {
            log::warn!("cannot ping the service manager's watchdog: {e}");
        }
        let every = n
            .watchdog()
            .map_or(1000, |d| d.as_millis() as Millis)
            .max(1);
        self.watchdog_due = Some(self.now + every);
    }

    /// Shutdown begins: the manager should not count the exit as a failure.
    pub(super) fn notify_stopping(&mut self) {
        if let Some(n) = &self.notifier
            && let Err(e) = n.notify("STOPPING=1")
        {
            log::warn!("cannot notify the service manager: {e}");
        }
    }
}
