//! TLS unit tests: throw-away certificates from rcgen, an in-memory rustls client.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::*;

/// A fresh directory with `cert.pem` and `key.pem` for `localhost`.
struct Files {
    dir: PathBuf,
    cert_der: CertificateDer<'static>,
}

impl Files {
    fn new() -> Files {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "loopcast-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut files = Files {
            dir,
            cert_der: CertificateDer::from(Vec::new()),
        };
        files.regenerate();
        files
    }

    /// Writes a new certificate and key over the old ones.
    fn regenerate(&mut self) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(self.cert(), ck.cert.pem()).unwrap();
        std::fs::write(self.key(), ck.signing_key.serialize_pem()).unwrap();
        self.cert_der = ck.cert.der().clone();
    }

    fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    fn client(&self, suites_client_prefers: Option<Vec<rustls::SupportedCipherSuite>>) -> Client {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert_der.clone()).unwrap();
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(suites) = suites_client_prefers {
            provider.cipher_suites = suites;
        }
        let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from("localhost").unwrap();
        Client(ClientConnection::new(Arc::new(config), name).unwrap())
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Client(ClientConnection);

/// Moves client records to the server and back until neither has anything to say.
fn pump(client: &mut Client, server: &mut TlsSession) {
    for _ in 0..20 {
        let mut wire = Vec::new();
        while client.0.wants_write() {
            client.0.write_tls(&mut wire).unwrap();
        }
        if !wire.is_empty() {
            server.read_from(&mut &wire[..]).unwrap();
        }
        let mut back = Vec::new();
        while server.wants_write() {
            server.write_to(&mut back).unwrap();
        }
        if !back.is_empty() {
            client.0.read_tls(&mut &back[..]).unwrap();
            client.0.process_new_packets().unwrap();
        }
        if wire.is_empty() && back.is_empty() {
            return;
        }
    }
    panic!("handshake did not settle");
}

fn plaintext(server: &mut TlsSession) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1000];
    loop {
        let n = server.take_plaintext(&mut buf);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn client_plaintext(client: &mut Client) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = client.0.reader().read_to_end(&mut out);
    out
}

#[test]
fn handshake_alpn_and_data_both_ways() {
    let files = Files::new();
    let acceptor = Acceptor::load(&files.cert(), &files.key()).unwrap();
    let mut server = acceptor.session().unwrap();
    let mut client = files.client(None);
    assert!(server.is_handshaking());
    pump(&mut client, &mut server);
    assert!(!server.is_handshaking());
    assert_eq!(server.alpn(), Some(&b"http/1.1"[..]));

    client
        .0
        .writer()
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .unwrap();
    pump(&mut client, &mut server);
    assert_eq!(plaintext(&mut server), b"GET / HTTP/1.1\r\n\r\n");

    assert_eq!(server.encrypt(b"HTTP/1.1 200 OK\r\n\r\n"), 19);
    pump(&mut client, &mut server);
    assert_eq!(client_plaintext(&mut client), b"HTTP/1.1 200 OK\r\n\r\n");
}

#[test]
fn missing_files_name_the_file() {
    let files = Files::new();
    let nowhere = files.dir.join("nope.pem");
    let e = Acceptor::load(&nowhere, &files.key()).err().unwrap();
    assert!(e.0.starts_with("--tls-cert "), "{e}");
    assert!(
        e.0.contains("nope.pem") && e.0.contains("cannot read"),
        "{e}"
    );
    let e = Acceptor::load(&files.cert(), &nowhere).err().unwrap();
    assert!(
        e.0.starts_with("--tls-key ") && e.0.contains("nope.pem"),
        "{e}"
    );
    assert!(!e.0.contains('\n'));
}

#[test]
fn wrong_contents_are_one_line_errors() {
    let files = Files::new();
    let junk = files.dir.join("junk.pem");
    std::fs::write(&junk, "hello\n").unwrap();
    let e = Acceptor::load(&junk, &files.key()).err().unwrap();
    assert!(
        e.0.contains("no PEM certificate") && e.0.contains("junk.pem"),
        "{e}"
    );
    // A certificate is not a key.
    let e = Acceptor::load(&files.cert(), &files.cert()).err().unwrap();
    assert!(e.0.contains("no PEM private key"), "{e}");
    // A key from another pair.
    let other = Files::new();
    let e = Acceptor::load(&files.cert(), &other.key()).err().unwrap();
    assert!(e.0.contains("does not match the certificate"), "{e}");
    assert!(!e.0.contains('\n'));
}

