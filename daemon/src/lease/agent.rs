//! An SSH agent per lease: a socket secd serves while the lease lives, offering exactly the
//! scope's keys (`ssh_keys`) to the lease's own processes. A connection from another user,
//! or from a process that is not below the lease's `sec`, gets an agent with no keys that
//! refuses to sign. A key with `confirm` asks
//! the user (askpass) before every signature, naming the key, the command and the server's
//! host key when ssh says which (`session-bind@openssh.com`). The socket and its private
//! directory go when the lease ends, and with them every open connection. The protocol
//! (draft-miller-ssh-agent) is the part an agent that lists and signs needs, in
//! `agent_wire`; everything else gets SSH_AGENT_FAILURE. Keys and signatures are `ssh-key`'s
//! (and `rsa`'s for the SHA-2 variants).

use std::collections::HashMap;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ssh_key::private::KeypairData;
use ssh_key::{Algorithm, HashAlg, PrivateKey, Signature};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;

use crate::lease::agent_wire::{self as wire, Request, SignRequest};
use crate::lease::audit::{AuditLog, Event, Record};
use crate::lease::{confirm, procs};

/// A key the agent offers, with where it came from.
pub struct AgentKey {
    pub key: PrivateKey,
    /// The sec reference it was read from (named in prompts and the audit log).
    pub reference: String,
    pub confirm: bool,
}

impl std::fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentKey")
            .field("reference", &self.reference)
            .field("key", &"[private key]")
            .finish()
    }
}

/// What the agent of one lease knows about it.
pub struct LeaseContext {
    pub lease: String,
    /// The `sec` that holds the lease; its descendants may use the agent.
    pub holder: Option<procs::Proc>,
    /// The holder became the command (`sec exec`'s lean path): it may use the agent too.
    pub in_place: bool,
    pub command: String,
    pub dir: PathBuf,
    pub askpass: Option<String>,
    pub confirm_timeout: Duration,
}

/// The agents of live leases.
pub struct Agents {
    root: PathBuf,
    running: Mutex<HashMap<String, Running>>,
}

struct Running {
    task: tokio::task::JoinHandle<()>,
    dir: PathBuf,
}

impl Agents {
    /// Agents' sockets go below `runtime_dir/agents/`.
    pub fn new(runtime_dir: &Path) -> Self {
        // Sockets a crashed secd left behind; nobody serves them any more.
        let _ = std::fs::remove_dir_all(runtime_dir.join("agents"));
        Self {
            root: runtime_dir.join("agents"),
            running: Mutex::default(),
        }
    }

    /// Starts the agent of a lease; returns its socket's path (for `SSH_AUTH_SOCK`).
    pub fn start(
        &self,
        keys: Vec<AgentKey>,
        context: LeaseContext,
        audit: Arc<AuditLog>,
    ) -> std::io::Result<PathBuf> {
        sec_proto::paths::create_private_dir_all(&self.root)?;
        let dir = self.root.join(&context.lease);
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let socket = dir.join("agent.sock");
        let listener = UnixListener::bind(&socket)?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
        let lease = context.lease.clone();
        let agent = LeaseAgent {
            keys: Arc::new(keys),
            context: Arc::new(context),
            audit,
        };
        let task = tokio::spawn(agent.serve(listener));
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.insert(lease, Running { task, dir });
        Ok(socket)
    }

    /// Stops the agent of a lease that ended: no new connection, the socket gone.
    pub fn stop(&self, lease: &str) {
        let stopped = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(lease);
        if let Some(running) = stopped {
            running.task.abort();
            let _ = std::fs::remove_dir_all(&running.dir);
        }
    }

    pub fn stop_all(&self) {
        let leases: Vec<String> = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        for lease in leases {
            self.stop(&lease);
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

struct LeaseAgent {
    keys: Arc<Vec<AgentKey>>,
    context: Arc<LeaseContext>,
    audit: Arc<AuditLog>,
}

impl LeaseAgent {
    /// Accepts connections until the task is aborted; each connection's task belongs to the
    /// set, so aborting this task ends every open connection too.
    async fn serve(self, listener: UnixListener) {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let session = self.new_session(&stream);
                        connections.spawn(session.serve(stream));
                    }
                    Err(e) => {
                        tracing::warn!("an SSH agent stopped: {e}");
                        return;
                    }
                },
                Some(_) = connections.join_next() => {}
            }
        }
    }

    fn new_session(&self, socket: &UnixStream) -> LeaseSession {
        let peer = socket.peer_cred().ok();
        let allowed = peer.is_some_and(|p| {
            p.uid() == nix::unistd::getuid().as_raw()
                && p.pid().is_some_and(|pid| in_lease(&self.context, pid))
        });
        if !allowed {
            tracing::warn!(
                lease = %self.context.lease,
                pid = ?peer.and_then(|p| p.pid()),
                "refused a connection to a lease's SSH agent from outside the lease"
            );
        }
        LeaseSession {
            keys: if allowed {
                Arc::clone(&self.keys)
            } else {
                Arc::new(Vec::new())
            },
            context: Arc::clone(&self.context),
            audit: Arc::clone(&self.audit),
            pid: peer.and_then(|p| p.pid()),
            host_key: None,
        }
    }
}

/// Whether `pid` is below the lease's `sec` (a subreaper, so processes that left the
/// command's tree stay below it). Not the `SEC_LEASE` marker: any process of the user can
/// put that in its own environment, and lease ids are in `sec status`.
fn in_lease(context: &LeaseContext, pid: i32) -> bool {
    let Some(holder) = context.holder.filter(procs::Proc::alive) else {
        return false;
    };
    if context.in_place && pid == holder.pid {
        return true;
    }
    // Up the parent chain (a pid's parent started before it, so the chain ends).
    let mut current = procs::parent(pid);
    while let Some(p) = current {
        if p == holder.pid {
            return true;
        }
        current = procs::parent(p);
    }
    false
}

