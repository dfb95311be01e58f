//! An HTTPS echo server on loopback for the broker tests: it records every request that
//! reached it, and answers so that a test can tell what a client (or sec's broker in between)
//! sent. Its certificate comes from a [`TestCa`] and names `localhost` and `127.0.0.1`, so the
//! one server answers as two different hosts: `https://localhost:PORT/` and
//! `https://127.0.0.1:PORT/`.
//!
//! The server is `https_echo.py` (next to this file; Python 3 stdlib only, also run by
//! bench/broker.sh), HTTP/1.1 with keep-alive:
//! - `/redirect?to=URL` answers `302` with `Location: URL`;
//! - `/reflect` answers with the request's `Authorization` header value;
//! - any other path answers JSON `{"method", "path", "headers"}` of the request.
//!
//! Every request is recorded, decoded, in `DIR/https-echo.seen.jsonl` ([`HttpsEcho::seen`]),
//! credentials in plain text: keep `DIR` out of directories a test searches for leaked
//! tokens.

use std::path::{Path, PathBuf};

use crate::tls::{PortServer, TestCa};

const HTTPS_ECHO_PY: &str = include_str!("https_echo.py");

/// The HTTPS echo server. Stopped and reaped on drop.
pub struct HttpsEcho {
    server: PortServer,
    seen: PathBuf,
    ca: PathBuf,
}

/// One request as it reached the echo server.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    /// With the query.
    pub path: String,
    /// The `Host` header ("" without one): `localhost:PORT` or `127.0.0.1:PORT`.
    pub host: String,
    /// The TLS server name the client asked for (none for an IP address).
    pub sni: Option<String>,
    /// In the order they came.
    pub headers: Vec<(String, String)>,
    /// `Authorization: Basic`'s user and password, decoded.
    pub basic: Option<(String, String)>,
    pub body: String,
}

impl SeenRequest {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether `needle` is anywhere in the request: path, headers, decoded basic credentials,
    /// body.
    pub fn holds(&self, needle: &str) -> bool {
        self.path.contains(needle)
            || self
                .headers
                .iter()
                .any(|(n, v)| n.contains(needle) || v.contains(needle))
            || self
                .basic
                .as_ref()
                .is_some_and(|(u, p)| u.contains(needle) || p.contains(needle))
            || self.body.contains(needle)
    }

    /// Whether it was sent to `host` (`localhost`, `127.0.0.1`), by its `Host` header.
    pub fn is_for(&self, host: &str) -> bool {
        self.host == host || self.host.starts_with(&format!("{host}:"))
    }
}

impl HttpsEcho {
    /// Starts the server with its own [`TestCa`] in `dir/ca`, its script, log and record in
    /// `dir`. Returns once it accepts connections.
    pub fn start(dir: &Path) -> HttpsEcho {
        let ca = TestCa::new(&dir.join("ca"));
        Self::start_with_ca(dir, &ca)
    }

    /// Starts the server with a certificate from `ca`.
    pub fn start_with_ca(dir: &Path, ca: &TestCa) -> HttpsEcho {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let dir = std::path::absolute(dir)
            .unwrap_or_else(|e| panic!("cannot make {} absolute: {e}", dir.display()));
        let (cert, key) = ca.localhost_cert("https-echo");
        let seen = dir.join("https-echo.seen.jsonl");
        crate::write_file_with_mode(&seen, "", 0o600);
        let args = [cert.as_os_str(), key.as_os_str(), seen.as_os_str()];
        let server = PortServer::start(&dir, "https-echo", HTTPS_ECHO_PY, &args);
        HttpsEcho {
            server,
            seen,
            ca: ca.cert().to_path_buf(),
        }
    }

    /// The loopback TCP port it listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// The test CA's certificate (PEM), which signed the server's.
    pub fn ca_file(&self) -> &Path {
        &self.ca
    }

    /// `https://HOST:PORT/PATH` (`path` without its leading slash).
    pub fn url(&self, host: &str, path: &str) -> String {
        format!("https://{host}:{}/{path}", self.port())
    }

    /// Every request that reached the server, in order.
    pub fn seen(&self) -> Vec<SeenRequest> {
        std::fs::read_to_string(&self.seen)
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
                    panic!("bad line {line:?} in {}: {e}", self.seen.display())
                });
                parse_seen(&entry)
                    .unwrap_or_else(|| panic!("bad line {line:?} in {}", self.seen.display()))
            })
            .collect()
    }

    /// The requests that reached the server for `host`, by their `Host` header.
    pub fn seen_at(&self, host: &str) -> Vec<SeenRequest> {
        self.seen().into_iter().filter(|r| r.is_for(host)).collect()
    }

    /// The server's log (a line a request, failed handshakes), for a failing test's message.
    pub fn log(&self) -> String {
        self.server.log_text()
    }
}

fn parse_seen(entry: &serde_json::Value) -> Option<SeenRequest> {
    let text = |key: &str| entry[key].as_str().map(str::to_string);
    let headers = entry["headers"]
        .as_array()?
        .iter()
        .map(|pair| Some((pair[0].as_str()?.to_string(), pair[1].as_str()?.to_string())))
        .collect::<Option<Vec<_>>>()?;
    let basic = match &entry["basic"] {
        serde_json::Value::Array(pair) => Some((
            pair.first()?.as_str()?.to_string(),
            pair.get(1)?.as_str()?.to_string(),
        )),
        _ => None,
    };
    Some(SeenRequest {
        method: text("method")?,
        path: text("path")?,
        host: text("host").unwrap_or_default(),
        sni: text("sni"),
        headers,
        basic,
        body: text("body").unwrap_or_default(),
    })
}
