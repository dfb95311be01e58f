//! What the shielded command sees of the filesystem, decided default-deny: an empty home
//! held in memory, private `/tmp`, `/var/tmp`, `/run`, `/dev` and `/proc`, the rest of the
//! system read-only; then shown again, on purpose, only what the command needs (the project
//! writable, toolchains and caches read-only, the user's additions), and covered inside what
//! is shown whatever may hold credentials or reach the user's processes (credential files,
//! listening sockets, other mounts of the home). Decisions over paths only; `sandbox`
//! carries them out, `host` reads the facts.
//!
//! Long because its tables are: the toolchain, credential and project lists that decide
//! what shows are a third of it, kept here so one file says what a shielded command sees.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use sec_proto::config::ShieldSettings;

use super::host::Mount;
use crate::report::Failure;

/// Replaced by something fresh in the sandbox: nothing of the host's shows below them
/// unless shown on purpose. The home joins them.
pub const REPLACED: &[&str] = &["/tmp", "/var/tmp", "/run", "/dev", "/proc"];

/// Toolchain and cache directories under $HOME, shown read-only where they exist. A list of
/// parts limits a directory to those entries: the rest of it may hold credentials
/// (`~/.cargo/credentials.toml`, `~/.m2/settings.xml`, `~/.gradle/gradle.properties`).
pub const TOOLCHAINS: &[(&str, &[&str])] = &[
    (".cargo", &["bin", "registry", "git"]),
    (".rustup", &[]),
    (".pyenv", &[]),
    (".nvm", &[]),
    (".npm", &["_cacache"]),
    (".local/bin", &[]),
    (".local/lib", &[]),
    (".local/share/virtualenvs", &[]),
    (".local/share/pipx", &[]),
    (".local/pipx", &[]),
    ("go", &["bin", "pkg"]),
    (".m2", &["repository"]),
    (".gradle", &["caches", "wrapper"]),
    (".volta", &[]),
    (".bun", &["bin", "install"]),
    (".deno", &[]),
    (".sdkman", &["candidates"]),
    (".rbenv", &[]),
    (".gem", &["ruby", "specs"]),
    (".elan", &[]),
    (".ghcup", &[]),
    (".opam", &[]),
    (".juliaup", &[]),
    (".conda", &["pkgs", "envs"]),
    ("miniconda3", &[]),
    ("anaconda3", &[]),
    (".cache/pip", &[]),
    (".cache/uv", &[]),
    (".cache/pypoetry", &[]),
    (".cache/go-build", &[]),
    (".cache/yarn", &[]),
];

/// Variables that name toolchain directories, shown read-only wherever they are, with the
/// same parts as their usual place under $HOME.
pub const TOOLCHAIN_VARS: &[(&str, &[&str])] = &[
    ("CARGO_HOME", &["bin", "registry", "git"]),
    ("RUSTUP_HOME", &[]),
    ("VIRTUAL_ENV", &[]),
    ("CONDA_PREFIX", &[]),
    ("PYENV_ROOT", &[]),
    ("NVM_DIR", &[]),
    ("VOLTA_HOME", &[]),
    ("PNPM_HOME", &[]),
    ("BUN_INSTALL", &["bin", "install"]),
    ("GOPATH", &["bin", "pkg"]),
    ("GOROOT", &[]),
    ("GOMODCACHE", &[]),
    ("JAVA_HOME", &[]),
    ("GRADLE_USER_HOME", &["caches", "wrapper"]),
    ("GEM_HOME", &[]),
    ("RBENV_ROOT", &[]),
    ("SDKMAN_DIR", &["candidates"]),
];

/// Credential files and directories, covered wherever they would show. Relative entries
/// are under $HOME; those under `.config/` and `.local/share/` are also looked for under
/// `$XDG_CONFIG_HOME` and `$XDG_DATA_HOME`. `*` may appear in the last component.
pub const CREDENTIAL_PATHS: &[&str] = &[
    ".ssh",
    ".netrc",
    ".pypirc",
    ".npmrc",
    ".cargo/credentials*",
    ".cargo/config*",
    ".config/gh",
    ".config/hub",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".docker/config.json",
    ".gnupg",
    ".kube",
    ".git-credentials",
    ".config/git/credentials",
    ".local/share/keyrings",
    ".password-store",
    ".config/op",
    ".1password",
    ".gem/credentials",
    ".m2/settings*.xml",
    ".gradle/gradle.properties",
    ".terraform.d/credentials.tfrc.json",
    ".vault-token",
    ".pgpass",
    ".my.cnf",
    ".Xauthority",
    ".bash_history",
    ".zsh_history",
    ".local/share/fish",
    ".mozilla",
    ".config/google-chrome",
    ".config/chromium",
];

