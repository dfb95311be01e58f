//! The broker against real parts: a local HTTPS server with its own CA as the upstream, the
//! system's curl (and a hyper client for the tunnel that must die) as the command.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, LOCATION};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use sec_proto::config::{BrokerRule, Brokered, HostPattern, Inject};
use secrecy::{ExposeSecret, SecretString};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::*;

/// What the upstream saw: a request line, its headers and its body, per request.
type Seen = Arc<Mutex<Vec<String>>>;

/// An HTTPS server on 127.0.0.1 with a certificate for `localhost` and `127.0.0.1` from a
/// CA of its own (`upstream_ca.pem` in `dir`). It answers with what it was sent; a path
/// ending in `/redirect` gets a 302 to another host, one ending in `/reflect` its
/// Authorization header (in the body and in `x-reflect`).
async fn upstream(dir: &Path) -> (u16, PathBuf, Seen) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "test upstream CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    let ca_path = dir.join("upstream_ca.pem");
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |request| echo(request, log.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (port, ca_path, seen)
}

async fn echo(request: Request<Incoming>, seen: Seen) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut text = format!("{} {}\n", request.method(), request.uri());
    for (name, value) in request.headers() {
        text += &format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes()));
    }
    let path = request.uri().path().to_string();
    let authorization = request
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    match request.into_body().collect().await {
        Ok(body) => text += &String::from_utf8_lossy(&body.to_bytes()),
        Err(_) => text += "[the body failed]",
    }
    seen.lock().unwrap().push(text.clone());
    let response = if path.ends_with("/redirect") {
        Response::builder()
            .status(302)
            .header(LOCATION, "https://elsewhere.invalid/next")
            .body(Full::new(Bytes::from("moved")))
    } else if path.ends_with("/reflect") {
        Response::builder()
            .header("x-reflect", authorization.as_str())
            .body(Full::new(Bytes::from(authorization)))
    } else {
        Response::builder().body(Full::new(Bytes::from(text)))
    };
    Ok(response.unwrap())
}

fn rule(host: &str, methods: &[&str], paths: &[&str], inject: Inject, ca: &Path) -> BrokerRule {
    BrokerRule {
        hosts: vec![HostPattern::Exact(host.into())],
        methods: methods.iter().map(|m| m.to_string()).collect(),
        paths: paths.iter().map(|p| p.to_string()).collect(),
        inject,
        ca_cert: Some(ca.to_path_buf()),
    }
}

/// Values long enough for a placeholder of their length, and one that is not.
const GH: &str = "ghp_REALgithubTOKEN0123456789abcdefghijklmn";
const PYPI: &str = "pypi-REALpypiTOKEN0123456789abcdefghijklmnop";
const LAB: &str = "glpat-REALgitlabTOKEN0123456789abcdefgh";
const RAW: &str = "REALshort";
const VALUES: [&str; 4] = [GH, PYPI, LAB, RAW];

