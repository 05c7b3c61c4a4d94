//! Helpers for the TLS tests: throw-away certificates, the real binary with TLS,
//! and blocking rustls + tungstenite clients.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::common::spawn_binary;

/// A TLS stream over a blocking socket.
pub type Tls = StreamOwned<ClientConnection, TcpStream>;
/// A WebSocket over TLS.
pub type Wss = tungstenite::WebSocket<Tls>;

/// A temporary directory holding `cert.pem` and `key.pem` for `localhost`.
pub struct Certs {
    pub dir: PathBuf,
    /// The certificate currently in `cert.pem`.
    pub der: CertificateDer<'static>,
}

impl Certs {
    pub fn new() -> Certs {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "loopcast-tls-it-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut certs = Certs {
            dir,
            der: CertificateDer::from(Vec::new()),
        };
        certs.regenerate();
        certs
    }

    /// A new key pair and certificate over the old files (as a renewal would).
    pub fn regenerate(&mut self) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(self.cert(), ck.cert.pem()).unwrap();
        std::fs::write(self.key(), ck.signing_key.serialize_pem()).unwrap();
        self.der = ck.cert.der().clone();
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    /// `--tls-cert ... --tls-key ...` for the binary.
    pub fn flags(&self) -> String {
        format!(
            "--tls-cert {} --tls-key {}",
            self.cert().display(),
            self.key().display()
        )
    }

    /// A client config that trusts exactly the current certificate.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        client_config_trusting(&self.der)
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A client config trusting only `der`, offering ALPN `http/1.1`.
pub fn client_config_trusting(der: &CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(der.clone()).unwrap();
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The real binary on a free port, speaking TLS; killed on drop.
pub struct TlsServer {
    pub child: Child,
    pub addr: SocketAddr,
}

impl TlsServer {
    pub fn start(certs: &Certs, extra: &str) -> TlsServer {
        let (child, addr) = spawn_binary("", &format!("{} {extra}", certs.flags()));
        TlsServer { child, addr }
    }

    /// Sends SIGHUP (reload the certificate).
    pub fn hangup(&self) {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP failed");
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP connection with a read timeout, so a missing answer fails instead of hanging.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// A finished TLS handshake with the server, trusting `config`'s roots.
pub fn try_tls(addr: SocketAddr, config: Arc<ClientConfig>) -> Result<Tls, rustls::Error> {
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(config, name).unwrap();
    let mut tls = StreamOwned::new(conn, tcp(addr));
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            return Err(
                match e
                    .into_inner()
                    .and_then(|i| i.downcast::<rustls::Error>().ok())
                {
                    Some(e) => *e,
                    None => rustls::Error::General("I/O error in handshake".into()),
                },
            );
        }
    }
    Ok(tls)
}

pub fn tls(addr: SocketAddr, certs: &Certs) -> Tls {
    try_tls(addr, certs.client_config()).expect("TLS handshake")
}

/// One HTTPS request; returns the status and body (the server closes after it).
pub fn https(addr: SocketAddr, certs: &Certs, request: &str) -> (u16, String) {
    let mut s = tls(addr, certs);
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    // The server ends with close_notify, so a clean EOF is expected.
    s.read_to_end(&mut out).expect("clean TLS close");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A WebSocket over TLS on `path`.
pub fn wss(addr: SocketAddr, certs: &Certs, path: &str) -> Wss {
    wss_over(tls(addr, certs), path)
}

/// Upgrades an established TLS stream to a WebSocket on `path`.
pub fn wss_over(stream: Tls, path: &str) -> Wss {
    let url = format!("wss://localhost{path}");
    let (ws, response) = tungstenite::client::client(url, stream).expect("wss upgrade");
    assert_eq!(response.status(), 101);
    ws
}

/// The next text message, skipping pings/pongs.
pub fn next_text(ws: &mut Wss) -> String {
    loop {
        let msg = ws.read().expect("read");
        if msg.is_text() {
            return msg.into_text().unwrap().to_string();
        }
    }
}

/// Reads raw bytes until EOF or error; returns how many arrived.
pub fn read_until_closed(s: &mut TcpStream) -> usize {
    let mut total = 0;
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n,
        }
    }
}

/// The first flight of a TLS client (its ClientHello), and the connection that made it.
pub fn client_hello(certs: &Certs) -> (ClientConnection, Vec<u8>) {
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(certs.client_config(), name).unwrap();
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).unwrap();
    }
    (conn, hello)
}

/// A `/broadcast` witness and a sender: each `check(n)` sends `n` from the sender and
/// expects the witness to receive exactly that next (so nothing was lost or reordered).
pub struct Witness {
    pub listener: Wss,
    pub sender: Wss,
}

impl Witness {
    pub fn new(addr: SocketAddr, certs: &Certs) -> Witness {
        Witness {
            listener: wss(addr, certs, "/broadcast"),
            sender: wss(addr, certs, "/broadcast"),
        }
    }

    pub fn check(&mut self, n: u32) {
        let text = format!("witness {n}");
        self.sender
            .send(tungstenite::Message::text(text.clone()))
            .unwrap();
        assert_eq!(next_text(&mut self.listener), text);
        assert_eq!(next_text(&mut self.sender), text);
    }
}
