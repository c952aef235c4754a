//! The host's TLS side (`--tls`, docs/HOST.md): a rustls server on the gateway + platform port with a
//! self-signed certificate made at start, or a certificate chain and key from PEM files.
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// Where the served certificate comes from.
#[derive(Clone)]
pub enum TlsSetup {
    /// A self-signed certificate for `localhost` and `127.0.0.1`, with a new key, made at start.
    SelfSigned,
    /// A certificate chain (leaf first) and the leaf's private key, both PEM.
    Pem { cert_chain: String, key: String },
}

impl std::fmt::Debug for TlsSetup {
    // The key never appears in a log or a panic message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsSetup::SelfSigned => write!(f, "SelfSigned"),
            TlsSetup::Pem { .. } => write!(f, "Pem {{ .. }}"),
        }
    }
}

/// A ready server configuration and the pin of its leaf certificate.
pub struct TlsServer {
    pub config: Arc<rustls::ServerConfig>,
    /// Hex SHA-256 of the leaf's SubjectPublicKeyInfo.
    pub spki_sha256: String,
}

/// A self-signed certificate for `names` with a new P-256 key: (certificate PEM, key PEM).
pub fn self_signed(names: &[&str]) -> Result<(String, String), String> {
    let key = rcgen::KeyPair::generate().map_err(|e| format!("key generation: {e}"))?;
    let params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .map_err(|e| format!("certificate names: {e}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("self-signed certificate: {e}"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The rustls server of a setup (TLS 1.3 and 1.2, the `ring` provider, no client certificate).
pub fn server(setup: &TlsSetup) -> Result<TlsServer, String> {
    let (cert_pem, key_pem) = match setup {
        TlsSetup::SelfSigned => self_signed(&["localhost", "127.0.0.1"])?,
        TlsSetup::Pem { cert_chain, key } => (cert_chain.clone(), key.clone()),
    };
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("TLS certificate PEM: {e}"))?;
    let leaf = chain
        .first()
        .ok_or("TLS certificate PEM holds no BEGIN CERTIFICATE block")?;
    let spki_sha256 = hex::encode(possdk_core::transport::tls::spki_sha256(leaf)?);
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("TLS key PEM: {e}"))?;
    let config =
        rustls::ServerConfig::builder_with_provider(possdk_core::transport::tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| format!("TLS certificate and key: {e}"))?;
    Ok(TlsServer {
        config: Arc::new(config),
        spki_sha256,
    })
}