/// Variables that name credential files, directories or agent sockets, covered where they
/// would show.
pub const PATH_VARS: &[&str] = &[
    "XDG_RUNTIME_DIR",
    "SSH_AUTH_SOCK",
    "GPG_AGENT_INFO",
    "DBUS_SESSION_BUS_ADDRESS",
    "GNUPGHOME",
    "PASSWORD_STORE_DIR",
    "KRB5CCNAME",
    "KUBECONFIG",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "DOCKER_CONFIG",
    "CARGO_HOME",
    "XAUTHORITY",
    "HISTFILE",
];

/// Files in the project that tools run or load on their own later (git's config and hooks,
/// hook managers, direnv, sec, editors): read-only when they exist, moved aside after the
/// command when it created them. The `.git/` ones are writable with `--writable-git`; a
/// `core.hooksPath` inside the project is guarded too.
pub const PROJECT_GUARDED: &[&str] = &[
    ".git/config",
    ".git/hooks",
    ".git/info",
    ".git/modules",
    ".pre-commit-config.yaml",
    ".husky",
    "lefthook.yml",
    ".lefthook.yml",
    ".hg/hgrc",
    ".envrc",
    ".env",
    ".sec.toml",
    ".tool-versions",
    ".mise.toml",
    "mise.toml",
    ".vscode",
];

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.as_bytes(), name.as_bytes());
    // The classic two-pointer match with backtracking to the last `*`.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if p < pattern.len() && pattern[p] == name[n] {
            p += 1;
            n += 1;
        } else if let Some((star_p, star_n)) = star {
            p = star_p + 1;
            n = star_n + 1;
            star = Some((star_p, star_n + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The socket paths of a D-Bus address: `unix:path=/run/user/1000/bus,guid=...;unix:abstract=...`.
pub fn bus_paths(value: &str) -> Vec<PathBuf> {
    value
        .split(';')
        .filter_map(|address| address.strip_prefix("unix:"))
        .flat_map(|params| params.split(','))
        .filter_map(|param| param.strip_prefix("path="))
        .map(|path| PathBuf::from(super::host::decode_escapes(path, b'%', 2, 16)))
        .filter(|path| path.is_absolute())
        .collect()
}

/// The paths named by one of [`PATH_VARS`].
fn paths_in_var(name: &str, value: &str) -> Vec<PathBuf> {
    let absolute = |text: &str| {
        let path = PathBuf::from(text);
        path.is_absolute().then_some(path)
    };
    match name {
        "DBUS_SESSION_BUS_ADDRESS" => bus_paths(value),
        // `PATH:PID:PROTOCOL`
        "GPG_AGENT_INFO" => value
            .split(':')
            .next()
            .and_then(absolute)
            .into_iter()
            .collect(),
        // `FILE:/tmp/krb5cc_1000`, `DIR:/run/user/1000/krb5cc` or a plain path.
        "KRB5CCNAME" => {
            let path = value
                .strip_prefix("FILE:")
                .or_else(|| value.strip_prefix("DIR:"))
                .unwrap_or(value);
            absolute(path).into_iter().collect()
        }
        "KUBECONFIG" => value.split(':').filter_map(absolute).collect(),
        "DOCKER_CONFIG" => absolute(value)
            .map(|d| d.join("config.json"))
            .into_iter()
            .collect(),
        "CARGO_HOME" => absolute(value)
            .into_iter()
            .flat_map(|d| [d.join("credentials*"), d.join("config*")])
            .collect(),
        _ => absolute(value).into_iter().collect(),
    }
}

/// `path` with symlinks resolved, when it exists. Most candidates do not: one stat says so,
/// where resolving would look at every component.
fn existing(path: &Path) -> Option<PathBuf> {
    path.symlink_metadata().ok()?;
    std::fs::canonicalize(path).ok()
}

/// The existing paths a candidate names, symlinks resolved: itself, or for a `*` in its
/// last component, the matching entries of its directory.
fn expand(candidate: &Path) -> Vec<PathBuf> {
    let name = candidate
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains('*') {
        return existing(candidate).into_iter().collect();
    }
    let Some(Ok(entries)) = candidate.parent().map(std::fs::read_dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| glob_match(&name, &e.file_name().to_string_lossy()))
        .filter_map(|e| std::fs::canonicalize(e.path()).ok())
        .collect();
    out.sort();
    out
}

/// A host path shown in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The host path, canonical.
    pub source: PathBuf,
    /// Where the command sees it: the source, or the symlink in $HOME that led to it.
    pub target: PathBuf,
    pub writable: bool,
    /// Why, for `--show`: "project", "toolchain", "--allow", ...
    pub why: &'static str,
}

/// A path covered inside what shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hidden {
    pub path: PathBuf,
    /// A directory gets an empty tmpfs; anything else (a file, a socket) /dev/null.
    pub dir: bool,
    pub why: &'static str,
}

/// A project path that must not change: its state before the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guarded {
    pub path: PathBuf,
    /// `None`: absent; `Some(target)`: a symlink to target.
    pub link: Option<PathBuf>,
}

