//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The hidden command the `sec` front runs (as `sec-cli`) when a lean lease's command could
/// not be started (client/src/front.rs).
pub const LEASE_NOT_STARTED: &str = "lease-not-started";

/// Per-directory secrets: your tokens stay in the vault and in secd's memory, and reach only
/// the command that needs them.
#[derive(Parser)]
#[command(name = "sec", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a command with the current directory's secrets in its environment.
    ///
    /// Exit status: the command's own; 128+N when a signal N killed it; 125 when sec itself
    /// failed (nothing was started); 126 when the command cannot run; 127 when not found.
    Exec {
        /// Only pass this variable (repeatable).
        #[arg(long = "only", value_name = "NAME")]
        only: Vec<String>,
        /// Lease the secrets of DIR's scope instead of the current directory's; the command
        /// still runs here (as `direnv exec DIR`).
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
        /// Show the command's output with every leased value masked (on a terminal the
        /// command gets a pseudo-terminal, so colours and line editing stay).
        #[arg(long)]
        mask: bool,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
        argv: Vec<String>,
    },
    /// Run a command you do not trust where your credentials do not exist.
    ///
    /// Default-deny: the command sees an empty home held in memory with only the project
    /// (writable) and toolchains and caches (read-only) in it, private /tmp, /run and /dev,
    /// the rest of the system read-only, and only harmless environment variables. It runs in
    /// its own PID namespace (nothing it starts outlives it), without inherited descriptors,
    /// kernel keyring or a way to type into the terminal; git's config and hooks, .envrc and
    /// .sec.toml in the project stay as they were. config.toml's [shield] section adds to
    /// what passes. `--show` prints the whole layout.
    ///
    /// Exit status as for `sec exec`; 125 also when the shield cannot be built here or the
    /// config cannot be read (nothing is then run).
    Shield(crate::shield::ShieldArgs),
    /// Show the scope that applies to a directory: variable names and references, no values.
    Ls {
        /// Directory (default: the current one).
        dir: Option<PathBuf>,
        /// Print JSON instead of text (names and references, never a value).
        #[arg(long)]
        json: bool,
        /// List the names stored in the local vault instead (never a value; unlocks it).
        #[arg(long, conflicts_with = "dir")]
        local: bool,
        /// Read the local vault's passphrase from this file descriptor.
        #[arg(long, value_name = "N", requires = "local")]
        passphrase_fd: Option<i32>,
    },
    /// Show the daemon, its cached scopes with their time left, and live leases.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Forget cached secrets and end leases now (without a selector: everything).
    Revoke {
        /// Only the scope that covers this directory.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["reference", "lease_id"])]
        dir: Option<PathBuf>,
        /// Only this secret reference, wherever it is cached.
        #[arg(long = "ref", value_name = "REF", conflicts_with = "lease_id")]
        reference: Option<String>,
        /// Only this lease (ids are in `sec status`).
        lease_id: Option<String>,
    },
    /// Store a secret in its vault (the value comes from stdin, or a no-echo prompt).
    ///
    /// Without a scheme (`sec set pypi/coveragepy`) the secret goes to the default store:
    /// the OS keychain where a persistent one answers, else the local vault (`sec status`
    /// says which and why).
    Set {
        /// Where, e.g. keyring:pypi/coveragepy, local:pypi/coveragepy, or just a name.
        reference: String,
        /// Read the local vault's passphrase from this file descriptor.
        #[arg(long, value_name = "N")]
        passphrase_fd: Option<i32>,
        /// Replace a value that is already there without asking.
        #[arg(long, short = 'f')]
        force: bool,
    },
    /// Delete a secret from its vault.
    Rm {
        /// The secret to delete, e.g. keyring:pypi/coveragepy or local:pypi/coveragepy
        reference: String,
    },
    /// Approve the repository file (.sec.toml) at or above DIR, exactly as it is now.
    Allow {
        /// Where to look for the repository file (default: the current directory)
        dir: Option<PathBuf>,
    },
    /// Refuse the repository file at or above DIR; the shell hook stops asking about it.
    Deny {
        /// Where to look for the repository file (default: the current directory)
        dir: Option<PathBuf>,
    },
    /// Look the secrets of DIR's scope up now, so later commands are served from memory.
    Unlock {
        /// A directory of the scope to unlock (default: the current one)
        dir: Option<PathBuf>,
        /// Unlock the local vault instead (its passphrase from the terminal, askpass, or --passphrase-fd).
        #[arg(long, conflicts_with = "dir")]
        local: bool,
        /// Read the local vault's passphrase from this file descriptor.
        #[arg(long, value_name = "N", requires = "local")]
        passphrase_fd: Option<i32>,
    },
    /// Change the local vault's passphrase (re-encrypts it atomically).
    Passwd {
        /// The local vault (the only one sec holds a passphrase for).
        #[arg(long, required = true)]
        local: bool,
        /// Read two lines from this file descriptor: the old passphrase, then the new one.
        #[arg(long, value_name = "N")]
        passphrase_fd: Option<i32>,
    },
    /// Print the shell hook: eval "$(sec hook bash)" in ~/.bashrc (zsh alike; fish: `sec hook fish | source`).
    Hook { shell: Shell },
    /// Print shell completions: source <(sec completions bash) (zsh alike; fish: `sec completions fish | source`).
    Completions {
        /// The shell to complete in
        shell: Shell,
    },
    /// Write the manual pages (sec.1 and one per subcommand) into DIR.
    Man {
        /// Where to write them, e.g. ~/.local/share/man/man1
        dir: PathBuf,
    },
    /// A git credential helper: answers git from the `[scope.git]` of git's directory.
    ///
    /// Install: `git config --global credential.helper '!sec git-credential'`. For `get`,
    /// prints `username=` and `password=` when the scope maps the host (and path), through
    /// the same rules as a lease (commands, confirm, audit); otherwise nothing, so git asks
    /// elsewhere. `store` writes to the vault only for an entry with `store = true`; `erase`
    /// drops the cached copy and leaves the vault alone.
    GitCredential {
        /// get, store or erase (git passes it).
        action: String,
    },
    /// `sec shield`'s helper that holds a brokered lease and carries the command's
    /// connections to the broker (see client/src/shield/broker.rs).
    #[command(hide = true, name = "shield-link")]
    ShieldLink,
    /// What the `sec` front runs when a lean lease's command could not be started (see
    /// client/src/front.rs): tells secd, then reports the failure with its exit code.
    #[command(hide = true, name = LEASE_NOT_STARTED)]
    LeaseNotStarted {
        lease_id: String,
        code: u8,
        #[arg(allow_hyphen_values = true)]
        message: String,
    },
    /// What the shell hook runs when the directory changed (prompts, then prints shell code).
    #[command(hide = true)]
    HookEvent {
        shell: Shell,
        #[arg(long, default_value = "", allow_hyphen_values = true)]
        from: String,
        #[arg(long, allow_hyphen_values = true)]
        to: PathBuf,
        /// Colon-separated directories the user declined in this shell.
        #[arg(long, default_value = "", allow_hyphen_values = true)]
        declined: String,
    },
    /// Check what sec depends on (daemon, socket directory, keychain, local vault, config,
    /// askpass, shell hook, the shield) and say how to fix each problem.
    Doctor,
    /// Show the audit log: every grant, refusal, revocation, expiry, unlock and trust decision.
    Log {
        /// Only the last N entries.
        #[arg(short = 'n', value_name = "N")]
        lines: Option<usize>,
        /// Print the JSON lines as stored.
        #[arg(long)]
        json: bool,
    },
    /// Move the credentials of ~/.pypirc or ~/.netrc, or an SSH key, into a vault and print the
    /// scope that uses them. The file is left as it is unless --remove is given.
    Import(ImportArgs),
    /// Start, stop or query the daemon.
    Daemon {
        #[command(subcommand)]
        action: DaemonAction,
    },
}

