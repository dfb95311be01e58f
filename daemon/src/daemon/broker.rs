//! The brokered variables of a lease: their values go to the lease's HTTPS broker
//! (`lease::broker`), and the command gets placeholders instead, with the proxy and CA
//! variables that send its HTTPS requests through the broker.

use secrecy::SecretString;

use crate::config::Scope;
use crate::daemon::{Daemon, LeaseError, Resolved};
use crate::lease::broker::{BrokerContext, BrokerVar};
use crate::lease::live::LeaseRecord;

/// Emptied: a host left out of the proxy would get the placeholder directly.
const NO_PROXY_VARS: [&str; 2] = ["NO_PROXY", "no_proxy"];
/// OpenSSL's default trust store, which any program may use, also one that ignores the
/// proxy: the lease's CA and the system's roots.
const BUNDLE_VARS: [&str; 1] = ["SSL_CERT_FILE"];
/// Trust stores of clients that always go through `HTTPS_PROXY`, where every server they
/// meet shows a certificate of the lease's CA: that CA alone (curl parses a bundle of the
/// system's roots at every start: 16 ms more per request, bench/broker.sh). Node adds
/// `NODE_EXTRA_CA_CERTS` to its own roots.
const CA_VARS: [&str; 6] = [
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "PIP_CERT",
    "CARGO_HTTP_CAINFO",
    "NODE_EXTRA_CA_CERTS",
];
/// The files those variables name, in the lease's file directory.
const BUNDLE_FILE: &str = "broker-ca-bundle.pem";
const CA_FILE: &str = "broker-ca.pem";

/// A file the lease's command gets, with the variables that name it.
pub struct LeaseFile {
    pub vars: Vec<String>,
    pub file_name: &'static str,
    pub content: SecretString,
}

impl Daemon {
    /// Hands the scope's brokered variables to a broker for this lease: their values in
    /// `vars` become placeholders, and the proxy variables join them. Returns the CA files
    /// the command needs (`deliver_files` writes them).
    pub(super) fn start_broker(
        &self,
        scope: &Scope,
        record: &LeaseRecord,
        vars: Vec<Resolved>,
    ) -> Result<(Vec<Resolved>, Vec<LeaseFile>), LeaseError> {
        if scope.brokered.is_empty() {
            return Ok((vars, Vec::new()));
        }
        let (brokered, mut handed): (Vec<Resolved>, Vec<Resolved>) = vars
            .into_iter()
            .partition(|v| scope.brokered.contains_key(&v.name));
        if brokered.is_empty() {
            return Ok((handed, Vec::new()));
        }
        let broker_vars = brokered
            .into_iter()
            .map(|v| BrokerVar {
                brokered: scope.brokered[&v.name].clone(),
                name: v.name,
                value: v.value,
            })
            .collect();
        let context = BrokerContext {
            lease: record.id.clone(),
            scope: scope.dir.display().to_string(),
            command: record.command.clone(),
        };
        let started = self
            .brokers
            .start(broker_vars, context, std::sync::Arc::clone(&self.audit))
            .map_err(LeaseError::Broker)?;
        let plain = |name: &str, value: &str| Resolved {
            name: name.into(),
            value: SecretString::from(value.to_string()),
        };
        for (name, placeholder) in &started.placeholders {
            handed.push(plain(name, placeholder));
        }
        for name in sec_proto::BROKER_PROXY_VARS {
            handed.push(Resolved {
                name: name.into(),
                value: started.proxy_url.clone(),
            });
        }
        for name in NO_PROXY_VARS {
            handed.push(plain(name, ""));
        }
        let bundle = format!("{}\n{}", started.ca_pem.trim_end(), system_roots_pem());
        let files = vec![
            LeaseFile {
                vars: BUNDLE_VARS.map(String::from).to_vec(),
                file_name: BUNDLE_FILE,
                content: SecretString::from(bundle),
            },
            LeaseFile {
                vars: CA_VARS.map(String::from).to_vec(),
                file_name: CA_FILE,
                content: SecretString::from(started.ca_pem.clone()),
            },
        ];
        Ok((handed, files))
    }
}

/// Where systems keep their bundle of root certificates (Debian, Fedora, openSUSE, Alpine
/// and macOS).
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The system's root certificates as PEM, so that a program whose trust store the lease's
/// bundle replaces still trusts what it trusted: the system's bundle file as it is, else
/// what `rustls-native-certs` finds.
fn system_roots_pem() -> String {
    use base64::Engine;
    let bundle = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(std::path::PathBuf::from))
        .find_map(|path| std::fs::read_to_string(path).ok());
    if let Some(text) = bundle.filter(|t| t.contains("-----BEGIN CERTIFICATE-----")) {
        return text;
    }
    let mut out = String::new();
    for cert in rustls_native_certs::load_native_certs().certs {
        let encoded = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in encoded.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}