/// What the sandbox does, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub home: PathBuf,
    pub cwd: PathBuf,
    pub project: PathBuf,
    /// Outermost first, so that a mount never hides one made before it.
    pub shown: Vec<Shown>,
    pub hidden: Vec<Hidden>,
    /// Existing project files bound read-only over the writable project.
    pub protected: Vec<PathBuf>,
    /// Project paths that were absent (or symlinks): checked, and moved aside, afterwards.
    pub guarded: Vec<Guarded>,
    /// For `--show`: what a user may miss, and how to get it.
    pub notes: Vec<String>,
}

/// What the user and the config asked for, and the facts of the host.
pub struct Request<'a> {
    pub home: &'a Path,
    pub cwd: &'a Path,
    /// The environment `sec shield` was started with (not the command's).
    pub env: &'a [(OsString, OsString)],
    /// config.toml's `[shield]`.
    pub settings: &'a ShieldSettings,
    /// sec's own config, state, data and runtime directories.
    pub daemon_dirs: &'a [PathBuf],
    pub allow: &'a [PathBuf],
    pub writable: &'a [PathBuf],
    pub writable_git: bool,
    /// Sockets of the variables the user passes on purpose (`env::opened_paths`).
    pub opened: &'a [PathBuf],
    pub mounts: &'a [Mount],
    pub sockets: &'a [PathBuf],
}

impl Request<'_> {
    fn var(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(n, _)| n == OsStr::new(name))
            .map(|(_, v)| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
    }
}

impl Layout {
    /// Decides the layout; the second value holds warnings for the user.
    pub fn plan(request: &Request<'_>) -> Result<(Layout, Vec<String>), Failure> {
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let home = canonical(request.home);
        let cwd = canonical(request.cwd);
        if home == Path::new("/") || !home.is_absolute() {
            return Err(Failure::new(
                "your home directory is `/`; sec shield empties the home, so set HOME to your own directory",
            ));
        }
        if home.starts_with(&cwd) {
            return Err(Failure::new(format!(
                "sec shield runs in a project directory and shows it writable; {} holds your whole home, so cd into the project first",
                cwd.display()
            )));
        }
        let project = project_root(&cwd, &home);
        let mut layout = Layout {
            home,
            cwd,
            project,
            shown: Vec::new(),
            hidden: Vec::new(),
            protected: Vec::new(),
            guarded: Vec::new(),
            notes: Vec::new(),
        };
        let mut warnings = Vec::new();
        layout.show_what_is_needed(request, &mut warnings)?;
        layout.cover_credentials(request)?;
        layout.guard_project(request.writable_git);
        Ok((layout, warnings))
    }

    /// Whether the command sees `path` (as the host knows it).
    pub fn visible(&self, path: &Path) -> bool {
        let replaced = path.starts_with(&self.home) || REPLACED.iter().any(|r| path.starts_with(r));
        let shown = self.shown.iter().any(|s| path.starts_with(&s.source));
        (shown || !replaced) && !self.hidden.iter().any(|h| path.starts_with(&h.path))
    }

