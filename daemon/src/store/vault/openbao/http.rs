//! HTTP to OpenBao or Vault: one JSON request at a time over HTTP/1.1 (TLS by rustls), at
//! each address of the cluster in turn. A node that does not answer, answers late, or is
//! sealed sends the request on to the next; a standby's redirect is followed (never from
//! https to http). The token travels only in the `X-Vault-Token` header, marked sensitive.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, LOCATION};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls;

use sec_proto::config::VaultSettings;

/// The most a reply may hold; a secret engine's answers are a few KiB.
const MAX_REPLY: usize = 1024 * 1024;
/// How many redirects one request follows.
const MAX_REDIRECTS: usize = 3;

/// An answer: its status and JSON body (`null` when empty).
pub struct Reply {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl Reply {
    /// The engine's own `errors` list, joined, cut short: it describes the request,
    /// never holds a value.
    pub fn errors(&self) -> String {
        let text = self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(serde_json::Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let text = if text.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            text
        };
        text.chars().take(300).collect()
    }
}

/// Why no node gave an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    /// Every address failed; each with why.
    #[error("{0}")]
    Unreachable(String),
    /// Every node that answered is sealed.
    #[error("sealed ({0}); unseal it (`bao operator unseal`) or ask its operators")]
    Sealed(String),
    /// The TLS settings cannot be used (ca_cert unreadable).
    #[error("{0}")]
    Setup(String),
}

pub struct Http {
    addresses: Vec<String>,
    namespace: Option<String>,
    timeout: Duration,
    tls: Result<Option<tokio_rustls::TlsConnector>, String>,
    /// The address that answered last, tried first.
    preferred: AtomicUsize,
}

impl Http {
    pub fn new(settings: &VaultSettings) -> Http {
        let needs_tls = settings.addresses.iter().any(|a| a.starts_with("https://"));
        let tls = if needs_tls {
            tls_connector(settings.ca_cert.as_deref()).map(Some)
        } else {
            Ok(None)
        };
        Http {
            addresses: settings.addresses.clone(),
            namespace: settings.namespace.clone(),
            timeout: settings.timeout,
            tls,
            preferred: AtomicUsize::new(0),
        }
    }

    /// `METHOD /v1/PATH` with `token` and a JSON `body`, at the first node that answers.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&SecretString>,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, HttpError> {
        let body = match body {
            Some(value) => Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
            None => Bytes::new(),
        };
        let first = self.preferred.load(Ordering::Relaxed) % self.addresses.len().max(1);
        let mut failures = Vec::new();
        let mut sealed = Vec::new();
        for i in (0..self.addresses.len()).map(|k| (first + k) % self.addresses.len()) {
            let address = &self.addresses[i];
            let url = format!("{address}/v1/{path}");
            let attempt = tokio::time::timeout(
                self.timeout,
                self.follow(method.clone(), &url, token, body.clone()),
            )
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer within {}",
                    humantime::format_duration(self.timeout)
                ))
            });
            match attempt {
                Ok(reply) if reply.status == StatusCode::SERVICE_UNAVAILABLE => {
                    // Sealed, or a standby that cannot serve: the next node may.
                    sealed.push(format!("{address}: {}", reply.errors()));
                }
                Ok(reply) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(reply);
                }
                Err(why) => failures.push(format!("{address}: {why}")),
            }
        }
        if failures.is_empty() && !sealed.is_empty() {
            return Err(HttpError::Sealed(sealed.join("; ")));
        }
        failures.extend(sealed);
        Err(HttpError::Unreachable(failures.join("; ")))
    }

    /// One request at one address, following redirects.
    async fn follow(
        &self,
        method: Method,
        url: &str,
        token: Option<&SecretString>,
        body: Bytes,
    ) -> Result<Reply, String> {
        let mut url: Uri = url.parse().map_err(|_| "not a valid URL".to_string())?;
        for _ in 0..=MAX_REDIRECTS {
            let (status, location, bytes) =
                self.send(method.clone(), &url, token, body.clone()).await?;
            if status.is_redirection() {
                let next: Uri = location
                    .as_deref()
                    .and_then(|l| l.parse().ok())
                    .ok_or("a redirect without a valid Location")?;
                downgrade_check(&url, &next)?;
                self.node_check(&next)?;
                url = next;
                continue;
            }
            let body = if bytes.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::from_slice(&bytes)
                    .map_err(|_| format!("HTTP {status} with a body that is not JSON; is this an OpenBao or Vault server?"))?
            };
            return Ok(Reply { status, body });
        }
        Err(format!("more than {MAX_REDIRECTS} redirects"))
    }

    async fn send(
        &self,
        method: Method,
        url: &Uri,
        token: Option<&SecretString>,
        body: Bytes,
    ) -> Result<(StatusCode, Option<String>, Bytes), String> {
        let host = url.host().ok_or("a URL without a host")?.to_string();
        let https = url.scheme_str() == Some("https");
        let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
        let mut request = Request::builder()
            .method(method)
            .uri(url.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
            .header(
                hyper::header::HOST,
                url.authority().map(|a| a.as_str()).unwrap_or(&host),
            )
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(token.expose_secret())
                .map_err(|_| "the token holds characters a header cannot carry".to_string())?;
            value.set_sensitive(true);
            request.headers_mut().insert("x-vault-token", value);
        }
        if let Some(namespace) = &self.namespace {
            let value = HeaderValue::from_str(namespace)
                .map_err(|_| "the namespace holds characters a header cannot carry")?;
            request.headers_mut().insert("x-vault-namespace", value);
        }
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        if !https {
            return exchange(tcp, request).await;
        }
        let connector = match &self.tls {
            Ok(Some(connector)) => connector.clone(),
            // Only listed addresses are reached, and an https one makes `new` build TLS.
            Ok(None) => return Err("https to a server [vault] does not list".into()),
            Err(e) => return Err(e.clone()),
        };
        let name = rustls::pki_types::ServerName::try_from(host)
            .map_err(|_| "the host is not a valid TLS server name".to_string())?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}; if the server's certificate is signed by your own CA, set `ca_cert` in [vault]"))?;
        exchange(tls, request).await
    }

    /// Whether the TLS settings could be used (an unreadable `ca_cert` fails every call).
    pub fn setup_error(&self) -> Option<HttpError> {
        self.tls.as_ref().err().map(|e| HttpError::Setup(e.clone()))
    }
}

