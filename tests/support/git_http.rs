//! A git smart-HTTPS server on loopback that wants basic auth, for the tests of `git push`
//! over HTTPS with a token from sec: git asks its credential helper, and the server records
//! what reached it. Its certificate (for 127.0.0.1) is made by `openssl` at start;
//! [`GitHttp::ca_file`] is what git's `http.sslCAInfo` takes.
//!
//! The server is a small Python 3 script (stdlib only: `http.server` and `subprocess`) that
//! the fixture writes into its directory; it runs the real `git http-backend` as CGI for
//! every request that carries `Authorization: Basic base64(USER:TOKEN)` with the expected
//! user and token, the `info/refs` GET included, and answers `401` with
//! `WWW-Authenticate: Basic realm="git"` otherwise, so that git asks its credential helper
//! and says "Authentication failed" when the helper's answer is refused.
//!
//! Request bodies may come with `Content-Length` or chunked (git sends a push larger than
//! `http.postBuffer`, 1 MiB by default, chunked): the server takes both, so a test needs no
//! `http.postBuffer` setting. Gzipped bodies (git's large fetch negotiations) go to
//! `git http-backend` as they are, which unpacks them itself.
//!
//! The expected user and token reach the server on its standard input, never in its argv or
//! environment. Every `Authorization` header that reached it is recorded decoded, in plain
//! text, in `DIR/seen-credentials.jsonl` ([`GitHttp::seen_credentials`]): keep `DIR` out of
//! directories a test searches for leaked tokens.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::openbao::BAO_PORTS;
use crate::require_program;

/// The server script: `python3 -u SCRIPT BACKEND ROOT PORT_FILE SEEN_FILE AVOID_FROM AVOID_TO CERT KEY`,
/// with the user and the token as the first two lines of its standard input.
const SERVER_PY: &str = r#"
import base64, binascii, http.server, json, os, ssl, subprocess, sys, threading, urllib.parse

backend, root, port_file, seen_file = sys.argv[1:5]
avoid = range(int(sys.argv[5]), int(sys.argv[6]))
cert, key = sys.argv[7:9]
user = sys.stdin.readline().rstrip("\n")
token = sys.stdin.readline().rstrip("\n")
sys.stdin.close()
seen_lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.0: one request a connection, the reply ends when the connection closes.
    def do_GET(self):
        self.serve()

    def do_POST(self):
        self.serve()

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers, up to the empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def authorized(self):
        header = self.headers.get("Authorization")
        if header is None:
            return False
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            self.log_message("not basic authorization: %s", scheme)
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            self.log_message("undecodable basic authorization")
            return False
        seen_user, _, seen_password = decoded.partition(":")
        with seen_lock, open(seen_file, "a", encoding="utf-8") as seen:
            seen.write(json.dumps([seen_user, seen_password]) + "\n")
        ok = seen_user == user and seen_password == token
        if not ok:
            self.log_message("wrong credentials for user %r", seen_user)
        return ok

    def reply(self, code, headers, body):
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def serve(self):
        # The body is read even for a refused request, so the client never writes into a
        # closed connection.
        body = self.read_body()
        if not self.authorized():
            self.reply(
                401,
                [("WWW-Authenticate", 'Basic realm="git"'), ("Content-Type", "text/plain")],
                b"authentication required\n",
            )
            return
        path, _, query = self.path.partition("?")
        env = dict(os.environ)
        env.update(
            GIT_PROJECT_ROOT=root,
            GIT_HTTP_EXPORT_ALL="1",
            GATEWAY_INTERFACE="CGI/1.1",
            SERVER_PROTOCOL="HTTP/1.1",
            SERVER_NAME="127.0.0.1",
            SERVER_PORT=str(self.server.server_address[1]),
            REMOTE_ADDR=self.client_address[0],
            REMOTE_USER=user,
            AUTH_TYPE="Basic",
            REQUEST_METHOD=self.command,
            QUERY_STRING=query,
            PATH_INFO=urllib.parse.unquote(path),
            CONTENT_LENGTH=str(len(body)),
            CONTENT_TYPE=self.headers.get("Content-Type", ""),
        )
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in (
                "HTTP_AUTHORIZATION",
                "HTTP_CONTENT_TYPE",
                "HTTP_CONTENT_LENGTH",
                "HTTP_TRANSFER_ENCODING",
            ):
                env[key] = value
        done = subprocess.run([backend], input=body, capture_output=True, env=env)
        if done.stderr:
            self.log_message("git http-backend: %s", done.stderr.decode("utf-8", "replace"))
        out = done.stdout
        ends = [i for i in (out.find(b"\r\n\r\n"), out.find(b"\n\n")) if i >= 0]
        if done.returncode != 0 and not ends:
            self.reply(500, [("Content-Type", "text/plain")], b"git http-backend failed\n")
            return
        end = min(ends) if ends else 0
        head = out[:end].decode("latin-1")
        rest = out[end:]
        rest = rest[4:] if rest.startswith(b"\r\n\r\n") else rest[2:]
        code, headers = 200, []
        for line in head.splitlines():
            if not line.strip():
                continue
            name, _, value = line.partition(":")
            value = value.strip()
            if name.lower() == "status":
                code = int(value.split()[0])
            elif name.lower() != "content-length":
                headers.append((name, value))
        self.reply(code, headers, rest)

    def log_message(self, format, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), format % args))


