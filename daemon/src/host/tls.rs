//! Whom secd trusts as a TLS client (OpenBao/Vault, the HTTPS broker's upstreams): the
//! system's roots, a CA file the user named, or both. rustls with ring.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;

/// The roots: the system's when `system`, and the CAs of the PEM files `ca_certs`.
pub fn roots(system: bool, ca_certs: &[&Path]) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for path in ca_certs {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect())
            .map_err(|e| format!("cannot read ca_cert {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "ca_cert {} holds no PEM certificate",
                path.display()
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("ca_cert {}: {e}", path.display()))?;
        }
    }
    if system {
        for cert in system_roots() {
            // One unusable system certificate should not cost the others.
            let _ = roots.add(cert.clone());
        }
    }
    Ok(roots)
}

/// The system's roots, read once: reading them takes milliseconds, and the broker asks per
/// host.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// A client configuration that trusts `roots`, offering `alpn` (none when empty).
pub fn client_config(
    roots: rustls::RootCertStore,
    alpn: &[&[u8]],
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}
