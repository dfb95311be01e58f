//! A lease's own CA: made in memory when the broker starts, its key never written anywhere,
//! valid for a day. It signs, on demand, a certificate for each host the command reaches
//! through the broker; the command trusts it through the PEM the lease hands out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::OffsetDateTime;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// How long the CA and its certificates are valid; a lease's broker lives as long as its
/// command.
const VALIDITY: Duration = Duration::from_secs(24 * 3600);
/// Certificates start a little in the past, for clocks a bit behind.
const BACKDATE: Duration = Duration::from_secs(3600);

/// Why the lease CA could not be made or could not sign.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot make the broker's certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("cannot set up the broker's TLS: {0}")]
    Tls(#[from] rustls::Error),
}

pub(super) struct LeaseCa {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
    not_after: OffsetDateTime,
    /// A server configuration per host the command reached, for the lease.
    hosts: Mutex<HashMap<String, Arc<rustls::ServerConfig>>>,
}

impl LeaseCa {
    pub fn new(lease: &str) -> Result<Self, CaError> {
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("sec broker for lease {lease}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = now - BACKDATE;
        params.not_after = now + VALIDITY;
        let key = KeyPair::generate()?;
        let certificate = params.self_signed(&key)?;
        Ok(Self {
            der: certificate.der().clone(),
            pem: certificate.pem(),
            not_after: params.not_after,
            issuer: Issuer::new(params, key),
            hosts: Mutex::default(),
        })
    }

    /// The CA's certificate, for the command to trust.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The TLS server configuration for `host` (a name or an IP address, no brackets):
    /// a certificate for it signed by the CA, offering HTTP/1.1 only.
    pub fn server_config(&self, host: &str) -> Result<Arc<rustls::ServerConfig>, CaError> {
        if let Some(config) = self.lock().get(host) {
            return Ok(config.clone());
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![host.to_string()])?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, host);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        params.not_before = OffsetDateTime::now_utc() - BACKDATE;
        params.not_after = self.not_after;
        let certificate = params.signed_by(&key, &self.issuer)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(vec![certificate.der().clone(), self.der.clone()], key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        self.lock().insert(host.to_string(), config.clone());
        Ok(config)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<rustls::ServerConfig>>> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner())
    }
}