while True:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if server.server_address[1] not in avoid:
        break
    server.server_close()
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(cert, key)
server.socket = tls.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(port_file + ".tmp", port_file)
sys.stderr.write("listening on 127.0.0.1:%d\n" % server.server_address[1])
server.serve_forever()
"#;

/// A git smart-HTTP server on a free loopback port serving the bare repositories under
/// `DIR/repos`, wanting basic auth with one user and token. Killed and reaped on drop.
pub struct GitHttp {
    port: u16,
    root: PathBuf,
    log: PathBuf,
    seen: PathBuf,
    ca: PathBuf,
    child: Child,
}

impl GitHttp {
    /// A git smart-HTTP server on loopback serving the bare repositories under `DIR/repos`
    /// (create one with [`GitHttp::bare_repo`]), wanting basic auth `user`/`token` for every
    /// request. Writes its script, `git-http.log` and `seen-credentials.jsonl` into `dir`.
    /// Returns once the server accepts connections.
    pub fn start(dir: &Path, user: &str, token: &str) -> GitHttp {
        require_program("python3", "python3");
        require_program("git", "git");
        assert!(
            !user.contains(['\n', ':']) && !token.contains('\n'),
            "basic auth cannot carry the user {user:?} (no `:` or newline) or a token with a newline"
        );
        let backend = http_backend();
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let dir = std::path::absolute(dir)
            .unwrap_or_else(|e| panic!("cannot make {} absolute: {e}", dir.display()));
        let root = dir.join("repos");
        std::fs::create_dir_all(&root)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
        let script = dir.join("git_http_server.py");
        std::fs::write(&script, SERVER_PY)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", script.display()));
        let port_file = dir.join("git-http.port");
        let _ = std::fs::remove_file(&port_file);
        let seen = dir.join("seen-credentials.jsonl");
        crate::write_file_with_mode(&seen, "", 0o600);
        let log = dir.join("git-http.log");
        let log_out = std::fs::File::create(&log).expect("cannot create the git HTTP server's log");
        let log_err = log_out.try_clone().expect("cannot clone a log handle");

        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        require_program("openssl", "openssl");
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
            ])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("cannot run openssl");
        assert!(
            made.status.success(),
            "openssl could not make the server's certificate: {made:?}"
        );
        let mut cmd = Command::new("python3");
        cmd.arg("-u")
            .arg(&script)
            .arg(&backend)
            .arg(&root)
            .arg(&port_file)
            .arg(&seen)
            .arg(BAO_PORTS.start.to_string())
            .arg(BAO_PORTS.end.to_string())
            .arg(&cert)
            .arg(&key)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(log_out)
            .stderr(log_err);
        hermetic_git(&mut cmd);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the git HTTP server (python3): {e}"));
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(format!("{user}\n{token}\n").as_bytes())
            .expect("cannot hand the git HTTP server its credentials");
        let mut server = GitHttp {
            port: 0,
            root,
            log,
            seen,
            ca: cert,
            child,
        };
        let log = server.log.clone();
        server.port = crate::procs::wait_for_port(
            &mut server.child,
            &port_file,
            "the git HTTP server",
            || std::fs::read_to_string(&log).unwrap_or_default(),
        );
        server
    }

    /// A new bare repository `DIR/repos/NAME` (`git init --bare`, initial branch `main`) that
    /// takes pushes (`http.receivepack true`), served at [`GitHttp::url`]`(name)`.
    pub fn bare_repo(&self, name: &str) -> PathBuf {
        let repo = self.root.join(name);
        git(Command::new("git")
            .args(["init", "--quiet", "--bare", "--initial-branch=main"])
            .arg(&repo));
        git(Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["config", "http.receivepack", "true"]));
        repo
    }

    /// `http://127.0.0.1:PORT/NAME`.
    pub fn url(&self, name: &str) -> String {
        format!("https://127.0.0.1:{}/{name}", self.port)
    }

    /// The server's self-signed certificate, for git's `http.sslCAInfo`.
    pub fn ca_file(&self) -> &Path {
        &self.ca
    }

    /// `127.0.0.1:PORT`, as git's credential protocol says it (`host=`).
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The loopback TCP port it listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every basic-auth user and password that reached the server, right or wrong, in order
    /// (git's first request of a command goes without and gets the 401 that makes it ask its
    /// credential helper, so it is not among them).
    pub fn seen_credentials(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(&self.seen)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("bad line {line:?} in {}: {e}", self.seen.display()))
            })
            .collect()
    }

    /// The server's log (one line a request, and git http-backend's stderr), for a failing
    /// test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `git --exec-path`/git-http-backend.
fn http_backend() -> PathBuf {
    let out = Command::new("git")
        .arg("--exec-path")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `git --exec-path`: {e}"));
    let exec_path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let backend = Path::new(&exec_path).join("git-http-backend");
    assert!(
        out.status.success() && backend.is_file(),
        "this test needs `git http-backend` ({} is missing); install git (Debian/Ubuntu \
         package `git`), as CI does",
        backend.display()
    );
    backend
}

/// Keeps the system's and the caller's git config away from the server and the setup.
fn hermetic_git(cmd: &mut Command) -> &mut Command {
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_CONFIG_PARAMETERS")
        .env_remove("GIT_CONFIG_COUNT")
}

/// Runs a setup git command; panics with its stderr on failure.
fn git(cmd: &mut Command) {
    let out = hermetic_git(cmd)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", crate::world::describe(cmd)));
    assert!(
        out.status.success(),
        "`{}` failed ({}):\n{}",
        crate::world::describe(cmd),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