#[derive(clap::Args)]
pub struct ImportArgs {
    pub kind: ImportKind,
    /// The file (default: ~/.pypirc, ~/.netrc, or ~/.ssh/id_ed25519 and the other usual keys).
    pub path: Option<PathBuf>,
    /// Where to store them: a reference scheme such as keyring, pass, local, keyutils
    /// (default: where `sec set NAME` stores, the keychain or else the local vault).
    #[arg(long, value_name = "SCHEME")]
    pub backend: Option<String>,
    /// Read the local vault's passphrase from this file descriptor.
    #[arg(long, value_name = "N")]
    pub passphrase_fd: Option<i32>,
    /// Add the printed scope to config.toml (needs --dir).
    #[arg(long, requires = "dir")]
    pub write: bool,
    /// The directory the printed scope covers.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Delete the file once every credential is stored and read back.
    #[arg(long)]
    pub remove: bool,
    /// ssh: read the key's own passphrase from this file descriptor (else the terminal).
    #[arg(long, value_name = "N")]
    pub key_passphrase_fd: Option<i32>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportKind {
    Pypirc,
    Netrc,
    /// An SSH private key (OpenSSH format).
    Ssh,
    /// A `.env` file: every NAME=value becomes a secret and a variable of the scope.
    Env,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Subcommand, Clone, Copy)]
pub enum DaemonAction {
    /// Start secd unless it runs.
    Start,
    /// Stop secd: cached secrets are wiped, leases end.
    Stop,
    /// Say whether secd runs (exit status 3 when it does not).
    Status,
}
