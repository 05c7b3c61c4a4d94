//! Helpers for the browser test: the in-process server, chromedriver sessions, waits and page actions.
#![allow(dead_code)]

pub mod library;
pub mod page;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use loopcast::config::Config;
use loopcast::reactor::{Server, ShutdownHandle};
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long any expected change may take before the test fails. Generous on
/// purpose: the machine is shared and this is a deadline, not a measurement.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The reactor on its own thread; dropping it shuts it down.
pub struct RunningServer {
    pub addr: SocketAddr,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl RunningServer {
    /// Binds `listen`, retrying briefly while a just-closed listener still holds the port.
    pub fn start(listen: SocketAddr) -> RunningServer {
        RunningServer::with(listen, |_| {})
    }

    /// `start` with a changed configuration.
    pub fn with(listen: SocketAddr, tweak: impl Fn(&mut Config)) -> RunningServer {
        let deadline = Instant::now() + PATIENCE;
        let server = loop {
            let mut config = Config {
                listen,
                ..Config::default()
            };
            tweak(&mut config);
            match Server::bind(config) {
                Ok(s) => break s,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("cannot bind the server on {listen}: {e}"),
            }
        };
        let addr = server.local_addr();
        let handle = server.shutdown_handle();
        let thread = Some(std::thread::spawn(move || server.run()));
        RunningServer {
            addr,
            handle,
            thread,
        }
    }

    /// Graceful shutdown; the server's `run` must end without error.
    pub fn stop(mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            t.join()
                .expect("server thread panicked")
                .expect("server run failed");
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.shutdown();
            let _ = t.join();
        }
    }
}