#[test]
fn plain_http_is_detected_at_the_first_byte() {
    let files = Files::new();
    let acceptor = Acceptor::load(&files.cert(), &files.key()).unwrap();
    let mut server = acceptor.session().unwrap();
    match server.read_from(&mut &b"GET / HTTP/1.1\r\n"[..]) {
        Err(TlsError::NotTls(b'G')) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_after_a_handshake_byte_is_a_protocol_error() {
    let files = Files::new();
    let acceptor = Acceptor::load(&files.cert(), &files.key()).unwrap();
    let mut server = acceptor.session().unwrap();
    let garbage = [0x16, 0x03, 0x01, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff];
    match server.read_from(&mut &garbage[..]) {
        Err(TlsError::Protocol(_)) => {}
        other => panic!("{other:?}"),
    }
    // Nothing more is read from a failed session.
    match server.read_from(&mut &garbage[..]) {
        Err(TlsError::Protocol(_)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_client_hello_dribbled_byte_by_byte_completes() {
    let files = Files::new();
    let acceptor = Acceptor::load(&files.cert(), &files.key()).unwrap();
    let mut server = acceptor.session().unwrap();
    let mut client = files.client(None);
    let mut hello = Vec::new();
    client.0.write_tls(&mut hello).unwrap();
    for b in &hello {
        assert_eq!(server.read_from(&mut &[*b][..]).unwrap(), Ingress::Data(1));
    }
    assert!(server.wants_write(), "server flight after the whole hello");
    pump(&mut client, &mut server);
    assert!(!server.is_handshaking());
}

#[test]
fn eof_and_close_notify() {
    let files = Files::new();
    let acceptor = Acceptor::load(&files.cert(), &files.key()).unwrap();
    let mut server = acceptor.session().unwrap();
    assert_eq!(server.read_from(&mut &b""[..]).unwrap(), Ingress::Eof);
    let mut client = files.client(None);
    pump(&mut client, &mut server);
    assert!(!server.peer_closed());
    client.0.send_close_notify();
    pump(&mut client, &mut server);
    assert!(server.peer_closed());
    assert!(!server.close_queued());
    server.close();
    assert!(server.close_queued() && server.wants_write());
}

#[test]
fn outgoing_buffer_is_bounded() {
    let files = Files::new();
    let acceptor = Acceptor::load(&files.cert(), &files.key()).unwrap();
    let mut server = acceptor.session().unwrap();
    let mut client = files.client(None);
    pump(&mut client, &mut server);
    let big = vec![7u8; 1 << 20];
    let taken = server.encrypt(&big);
    assert!(taken > 0 && taken < big.len(), "{taken}");
    assert_eq!(server.encrypt(&big[taken..]), 0);
}

#[test]
fn server_cipher_order_wins() {
    use rustls::crypto::ring::cipher_suite::*;
    let files = Files::new();
    let acceptor = Acceptor::load(&files.cert(), &files.key()).unwrap();
    let prefers_aes = Some(vec![
        TLS13_AES_256_GCM_SHA384,
        TLS13_AES_128_GCM_SHA256,
        TLS13_CHACHA20_POLY1305_SHA256,
    ]);
    let mut server = acceptor.session().unwrap();
    let mut client = files.client(prefers_aes);
    pump(&mut client, &mut server);
    let got = client.0.negotiated_cipher_suite().unwrap().suite();
    let want = if cpu_has_aes() {
        TLS13_AES_128_GCM_SHA256.suite()
    } else {
        TLS13_CHACHA20_POLY1305_SHA256.suite()
    };
    assert_eq!(got, want);
    assert_eq!(
        provider(false).cipher_suites[0].suite(),
        TLS13_CHACHA20_POLY1305_SHA256.suite()
    );
    assert_eq!(
        provider(true).cipher_suites[0].suite(),
        TLS13_AES_128_GCM_SHA256.suite()
    );
}

#[test]
fn tls12_still_works() {
    let files = Files::new();
    let acceptor = Acceptor::load(&files.cert(), &files.key()).unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(files.cert_der.clone()).unwrap();
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = Client(ClientConnection::new(Arc::new(config), name).unwrap());
    let mut server = acceptor.session().unwrap();
    pump(&mut client, &mut server);
    assert_eq!(
        client.0.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
}

#[test]
fn reload_swaps_the_certificate_and_keeps_it_on_a_bad_file() {
    let mut files = Files::new();
    let mut acceptor = Acceptor::load(&files.cert(), &files.key()).unwrap();
    let old_config = acceptor.config().clone();
    let old_client = files.client(None);
    files.regenerate();
    acceptor.reload().unwrap();
    assert!(!Arc::ptr_eq(&old_config, acceptor.config()));
    // A client trusting only the new certificate gets through; one trusting the old does not.
    let mut new_client = files.client(None);
    let mut server = acceptor.session().unwrap();
    pump(&mut new_client, &mut server);
    assert!(!server.is_handshaking());
    let mut stale = old_client;
    let mut server = acceptor.session().unwrap();
    let mut wire = Vec::new();
    stale.0.write_tls(&mut wire).unwrap();
    server.read_from(&mut &wire[..]).unwrap();
    let mut back = Vec::new();
    server.write_to(&mut back).unwrap();
    stale.0.read_tls(&mut &back[..]).unwrap();
    assert!(stale.0.process_new_packets().is_err());

    // A broken key file: the reload fails with a line naming it, the config stays.
    std::fs::write(files.key(), "-----BEGIN PRIVATE KEY-----\nbroken\n").unwrap();
    let before = acceptor.config().clone();
    let e = acceptor.reload().err().unwrap();
    assert!(e.0.contains("key.pem"), "{e}");
    assert!(Arc::ptr_eq(&before, acceptor.config()));
}
