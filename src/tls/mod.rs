//! Native TLS (feature `tls`): certificate loading, the shared rustls config, and reload.
//!
//! The reactor owns the sockets; this module only turns files into an
//! `Arc<ServerConfig>` and (in [`session`]) ciphertext into plaintext and back.
//! SIGHUP swaps the `Arc`: connections accepted afterwards use the new
//! certificate, existing ones keep the config they were created with.

mod session;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::{cipher_suite, default_provider, kx_group};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub use session::{Ingress, TlsError, TlsSession};

/// The only application protocol we speak inside TLS (WebSocket upgrades are HTTP/1.1).
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Why a certificate or key could not be used: one line naming the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// The certificate and key files, and the config built from them (swapped on reload).
pub struct Acceptor {
    cert_path: PathBuf,
    key_path: PathBuf,
    config: Arc<ServerConfig>,
}

impl Acceptor {
    /// Loads and checks the PEM certificate chain and private key.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Acceptor, LoadError> {
        Ok(Acceptor {
            config: Arc::new(server_config(cert_path, key_path)?),
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
        })
    }

    /// Re-reads both files; on any error the old certificate stays in use.
    pub fn reload(&mut self) -> Result<(), LoadError> {
        self.config = Arc::new(server_config(&self.cert_path, &self.key_path)?);
        Ok(())
    }

    /// The config new connections get.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// A server-side session for a freshly accepted connection.
    pub fn session(&self) -> Result<TlsSession, rustls::Error> {
        TlsSession::new(self.config.clone())
    }
}

/// Builds the rustls config: ring provider, TLS 1.3 and 1.2, ALPN `http/1.1`,
/// cipher order chosen for this CPU and enforced by the server.
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<ServerConfig, LoadError> {
    let shown_cert = cert_path.display();
    let shown_key = key_path.display();
    let certs = CertificateDer::pem_file_iter(cert_path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| LoadError(format!("--tls-cert {shown_cert}: {}", pem_error(&e))))?;
    if certs.is_empty() {
        return Err(LoadError(format!(
            "--tls-cert {shown_cert}: no PEM certificate in the file"
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => "no PEM private key in the file".into(),
            e => pem_error(&e),
        };
        LoadError(format!("--tls-key {shown_key}: {why}"))
    })?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider(cpu_has_aes())))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| LoadError(format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => LoadError(format!(
                "--tls-key {shown_key}: does not match the certificate in {shown_cert}"
            )),
            e => LoadError(format!("--tls-key {shown_key}: unusable key: {e}")),
        })?;
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    // Our order, not the client's: it is our CPU that pays for the cipher.
    config.ignore_client_order = true;
    Ok(config)
}

/// One line for a PEM error (I/O errors carry the OS reason).
fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => format!("cannot read: {io}"),
        e => format!("not valid PEM: {e}"),
    }
}

/// The ring provider with a cipher order for this machine.
///
/// Without AES instructions (most Raspberry Pi and router SoCs), AES-GCM in
/// software is several times slower than ChaCha20-Poly1305 and not constant
/// time, so ChaCha20 goes first. With them (x86-64 AES-NI, ARMv8 crypto
/// extensions) AES-128-GCM is the cheaper one. AES-256 stays available for
/// clients that insist, last. Key exchange: X25519 first (fast everywhere).
pub fn provider(aes_in_hardware: bool) -> CryptoProvider {
    use cipher_suite::*;
    let mut suites = if aes_in_hardware {
        vec![
            TLS13_AES_128_GCM_SHA256,
            TLS13_CHACHA20_POLY1305_SHA256,
            TLS13_AES_256_GCM_SHA384,
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ]
    } else {
        vec![
            TLS13_CHACHA20_POLY1305_SHA256,
            TLS13_AES_128_GCM_SHA256,
            TLS13_AES_256_GCM_SHA384,
            TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ]
    };
    suites.extend([
        TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ]);
    CryptoProvider {
        cipher_suites: suites,
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        ..default_provider()
    }
}

/// Whether this CPU has AES instructions (checked at run time, so one binary
/// picks the right order on any board).
pub fn cpu_has_aes() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

#[cfg(test)]
mod tests;
