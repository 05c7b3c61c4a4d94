//! TLS mode (`LOOPCAST_BENCH_TLS=1`): loopcast serves `wss://` with a throw-away
//! certificate and every generator client speaks TLS 1.3 through rustls.
//!
//! Only loopcast (and a baseline binary) can run in this mode: the peers in
//! this bench serve plain TCP. The report goes to `target/bench-report-tls/`.

#[cfg(feature = "tls")]
use std::path::PathBuf;
#[cfg(feature = "tls")]
use std::sync::{Arc, OnceLock};

#[cfg(feature = "tls")]
use rustls::pki_types::{CertificateDer, ServerName};
#[cfg(feature = "tls")]
use rustls::{ClientConfig, ClientConnection, RootCertStore};

/// Environment variable that turns the TLS mode on.
pub const TLS_VAR: &str = "LOOPCAST_BENCH_TLS";

/// Whether this run is over TLS (never in a build without the `tls` feature).
pub fn enabled() -> bool {
    cfg!(feature = "tls") && std::env::var(TLS_VAR).is_ok_and(|v| !v.is_empty() && v != "0")
}

#[cfg(feature = "tls")]
struct Material {
    cert: PathBuf,
    key: PathBuf,
    client: Arc<ClientConfig>,
}

#[cfg(feature = "tls")]
fn material() -> &'static Material {
    static M: OnceLock<Material> = OnceLock::new();
    M.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("loopcast-bench-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ck =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, ck.cert.pem()).expect("cert.pem");
        std::fs::write(&key, ck.signing_key.serialize_pem()).expect("key.pem");
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(ck.cert.der().to_vec()))
            .expect("root");
        let mut client =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        client.alpn_protocols = vec![b"http/1.1".to_vec()];
        Material {
            cert,
            key,
            client: Arc::new(client),
        }
    })
}

/// `--tls-cert`/`--tls-key` for the server, when in TLS mode.
pub fn server_flags() -> Vec<String> {
    if !enabled() {
        return Vec::new();
    }
    #[cfg(feature = "tls")]
    {
        let m = material();
        vec![
            "--tls-cert".into(),
            m.cert.display().to_string(),
            "--tls-key".into(),
            m.key.display().to_string(),
        ]
    }
    #[cfg(not(feature = "tls"))]
    Vec::new()
}

/// A client session for one generator connection, when in TLS mode.
#[cfg(feature = "tls")]
pub fn client_session() -> Option<Box<ClientConnection>> {
    if !enabled() {
        return None;
    }
    let name = ServerName::try_from("localhost").expect("name");
    let mut conn = ClientConnection::new(material().client.clone(), name).expect("client");
    // The generator bounds its own output; rustls need not.
    conn.set_buffer_limit(None);
    Some(Box::new(conn))
}