    /// Shows `literal` unless it shows already; what the user names is shown in any case, so
    /// that nothing covers it later.
    fn show(&mut self, literal: &Path, writable: bool, why: &'static str) {
        let Some(source) = existing(literal) else {
            return;
        };
        // A symlink in the home (`~/.cargo -> /opt/cargo`) is shown where the command looks.
        let target = match (
            literal.parent().map(std::fs::canonicalize),
            literal.file_name(),
        ) {
            (Some(Ok(parent)), Some(name)) if parent.starts_with(&self.home) => parent.join(name),
            _ => source.clone(),
        };
        let already = self.visible(&source) && target == source;
        if writable || !already || is_on_purpose(why) {
            self.shown.retain(|s| s.target != target);
            self.shown.push(Shown {
                source,
                target,
                writable,
                why,
            });
        }
    }

    fn show_dir(&mut self, path: &Path, parts: &[&str], why: &'static str) {
        if parts.is_empty() {
            self.show(path, false, why);
        }
        for part in parts {
            self.show(&path.join(part), false, why);
        }
    }

    fn show_what_is_needed(
        &mut self,
        request: &Request<'_>,
        warnings: &mut Vec<String>,
    ) -> Result<(), Failure> {
        for (rel, parts) in TOOLCHAINS {
            let path = self.home.join(rel);
            self.show_dir(&path, parts, "toolchain");
        }
        for (name, parts) in TOOLCHAIN_VARS {
            if let Some(value) = request.var(name).filter(|v| v.starts_with('/')) {
                self.show_dir(Path::new(&value), parts, "toolchain");
            }
        }
        for entry in request.var("PATH").unwrap_or_default().split(':') {
            let path = Path::new(entry);
            let Some(real) = existing(path) else {
                continue;
            };
            if !path.is_absolute() || self.visible(&real) {
                continue;
            }
            if real.starts_with(&self.home) {
                self.notes.push(format!(
                    "{} is on PATH but not shown; --allow {} shows it",
                    path.display(),
                    path.display()
                ));
            } else {
                self.show(path, false, "on PATH");
            }
        }
        for (list, why) in [
            (&request.settings.allow, "[shield] allow"),
            (&request.settings.writable, "[shield] writable"),
        ] {
            for path in list {
                if !path.exists() {
                    warnings.push(format!("{why} {}: no such path", path.display()));
                }
                self.show(path, why.ends_with("writable"), why);
            }
        }
        for (list, writable, flag) in [
            (request.allow, false, "--allow"),
            (request.writable, true, "--writable"),
        ] {
            for path in list {
                if !path.exists() {
                    return Err(Failure::new(format!(
                        "{flag} {}: no such file or directory; nothing was run",
                        path.display()
                    )));
                }
                self.show(path, writable, flag);
            }
        }
        for socket in request.opened {
            self.show(socket, true, "passed variable");
        }
        let project = self.project.clone();
        self.show(&project, true, "project");
        self.shown.sort_by(|a, b| a.target.cmp(&b.target));
        Ok(())
    }

