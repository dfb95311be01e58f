//! What `sec shield` hides and keeps writable: the built-in lists below, the user's additions
//! from config.toml's `[shield]` (which secd sends), `--allow` and `--writable`. Decisions over
//! names and paths only; `sandbox` carries them out.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use sec_proto::pb;

use crate::report::Failure;

/// Environment variables the child loses: name patterns, `*` matching any run of characters,
/// ASCII case ignored. `[shield] hide_env` adds to them, `keep_env` makes exceptions.
pub const HIDE_ENV: &[&str] = &[
    // Tokens, passwords and keys by their usual names.
    "*_TOKEN",
    "TOKEN",
    "*_PASSWORD",
    "PASSWORD",
    "*_PASSWD",
    "*_PASS",
    "*_PASSPHRASE",
    "*_SECRET",
    "SECRET",
    "*_SECRET_KEY",
    "*_API_KEY",
    "API_KEY",
    "*_APIKEY",
    "*_ACCESS_KEY",
    "*_PRIVATE_KEY",
    "*_CREDENTIALS",
    // Cloud, forge and registry credentials.
    "AWS_*",
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "NPM_TOKEN",
    "TWINE_*",
    "CARGO_REGISTRY_TOKEN",
    "OP_SESSION_*",
    "DOCKER_AUTH_CONFIG",
    // Agents, the session bus (and with it the Secret Service), Kerberos tickets.
    "SSH_AUTH_SOCK",
    "SSH_AGENT_PID",
    "GPG_AGENT_INFO",
    "DBUS_SESSION_BUS_ADDRESS",
    "GNOME_KEYRING_CONTROL",
    "KRB5CCNAME",
];

/// Credential files and directories under $HOME, hidden where they exist. Those under
/// `.config/` and `.local/share/` are also looked for under `$XDG_CONFIG_HOME` and
/// `$XDG_DATA_HOME`. `*` may appear in the last component.
pub const HOME_PATHS: &[&str] = &[
    ".ssh",
    ".netrc",
    ".pypirc",
    ".npmrc",
    ".cargo/credentials*",
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
    ".gem/credentials",
    ".terraform.d/credentials.tfrc.json",
    ".vault-token",
    ".pgpass",
    ".Xauthority",
    // Browser profiles: saved passwords and session cookies.
    ".mozilla",
    ".config/google-chrome",
    ".config/chromium",
];

/// Variables that name credential files, directories or agent sockets: what they name is
/// hidden too (the variables themselves may stay, e.g. GNUPGHOME).
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
];