/// A broker for four variables, each allowed toward `localhost` on paths of its own, the
/// upstream behind it, and curl to drive it.
struct World {
    dir: tempfile::TempDir,
    port: u16,
    seen: Seen,
    brokers: Brokers,
    started: Started,
    /// Everything the command saw, to search for values.
    transcript: Mutex<String>,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let (port, ca, seen) = upstream(dir.path()).await;
        let var =
            |name: &str, value: &str, shape: Option<&str>, rules: Vec<BrokerRule>| BrokerVar {
                name: name.into(),
                value: SecretString::from(value),
                brokered: Brokered {
                    shape: shape.map(String::from),
                    rules,
                },
            };
        let vars = vec![
            var(
                "GH_TOKEN",
                GH,
                Some("ghp_"),
                vec![rule("localhost", &[], &["/gh/"], Inject::Bearer, &ca)],
            ),
            var(
                "TWINE_PASSWORD",
                PYPI,
                Some("pypi-"),
                vec![rule(
                    "localhost",
                    &["POST"],
                    &["/legacy/"],
                    Inject::Basic {
                        user: "__token__".into(),
                    },
                    &ca,
                )],
            ),
            var(
                "GITLAB_TOKEN",
                LAB,
                None,
                vec![rule(
                    "localhost",
                    &[],
                    &["/lab/"],
                    Inject::Header("PRIVATE-TOKEN".into()),
                    &ca,
                )],
            ),
            // Only here so that 127.0.0.1 may be reached at all.
            var(
                "RAW_KEY",
                RAW,
                None,
                vec![
                    rule("localhost", &[], &["/raw/"], Inject::Placeholder, &ca),
                    rule("127.0.0.1", &[], &["/raw/"], Inject::Placeholder, &ca),
                ],
            ),
        ];
        let audit = Arc::new(AuditLog::new(dir.path().join("audit.jsonl")));
        let brokers = Brokers::new();
        let started = brokers
            .start(
                vars,
                BrokerContext {
                    lease: "lease-1".into(),
                    scope: "/work/project".into(),
                    command: vec!["twine".into(), "upload".into()],
                },
                audit,
            )
            .unwrap();
        std::fs::write(dir.path().join("lease_ca.pem"), &started.ca_pem).unwrap();
        World {
            dir,
            port,
            seen,
            brokers,
            started,
            transcript: Mutex::default(),
        }
    }

    fn placeholder(&self, name: &str) -> String {
        self.started
            .placeholders
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
            .unwrap()
    }

    fn token(&self) -> String {
        let url = self.started.proxy_url.expose_secret();
        let rest = url.strip_prefix("http://sec:").unwrap();
        rest.split('@').next().unwrap().to_string()
    }

    /// curl through the broker to `https://HOST:PORT/PATH`: the status and the body, or
    /// curl's complaint.
    async fn curl(&self, host: &str, path: &str, args: &[&str]) -> (String, String) {
        let output = tokio::process::Command::new("curl")
            .arg("-q")
            .args(["-sS", "--max-time", "20", "-w", "\n%{http_code}", "-D", "-"])
            .args(["--proxy", self.started.proxy_url.expose_secret()])
            .arg("--cacert")
            .arg(self.dir.path().join("lease_ca.pem"))
            .args(args)
            .arg(format!("https://{host}:{}{path}", self.port))
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
            .await
            .expect("curl is installed");
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        {
            let mut transcript = self.transcript.lock().unwrap();
            transcript.push_str(&stdout);
            transcript.push_str(&stderr);
        }
        let (text, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
        (status.to_string(), format!("{text}{stderr}"))
    }

    fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The upstream's log of a request to `path`, if it saw one.
    fn upstream_saw(&self, path: &str) -> Option<String> {
        let start = format!(" {path}");
        self.seen
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.lines().next().is_some_and(|l| l.ends_with(&start)))
            .cloned()
    }

    /// No real value in anything the command saw nor in the audit log; no placeholder in
    /// the audit log either.
    fn assert_nothing_leaked(&self) {
        let transcript = self.transcript.lock().unwrap();
        let audit =
            std::fs::read_to_string(self.dir.path().join("audit.jsonl")).unwrap_or_default();
        let debug = format!("{:?}", self.started);
        for value in VALUES {
            assert!(!transcript.contains(value), "{value} reached the command");
            assert!(!audit.contains(value), "{value} is in the audit log");
            assert!(!debug.contains(value));
        }
        for (_, placeholder) in &self.started.placeholders {
            assert!(
                !audit.contains(placeholder.as_str()),
                "a placeholder is in the audit log"
            );
        }
        assert!(
            !debug.contains(&self.token()),
            "Debug shows the proxy password"
        );
    }
}

fn basic(text: &str) -> String {
    format!("Basic {}", STANDARD.encode(text))
}

