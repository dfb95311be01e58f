//! The HTTPS credential broker of a lease (issue 17): a brokered variable's command gets a
//! placeholder instead of the real token, and `HTTPS_PROXY` pointing here. The broker is an
//! HTTPS CONNECT proxy on loopback that answers only with the lease's proxy password; it
//! ends the command's TLS with a certificate from a CA made for the lease, forwards each
//! request to the host the command named in CONNECT (verified against the system's roots
//! and the rule's `ca_cert`), and puts a real value only into requests a rule of that
//! variable allows (host, method, path prefix). A placeholder anywhere else is refused
//! (403, recorded); the real value is scrubbed back into the placeholder in the answers of
//! the requests it went into; redirects are passed on, never followed. Without a rule that
//! names it, a tunnel to a loopback, private or link-local address is refused, so the
//! broker is no way into the host's own services.
//!
//! What it does not protect: a command that reads the value from an allowed host's answer in
//! a form the broker does not know (compressed despite no `Accept-Encoding`, encoded,
//! split), or that makes an allowed host reflect it somewhere else. Values go only into
//! headers: a placeholder in the URL or the body of an allowed request stays a placeholder
//! (bodies are only scanned for placeholders that may not go there). Copies of a value that
//! hyper and rustls make while sending it are not zeroized; the broker's own are, when the
//! lease's tasks end (`stop`).

mod body;
mod ca;
mod proxy;
mod rewrite;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinSet;

use crate::lease::audit::AuditLog;

/// A brokered variable of a lease: its name, its real value, and where the value may go.
pub struct BrokerVar {
    /// The environment variable's name (named in refusals and the audit log).
    pub name: String,
    /// The real value, which only the broker holds.
    pub value: SecretString,
    /// The placeholder's shape and the rules that say where the value may go.
    pub brokered: sec_proto::config::Brokered,
}

/// Who the broker works for, named in its audit records.
pub struct BrokerContext {
    /// The lease id; `Brokers::stop` takes it.
    pub lease: String,
    /// The scope directory.
    pub scope: String,
    /// The lease's command line.
    pub command: Vec<String>,
}

/// What the lease's command gets. Debug prints neither the proxy password nor a value.
pub struct Started {
    /// `127.0.0.1:PORT`
    pub addr: SocketAddr,
    /// `http://sec:TOKEN@127.0.0.1:PORT` for `HTTPS_PROXY`; TOKEN is random per lease.
    pub proxy_url: SecretString,
    /// The lease CA's certificate (PEM), for the command to trust.
    pub ca_pem: String,
    /// (variable name, placeholder), in the order of the variables.
    pub placeholders: Vec<(String, String)>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("addr", &self.addr)
            .field(
                "proxy_url",
                &format_args!("http://sec:[password]@{}", self.addr),
            )
            .field("ca_pem", &format_args!("[{} bytes]", self.ca_pem.len()))
            .field("placeholders", &self.placeholders)
            .finish()
    }
}

/// The brokers of live leases.
pub struct Brokers {
    running: Mutex<HashMap<String, Running>>,
}

/// Every task of one lease's broker: the listener and each tunnel and upstream connection.
/// Dropping the set aborts them all, and with them the lease's values.
type Tasks = Arc<TaskSet>;
type TaskSet = Mutex<JoinSet<()>>;

struct Running {
    tasks: Tasks,
    /// For tests to see that `stop` let go of the values.
    #[cfg(test)]
    lease: std::sync::Weak<proxy::Lease>,
}

impl Default for Brokers {
    fn default() -> Self {
        Self::new()
    }
}

impl Brokers {
    /// No broker yet.
    pub fn new() -> Self {
        Self {
            running: Mutex::default(),
        }
    }

    /// Starts the broker of a lease on `127.0.0.1` (a port of its own); a broker the lease
    /// already had is stopped. Needs a tokio runtime.
    pub fn start(
        &self,
        vars: Vec<BrokerVar>,
        context: BrokerContext,
        audit: Arc<AuditLog>,
    ) -> std::io::Result<Started> {
        let mut placeholders: Vec<(String, String)> = Vec::with_capacity(vars.len());
        let mut broker_vars = Vec::with_capacity(vars.len());
        for var in vars {
            let placeholder = loop {
                let candidate = placeholder(
                    var.brokered.shape.as_deref(),
                    var.value.expose_secret().len(),
                )?;
                // Unique, and no value's substring: a swap must never be ambiguous.
                if !placeholders.iter().any(|(_, p)| *p == candidate)
                    && !var.value.expose_secret().contains(&candidate)
                {
                    break candidate;
                }
            };
            placeholders.push((var.name.clone(), placeholder.clone()));
            broker_vars.push(rewrite::Var {
                name: var.name,
                value: var.value,
                placeholder,
                brokered: var.brokered,
            });
        }
        let token = random_alphanumeric(32)?;
        let ca = ca::LeaseCa::new(&context.lease).map_err(std::io::Error::other)?;
        let ca_pem = ca.pem().to_string();
        let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let proxy_url = SecretString::from(format!("http://sec:{token}@{addr}"));
        let lease_id = context.lease.clone();
        let lease = Arc::new(proxy::Lease::new(
            context,
            broker_vars,
            SecretString::from(token),
            ca,
            audit,
        ));
        let tasks: Tasks = Arc::default();
        let weak = Arc::downgrade(&tasks);
        #[cfg(test)]
        let lease_held = Arc::downgrade(&lease);
        tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .spawn(proxy::accept(listener, lease, weak));
        let previous = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                lease_id,
                Running {
                    tasks,
                    #[cfg(test)]
                    lease: lease_held,
                },
            );
        if let Some(previous) = previous {
            previous.abort();
        }
        Ok(Started {
            addr,
            proxy_url,
            ca_pem,
            placeholders,
        })
    }

    /// Stops everything of that lease: the listener AND every open tunnel/connection task,
    /// so the real values are dropped (SecretString zeroizes) right away.
    pub fn stop(&self, lease: &str) {
        let stopped = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(lease);
        if let Some(running) = stopped {
            running.abort();
        }
    }
}

impl Brokers {
    #[cfg(test)]
    fn held(&self, lease: &str) -> std::sync::Weak<proxy::Lease> {
        let running = self.running.lock().unwrap();
        running[lease].lease.clone()
    }
}

impl Running {
    fn abort(self) {
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .abort_all();
    }
}

/// The default start of a placeholder without a `shape`.
const DEFAULT_SHAPE: &str = "sec_brokered_";
/// A placeholder has at least this many random characters.
const MIN_RANDOM: usize = 20;
/// Random characters of a placeholder for a short value.
const SHORT_RANDOM: usize = 32;

/// A placeholder for a value `value_len` bytes long: `shape` then random letters and
/// digits; as long as the value when the value is long enough, so swapping one for the other
/// never changes a Content-Length.
fn placeholder(shape: Option<&str>, value_len: usize) -> std::io::Result<String> {
    let shape = shape.unwrap_or(DEFAULT_SHAPE);
    let random = if value_len >= shape.len() + MIN_RANDOM {
        value_len - shape.len()
    } else {
        SHORT_RANDOM
    };
    Ok(format!("{shape}{}", random_alphanumeric(random)?))
}

/// `len` random characters of `[A-Za-z0-9]`.
fn random_alphanumeric(len: usize) -> std::io::Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    let mut bytes = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
        // Only bytes below 248 (4 × 62), so every character is equally likely.
        for b in bytes.iter().filter(|b| **b < 248) {
            if out.len() == len {
                break;
            }
            out.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