/// Sockets and runtime directories outside $HOME; `{uid}` is the user's uid. The runtime
/// directory holds secd's socket, the session bus, the keyring's control socket, gpg-agent's
/// and often ssh-agent's sockets; the X11 sockets give a way to type into other windows.
pub const SYSTEM_PATHS: &[&str] = &[
    "/run/user/{uid}",
    "/tmp/sec-{uid}",
    "/tmp/ssh-*",
    "/tmp/krb5cc_{uid}*",
    "/tmp/.X11-unix",
    "/run/docker.sock",
    "/var/run/docker.sock",
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

/// Whether the child loses variable `name`: a hide pattern matches and no keep pattern does.
pub fn env_hidden(name: &str, hide: &[String], keep: &[String]) -> bool {
    let name = name.to_ascii_uppercase();
    let matches = |patterns: &[String]| {
        patterns
            .iter()
            .any(|p| glob_match(&p.to_ascii_uppercase(), &name))
    };
    matches(hide) && !matches(keep)
}

/// The child's environment and the names it lost.
pub fn filter_env(
    env: &[(OsString, OsString)],
    policy: &pb::ShieldPolicy,
) -> (Vec<(OsString, OsString)>, Vec<String>) {
    let hide: Vec<String> = HIDE_ENV
        .iter()
        .map(|p| p.to_string())
        .chain(policy.hide_env.iter().cloned())
        .collect();
    let mut kept = Vec::with_capacity(env.len());
    let mut dropped = Vec::new();
    for (name, value) in env {
        let text = name.to_string_lossy();
        if env_hidden(&text, &hide, &policy.keep_env) {
            dropped.push(text.into_owned());
        } else {
            kept.push((name.clone(), value.clone()));
        }
    }
    dropped.sort();
    (kept, dropped)
}

/// The paths named by one of [`PATH_VARS`].
fn paths_in_var(name: &str, value: &str) -> Vec<PathBuf> {
    let absolute = |text: &str| {
        let path = PathBuf::from(text);
        path.is_absolute().then_some(path)
    };
    match name {
        // `unix:path=/run/user/1000/bus,guid=...;unix:abstract=...`; abstract sockets are
        // Landlock's (or --no-network's) to close.
        "DBUS_SESSION_BUS_ADDRESS" => value
            .split(';')
            .filter_map(|address| address.strip_prefix("unix:"))
            .flat_map(|params| params.split(','))
            .filter_map(|param| param.strip_prefix("path="))
            .filter_map(|path| absolute(&percent_decode(path)))
            .collect(),
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
            .map(|d| d.join("credentials*"))
            .into_iter()
            .collect(),
        _ => absolute(value).into_iter().collect(),
    }
}

/// `%2f` and the like, as D-Bus addresses escape bytes.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where to look for credentials: the built-in lists for this user, then the user's own
/// `hide` list and the daemon's directories. Entries may end in a `*` pattern and need
/// not exist.
pub fn hide_candidates(
    home: &Path,
    uid: u32,
    env: &[(OsString, OsString)],
    policy: &pb::ShieldPolicy,
) -> Vec<PathBuf> {
    let var = |name: &str| -> Option<String> {
        env.iter()
            .find(|(n, _)| n == OsStr::new(name))
            .map(|(_, v)| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
    };
    let mut out = Vec::new();
    for rel in HOME_PATHS {
        out.push(home.join(rel));
        for (prefix, xdg) in [
            (".config/", "XDG_CONFIG_HOME"),
            (".local/share/", "XDG_DATA_HOME"),
        ] {
            if let (Some(rest), Some(base)) = (rel.strip_prefix(prefix), var(xdg)) {
                out.push(Path::new(&base).join(rest));
            }
        }
    }
    for name in PATH_VARS {
        if let Some(value) = var(name) {
            out.extend(paths_in_var(name, &value));
        }
    }
    for path in SYSTEM_PATHS {
        out.push(PathBuf::from(path.replace("{uid}", &uid.to_string())));
    }
    out.push(std::env::temp_dir().join(format!("sec-{uid}")));
    out.extend(policy.hide.iter().map(PathBuf::from));
    out.extend(policy.daemon_dirs.iter().map(PathBuf::from));
    out
}

/// The existing paths a candidate names, symlinks resolved: itself, or for a `*` in its
/// last component, the matching entries of its directory.
fn expand(candidate: &Path) -> Vec<PathBuf> {
    let name = candidate
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains('*') {
        return std::fs::canonicalize(candidate).into_iter().collect();
    }
    let Some(parent) = candidate.parent() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
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

/// One path the child must not see, and how it is covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hidden {
    pub path: PathBuf,
    /// A directory is covered by an empty tmpfs; anything else (a file, a socket) by /dev/null.
    pub dir: bool,
}

/// What the sandbox does, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// $HOME, bound read-only onto itself; `None` when a writable path contains it.
    pub read_only: Option<PathBuf>,
    /// Paths under the read-only $HOME bound writable again, the project among them.
    pub writable: Vec<PathBuf>,
    /// Covered, outermost first; none inside another.
    pub hidden: Vec<Hidden>,
    /// The working directory, entered again after the mounts.
    pub cwd: PathBuf,
}

/// What the user and the config asked for.
pub struct Request<'a> {
    pub home: &'a Path,
    pub cwd: &'a Path,
    pub uid: u32,
    pub env: &'a [(OsString, OsString)],
    pub policy: &'a pb::ShieldPolicy,
    pub allow: &'a [PathBuf],
    pub writable: &'a [PathBuf],
}