impl Http {
    /// A redirect carries secd's token: it may lead only to a node `address` lists (a
    /// standby names its leader, a node of the same cluster), never elsewhere.
    fn node_check(&self, to: &Uri) -> Result<(), String> {
        let target = format!(
            "{}://{}",
            to.scheme_str().unwrap_or(""),
            to.authority().map(|a| a.as_str()).unwrap_or("")
        );
        if self
            .addresses
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&target))
        {
            return Ok(());
        }
        Err(format!(
            "refused a redirect to {target}, which is not in [vault] address (add it there if it is a node of this cluster)"
        ))
    }
}

/// A redirect may not take the token from https to plain http.
fn downgrade_check(from: &Uri, to: &Uri) -> Result<(), String> {
    if from.scheme_str() == Some("https") && to.scheme_str() != Some("https") {
        return Err("refused a redirect from https to http".into());
    }
    Ok(())
}

async fn exchange<S>(
    io: S,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Option<String>, Bytes), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("the request failed: {e}"))?;
    let status = response.status();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(String::from);
    let bytes = Limited::new(response.into_body(), MAX_REPLY)
        .collect()
        .await
        .map_err(|e| format!("cannot read the reply: {e}"))?
        .to_bytes();
    Ok((status, location, bytes))
}

/// TLS with the CA in `ca_cert` (PEM), or the system's roots.
fn tls_connector(ca_cert: Option<&std::path::Path>) -> Result<tokio_rustls::TlsConnector, String> {
    let roots = crate::host::tls::roots(ca_cert.is_none(), ca_cert.as_slice())?;
    let config = crate::host::tls::client_config(roots, &[])?;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-answer-per-connection HTTP server on loopback that replies `reply` (status
    /// line and headers, then a JSON body) to whatever it is asked; returns its address.
    async fn serve(reply: &'static str, body: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let text = format!(
                    "{reply}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(text.as_bytes()).await;
            }
        });
        address
    }

    fn settings(addresses: Vec<String>) -> VaultSettings {
        VaultSettings {
            addresses,
            namespace: None,
            ca_cert: None,
            auth: sec_proto::config::VaultAuth::Token { token: None },
            timeout: Duration::from_secs(2),
            lease_ttl: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn a_dead_or_sealed_node_passes_the_request_to_the_next() {
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let sealed = serve(
            "HTTP/1.1 503 Service Unavailable",
            r#"{"errors":["Vault is sealed"]}"#,
        )
        .await;
        let good = serve("HTTP/1.1 200 OK", r#"{"data":{"x":"1"}}"#).await;
        let http = Http::new(&settings(vec![dead.clone(), sealed, good]));
        let reply = http
            .call(Method::GET, "secret/x", None, None)
            .await
            .unwrap();
        assert_eq!(reply.body["data"]["x"], "1");
        let only_sealed = serve(
            "HTTP/1.1 503 Service Unavailable",
            r#"{"errors":["Vault is sealed"]}"#,
        )
        .await;
        let http = Http::new(&settings(vec![only_sealed]));
        let err = http
            .call(Method::GET, "secret/x", None, None)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, HttpError::Sealed(_)), "{err}");
        let http = Http::new(&settings(vec![dead.clone()]));
        let err = http.call(Method::GET, "x", None, None).await.err().unwrap();
        assert!(err.to_string().contains(&dead), "{err}");
    }

    #[tokio::test]
    async fn a_standby_redirect_is_followed_but_never_down_to_http() {
        let leader = serve("HTTP/1.1 200 OK", r#"{"data":{"leader":true}}"#).await;
        let redirect: &'static str = Box::leak(
            format!("HTTP/1.1 307 Temporary Redirect\r\nlocation: {leader}/v1/secret/x")
                .into_boxed_str(),
        );
        let standby = serve(redirect, "").await;
        let http = Http::new(&settings(vec![standby.clone(), leader.clone()]));
        let reply = http
            .call(Method::GET, "secret/x", None, None)
            .await
            .unwrap();
        assert_eq!(reply.body["data"]["leader"], true);
        // A node not listed in `address` gets no token: the redirect is refused.
        let http = Http::new(&settings(vec![standby]));
        let err = http
            .call(Method::GET, "secret/x", None, None)
            .await
            .err()
            .unwrap();
        assert!(err.to_string().contains("not in [vault] address"), "{err}");
        let err = downgrade_check(
            &"https://a/v1/x".parse().unwrap(),
            &"http://b/v1/x".parse().unwrap(),
        )
        .unwrap_err();
        assert!(err.contains("https to http"), "{err}");
        assert!(
            downgrade_check(
                &"http://a/v1/x".parse().unwrap(),
                &"https://b/v1/x".parse().unwrap()
            )
            .is_ok()
        );
    }
}
