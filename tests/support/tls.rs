//! TLS on loopback for the broker tests: a throwaway certificate authority made with
//! `openssl` ([`TestCa`]) whose server certificates name both `localhost` and `127.0.0.1`,
//! so that one server answers as two different hosts; and [`TlsFront`], a TLS terminator in
//! front of a plain-TCP server (the package index's HTTPS face).
//!
//! A client trusts such a server through the CA's certificate ([`TestCa::cert`]: `curl
//! --cacert`, `REQUESTS_CA_BUNDLE`, a broker rule's `ca_cert`), never through the system's
//! roots.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::sys::signal::Signal;

use crate::openbao::BAO_PORTS;
use crate::require_program;

/// The TLS front's script (`tls_front.py`, next to this file).
const TLS_FRONT_PY: &str = include_str!("tls_front.py");

/// A certificate authority of the test's own (an EC P-256 key, valid two days): `ca.pem` and
/// `ca.key` in its directory.
pub struct TestCa {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl TestCa {
    /// Makes a new CA in `dir` (created if needed).
    pub fn new(dir: &Path) -> TestCa {
        require_program("openssl", "openssl");
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let dir = std::path::absolute(dir)
            .unwrap_or_else(|e| panic!("cannot make {} absolute: {e}", dir.display()));
        let ca = TestCa {
            cert: dir.join("ca.pem"),
            key: dir.join("ca.key"),
            dir,
        };
        openssl(
            Command::new("openssl")
                .args(["req", "-x509", "-nodes", "-days", "2"])
                .args(EC_KEY)
                .args(["-subj", "/CN=sec e2e test CA"])
                .args(["-addext", "basicConstraints=critical,CA:TRUE"])
                .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
                .arg("-keyout")
                .arg(&ca.key)
                .arg("-out")
                .arg(&ca.cert),
            "the test CA",
        );
        ca
    }

    /// The CA's certificate (PEM): what a client that should trust its servers is given.
    pub fn cert(&self) -> &Path {
        &self.cert
    }

    /// A server certificate and its key, `NAME.pem` and `NAME.key` in the CA's directory,
    /// signed by this CA, for `DNS:localhost` and `IP:127.0.0.1`.
    pub fn localhost_cert(&self, name: &str) -> (PathBuf, PathBuf) {
        let cert = self.dir.join(format!("{name}.pem"));
        let key = self.dir.join(format!("{name}.key"));
        let csr = self.dir.join(format!("{name}.csr"));
        let extensions = self.dir.join(format!("{name}.ext"));
        std::fs::write(
            &extensions,
            "subjectAltName = DNS:localhost, IP:127.0.0.1\n\
             basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n",
        )
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", extensions.display()));
        openssl(
            Command::new("openssl")
                .args(["req", "-new", "-nodes"])
                .args(EC_KEY)
                .args(["-subj", "/CN=localhost"])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&csr),
            "a server key",
        );
        openssl(
            Command::new("openssl")
                .args(["x509", "-req", "-days", "2", "-CAcreateserial", "-in"])
                .arg(&csr)
                .arg("-CA")
                .arg(&self.cert)
                .arg("-CAkey")
                .arg(&self.key)
                .arg("-extfile")
                .arg(&extensions)
                .arg("-out")
                .arg(&cert),
            "a server certificate",
        );
        (cert, key)
    }
}

/// `openssl req` options for a new EC P-256 key.
const EC_KEY: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

fn openssl(cmd: &mut Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl for {what}: {e}"));
    assert!(
        out.status.success(),
        "openssl could not make {what} (`{}`): {}",
        crate::world::describe(cmd),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Python script serving on a free loopback port that it writes to a file: started, waited
/// for, stopped (SIGTERM, then SIGKILL) and reaped on drop. The echo server and the TLS front.
pub(crate) struct PortServer {
    pub port: u16,
    pub log: PathBuf,
    child: Child,
}

impl PortServer {
    /// Writes `script` to `dir/NAME.py` and runs `python3 -u` on it with `args`, then the port
    /// file and the range of ports to avoid (OpenBao's); returns once it accepts connections.
    pub fn start(dir: &Path, name: &str, script: &str, args: &[&OsStr]) -> PortServer {
        require_program("python3", "python3");
        let path = dir.join(format!("{name}.py"));
        std::fs::write(&path, script)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        let port_file = dir.join(format!("{name}.port"));
        let _ = std::fs::remove_file(&port_file);
        let log = dir.join(format!("{name}.log"));
        let mut cmd = Command::new("python3");
        cmd.arg("-u")
            .arg(&path)
            .args(args)
            .arg(&port_file)
            .arg(BAO_PORTS.start.to_string())
            .arg(BAO_PORTS.end.to_string())
            .current_dir(dir)
            .stdin(Stdio::null());
        let mut server = PortServer {
            port: 0,
            child: crate::procs::spawn_logged(cmd, &log),
            log,
        };
        let log = server.log.clone();
        server.port = crate::procs::wait_for_port(&mut server.child, &port_file, name, || {
            std::fs::read_to_string(&log).unwrap_or_default()
        });
        server
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for PortServer {
    fn drop(&mut self) {
        crate::procs::stop_child(&mut self.child, Signal::SIGTERM);
    }
}

/// A TLS terminator on a free loopback port in front of a plain-TCP server on
/// `127.0.0.1:BACKEND`, with a certificate from a [`TestCa`] (so it answers as `localhost` and
/// as `127.0.0.1`): it passes the bytes through both ways, so whatever the backend speaks over
/// TCP (HTTP/1.1 with keep-alive, chunked bodies) it speaks over TLS. Stopped on drop.
pub struct TlsFront {
    server: PortServer,
}

impl TlsFront {
    /// Starts the front with its script, certificate and log (`tls-front.log`) in `dir`.
    pub fn start(dir: &Path, ca: &TestCa, backend_port: u16) -> TlsFront {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let (cert, key) = ca.localhost_cert("tls-front");
        let backend = backend_port.to_string();
        let args = [cert.as_os_str(), key.as_os_str(), OsStr::new(&backend)];
        TlsFront {
            server: PortServer::start(dir, "tls-front", TLS_FRONT_PY, &args),
        }
    }

    /// The loopback TCP port it listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.server.port
    }

    /// Its log: failed handshakes and connections, for a failing test's message.
    pub fn log(&self) -> String {
        self.server.log_text()
    }
}