impl Layout {
    /// Decides the layout; the second value holds warnings for the user.
    pub fn plan(request: &Request<'_>) -> Result<(Layout, Vec<String>), Failure> {
        let mut warnings = Vec::new();
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let home = canonical(request.home);
        let cwd = canonical(request.cwd);

        let mut found: Vec<PathBuf> =
            hide_candidates(request.home, request.uid, request.env, request.policy)
                .iter()
                .flat_map(|c| expand(c))
                .collect();
        for allowed in request.allow {
            let allowed = canonical(allowed);
            if let Some(outer) = found
                .iter()
                .find(|h| allowed.starts_with(h) && allowed != **h)
            {
                return Err(Failure::new(format!(
                    "--allow {}: it lies inside {}, which is hidden as a whole; allow that instead",
                    allowed.display(),
                    outer.display()
                )));
            }
            let before = found.len();
            found.retain(|h| !h.starts_with(&allowed));
            if found.len() == before {
                warnings.push(format!(
                    "--allow {}: nothing is hidden there",
                    allowed.display()
                ));
            }
        }
        found.sort();
        found.dedup();
        let mut hidden: Vec<Hidden> = Vec::with_capacity(found.len());
        for path in found {
            if hidden.iter().any(|h| h.dir && path.starts_with(&h.path)) {
                continue;
            }
            let dir = path.is_dir();
            hidden.push(Hidden { path, dir });
        }
        if let Some(h) = hidden.iter().find(|h| cwd.starts_with(&h.path)) {
            return Err(Failure::new(format!(
                "the current directory {} lies in {}, which the shield hides; run from another directory, or keep it visible with --allow {}",
                cwd.display(),
                h.path.display(),
                h.path.display()
            )));
        }

        let mut writable = vec![cwd.clone()];
        for path in &request.policy.writable {
            if let Ok(path) = std::fs::canonicalize(path) {
                writable.push(path);
            }
        }
        for path in request.writable {
            match std::fs::canonicalize(path) {
                Ok(path) => writable.push(path),
                Err(e) => warnings.push(format!("--writable {}: {e}", path.display())),
            }
        }
        let read_only = match writable.iter().find(|w| home.starts_with(w)) {
            Some(outer) => {
                warnings.push(format!(
                    "{} contains your home directory, so the command can write all of it, ~/.bashrc included",
                    outer.display()
                ));
                None
            }
            None => home.is_dir().then(|| home.clone()),
        };
        let mut writable: Vec<PathBuf> = match &read_only {
            Some(home) => writable
                .into_iter()
                .filter(|w| w.starts_with(home))
                .collect(),
            None => Vec::new(),
        };
        writable.sort();
        writable.dedup();
        let mut outermost: Vec<PathBuf> = Vec::with_capacity(writable.len());
        for path in writable {
            if !outermost.iter().any(|o| path.starts_with(o)) {
                outermost.push(path);
            }
        }
        Ok((
            Layout {
                read_only,
                writable: outermost,
                hidden,
                cwd,
            },
            warnings,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_match("*_TOKEN", "GH_TOKEN"));
        assert!(glob_match("*_TOKEN", "_TOKEN"));
        assert!(!glob_match("*_TOKEN", "GH_TOKENS"));
        assert!(!glob_match("*_TOKEN", "TOKEN"));
        assert!(glob_match("AWS_*", "AWS_SECRET_ACCESS_KEY"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("a*b*c", "aXbYbZ"));
        assert!(glob_match("*", ""));
        assert!(glob_match("credentials*", "credentials.toml"));
        assert!(!glob_match("ssh-*", "ssh"));
    }

    #[test]
    fn the_built_in_list_drops_credentials_and_keeps_the_rest() {
        let policy = pb::ShieldPolicy::default();
        let env: Vec<(OsString, OsString)> = [
            "GH_TOKEN",
            "GITHUB_TOKEN",
            "TWINE_PASSWORD",
            "TWINE_USERNAME",
            "MY_API_KEY",
            "AWS_PROFILE",
            "SSH_AUTH_SOCK",
            "DBUS_SESSION_BUS_ADDRESS",
            "db_password",
            "PATH",
            "HOME",
            "TOKENIZERS_PARALLELISM",
            "KEYBOARD",
            "CARGO_REGISTRY_TOKEN",
        ]
        .iter()
        .map(|n| (OsString::from(n), OsString::from("x")))
        .collect();
        let (kept, dropped) = filter_env(&env, &policy);
        let kept: Vec<String> = kept
            .iter()
            .map(|(n, _)| n.to_string_lossy().into_owned())
            .collect();
        assert_eq!(kept, ["PATH", "HOME", "TOKENIZERS_PARALLELISM", "KEYBOARD"]);
        assert!(dropped.contains(&"db_password".to_string()), "case ignored");
    }

    #[test]
    fn the_users_lists_add_and_except() {
        let hide = strings(&["*_TOKEN", "CORP_*"]);
        let keep = strings(&["CI_JOB_TOKEN"]);
        assert!(env_hidden("GH_TOKEN", &hide, &keep));
        assert!(env_hidden("CORP_LOGIN", &hide, &keep));
        assert!(!env_hidden("CI_JOB_TOKEN", &hide, &keep));
        assert!(!env_hidden("LANG", &hide, &keep));
    }

    #[test]
    fn variables_name_the_sockets_and_files_to_hide() {
        assert_eq!(
            paths_in_var(
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/run/user/1000/bus,guid=ab;unix:abstract=/tmp/dbus-x;unix:path=/tmp/my%20bus"
            ),
            [
                PathBuf::from("/run/user/1000/bus"),
                PathBuf::from("/tmp/my bus")
            ]
        );
        assert_eq!(
            paths_in_var("GPG_AGENT_INFO", "/tmp/gpg-x/S.gpg-agent:42:1"),
            [PathBuf::from("/tmp/gpg-x/S.gpg-agent")]
        );
        assert_eq!(
            paths_in_var("KRB5CCNAME", "FILE:/tmp/krb5cc_1000"),
            [PathBuf::from("/tmp/krb5cc_1000")]
        );
        assert!(paths_in_var("KRB5CCNAME", "KEYRING:persistent:1000").is_empty());
        assert_eq!(
            paths_in_var("KUBECONFIG", "/a/config:relative:/b/config"),
            [PathBuf::from("/a/config"), PathBuf::from("/b/config")]
        );
        assert_eq!(
            paths_in_var("CARGO_HOME", "/opt/cargo"),
            [PathBuf::from("/opt/cargo/credentials*")]
        );
        assert!(paths_in_var("SSH_AUTH_SOCK", "relative").is_empty());
    }

    /// A fake home with some credentials, a project and a runtime dir.
    struct Fixture {
        _tmp: tempfile::TempDir,
        root: PathBuf,
        home: PathBuf,
        env: Vec<(OsString, OsString)>,
    }

    impl Fixture {
        fn new() -> Self {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().canonicalize().unwrap();
            let home = root.join("home");
            for dir in [".ssh", ".config/gh", ".cargo", "src/p", ".config/sec"] {
                std::fs::create_dir_all(home.join(dir)).unwrap();
            }
            std::fs::create_dir_all(root.join("elsewhere")).unwrap();
            for file in [".netrc", ".cargo/credentials.toml", ".bashrc"] {
                std::fs::write(home.join(file), "x").unwrap();
            }
            std::fs::create_dir_all(root.join("run/sec")).unwrap();
            let env = vec![(
                OsString::from("XDG_RUNTIME_DIR"),
                OsString::from(root.join("run")),
            )];
            Fixture {
                _tmp: tmp,
                root,
                home,
                env,
            }
        }

        fn plan(
            &self,
            cwd: &Path,
            policy: &pb::ShieldPolicy,
            allow: &[PathBuf],
            writable: &[PathBuf],
        ) -> Result<(Layout, Vec<String>), Failure> {
            Layout::plan(&Request {
                home: &self.home,
                cwd,
                uid: u32::MAX,
                env: &self.env,
                policy,
                allow,
                writable,
            })
        }

        fn hidden_under_root(&self, layout: &Layout) -> Vec<String> {
            layout
                .hidden
                .iter()
                .filter_map(|h| h.path.strip_prefix(&self.root).ok())
                .map(|p| p.display().to_string())
                .collect()
        }
    }

    #[test]
    fn existing_credentials_are_hidden_and_home_is_read_only_but_the_project() {
        let f = Fixture::new();
        let policy = pb::ShieldPolicy {
            daemon_dirs: vec![f.home.join(".config/sec").display().to_string()],
            hide: vec![f.home.join("nothing-here").display().to_string()],
            ..Default::default()
        };
        let project = f.home.join("src/p");
        let (layout, warnings) = f.plan(&project, &policy, &[], &[]).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            f.hidden_under_root(&layout),
            [
                "home/.cargo/credentials.toml",
                "home/.config/gh",
                "home/.config/sec",
                "home/.netrc",
                "home/.ssh",
                "run",
            ]
        );
        let ssh = layout.hidden.iter().find(|h| h.path.ends_with(".ssh"));
        assert!(ssh.unwrap().dir);
        assert!(
            !layout
                .hidden
                .iter()
                .find(|h| h.path.ends_with(".netrc"))
                .unwrap()
                .dir
        );
        assert_eq!(layout.read_only.as_deref(), Some(f.home.as_path()));
        assert_eq!(layout.cwd, project);
        assert_eq!(layout.writable, [project]);
    }

    #[test]
    fn allow_keeps_one_path_visible_and_refuses_a_path_inside_a_hidden_dir() {
        let f = Fixture::new();
        let policy = pb::ShieldPolicy::default();
        let (layout, _) = f
            .plan(
                &f.root.join("elsewhere"),
                &policy,
                &[f.home.join(".netrc")],
                &[],
            )
            .unwrap();
        assert!(!f.hidden_under_root(&layout).contains(&"home/.netrc".into()));
        assert!(f.hidden_under_root(&layout).contains(&"home/.ssh".into()));
        let err = f
            .plan(
                &f.root.join("elsewhere"),
                &policy,
                &[f.home.join(".ssh/known_hosts")],
                &[],
            )
            .unwrap_err();
        assert!(err.message.contains("hidden as a whole"), "{}", err.message);
        let (_, warnings) = f
            .plan(
                &f.root.join("elsewhere"),
                &policy,
                &[f.home.join(".pypirc")],
                &[],
            )
            .unwrap();
        assert!(
            warnings[0].contains("nothing is hidden there"),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_working_directory_inside_a_hidden_one_is_refused() {
        let f = Fixture::new();
        let err = f
            .plan(&f.home.join(".ssh"), &pb::ShieldPolicy::default(), &[], &[])
            .unwrap_err();
        assert!(
            err.message.contains("which the shield hides"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_project_containing_home_leaves_it_writable_with_a_warning() {
        let f = Fixture::new();
        let (layout, warnings) = f
            .plan(&f.home, &pb::ShieldPolicy::default(), &[], &[])
            .unwrap();
        assert_eq!(layout.read_only, None);
        assert!(layout.writable.is_empty());
        assert!(warnings[0].contains("~/.bashrc included"), "{warnings:?}");
    }

    #[test]
    fn writable_paths_outside_home_need_no_mount() {
        let f = Fixture::new();
        let policy = pb::ShieldPolicy {
            writable: vec![f.home.join(".cargo").display().to_string()],
            ..Default::default()
        };
        let (layout, _) = f
            .plan(
                &f.root.join("elsewhere"),
                &policy,
                &[],
                &[f.home.join("src")],
            )
            .unwrap();
        assert_eq!(layout.read_only.as_deref(), Some(f.home.as_path()));
        assert_eq!(layout.writable, [f.home.join(".cargo"), f.home.join("src")]);
    }
}
