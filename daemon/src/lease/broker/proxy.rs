//! The broker's proxy: the front (one CONNECT per connection, the proxy password, the
//! destination check) and the tunnel behind it (TLS with the lease CA toward the command,
//! an HTTP/1.1 server whose requests go, changed as the rules say, to the CONNECT host
//! over a TLS client connection of its own).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;

use super::body::{BoxError, Scrubbed, Stopped, Watched};
use super::ca::LeaseCa;
use super::rewrite::{self, Finder, Pair, Var};
use super::{BrokerContext, TaskSet};
use crate::lease::audit::{AuditLog, Event, Record};

/// The most a CONNECT request's head may hold.
const MAX_HEAD: usize = 16 * 1024;
/// How long a new connection has to send its CONNECT, and a request its head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long reaching the upstream (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

type Body = BoxBody<Bytes, BoxError>;

/// What every task of one lease's broker shares.
pub(super) struct Lease {
    context: BrokerContext,
    vars: Vec<Var>,
    /// The proxy password.
    token: SecretString,
    ca: LeaseCa,
    /// A client configuration per upstream host.
    upstream_tls: Mutex<HashMap<String, Arc<rustls::ClientConfig>>>,
    audit: Arc<AuditLog>,
}

impl Lease {
    pub fn new(
        context: BrokerContext,
        vars: Vec<Var>,
        token: SecretString,
        ca: LeaseCa,
        audit: Arc<AuditLog>,
    ) -> Self {
        Self {
            context,
            vars,
            token,
            ca,
            upstream_tls: Mutex::default(),
            audit,
        }
    }

    fn record(&self, names: Vec<String>, reason: String, rule: String) -> Record {
        Record {
            scope: self.context.scope.clone(),
            names,
            command: self.context.command.clone(),
            lease: self.context.lease.clone(),
            reason,
            rule,
            ..Record::default()
        }
    }

    /// Whether a rule of any variable names `host` (then it may be anywhere, even here).
    fn names_host(&self, host: &str) -> bool {
        self.vars
            .iter()
            .any(|v| v.brokered.rules.iter().any(|r| r.names_host(host)))
    }

    /// The TLS client toward `host`: the system's roots, and the `ca_cert` of every rule
    /// that names the host.
    fn client_config(&self, host: &str) -> Result<Arc<rustls::ClientConfig>, String> {
        let mut cache = self.upstream_tls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(config) = cache.get(host) {
            return Ok(config.clone());
        }
        let ca_certs: Vec<&std::path::Path> = self
            .vars
            .iter()
            .flat_map(|v| &v.brokered.rules)
            .filter(|r| r.names_host(host))
            .filter_map(|r| r.ca_cert.as_deref())
            .collect();
        let roots = crate::host::tls::roots(true, &ca_certs)?;
        let config = Arc::new(crate::host::tls::client_config(roots, &[b"http/1.1"])?);
        cache.insert(host.to_string(), config.clone());
        Ok(config)
    }
}

/// Spawns `task` among the lease's tasks, unless the broker was stopped.
fn spawn(tasks: &Weak<TaskSet>, task: impl Future<Output = ()> + Send + 'static) {
    let Some(tasks) = tasks.upgrade() else {
        return;
    };
    let mut set = tasks.lock().unwrap_or_else(|p| p.into_inner());
    // Forget the tasks that ended, so a long lease does not pile them up.
    while set.try_join_next().is_some() {}
    set.spawn(task);
}

