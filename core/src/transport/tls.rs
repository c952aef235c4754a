//! TLS for the TCP transport (docs/PROTOCOL.md §10): a rustls client (TLS 1.2 and 1.3, the `ring` provider)
//! whose certificate verifier applies the pin rules.
//!
//! - CA certificates configured: rustls's `WebPkiServerVerifier` verifies the chain to one of them and the
//!   server name; with pins too, one certificate of a verified path (leaf, intermediates, anchor) must match a
//!   pin. The path is rebuilt with webpki so that the pin is looked for in the path that was verified, not in
//!   whatever extra certificates the server appended.
//! - Pins only: nothing is verified against a CA, so only the leaf certificate counts (its SubjectPublicKeyInfo
//!   must match a pin); the handshake signatures are still checked against the leaf's key with the provider's
//!   algorithms, which proves the server holds the pinned key.
//!
//! A pin is SHA-256 over the DER SubjectPublicKeyInfo, outer SEQUENCE included (the usual `openssl pkey
//! -pubin -outform der | sha256sum` value). Certificates and pins are public; nothing secret is logged here.
use crate::error::{Error, Result};
use crate::hal::TlsSettings;
// The rustls side exists with the `tls` feature only; the config checks and the plain-TCP warning do not need it.
#[cfg(feature = "tls")]
use {
    rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    rustls::client::WebPkiServerVerifier,
    rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms},
    rustls::pki_types::pem::PemObject,
    rustls::pki_types::{CertificateDer, ServerName, UnixTime},
    rustls::{
        CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    },
    sha2::{Digest, Sha256},
    std::sync::Arc,
};

/// The configuration's `tls` object of one endpoint (docs/JSON-API.md "Config"). A build without the `tls`
/// feature keeps none of its content: the object is refused when the config loads.
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
pub struct TlsConfig {}

/// The configuration's `tls` object of one endpoint (docs/JSON-API.md "Config").
#[cfg(feature = "tls")]
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
pub struct TlsConfig {
    /// Name checked against the certificate (and sent as SNI); absent: the host part of `address`.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Trusted CA certificates, PEM (one or more `BEGIN CERTIFICATE` blocks).
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// SHA-256 of accepted SubjectPublicKeyInfos, 64 hex digits each (either case).
    #[serde(default)]
    pub pin_spki_sha256: Option<Vec<String>>,
}

#[cfg(feature = "tls")]
/// The crypto provider of every TLS connection: `ring` (see docs/ARCHITECTURE.md §7 for the choice).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(feature = "tls")]
/// SHA-256 of a certificate's SubjectPublicKeyInfo (DER, outer SEQUENCE included): the pin of that certificate.
pub fn spki_sha256(cert_der: &[u8]) -> std::result::Result<[u8; 32], String> {
    let der = CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der)
        .map_err(|e| format!("not a parseable X.509 certificate: {e:?}"))?;
    Ok(Sha256::digest(cert.subject_public_key_info().as_ref()).into())
}

