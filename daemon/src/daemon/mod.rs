//! The daemon's state and the operations the gRPC surface exposes: scopes from the live
//! config, secrets from the cache or the vaults, leases.

mod agent;
mod broker;
pub mod engine;
pub mod git;
pub mod grant;
pub mod hook_map;
mod vaults;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use secrecy::SecretString;

use crate::config::OnRevoke;
use crate::config::{Config, ConfigError, REPO_FILE, Scope, Value};
pub use crate::host::unix_time;
pub use crate::lease::Selector;
use crate::lease::audit::{AuditLog, Event as AuditEvent, Record};
use crate::lease::confirm::ConfirmError;
use crate::lease::files::LeaseFiles;
use crate::lease::in_flight::InFlight;
use crate::lease::live::{LeaseRecord, Leases};
use crate::lease::procs;
use crate::policy::live_config::{LiveConfig, Refresh, Snapshot};
use crate::policy::tripwire::Tripwires;
use crate::policy::trust::{RepoFile, Trust, TrustStore, find_repo_file};
use crate::store::cache::{Cache, Key, Source};
use crate::store::expiry::Limits;
use crate::store::vault::openbao::leases::{EngineLeases, Held};
use crate::store::vault::{LocalVault, Reference, VaultError, Vaults};
use engine::{Release, ReleaseSender, VaultBatch};

pub struct Daemon {
    pub config: LiveConfig,
    pub cache: Cache,
    pub vaults: Vaults,
    pub leases: Leases,
    /// Grants still waiting for a vault or a confirmation.
    pub in_flight: InFlight,
    pub trust: TrustStore,
    pub audit: Arc<AuditLog>,
    /// The SSH agents of live leases.
    pub agents: crate::lease::agent::Agents,
    /// The HTTPS brokers of live leases with brokered variables.
    pub brokers: crate::lease::broker::Brokers,
    /// Policy changes the user may not have made (see `tripwire`).
    pub tripwires: Tripwires,
    pub files: LeaseFiles,
    /// The shell hook's unlock markers and config stamps (see `hook_map`).
    pub hook_files: hook_map::HookFiles,
    pub local: Arc<LocalVault>,
    /// Dynamic credentials held by live leases, and where ended ones go to be revoked.
    pub engine_leases: EngineLeases,
    engine_revoker: ReleaseSender,
    /// The revoker's end of that channel, until main starts it.
    pub engine_releases: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Release>>>,
    pub started: Instant,
    pub protocol: u32,
}

/// The scope in force for a directory, and the repository file near it (approved or not).
pub struct Effective {
    pub scope: Option<Scope>,
    pub repo: Option<RepoView>,
}

/// A repository file with the user's decision about it and its parse.
pub struct RepoView {
    pub file: RepoFile,
    pub trust: Trust,
    pub parsed: Result<Scope, ConfigError>,
}

impl RepoView {
    /// What to tell a user whose command does not get this file's secrets, if anything.
    pub fn notice(&self) -> Option<String> {
        let (path, dir) = (self.file.path.display(), self.file.dir.display());
        let problem = match &self.parsed {
            Err(e) => format!(" It also has a mistake: {e}."),
            Ok(_) => String::new(),
        };
        match self.trust {
            Trust::Allowed | Trust::Denied => None,
            Trust::New => Some(format!(
                "{path} asks for secrets but is not approved, so it gets none; read it, then `sec allow {dir}`.{problem}"
            )),
            Trust::Changed => Some(format!(
                "{path} changed since you approved it, so it gets no secrets; read it, then `sec allow {dir}`.{problem}"
            )),
        }
    }
}

/// A variable resolved for a lease: its name and the value the child gets.
pub struct Resolved {
    pub name: String,
    pub value: SecretString,
}

/// The variables of a lease, the dynamic credentials minted for them (which whoever
/// resolved them must hand to a lease or revoke), and the scope's SSH keys.
pub struct Resolution {
    pub vars: Vec<Resolved>,
    pub minted: Vec<Held>,
    pub ssh_keys: Vec<crate::lease::agent::AgentKey>,
}