struct LeaseSession {
    keys: Arc<Vec<AgentKey>>,
    context: Arc<LeaseContext>,
    audit: Arc<AuditLog>,
    pid: Option<i32>,
    /// The server's host key fingerprint, once ssh bound the connection to a session.
    host_key: Option<String>,
}

impl LeaseSession {
    /// Answers requests until the client closes the connection or sends a malformed frame.
    async fn serve(mut self, mut stream: UnixStream) {
        while let Ok(Some(frame)) = wire::read_frame(&mut stream).await {
            let reply = match wire::parse(&frame) {
                Some(Request::Identities) => {
                    wire::identities_answer(self.keys.iter().filter_map(|k| {
                        Some((k.key.public_key().to_bytes().ok()?, k.key.comment()))
                    }))
                }
                Some(Request::Sign(request)) => match self.sign(&request).await {
                    Ok(signature) => wire::sign_response(&signature),
                    Err(why) => {
                        tracing::info!(lease = %self.context.lease, "SSH agent: no signature: {why}");
                        wire::failure()
                    }
                },
                Some(Request::SessionBind { host_key }) => {
                    match ssh_key::PublicKey::from_bytes(&host_key) {
                        Ok(key) => {
                            self.host_key = Some(key.fingerprint(HashAlg::Sha256).to_string());
                            wire::success()
                        }
                        Err(_) => wire::failure(),
                    }
                }
                Some(Request::Other) | None => wire::failure(),
            };
            if wire::write_frame(&mut stream, &reply).await.is_err() {
                return;
            }
        }
    }

    async fn sign(&mut self, request: &SignRequest) -> Result<Signature, String> {
        let Some(key) = self.keys.iter().find(|k| {
            k.key
                .public_key()
                .to_bytes()
                .is_ok_and(|blob| blob == request.key_blob)
        }) else {
            return Err("this agent holds no such key".into());
        };
        let fingerprint = key.key.fingerprint(HashAlg::Sha256).to_string();
        let host = self
            .host_key
            .as_deref()
            .map(|h| format!(" for the server with host key {h}"))
            .unwrap_or_default();
        if key.confirm {
            let prompt = format!(
                "sec: allow `{}` (pid {}) in {} to sign with the SSH key {} ({fingerprint}){host}?",
                self.context.command,
                self.pid.unwrap_or_default(),
                self.context.dir.display(),
                key.reference,
            );
            let program = confirm::askpass_program(self.context.askpass.as_deref());
            if let Err(e) =
                confirm::confirm(program.as_deref(), &prompt, self.context.confirm_timeout).await
            {
                self.record(key, &format!("signature refused: {e}"), Event::Deny);
                return Err("the user did not confirm this signature".into());
            }
        }
        let signature = sign(&key.key, request).map_err(|e| e.to_string())?;
        self.record(key, &format!("signed{host}"), Event::Sign);
        Ok(signature)
    }
}

impl LeaseSession {
    fn record(&self, key: &AgentKey, reason: &str, event: Event) {
        self.audit.note(
            event,
            &Record {
                scope: self.context.dir.display().to_string(),
                references: vec![key.reference.clone()],
                pid: self.pid.map(|p| p as u32),
                lease: self.context.lease.clone(),
                reason: format!("SSH agent: {reason}"),
                ..Default::default()
            },
        );
    }
}

/// Signs as the request asks: RSA keys with SHA-512 or SHA-256 as its flags say (never
/// SHA-1), other keys with their own algorithm.
fn sign(key: &PrivateKey, request: &SignRequest) -> Result<Signature, SignError> {
    use signature::{SignatureEncoding, Signer};
    let data = &request.data;
    match key.key_data() {
        KeypairData::Rsa(rsa_key) => {
            let private = rsa_private(rsa_key)?;
            let (hash, bytes) = if request.flags & wire::RSA_SHA2_512 != 0 {
                let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha512>::new(private);
                (HashAlg::Sha512, signer.try_sign(data)?.to_vec())
            } else if request.flags & wire::RSA_SHA2_256 != 0 {
                let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(private);
                (HashAlg::Sha256, signer.try_sign(data)?.to_vec())
            } else {
                return Err(SignError::Sha1);
            };
            Ok(Signature::new(Algorithm::Rsa { hash: Some(hash) }, bytes)?)
        }
        _ => Ok(key.try_sign(data)?),
    }
}

/// The RSA private key of an SSH key pair. Not ssh-key 0.6.7's `TryFrom`, which passes the
/// prime `p` twice (for `p` and `q`), so that every real key fails rsa's validation.
fn rsa_private(key: &ssh_key::private::RsaKeypair) -> Result<rsa::RsaPrivateKey, SignError> {
    let number = |m: &ssh_key::Mpint| {
        m.as_positive_bytes()
            .map(rsa::BigUint::from_bytes_be)
            .ok_or(SignError::Key)
    };
    rsa::RsaPrivateKey::from_components(
        number(&key.public.n)?,
        number(&key.public.e)?,
        number(&key.private.d)?,
        vec![number(&key.private.p)?, number(&key.private.q)?],
    )
    .map_err(|_| SignError::Key)
}

#[derive(Debug, thiserror::Error)]
enum SignError {
    #[error("the key cannot be used")]
    Key,
    #[error(
        "RSA signatures with SHA-1 (ssh-rsa) are refused; use a client that asks for rsa-sha2-256 or -512"
    )]
    Sha1,
    #[error("signing failed")]
    Signature(#[from] signature::Error),
    #[error("signing failed: {0}")]
    Encoding(#[from] ssh_key::Error),
}