/// The host part of `host:port` (`[::1]:7001` gives `::1`).
pub fn address_host(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The endpoints (by config name) without TLS whose address is not a loopback address.
pub(crate) fn plain_non_loopback<'a>(
    endpoints: &[(&'a str, &crate::config::EndpointConfig)],
) -> Vec<&'a str> {
    endpoints
        .iter()
        .filter(|(_, ep)| ep.tls.is_none())
        .filter(|(_, ep)| {
            let host = address_host(&ep.address);
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            !loopback
        })
        .map(|(name, _)| *name)
        .collect()
}

/// Without the `tls` feature a `tls` object is refused (naming the endpoint's `tls`).
#[cfg(not(feature = "tls"))]
pub fn settings(prefix: &str, _address: &str, _config: &TlsConfig) -> Result<TlsSettings> {
    Err(Error::invalid(
        format!("{prefix}.tls"),
        "this build of possdk has no TLS (possdk-core's `tls` feature)",
    ))
}

/// Check an endpoint's `tls` object and turn it into the transport's settings. `prefix` is the endpoint's
/// config name (`gateway`, `platform`); errors name the field (`gateway.tls.pin_spki_sha256`).
#[cfg(feature = "tls")]
pub fn settings(prefix: &str, address: &str, config: &TlsConfig) -> Result<TlsSettings> {
    let field = |f: &str| format!("{prefix}.tls.{f}");
    let server_name = match &config.server_name {
        Some(name) => name.clone(),
        None => address_host(address).to_string(),
    };
    if ServerName::try_from(server_name.as_str()).is_err() {
        let why = match config.server_name {
            Some(_) => format!("'{server_name}' is not a DNS name or IP address"),
            None => format!(
                "the address's host '{server_name}' is not a DNS name or IP address: set server_name"
            ),
        };
        return Err(Error::invalid(field("server_name"), why));
    }
    let mut ca_der = Vec::new();
    if let Some(pem) = &config.ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| {
                Error::invalid(field("ca_pem"), format!("not a PEM certificate list: {e}"))
            })?;
            ca_der.push(cert.to_vec());
        }
        if ca_der.is_empty() {
            return Err(Error::invalid(
                field("ca_pem"),
                "holds no BEGIN CERTIFICATE block",
            ));
        }
        roots(&ca_der).map_err(|e| Error::invalid(field("ca_pem"), e))?;
    }
    let mut pins = Vec::new();
    for pin in config.pin_spki_sha256.iter().flatten() {
        let bytes: [u8; 32] = hex::decode(pin)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::invalid(field("pin_spki_sha256"), "pins are 64 hex digits"))?;
        pins.push(bytes);
    }
    if ca_der.is_empty() && pins.is_empty() {
        return Err(Error::invalid(
            format!("{prefix}.tls"),
            "needs ca_pem, pin_spki_sha256 or both (there is no mode that accepts any certificate)",
        ));
    }
    Ok(TlsSettings {
        server_name,
        ca_der,
        pins,
    })
}

#[cfg(feature = "tls")]
/// The trust anchors of the configured CA certificates.
fn roots(ca_der: &[Vec<u8>]) -> std::result::Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for (i, der) in ca_der.iter().enumerate() {
        store
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| format!("certificate {} cannot be a trust anchor: {e}", i + 1))?;
    }
    Ok(store)
}

#[cfg(feature = "tls")]
/// The rustls client configuration of one endpoint: TLS 1.3 and 1.2, the pinning verifier, no client
/// certificate.
pub fn client_config(settings: &TlsSettings) -> std::result::Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let verifier = PinningVerifier::new(settings, provider.clone())?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(feature = "tls")]
/// The certificate verifier of docs/PROTOCOL.md §10.
#[derive(Debug)]
struct PinningVerifier {
    /// Present when CA certificates are configured.
    ca: Option<CaVerifier>,
    pins: Vec<[u8; 32]>,
    algorithms: WebPkiSupportedAlgorithms,
}

#[cfg(feature = "tls")]
#[derive(Debug)]
struct CaVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    roots: RootCertStore,
}

#[cfg(feature = "tls")]
impl PinningVerifier {
    fn new(
        settings: &TlsSettings,
        provider: Arc<CryptoProvider>,
    ) -> std::result::Result<Self, String> {
        let ca = if settings.ca_der.is_empty() {
            None
        } else {
            let roots = roots(&settings.ca_der)?;
            let webpki = WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots.clone()),
                provider.clone(),
            )
            .build()
            .map_err(|e| format!("TLS verifier: {e}"))?;
            Some(CaVerifier { webpki, roots })
        };
        Ok(PinningVerifier {
            ca,
            pins: settings.pins.clone(),
            algorithms: provider.signature_verification_algorithms,
        })
    }

    fn pinned(&self, spki_der: &[u8]) -> bool {
        let hash: [u8; 32] = Sha256::digest(spki_der).into();
        self.pins.contains(&hash)
    }

    /// One verified path from the leaf to a configured CA has a certificate (leaf, intermediate or the CA)
    /// whose key is pinned. webpki tries the candidate paths in turn until the callback accepts one.
    fn verified_path_pinned(
        &self,
        ca: &CaVerifier,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> bool {
        let Ok(leaf) = webpki::EndEntityCert::try_from(end_entity) else {
            return false;
        };
        let check = |path: &webpki::VerifiedPath<'_>| -> std::result::Result<(), webpki::Error> {
            let leaf_ok = self.pinned(path.end_entity().subject_public_key_info().as_ref());
            let intermediate_ok = path
                .intermediate_certificates()
                .any(|c| self.pinned(c.subject_public_key_info().as_ref()));
            let anchor_ok = self.pinned(webpki::spki_for_anchor(path.anchor()).as_ref());
            if leaf_ok || intermediate_ok || anchor_ok {
                Ok(())
            } else {
                Err(webpki::Error::UnknownIssuer)
            }
        };
        leaf.verify_for_usage(
            self.algorithms.all,
            &ca.roots.roots,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            Some(&check),
        )
        .is_ok()
    }
}