/// Why a lease could not be granted, naming the variable.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("{name}: {source}")]
    Vault { name: String, source: VaultError },
    #[error(
        "--only {name}: the scope for {} has no variable {name}; `sec ls` lists them",
        scope.display()
    )]
    UnknownName { name: String, scope: PathBuf },
    #[error("--only {names}: no scope covers {}", dir.display())]
    NoScope { names: String, dir: PathBuf },
    #[error(
        "`{command}` may not receive the secrets of {}: its `commands` rule allows only {allowed}",
        scope.display()
    )]
    CommandNotAllowed {
        command: String,
        allowed: String,
        scope: PathBuf,
    },
    #[error("{names}: {source}")]
    Confirm { names: String, source: ConfirmError },
    #[error(
        "{} is marked untrusted in config.toml, so `sec exec` runs nothing there; run its code with `sec shield -- CMD`, which keeps your credentials out of its reach",
        dir.display()
    )]
    Untrusted { dir: PathBuf },
    #[error("the lease was revoked by {by} while it was being granted; nothing was handed out")]
    RevokedInFlight { by: String },
    #[error("cannot write the secret files of this lease ({0}); nothing was handed out")]
    Files(std::io::Error),
    #[error("SSH_AUTH_SOCK: {reference}: {reason}")]
    SshKey { reference: String, reason: String },
    #[error("cannot start the lease's SSH agent ({0}); nothing was handed out")]
    Agent(std::io::Error),
    #[error("the scope masks its commands' output, which a command that replaces sec cannot have")]
    InPlaceMasked,
    #[error("cannot start the lease's HTTPS broker ({0}); nothing was handed out")]
    Broker(std::io::Error),
    #[error(
        "the scope for {} brokers no variable, so sec shield has nothing to hand its command; `broker = ...` on a secret in [scope.env] does (see docs/broker.md)",
        scope.display()
    )]
    NothingBrokered { scope: PathBuf },
    #[error("cannot write the audit log {} ({source}); nothing was handed out", path.display())]
    Audit {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Daemon {
    pub fn new(
        config: LiveConfig,
        trust: TrustStore,
        audit: AuditLog,
        files: LeaseFiles,
        local: Arc<LocalVault>,
        protocol: u32,
        policy_state: PathBuf,
    ) -> Self {
        let vaults = Vaults::new(Arc::clone(&local));
        let runtime_dir = files.runtime_dir().to_path_buf();
        let first = config.snapshot().config;
        vaults.openbao.configure(first.vault.as_ref());
        let (engine_revoker, releases) = tokio::sync::mpsc::unbounded_channel();
        local.set_limits(local_limits(&first));
        let askpass = crate::lease::confirm::askpass_program(first.defaults.askpass.as_deref());
        let tripwires = Tripwires::start(policy_state, &first, askpass, &audit);
        let audit_files = sec_proto::paths::generations(audit.path());
        for file in trust.drop_unrecorded_approvals(&audit_files) {
            tripwires.raise(
                &audit,
                &format!(
                    "trust.json approved {} but secd never did (no approval of it in the audit log); the approval is ignored, and `sec allow` there asks you again",
                    file.display()
                ),
            );
        }
        Self {
            tripwires,
            config,
            audit: Arc::new(audit),
            agents: crate::lease::agent::Agents::new(&runtime_dir),
            brokers: crate::lease::broker::Brokers::new(),
            hook_files: hook_map::HookFiles::new(&runtime_dir),
            files,
            local,
            cache: Cache::new(),
            vaults,
            engine_leases: EngineLeases::default(),
            engine_revoker,
            engine_releases: std::sync::Mutex::new(Some(releases)),
            leases: Leases::new(),
            in_flight: InFlight::default(),
            trust,
            started: Instant::now(),
            protocol,
        }
    }

    /// The config in force, re-read first if the file changed. Entries cached for scopes or
    /// references that a reload removed are dropped.
    pub fn current_config(&self) -> Snapshot {
        let before = self.config.snapshot().config;
        if let Refresh::Reloaded(config) = self.config.refresh_if_changed() {
            self.tripwires.config_changed(&before, &config, &self.audit);
            self.local.set_limits(local_limits(&config));
            self.vaults.openbao.configure(config.vault.as_ref());
            // Repository-file scopes are not in config.toml; their entries are left to expire.
            let dropped = self.cache.revoke(|key| {
                let used = config.scopes.iter().any(|s| {
                    s.dir == key.scope
                        && s.env
                            .values()
                            .any(|v| *v == Value::Secret(key.reference.clone()))
                });
                !used && !key.scope.join(REPO_FILE).is_file()
            });
            if dropped > 0 {
                tracing::info!(
                    dropped,
                    "dropped cached secrets the new config no longer uses"
                );
            }
        }
        self.config.snapshot()
    }

    /// The scope in force for `dir`: the deepest of the user's config scope and an approved
    /// repository file; when both are for the same directory they merge, and the user's
    /// variables and settings win.
    pub fn effective(&self, config: &Config, dir: &Path) -> Effective {
        let repo = find_repo_file(dir).map(|file| RepoView {
            trust: self.trust.trust_of(&file),
            parsed: config.parse_repo_file(&file.text, &file.path, file.dir.clone()),
            file,
        });
        let approved = repo
            .as_ref()
            .filter(|r| r.trust == Trust::Allowed)
            .and_then(|r| r.parsed.as_ref().ok());
        let scope = match (config.scope_for(dir), approved) {
            (Some(user), Some(repo)) if user.dir == repo.dir => {
                let mut merged = user.clone();
                for (name, value) in &repo.env {
                    if merged.env.contains_key(name) {
                        continue;
                    }
                    merged.env.insert(name.clone(), value.clone());
                    if let Some(file) = repo.files.get(name) {
                        merged.files.insert(name.clone(), file.clone());
                    }
                    if repo.confirm.contains(name) {
                        merged.confirm.insert(name.clone());
                    }
                }
                Some(merged)
            }
            (Some(user), Some(repo)) => {
                let repo_deeper = repo.dir.components().count() > user.dir.components().count();
                Some(if repo_deeper {
                    repo.clone()
                } else {
                    user.clone()
                })
            }
            (user, repo) => user.or(repo).cloned(),
        };
        if let Some(view) = repo.as_ref().filter(|r| r.trust != Trust::Allowed) {
            self.forget_inert(&view.file.dir, scope.as_ref());
        }
        Effective { scope, repo }
    }

    /// A repository file that is no longer approved (edited, or denied) gives nothing: the
    /// values cached for it go too, except what the scope in force still uses.
    fn forget_inert(&self, repo_dir: &Path, in_force: Option<&Scope>) {
        let used = |reference: &Reference| {
            in_force.is_some_and(|scope| {
                scope
                    .env
                    .values()
                    .any(|v| matches!(v, Value::Secret(r) if r == reference))
            })
        };
        let dropped = self
            .cache
            .revoke(|k| k.scope == repo_dir && !used(&k.reference));
        if dropped > 0 {
            tracing::info!(scope = %repo_dir.display(), dropped, "repository file no longer approved; its cached secrets dropped");
            self.audit.note(
                AuditEvent::Revoke,
                &Record {
                    scope: repo_dir.display().to_string(),
                    reason: format!(
                        "{REPO_FILE} is no longer approved: {} dropped",
                        sec_proto::display::count(dropped, "cached secret", "cached secrets")
                    ),
                    ..Default::default()
                },
            );
        }
    }

    /// Looks up (or serves from cache) the values of `names` (all of the scope's when
    /// empty), in name order, and with `with_agent` the scope's SSH keys. Dynamic
    /// credentials minted before a later variable failed are revoked.
    pub async fn resolve_vars(
        &self,
        scope: &Scope,
        names: &[String],
        with_agent: bool,
    ) -> Result<Resolution, LeaseError> {
        let mut vars = Vec::with_capacity(scope.env.len());
        let mut batch = VaultBatch::default();
        for (name, value) in &scope.env {
            if !names.is_empty() && !names.contains(name) {
                continue;
            }
            let value = match value {
                Value::Literal(text) => Ok(SecretString::from(text.as_str())),
                Value::Secret(reference) => self.secret(scope, reference, &mut batch).await,
            };
            match value {
                Ok(value) => vars.push(Resolved {
                    name: name.clone(),
                    value,
                }),
                Err(source) => {
                    self.revoke_minted("", batch.minted, "the lease was refused");
                    return Err(LeaseError::Vault {
                        name: name.clone(),
                        source,
                    });
                }
            }
        }
        let ssh_keys = if with_agent {
            match self.ssh_keys(scope).await {
                Ok(keys) => keys,
                Err(error) => {
                    self.revoke_minted("", batch.minted, "the lease was refused");
                    return Err(error);
                }
            }
        } else {
            Vec::new()
        };
        // A grant served from the cache changes no marker: `sec exec`'s warm path does no
        // marker I/O (housekeeping catches literal-only scopes within a second).
        if batch.looked_up {
            self.sync_hook_files();
        }
        Ok(Resolution {
            vars,
            minted: batch.minted,
            ssh_keys,
        })
    }

    async fn secret(
        &self,
        scope: &Scope,
        reference: &Reference,
        batch: &mut VaultBatch,
    ) -> Result<SecretString, VaultError> {
        let key = Key {
            scope: scope.dir.clone(),
            reference: reference.clone(),
        };
        let limits = Limits {
            ttl: scope.ttl,
            max_ttl: scope.max_ttl,
        };
        let started = Instant::now();
        let (value, source) = match reference {
            Reference::Vault(r) if self.vaults.openbao.is_dynamic(r) => {
                (batch.value(&self.vaults, r).await?.0, Source::Vault)
            }
            Reference::Vault(r) => {
                self.cache
                    .get_or_fetch_unless(&key, limits, || batch.value(&self.vaults, r))
                    .await?
            }
            _ => {
                self.cache
                    .get_or_fetch(&key, limits, || self.vaults.get(reference))
                    .await?
            }
        };
        match source {
            Source::Vault => {
                batch.looked_up = true;
                tracing::info!(reference = %reference, elapsed = ?started.elapsed(), "looked up in the vault")
            }
            Source::Cache => {
                tracing::debug!(reference = %reference, elapsed = ?started.elapsed(), "served from the cache")
            }
        }
        Ok(value)
    }

    /// Whether every secret of `scope` is cached right now (a dynamic credential, minted
    /// per command, counts once the engine answered a read of it).
    pub fn scope_unlocked(&self, scope: &Scope) -> bool {
        scope.env.values().all(|v| match v {
            Value::Literal(_) => true,
            Value::Secret(Reference::Vault(r)) if self.vaults.openbao.is_dynamic(r) => true,
            Value::Secret(reference) => self.is_cached(&scope.dir, reference),
        }) && scope
            .ssh_keys
            .iter()
            .all(|k| self.is_cached(&scope.dir, &k.reference))
    }

    pub fn is_cached(&self, scope: &Path, reference: &Reference) -> bool {
        self.cache.is_cached(&Key {
            scope: scope.to_path_buf(),
            reference: reference.clone(),
        })
    }

    /// Revokes what `selector` covers: cached values, live leases (their clients are told
    /// why; `by` says who asked) and grants in progress; revoking everything also locks the
    /// local vault. Recorded in the audit log.
    pub fn revoke(&self, selector: &Selector, by: &str, requester: Option<u32>) -> Revoked {
        let stopped = self.in_flight.revoke(selector, by);
        let reason = format!("the lease was revoked by {by}");
        let vault_locked = matches!(selector, Selector::All) && self.local.lock();
        let end = |matches: &dyn Fn(&LeaseRecord) -> bool| {
            self.end_leases(matches, &reason, AuditEvent::Revoke)
        };
        let (dropped, ended) = match selector {
            Selector::All => (self.cache.revoke(|_| true), end(&|_| true)),
            Selector::Scope(dir) => (
                self.cache.revoke_scope(dir),
                end(&|l| l.scope.as_ref() == Some(dir)),
            ),
            Selector::Lease(id) => (0, end(&|l| &l.id == id)),
            Selector::Reference(r) => (
                self.cache.revoke(|k| &k.reference == r),
                end(&|l| l.references.contains(r)),
            ),
        };
        let (scope, references) = match selector {
            Selector::Scope(dir) => (dir.display().to_string(), Vec::new()),
            Selector::Reference(r) => (String::new(), vec![r.to_string()]),
            Selector::All | Selector::Lease(_) => (String::new(), Vec::new()),
        };
        let summary = Record {
            scope,
            references,
            pid: requester,
            reason: format!(
                "{by}: {} dropped, {} ended, {} in progress refused{}",
                sec_proto::display::count(dropped, "cached secret", "cached secrets"),
                sec_proto::display::count(ended.len(), "lease", "leases"),
                sec_proto::display::count(stopped, "grant", "grants"),
                if vault_locked {
                    ", the local vault locked"
                } else {
                    ""
                }
            ),
            ..Default::default()
        };
        self.audit.note(AuditEvent::Revoke, &summary);
        tracing::info!(
            secrets = dropped,
            leases = ended.len(),
            grants = stopped,
            "revoked by {by}"
        );
        self.sync_hook_files();
        Revoked {
            dropped,
            ended: ended.len(),
            refused: stopped,
            vault_locked,
        }
    }

    /// Ends the selected leases: their clients are told `reason`, their secret files go,
    /// each is recorded in the audit log as `event` (revoke, or expire for max_lease), and
    /// with `on_revoke = "terminate"` every process that holds their secrets is stopped.
    pub fn end_leases(
        &self,
        matches: impl Fn(&LeaseRecord) -> bool,
        reason: &str,
        event: AuditEvent,
    ) -> Vec<LeaseRecord> {
        let ended = self.leases.end(matches, reason);
        for (lease, heard) in &ended {
            self.lease_gone(&lease.id, reason);
            self.audit.note(event, &lease.audit_record(reason));
            if lease.on_revoke == OnRevoke::Terminate {
                // A `sec` that heard the notice stops its own child (it holds the child's
                // handle); the rest is ours.
                let skip = if *heard { lease.child_pid } else { 0 };
                terminate_lease_processes(lease, *heard, skip);
            }
        }
        ended.into_iter().map(|(lease, _)| lease).collect()
    }

    /// What a lease leaves behind goes when it ends, by any route: its secret files, its
    /// SSH agent, its dynamic credentials (revoked in the engine).
    pub fn lease_gone(&self, id: &str, reason: &str) {
        self.files.remove(id);
        self.agents.stop(id);
        self.brokers.stop(id);
        self.release_engine_leases(id, reason);
    }

    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }
}