/// A chromedriver process we started; killed on drop.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("no free port for chromedriver")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start chromedriver");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    /// A fresh browser with its own throwaway profile (so no state leaks between users).
    pub async fn browser(&self, profile: &Path) -> Client {
        self.session(profile, false).await
    }

    /// Like [`Driver::browser`], but one that accepts a self-signed certificate
    /// (`--ignore-certificate-errors` and `acceptInsecureCerts`), for `https://`.
    pub async fn insecure_browser(&self, profile: &Path) -> Client {
        self.session(profile, true).await
    }

    async fn session(&self, profile: &Path, insecure: bool) -> Client {
        let _ = std::fs::remove_dir_all(profile);
        std::fs::create_dir_all(profile).expect("cannot create a chromium profile dir");
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1180,760",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        if insecure {
            args.push("--ignore-certificate-errors".into());
        }
        args.push(format!("--user-data-dir={}", profile.display()));
        let options = json!({ "binary": CHROMIUM, "args": args });
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        if insecure {
            caps.insert("acceptInsecureCerts".into(), json!(true));
        }
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("chromedriver refused a session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `script` (a function body; `arguments[i]` are `args`) in the page.
pub async fn js(c: &Client, script: &str, args: Vec<Value>) -> Value {
    c.execute(script, args)
        .await
        .expect("script failed in page")
}

/// Polls `script` until `ok` accepts its value; fails with `what` and the page's state.
pub async fn wait_for(
    c: &Client,
    what: &str,
    script: &str,
    args: Vec<Value>,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let v = js(c, script, args.clone()).await;
        if ok(&v) {
            return v;
        }
        if Instant::now() > deadline {
            let state = js(
                c,
                "return [document.querySelector('#me').textContent, \
                 document.querySelector('#status').textContent, \
                 document.querySelector('#room-title').textContent, \
                 document.querySelector('#toasts').textContent]",
                vec![],
            )
            .await;
            panic!(
                "timed out waiting for {what}; last value {v}; page [me, status, room, toasts] = {state}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub const TEXT_OF: &str =
    "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;";

/// Waits until the element matching `css` exists and its text satisfies `ok`.
pub async fn wait_text(c: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let v = wait_for(c, css, TEXT_OF, vec![json!(css)], |v| {
        v.as_str().is_some_and(&ok)
    })
    .await;
    v.as_str().unwrap_or_default().to_owned()
}

/// Waits until some element matching `css` exists.
pub async fn wait_present(c: &Client, css: &str) {
    wait_for(
        c,
        css,
        "return document.querySelector(arguments[0]) !== null",
        vec![json!(css)],
        |v| v == &json!(true),
    )
    .await;
}

pub async fn type_into(c: &Client, css: &str, text: &str) {
    let e = c.find(Locator::Css(css)).await.expect(css);
    e.send_keys(text).await.expect("typing failed");
}

/// Replaces the content of a form field, as a user selecting it all and typing would.
/// Waits for the field to be interactable (a drawer or section may still be opening).
pub async fn fill(c: &Client, css: &str, text: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let e = c.find(Locator::Css(css)).await.expect(css);
        match e.clear().await {
            Ok(()) => {
                e.send_keys(text).await.expect("typing failed");
                return;
            }
            Err(err) if Instant::now() < deadline => {
                let _ = err;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("clearing {css} failed: {err}"),
        }
    }
}

/// Clicks the element `css` names. Lists re-render on server events (the room
/// list after a rejoin), so an element found a moment ago may be replaced before
/// the click lands: a stale or not-yet-interactable element is found again.
pub async fn click(c: &Client, css: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let e = c.find(Locator::Css(css)).await.expect(css);
        match e.click().await {
            Ok(()) => return,
            Err(err) if Instant::now() < deadline => {
                let _ = err;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("click on {css} failed: {err}"),
        }
    }
}

pub async fn wait_state(c: &Client, state: &str) {
    let css = format!("#status[data-state={state}]");
    wait_present(c, &css).await;
}

/// Drops the page's connection and holds its reconnect back, as a dead network
/// would (`app.lc` is the page's loopcast client; `app.lc.reconnect()` comes back).
pub async fn go_offline(c: &Client) {
    js(c, "app.lc.disconnect();", vec![]).await;
    wait_state(c, "offline").await;
}

pub async fn log_in(c: &Client, base: &str, name: &str) {
    c.goto(base).await.expect("page did not load");
    fill(c, "#name", name).await;
    click(c, "#connect").await;
    wait_state(c, "connected").await;
    wait_text(c, "#me", |t| t == name).await;
}

pub async fn join(c: &Client, room: &str, password: &str) {
    fill(c, "#join-room", room).await;
    if !password.is_empty() {
        fill(c, "#join-password", password).await;
    }
    click(c, "#join-btn").await;
}

pub async fn send_message(c: &Client, text: &str) {
    type_into(c, "#input", &format!("{text}{}", char::from(Key::Enter))).await;
}

/// Waits for a message bubble from `from` whose text is exactly `text`.
pub async fn wait_message(c: &Client, from: &str, text: &str) {
    wait_for(
        c,
        &format!("message {text:?} from {from}"),
        "return [...document.querySelectorAll('#messages .msg')].some(m => \
         m.dataset.from === arguments[0] && m.querySelector('.text').textContent === arguments[1])",
        vec![json!(from), json!(text)],
        |v| v == &json!(true),
    )
    .await;
}

/// Waits for the phone-layout drawer to finish sliding in (`open`) or out.
pub async fn wait_drawer(c: &Client, open: bool) {
    let rect = "const r = document.querySelector('#drawer').getBoundingClientRect(); return [r.left, r.right]";
    wait_for(c, "the drawer to settle", rect, vec![], |v| {
        let x = |i: usize| v[i].as_f64().unwrap_or(f64::NAN);
        if open { x(0) >= 0.0 } else { x(1) <= 0.0 }
    })
    .await;
}

pub async fn screenshot(c: &Client, name: &str) {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("e2e");
    std::fs::create_dir_all(&dir).expect("cannot create target/e2e");
    let png = c.screenshot().await.expect("screenshot failed");
    let path = dir.join(name);
    std::fs::write(&path, png).expect("cannot write screenshot");
    eprintln!("screenshot: {}", path.display());
}