    /// Where credentials may be, by name and by the user's list.
    fn credential_candidates(&self, request: &Request<'_>) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for rel in CREDENTIAL_PATHS {
            out.push(self.home.join(rel));
            for (prefix, xdg) in [
                (".config/", "XDG_CONFIG_HOME"),
                (".local/share/", "XDG_DATA_HOME"),
            ] {
                if let (Some(rest), Some(base)) = (rel.strip_prefix(prefix), request.var(xdg)) {
                    out.push(Path::new(&base).join(rest));
                }
            }
        }
        for name in PATH_VARS {
            if let Some(value) = request.var(name) {
                out.extend(paths_in_var(name, &value));
            }
        }
        out.extend(request.settings.hide.iter().cloned());
        out.extend(request.daemon_dirs.iter().cloned());
        out
    }

    /// Covers, inside what shows, credentials, other mounts of the home and listening
    /// sockets, except what the user shows on purpose.
    fn cover_credentials(&mut self, request: &Request<'_>) -> Result<(), Failure> {
        let on_purpose: Vec<PathBuf> = self
            .shown
            .iter()
            .filter(|s| is_on_purpose(s.why))
            .map(|s| s.source.clone())
            .collect();
        let mut found: Vec<(PathBuf, &'static str)> = Vec::new();
        for candidate in self.credential_candidates(request) {
            for path in expand(&candidate) {
                if self.project.starts_with(&path) {
                    return Err(Failure::new(format!(
                        "the project {} lies in {}, which the shield hides; run from another directory",
                        self.project.display(),
                        path.display()
                    )));
                }
                found.push((path, "credentials"));
            }
        }
        found.extend(
            home_aliases(&self.home, request.mounts)
                .into_iter()
                .map(|p| (p, "your home, mounted again")),
        );
        for socket in request.sockets {
            found.push((
                std::fs::canonicalize(socket).unwrap_or_else(|_| socket.clone()),
                "listening socket",
            ));
        }
        found.sort();
        found.dedup_by(|a, b| a.0 == b.0);
        for (path, why) in found {
            // Named on purpose: the path itself or something inside it (credentials inside
            // a directory the user shows stay covered).
            let allowed = on_purpose.iter().any(|a| a.starts_with(&path));
            let inside_covered = self
                .hidden
                .iter()
                .any(|h| h.dir && path.starts_with(&h.path));
            if allowed || inside_covered || !self.visible(&path) || path == self.project {
                continue;
            }
            let dir = path.is_dir();
            self.hidden.push(Hidden { path, dir, why });
        }
        Ok(())
    }

    fn guard_project(&mut self, writable_git: bool) {
        let git_dir = self.project.join(".git");
        let is_repo = git_dir.symlink_metadata().is_ok();
        let guard_git_files = is_repo && !writable_git;
        let mut names: Vec<&str> = PROJECT_GUARDED
            .iter()
            .copied()
            .filter(|n| guard_git_files || !n.starts_with(".git/"))
            .collect();
        if !is_repo && !writable_git {
            // A new repository would bring its own config and hooks.
            names.push(".git");
        }
        let hooks_path = hooks_path(&git_dir.join("config"));
        let paths = names
            .into_iter()
            .map(|name| self.project.join(name))
            .chain(hooks_path.map(|dir| self.project.join(dir)))
            .filter(|path| path.starts_with(&self.project));
        for path in paths {
            match path.symlink_metadata() {
                Ok(meta) if meta.file_type().is_symlink() => self.guarded.push(Guarded {
                    link: std::fs::read_link(&path).ok(),
                    path,
                }),
                Ok(_) => self.protected.push(path),
                Err(_) => self.guarded.push(Guarded { path, link: None }),
            }
        }
    }
}

/// `core.hooksPath` in a repository's config, when it names a relative directory (one in the
/// work tree, which the command could fill).
fn hooks_path(config: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(config).ok()?;
    let mut in_core = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_core = line.eq_ignore_ascii_case("[core]");
        } else if let Some((key, value)) = line.split_once('=') {
            let value = value.trim().trim_matches('"');
            if in_core
                && key.trim().eq_ignore_ascii_case("hookspath")
                && !value.starts_with(['/', '~'])
            {
                return Some(PathBuf::from(value));
            }
        }
    }
    None
}

/// Whether a path was shown because the user named it (which no credential rule overrides).
fn is_on_purpose(why: &str) -> bool {
    !matches!(why, "toolchain" | "on PATH" | "project")
}

/// The repository that holds `cwd` (the nearest directory with a `.git` below the home), or
/// `cwd` itself.
fn project_root(cwd: &Path, home: &Path) -> PathBuf {
    cwd.ancestors()
        .take_while(|dir| *dir != home && *dir != Path::new("/"))
        .find(|dir| dir.join(".git").symlink_metadata().is_ok())
        .unwrap_or(cwd)
        .to_path_buf()
}

/// Other places where the filesystem holding `home` shows it (or a part of it): a bind mount
/// of the home, or the same disk mounted a second time.
pub fn home_aliases(home: &Path, mounts: &[Mount]) -> Vec<PathBuf> {
    let Some(own) = mounts
        .iter()
        .filter(|m| home.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len())
    else {
        return Vec::new();
    };
    let Ok(rest) = home.strip_prefix(&own.mount_point) else {
        return Vec::new();
    };
    let home_in_fs = own.root.join(rest);
    let mut out = Vec::new();
    for mount in mounts
        .iter()
        .filter(|m| m.device == own.device && *m != own)
    {
        let alias = if let Ok(below) = home_in_fs.strip_prefix(&mount.root) {
            match below.as_os_str().is_empty() {
                true => mount.mount_point.clone(),
                false => mount.mount_point.join(below),
            }
        } else if mount.root.starts_with(&home_in_fs) {
            mount.mount_point.clone()
        } else {
            continue;
        };
        if alias != home && !alias.starts_with(home) {
            out.push(alias);
        }
    }
    out
}

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