/// How long the processes of a revoked lease have between SIGTERM and SIGKILL.
pub const TERMINATE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The live processes of `lease`: what secd knows of them and, while its `sec` still holds
/// it (`held`), everything below that `sec`; with `by_marker`, also every process with the
/// lease's marker.
pub fn lease_processes(lease: &LeaseRecord, held: bool, by_marker: bool) -> Vec<procs::Proc> {
    let mut roots = lease.known.clone();
    if held {
        roots.extend(lease.holder);
    }
    // A holding `sec` is not the lease's; a holder that became the command is.
    let exclude = if lease.in_place { None } else { lease.holder };
    procs::find(&lease.id, &roots, exclude, by_marker, lease.holder)
}

/// SIGTERM to every process of the lease but `skip`, then SIGKILL to those still running
/// (and any new one with its marker) after [`TERMINATE_GRACE`].
fn terminate_lease_processes(lease: &LeaseRecord, held: bool, skip: u32) {
    use nix::sys::signal::Signal;
    let pick = move |procs: Vec<procs::Proc>| -> Vec<procs::Proc> {
        procs.into_iter().filter(|p| p.pid != skip as i32).collect()
    };
    let procs = pick(lease_processes(lease, held, true));
    if procs.is_empty() {
        return;
    }
    tracing::info!(lease = %lease.id, processes = procs.len(), "stopping the lease's processes");
    procs::signal(&procs, Signal::SIGTERM);
    let lease = lease.clone();
    tokio::spawn(async move {
        tokio::time::sleep(TERMINATE_GRACE).await;
        let mut late = pick(lease_processes(&lease, false, true));
        late.extend(procs);
        procs::signal(&late, Signal::SIGKILL);
    });
}

/// The local vault's TTLs as cache-style limits.
fn local_limits(config: &Config) -> Limits {
    Limits {
        ttl: config.local.ttl,
        max_ttl: config.local.max_ttl,
    }
}

/// What a revocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked {
    pub dropped: usize,
    pub ended: usize,
    /// Grants in progress that were refused.
    pub refused: usize,
    /// Whether an unlocked local vault was locked.
    pub vault_locked: bool,
}