#[cfg(feature = "tls")]
impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let refused = |why: &str| {
            log::warn!("tls: server certificate refused: {why}");
            rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
        };
        match &self.ca {
            Some(ca) => {
                ca.webpki
                    .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                    .inspect_err(|e| log::warn!("tls: server certificate refused: {e}"))?;
                if !self.pins.is_empty()
                    && !self.verified_path_pinned(ca, end_entity, intermediates, now)
                {
                    return Err(refused(
                        "no certificate of the verified chain matches a pin",
                    ));
                }
            }
            None => {
                // Pins only: the chain is not verified, so the intermediates prove nothing; the leaf's key
                // must be pinned.
                let spki = webpki::EndEntityCert::try_from(end_entity)
                    .map_err(|_| refused("the leaf certificate cannot be parsed"))?
                    .subject_public_key_info();
                if !self.pinned(spki.as_ref()) {
                    return Err(refused("the leaf certificate's key matches no pin"));
                }
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "tls")]
    fn config(ca: Option<&str>, pins: Option<Vec<&str>>) -> TlsConfig {
        TlsConfig {
            server_name: None,
            ca_pem: ca.map(str::to_string),
            pin_spki_sha256: pins.map(|p| p.into_iter().map(str::to_string).collect()),
        }
    }

    #[cfg(feature = "tls")]
    fn field(r: Result<TlsSettings>) -> String {
        r.expect_err("refused").field.unwrap_or_default()
    }

    #[cfg(feature = "tls")]
    #[test]
    fn settings_name_the_field_at_fault() {
        let pin = "AB".repeat(32);
        assert_eq!(
            field(settings("gateway", "h:1", &config(None, None))),
            "gateway.tls"
        );
        assert_eq!(
            field(settings("gateway", "h:1", &config(None, Some(vec![])))),
            "gateway.tls"
        );
        assert_eq!(
            field(settings(
                "platform",
                "h:1",
                &config(None, Some(vec!["abc"]))
            )),
            "platform.tls.pin_spki_sha256"
        );
        assert_eq!(
            field(settings("gateway", "h:1", &config(Some("junk"), None))),
            "gateway.tls.ca_pem"
        );
        let bad_name = TlsConfig {
            server_name: Some("not a name".into()),
            ..config(None, Some(vec![&pin]))
        };
        assert_eq!(
            field(settings("gateway", "h:1", &bad_name)),
            "gateway.tls.server_name"
        );
        let s = settings("gateway", "[::1]:7001", &config(None, Some(vec![&pin]))).unwrap();
        assert_eq!(s.server_name, "::1");
        assert_eq!(s.pins, vec![[0xAB; 32]]);
    }

    #[cfg(feature = "tls")]
    #[test]
    fn pin_is_sha256_of_the_spki_der() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let want: [u8; 32] =
            Sha256::digest(rcgen::PublicKeyData::subject_public_key_info(&key)).into();
        assert_eq!(spki_sha256(cert.der()).unwrap(), want);
        assert!(spki_sha256(b"not a certificate").is_err());
    }

    #[test]
    fn plain_tcp_is_flagged_only_off_loopback() {
        let ep = |address: &str, tls: bool| crate::config::EndpointConfig {
            address: address.into(),
            tpdu: "6000030000".into(),
            tls: tls.then(TlsConfig::default),
        };
        let (local, v6, name, remote, remote_tls) = (
            ep("127.0.0.1:7001", false),
            ep("[::1]:7001", false),
            ep("LOCALHOST:7001", false),
            ep("10.1.2.3:7001", false),
            ep("pos.example.cn:443", true),
        );
        assert!(plain_non_loopback(&[("a", &local), ("b", &v6), ("c", &name)]).is_empty());
        assert_eq!(
            plain_non_loopback(&[("gateway", &remote), ("platform", &remote_tls)]),
            vec!["gateway"]
        );
    }

    #[test]
    fn address_host_strips_port_and_brackets() {
        assert_eq!(address_host("10.0.0.1:7001"), "10.0.0.1");
        assert_eq!(address_host("pos.example.cn:443"), "pos.example.cn");
        assert_eq!(address_host("[::1]:7001"), "::1");
    }
}