#[test]
fn placeholders_have_the_shape_and_the_length_of_the_value() {
    let long = placeholder(Some("ghp_"), 40).unwrap();
    assert!(long.starts_with("ghp_"));
    assert_eq!(long.len(), 40, "as long as the value");
    assert!(long[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
    let short = placeholder(None, 9).unwrap();
    assert!(short.starts_with("sec_brokered_"));
    assert_eq!(short.len(), "sec_brokered_".len() + 32);
    assert_eq!(
        placeholder(Some("pypi-"), 24).unwrap().len(),
        5 + 32,
        "shape + 19 is too short to be random enough"
    );
    assert_ne!(placeholder(None, 9).unwrap(), short);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_request_gets_the_real_credential_where_the_rule_says() {
    let world = World::new().await;
    let gh = world.placeholder("GH_TOKEN");
    let pypi = world.placeholder("TWINE_PASSWORD");
    let raw = world.placeholder("RAW_KEY");
    assert_eq!(gh.len(), GH.len());
    assert!(gh.starts_with("ghp_") && pypi.starts_with("pypi-"));

    let auth = format!("Authorization: Bearer {gh}");
    let (status, text) = world.curl("localhost", "/gh/user", &["-H", &auth]).await;
    assert_eq!(status, "200", "{text}");
    let saw = world.upstream_saw("/gh/user").unwrap();
    assert!(
        saw.contains(&format!("authorization: Bearer {GH}\n")),
        "{saw}"
    );
    assert!(
        !saw.contains("accept-encoding"),
        "answers come back uncompressed"
    );
    assert!(
        text.contains(&format!("authorization: Bearer {gh}")),
        "scrubbed: {text}"
    );
    assert!(
        text.contains(&format!("content-length: {}", saw.len())),
        "same length: {text}"
    );

    let user = format!("__token__:{pypi}");
    let (status, text) = world
        .curl("localhost", "/legacy/", &["-u", &user, "--data", "name=x"])
        .await;
    assert_eq!(status, "200", "{text}");
    let saw = world.upstream_saw("/legacy/").unwrap();
    assert!(saw.contains(&basic(&format!("__token__:{PYPI}"))), "{saw}");
    assert!(
        text.contains(&basic(&format!("__token__:{pypi}"))),
        "{text}"
    );

    // The rule says where the token goes, so it goes there though the command never asked.
    let (status, text) = world.curl("localhost", "/lab/projects", &[]).await;
    assert_eq!(status, "200", "{text}");
    let saw = world.upstream_saw("/lab/projects").unwrap();
    assert!(saw.contains(&format!("private-token: {LAB}\n")), "{saw}");

    // A short value: its placeholder is longer, so the answer's length changes.
    let header = format!("X-Key: key={raw}");
    let (status, text) = world.curl("localhost", "/raw/x", &["-H", &header]).await;
    assert_eq!(status, "200", "{text}");
    let saw = world.upstream_saw("/raw/x").unwrap();
    assert!(saw.contains(&format!("x-key: key={RAW}\n")), "{saw}");
    assert!(text.contains(&format!("x-key: key={raw}\n")), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("content-length"),
        "{text}"
    );

    let records = world.audit();
    let broker: Vec<&serde_json::Value> =
        records.iter().filter(|r| r["event"] == "broker").collect();
    assert_eq!(broker.len(), 4, "{records:?}");
    assert_eq!(broker[0]["names"][0], "GH_TOKEN");
    assert_eq!(broker[0]["lease"], "lease-1");
    assert_eq!(broker[0]["scope"], "/work/project");
    assert_eq!(broker[0]["command"][0], "twine");
    assert_eq!(
        broker[0]["reason"],
        format!("GET https://localhost:{}/gh/user", world.port)
    );
    assert_eq!(broker[0]["rule"], "localhost/gh/");
    assert_eq!(broker[1]["rule"], "POST localhost/legacy/");
    world.assert_nothing_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placeholder_to_a_host_no_rule_allows_is_refused_unsent() {
    let world = World::new().await;
    let gh = world.placeholder("GH_TOKEN");
    let auth = format!("Authorization: Bearer {gh}");
    // 127.0.0.1 is the same server, but GH_TOKEN's rules name only localhost.
    let (status, text) = world.curl("127.0.0.1", "/gh/other", &["-H", &auth]).await;
    assert_eq!(status, "403", "{text}");
    assert!(
        text.contains(
            "GH_TOKEN may not go to 127.0.0.1 (GET /gh/other); its rules allow: localhost/gh/"
        ),
        "{text}"
    );
    assert!(
        world.upstream_saw("/gh/other").is_none(),
        "the upstream never saw it"
    );
    let records = world.audit();
    let refusal = records
        .iter()
        .find(|r| r["event"] == "broker-refuse")
        .expect("a broker-refuse record");
    assert_eq!(refusal["names"][0], "GH_TOKEN");
    assert!(records.iter().all(|r| r["event"] != "broker"));
    world.assert_nothing_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_or_path_the_rules_do_not_allow_is_refused() {
    let world = World::new().await;
    let user = format!("__token__:{}", world.placeholder("TWINE_PASSWORD"));
    let (status, text) = world.curl("localhost", "/legacy/", &["-u", &user]).await;
    assert_eq!(status, "403", "GET is not POST: {text}");
    assert!(
        text.contains("TWINE_PASSWORD may not go to localhost (GET /legacy/)"),
        "{text}"
    );
    let (status, text) = world
        .curl("localhost", "/simple/", &["-u", &user, "--data", "x"])
        .await;
    assert_eq!(status, "403", "{text}");
    assert!(world.upstream_saw("/legacy/").is_none());
    assert!(world.upstream_saw("/simple/").is_none());
    assert_eq!(
        world
            .audit()
            .iter()
            .filter(|r| r["event"] == "broker-refuse")
            .count(),
        2
    );
    world.assert_nothing_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placeholder_in_the_body_of_a_request_it_may_not_go_to_stops_it() {
    let world = World::new().await;
    let data = format!("token={}", world.placeholder("GH_TOKEN"));
    let (status, text) = world
        .curl("localhost", "/lab/upload", &["--data", &data])
        .await;
    assert_eq!(status, "403", "{text}");
    assert!(text.contains("GH_TOKEN may not go to localhost"), "{text}");
    let seen = world.seen.lock().unwrap().join("\n");
    assert!(!seen.contains(&world.placeholder("GH_TOKEN")), "{seen}");
    world.assert_nothing_leaked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reflected_value_comes_back_as_the_placeholder_and_redirects_are_not_followed() {
    let world = World::new().await;
    let gh = world.placeholder("GH_TOKEN");
    let auth = format!("Authorization: Bearer {gh}");
    let (status, text) = world.curl("localhost", "/gh/reflect", &["-H", &auth]).await;
    assert_eq!(status, "200", "{text}");
    assert!(world.upstream_saw("/gh/reflect").unwrap().contains(GH));
    assert!(text.contains(&format!("x-reflect: Bearer {gh}")), "{text}");
    assert!(text.ends_with(&format!("\r\n\r\nBearer {gh}")), "{text}");

    let (status, text) = world
        .curl("localhost", "/gh/redirect", &["-H", &auth])
        .await;
    assert_eq!(status, "302", "{text}");
    assert!(
        text.contains("location: https://elsewhere.invalid/next"),
        "{text}"
    );
    assert_eq!(world.seen.lock().unwrap().len(), 2);
    world.assert_nothing_leaked();
}

/// Writes `request` to the broker's port and reads the answer to its end.
async fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer).await;
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_wants_connect_and_the_proxy_password() {
    let world = World::new().await;
    let port = world.port;
    let wrong = STANDARD.encode("sec:not-the-token");
    let answer = raw(
        world.started.addr,
        &format!("CONNECT localhost:{port} HTTP/1.1\r\nProxy-Authorization: Basic {wrong}\r\n\r\n"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 407 "), "{answer}");
    assert!(
        answer.contains("Proxy-Authenticate: Basic realm=\"sec\""),
        "{answer}"
    );
    let answer = raw(
        world.started.addr,
        &format!("CONNECT localhost:{port} HTTP/1.1\r\n\r\n"),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 407 "), "{answer}");

    let good = STANDARD.encode(format!("sec:{}", world.token()));
    let answer = raw(
        world.started.addr,
        &format!(
            "GET http://localhost:{port}/ HTTP/1.1\r\nProxy-Authorization: Basic {good}\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403 "), "{answer}");
    assert!(answer.contains("only carries https"), "{answer}");
    assert!(world.seen.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_host_no_rule_names_is_refused_before_tls() {
    let world = World::new().await;
    let good = STANDARD.encode(format!("sec:{}", world.token()));
    for host in ["127.0.0.2", "[::1]", "0.0.0.0"] {
        let answer = raw(
            world.started.addr,
            &format!(
                "CONNECT {host}:{} HTTP/1.1\r\nProxy-Authorization: Basic {good}\r\n\r\n",
                world.port
            ),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 403 "), "{host}: {answer}");
        assert!(answer.contains("no rule names"), "{answer}");
    }
    let records = world.audit();
    assert_eq!(records.len(), 3, "{records:?}");
    assert!(records.iter().all(|r| r["event"] == "broker-refuse"));
    assert!(records[0]["reason"].as_str().unwrap().contains("127.0.0.2"));
    // Named by a rule, it may be reached.
    let (status, text) = world.curl("127.0.0.1", "/any", &[]).await;
    assert_eq!(status, "200", "{text}");
}

#[test]
fn internal_addresses() {
    for ip in [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "::",
        "fd00::1",
        "fe80::1",
        "::ffff:127.0.0.1",
    ] {
        assert!(proxy::internal(ip.parse().unwrap()), "{ip}");
    }
    for ip in ["1.1.1.1", "100.128.0.1", "2606:4700::1111", "172.32.0.1"] {
        assert!(!proxy::internal(ip.parse().unwrap()), "{ip}");
    }
}

/// A tunnel to `localhost:port` through the broker, with hyper speaking HTTP/1.1 in it.
async fn tunnel(world: &World) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let mut tcp = TcpStream::connect(world.started.addr).await.unwrap();
    let good = STANDARD.encode(format!("sec:{}", world.token()));
    let connect = format!(
        "CONNECT localhost:{0} HTTP/1.1\r\nHost: localhost:{0}\r\nProxy-Authorization: Basic {good}\r\n\r\n",
        world.port
    );
    tcp.write_all(connect.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.unwrap());
    }
    assert!(head.starts_with(b"HTTP/1.1 200 "));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(world.started.ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = crate::host::tls::client_config(roots, &[b"http/1.1"]).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_open_tunnels() {
    let world = World::new().await;
    let mut sender = tunnel(&world).await;
    let request = || {
        Request::get("/lab/one")
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let response = sender.send_request(request()).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(!String::from_utf8_lossy(&body).contains(LAB));

    let held = world.brokers.held("lease-1");
    assert!(held.upgrade().is_some());
    world.brokers.stop("lease-1");
    let failed = tokio::time::timeout(Duration::from_secs(5), async {
        match sender.ready().await {
            Err(_) => true,
            Ok(()) => sender.send_request(request()).await.is_err(),
        }
    })
    .await
    .expect("the tunnel ended, not hung");
    assert!(failed, "a kept-alive tunnel still works after stop");
    // The listener went too.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(TcpStream::connect(world.started.addr).await.is_err());
    assert_eq!(world.upstream_saw("/lab/one").iter().count(), 1);
    // Every task that held the lease's values is gone, so the values are zeroized.
    for _ in 0..100 {
        if held.upgrade().is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the lease's values outlived stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_fails_tls_gets_a_502_naming_the_host() {
    let world = World::new().await;
    // A second lease whose rule does not trust the upstream's CA.
    let mut untrusting = rule("localhost", &[], &[], Inject::Bearer, Path::new("/"));
    untrusting.ca_cert = None;
    let audit = Arc::new(AuditLog::new(world.dir.path().join("other.jsonl")));
    let started = world
        .brokers
        .start(
            vec![BrokerVar {
                name: "GH_TOKEN".into(),
                value: SecretString::from(GH),
                brokered: Brokered {
                    shape: None,
                    rules: vec![untrusting],
                },
            }],
            BrokerContext {
                lease: "lease-2".into(),
                scope: "/w".into(),
                command: vec!["gh".into()],
            },
            audit,
        )
        .unwrap();
    let other = World {
        started,
        dir: tempfile::tempdir().unwrap(),
        ..world
    };
    std::fs::write(other.dir.path().join("lease_ca.pem"), &other.started.ca_pem).unwrap();
    let (status, text) = other.curl("localhost", "/x", &[]).await;
    assert_eq!(status, "502", "{text}");
    assert!(
        text.contains(&format!(
            "sec broker: localhost:{}: TLS handshake failed",
            other.port
        )),
        "{text}"
    );
    assert!(!text.contains(GH));
}