/// The accept loop: a tunnel task per connection.
pub(super) async fn accept(listener: TcpListener, lease: Arc<Lease>, tasks: Weak<TaskSet>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                spawn(&tasks, tunnel(stream, lease.clone(), tasks.clone()));
            }
            Err(e) => {
                // Out of descriptors, most likely: wait rather than spin.
                tracing::warn!(
                    "the broker of lease {} cannot accept: {e}",
                    lease.context.lease
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Where a CONNECT goes.
#[derive(Clone)]
struct Target {
    /// As rules see it: lower case, an IPv6 address in brackets.
    host: String,
    /// For DNS, TLS names and certificates: without brackets.
    bare: String,
    port: u16,
}

impl Target {
    fn parse(authority: &str) -> Option<Target> {
        let authority: hyper::http::uri::Authority = authority.parse().ok()?;
        let host = authority.host().trim_end_matches('.').to_ascii_lowercase();
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if bare.is_empty() {
            return None;
        }
        Some(Target {
            host,
            bare,
            port: authority.port_u16().unwrap_or(443),
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// One connection from the command: CONNECT, then the tunnel.
async fn tunnel(stream: TcpStream, lease: Arc<Lease>, tasks: Weak<TaskSet>) {
    // Buffered, so bytes the command sends right after its CONNECT reach the TLS handshake.
    let mut stream = BufReader::new(stream);
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Err(_)) => {
            let _ = reply(
                &mut stream,
                431,
                "Request Header Fields Too Large",
                "",
                "the request head is too large",
            )
            .await;
            return;
        }
        _ => return,
    };
    let target = match front(&head, &lease) {
        Ok(target) => target,
        Err((status, reason, extra, text)) => {
            let _ = reply(&mut stream, status, reason, extra, text).await;
            return;
        }
    };
    let addrs = match destination(&lease, &target).await {
        Ok(addrs) => addrs,
        Err((status, reason, text)) => {
            let _ = reply(&mut stream, status, reason, "", &text).await;
            return;
        }
    };
    if stream
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let config = match lease.ca.server_config(&target.bare) {
        Ok(config) => config,
        Err(e) => {
            tracing::warn!(
                "the broker cannot make a certificate for {}: {e}",
                target.host
            );
            return;
        }
    };
    let tls = match tokio_rustls::TlsAcceptor::from(config).accept(stream).await {
        Ok(tls) => tls,
        // The command did not trust the lease CA, or gave up: nothing to answer.
        Err(_) => return,
    };
    let tunnel = Arc::new(Tunnel {
        lease,
        target,
        addrs,
        upstream: tokio::sync::Mutex::new(None),
        tasks,
    });
    let service = hyper::service::service_fn(move |request| {
        let tunnel = tunnel.clone();
        async move { Ok::<_, Infallible>(tunnel.handle(request).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .keep_alive(true)
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

/// The request head, up to its empty line; `None` when the connection closed first.
async fn read_head<R: AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        let room = (MAX_HEAD - head.len()) as u64;
        let read = (&mut *reader)
            .take(room)
            .read_until(b'\n', &mut head)
            .await?;
        if read == 0 {
            return Ok(None);
        }
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            return Ok(Some(head));
        }
        if head.len() >= MAX_HEAD {
            return Err(std::io::Error::other("request head too large"));
        }
    }
}

/// A refusal at the front: status, reason phrase, extra header lines, text.
type FrontError = (u16, &'static str, &'static str, &'static str);

/// Checks the CONNECT request: only CONNECT, only with the proxy password.
fn front(head: &[u8], lease: &Lease) -> Result<Target, FrontError> {
    const BAD: FrontError = (
        400,
        "Bad Request",
        "",
        "sec broker: not an HTTP/1.1 request",
    );
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(BAD),
    }
    if request.method != Some("CONNECT") {
        return Err((
            403,
            "Forbidden",
            "",
            "sec broker: the sec broker only carries https (CONNECT host:443); plain http does not go through it",
        ));
    }
    let authorized = request
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("proxy-authorization"))
        .any(|h| proxy_password_matches(h.value, &lease.token));
    if !authorized {
        return Err((
            407,
            "Proxy Authentication Required",
            "Proxy-Authenticate: Basic realm=\"sec\"\r\n",
            "sec broker: wrong or missing proxy password; use the HTTPS_PROXY of the lease",
        ));
    }
    request.path.and_then(Target::parse).ok_or(BAD)
}

/// Whether `Basic base64(sec:TOKEN)` carries the lease's token; compared without an early
/// exit.
fn proxy_password_matches(value: &[u8], token: &SecretString) -> bool {
    let Some((scheme, encoded)) = value.split_at_checked(6) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return false;
    }
    let Ok(decoded) = STANDARD.decode(encoded.trim_ascii()) else {
        return false;
    };
    let decoded = zeroize::Zeroizing::new(decoded);
    let expected = zeroize::Zeroizing::new(format!("sec:{}", token.expose_secret()));
    decoded.len() == expected.len()
        && decoded
            .iter()
            .zip(expected.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Resolves the CONNECT host; refuses one that is (or resolves to) an address of this
/// machine or its networks, unless a rule names it.
async fn destination(
    lease: &Lease,
    target: &Target,
) -> Result<Vec<SocketAddr>, (u16, &'static str, String)> {
    let addrs: Vec<SocketAddr> =
        match tokio::net::lookup_host((target.bare.as_str(), target.port)).await {
            Ok(addrs) => addrs.collect(),
            Err(e) => {
                return Err((
                    502,
                    "Bad Gateway",
                    format!("sec broker: cannot resolve {}: {e}", target.host),
                ));
            }
        };
    if addrs.is_empty() {
        return Err((
            502,
            "Bad Gateway",
            format!("sec broker: {} has no address", target.host),
        ));
    }
    if lease.names_host(&target.host) {
        return Ok(addrs);
    }
    if let Some(internal) = addrs.iter().find(|a| internal(a.ip())) {
        let reason = format!(
            "CONNECT {target}: {} is an address of this machine or a private network, and no rule names {}",
            internal.ip(),
            target.host
        );
        lease.audit.note(
            Event::BrokerRefuse,
            &lease.record(Vec::new(), reason.clone(), String::new()),
        );
        return Err((403, "Forbidden", format!("sec broker: {reason}")));
    }
    Ok(addrs)
}

/// Loopback, private (RFC 1918, fc00::/7), link-local, unspecified, "this network" or CGNAT.
pub(super) fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || a == 0
                || (a == 100 && (b & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// A short text answer on the raw connection, which then closes.
async fn reply<S: tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    status: u16,
    reason: &str,
    extra: &str,
    text: &str,
) -> std::io::Result<()> {
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}\n",
        text.len() + 1
    );
    stream.write_all(answer.as_bytes()).await?;
    stream.shutdown().await
}

/// An open tunnel: its requests, and the upstream connection they share.
struct Tunnel {
    lease: Arc<Lease>,
    target: Target,
    addrs: Vec<SocketAddr>,
    upstream: tokio::sync::Mutex<Option<SendRequest<Body>>>,
    tasks: Weak<TaskSet>,
}

/// Headers that belong to one hop, not to the request the upstream gets.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

impl Tunnel {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let lease = &self.lease;
        let method = request.method().as_str().to_string();
        let path = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let target = format!("{method} https://{}{}", self.target, request.uri().path());
        let (mut parts, body) = request.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        // Origin-form: the upstream is the CONNECT host whatever an absolute URI says.
        if let Ok(uri) = path.parse() {
            parts.uri = uri;
        }
        let decision = rewrite::decide(
            &lease.vars,
            &self.target.host,
            &method,
            &path,
            &parts.headers,
        );
        if let Some(var) = decision.refused {
            return self.refuse(var, &method, request_path(&path), &target);
        }
        let mut pairs: Vec<Pair> = Vec::new();
        for (var, rule) in &decision.inject {
            let added = match rewrite::inject(&mut parts.headers, var, &rule.inject) {
                Ok(added) => added,
                Err(e) => return text(StatusCode::BAD_GATEWAY, &format!("sec broker: {e}")),
            };
            if added.is_empty() {
                continue;
            }
            pairs.extend(added);
            let record = lease.record(vec![var.name.clone()], target.clone(), rule.to_string());
            // Nothing goes out unrecorded.
            if let Err(e) = lease.audit.write(Event::Broker, &record) {
                return text(
                    StatusCode::BAD_GATEWAY,
                    &format!(
                        "sec broker: cannot write the audit log ({e}); {} was not sent",
                        var.name
                    ),
                );
            }
        }
        if !pairs.is_empty() {
            // An answer must come back as the upstream wrote it, for the scrubbing to see it.
            parts.headers.remove(ACCEPT_ENCODING);
        }
        let stopped: Stopped = Arc::default();
        let body: Body = if decision.watch.is_empty() {
            body.map_err(BoxError::from).boxed()
        } else {
            let needles = decision
                .watch
                .iter()
                .map(|v| (v.name.clone(), v.placeholder.as_bytes().to_vec()))
                .collect();
            Watched::new(body, Finder::new(needles), stopped.clone()).boxed()
        };
        let sent = match self.send(Request::from_parts(parts, body)).await {
            Ok(sent) => sent,
            Err(e) => {
                let name = stopped.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(var) = name.and_then(|n| lease.vars.iter().find(|v| v.name == n)) {
                    return self.refuse(var, &method, request_path(&path), &target);
                }
                return text(
                    StatusCode::BAD_GATEWAY,
                    &format!("sec broker: {}: {e}", self.target),
                );
            }
        };
        let (mut parts, body) = sent.into_parts();
        if pairs.is_empty() {
            return Response::from_parts(parts, body.map_err(BoxError::from).boxed());
        }
        rewrite::scrub_headers(&mut parts.headers, &pairs);
        let body = Scrubbed::new(body, pairs);
        if !body.keeps_length() {
            parts.headers.remove(CONTENT_LENGTH);
        }
        Response::from_parts(parts, body.boxed())
    }

    /// 403 without contacting the upstream, and a `broker-refuse` record.
    fn refuse(&self, var: &Var, method: &str, path: &str, target: &str) -> Response<Body> {
        let rules: Vec<String> = var.brokered.rules.iter().map(ToString::to_string).collect();
        let record = self.lease.record(
            vec![var.name.clone()],
            format!("{target}: no rule of {} allows it", var.name),
            String::new(),
        );
        self.lease.audit.note(Event::BrokerRefuse, &record);
        text(
            StatusCode::FORBIDDEN,
            &format!(
                "sec broker: {} may not go to {} ({method} {path}); its rules allow: {}",
                var.name,
                self.target.host,
                rules.join("; ")
            ),
        )
    }

    /// Sends on the tunnel's upstream connection, opening it (again) when needed.
    async fn send(&self, request: Request<Body>) -> Result<Response<Incoming>, String> {
        let mut upstream = self.upstream.lock().await;
        let reusable = match upstream.as_mut() {
            Some(sender) => sender.ready().await.is_ok(),
            None => false,
        };
        if !reusable {
            *upstream = Some(
                tokio::time::timeout(CONNECT_TIMEOUT, self.connect())
                    .await
                    .unwrap_or_else(|_| Err("no answer in time".into()))?,
            );
        }
        let Some(sender) = upstream.as_mut() else {
            return Err("no connection".into());
        };
        let response = sender.send_request(request);
        drop(upstream);
        response
            .await
            .map_err(|e| format!("the request failed: {e}"))
    }

    async fn connect(&self) -> Result<SendRequest<Body>, String> {
        let tcp = TcpStream::connect(&self.addrs[..])
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let config = self.lease.client_config(&self.target.host)?;
        let name = rustls::pki_types::ServerName::try_from(self.target.bare.clone())
            .map_err(|_| "not a valid TLS server name".to_string())?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP handshake failed: {e}"))?;
        spawn(&self.tasks, async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

/// Removes the headers of this hop: the standard ones and those `Connection` names.
fn strip_hop_by_hop(headers: &mut hyper::HeaderMap) {
    let named: Vec<String> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

/// The path without its query, for messages (a query may hold other secrets).
fn request_path(path_and_query: &str) -> &str {
    path_and_query.split('?').next().unwrap_or("/")
}

fn text(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from(format!("{text}\n")))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
