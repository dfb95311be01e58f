//! The shielded command's environment, default-deny: only variables known to be harmless
//! (locale, terminal, paths, toolchain and CI settings) and those the user names pass; every
//! other variable is dropped, whatever its name. Variables that open a way out of the shield
//! (a terminal multiplexer, a display, an agent, the session bus) pass only when the user
//! names them, with a warning, and then their sockets are made visible too.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use super::layout::glob_match;

/// Names (with `*` patterns) that pass by default: they configure tools, they do not grant
/// anything. Whole families whose members are known to carry credentials (`npm_config_*`,
/// `PIP_*` with index URLs, `BUNDLE_*`, `GITHUB_*`) are not here; only their harmless members.
pub const PASS_ENV: &[&str] = &[
    // The session and the terminal.
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "PWD",
    "SHLVL",
    "HOSTNAME",
    "TMPDIR",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TERM",
    "COLORTERM",
    "TERMINFO",
    "TERMINFO_DIRS",
    "COLUMNS",
    "LINES",
    "NO_COLOR",
    "FORCE_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "LS_COLORS",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "LESS",
    "MANPAGER",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_DIRS",
    "XDG_DATA_DIRS",
    "DEBIAN_FRONTEND",
    // Which certificate authorities to trust (paths, no keys).
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NIX_SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "GIT_SSL_CAINFO",
    "PIP_CERT",
    "AWS_CA_BUNDLE",
    // Building C and friends.
    "CC",
    "CXX",
    "CPP",
    "LD",
    "AR",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
    "PKG_CONFIG_PATH",
    "LD_LIBRARY_PATH",
    "LIBRARY_PATH",
    "CPATH",
    "C_INCLUDE_PATH",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "CMAKE_GENERATOR",
    "CMAKE_BUILD_PARALLEL_LEVEL",
    // Rust.
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "RUST_BACKTRACE",
    "RUST_LOG",
    "RUST_TEST_THREADS",
    "RUST_MIN_STACK",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_JOBS",
    "CARGO_INCREMENTAL",
    "CARGO_TERM_COLOR",
    "CARGO_NET_OFFLINE",
    // Python.
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PYTHONHASHSEED",
    "PYTHONWARNINGS",
    "PYTHONUTF8",
    "PYTHONIOENCODING",
    "PYENV_ROOT",
    "PYENV_VERSION",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "CONDA_EXE",
    "CONDA_SHLVL",
    // JavaScript.
    "NODE_PATH",
    "NODE_ENV",
    "NVM_DIR",
    "NVM_BIN",
    "NVM_INC",
    "VOLTA_HOME",
    "PNPM_HOME",
    "BUN_INSTALL",
    // Go, Java, Ruby.
    "GOPATH",
    "GOROOT",
    "GOCACHE",
    "GOMODCACHE",
    "GOFLAGS",
    "GOOS",
    "GOARCH",
    "GO111MODULE",
    "CGO_ENABLED",
    "GOTOOLCHAIN",
    "JAVA_HOME",
    "JDK_HOME",
    "MAVEN_HOME",
    "M2_HOME",
    "GRADLE_HOME",
    "GRADLE_USER_HOME",
    "GEM_HOME",
    "GEM_PATH",
    "RBENV_ROOT",
    "RBENV_VERSION",
    // CI systems: what they are, not their tokens.
    "CI",
    "CONTINUOUS_INTEGRATION",
    "GITHUB_ACTIONS",
    "GITHUB_WORKSPACE",
    "GITHUB_REF",
    "GITHUB_SHA",
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID",
    "GITHUB_EVENT_NAME",
    "RUNNER_OS",
    "RUNNER_ARCH",
    "RUNNER_TEMP",
    "GITLAB_CI",
    "BUILDKITE",
    "CIRCLECI",
    "TRAVIS",
    "TF_BUILD",
    "BUILD_NUMBER",
];

/// Variables that hand the command a way out of the shield. Dropped unless the user names
/// them; named, they pass with this warning, and their sockets become visible.
pub const OPENING_ENV: &[(&str, &str)] = &[
    (
        "TMUX",
        "the command can type commands into every pane of your tmux server",
    ),
    ("TMUX_PANE", "it names one of your tmux panes"),
    (
        "STY",
        "the command can type commands into your screen session",
    ),
    (
        "DISPLAY",
        "the command can read and type into every window of your X display",
    ),
    ("XAUTHORITY", "it holds the key to your X display"),
    (
        "WAYLAND_DISPLAY",
        "the command can talk to your Wayland compositor",
    ),
    (
        "SSH_AUTH_SOCK",
        "the command can sign with every key your ssh-agent holds",
    ),
    (
        "DBUS_SESSION_BUS_ADDRESS",
        "the command can reach your session bus, your keychain (Secret Service) among its services",
    ),
    (
        "GPG_AGENT_INFO",
        "the command can use your gpg-agent's keys",
    ),
];

/// What passes and what is dropped.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EnvPlan {
    pub kept: Vec<(OsString, OsString)>,
    /// Names only, sorted.
    pub passed: Vec<String>,
    pub dropped: Vec<String>,
    /// One sentence per opening variable the user passed on purpose.
    pub warnings: Vec<String>,
    /// The patterns that decided: the user's own additions, and what always stays out.
    pub keep_patterns: Vec<String>,
    pub hide_patterns: Vec<String>,
}

/// The user's lists: `keep` names (patterns) that pass as well, `hide` names that never do.
pub fn plan(env: &[(OsString, OsString)], keep: &[String], hide: &[String]) -> EnvPlan {
    // Names compare without regard to ASCII case: the built-in patterns are upper case, the
    // user's are made so once.
    let upper =
        |list: &[String]| -> Vec<String> { list.iter().map(|p| p.to_ascii_uppercase()).collect() };
    let (keep, hide) = (upper(keep), upper(hide));
    let matches = |patterns: &[String], name: &str| patterns.iter().any(|p| glob_match(p, name));
    let mut plan = EnvPlan {
        keep_patterns: keep.clone(),
        hide_patterns: hide.clone(),
        ..EnvPlan::default()
    };
    for (name, value) in env {
        let text = name.to_string_lossy().into_owned();
        let name_upper = text.to_ascii_uppercase();
        let named = matches(&keep, &name_upper);
        let harmless = PASS_ENV.iter().any(|p| glob_match(p, &name_upper));
        let hidden = matches(&hide, &name_upper);
        let opening = OPENING_ENV.iter().find(|(n, _)| *n == text);
        let passes = !hidden
            && match opening {
                Some(_) => named,
                None => harmless || named,
            };
        if passes {
            if let Some((n, why)) = opening {
                plan.warnings
                    .push(format!("{n} passes into the shield as you asked: {why}"));
            }
            plan.kept.push((name.clone(), value.clone()));
            plan.passed.push(text);
        } else {
            plan.dropped.push(text);
        }
    }
    plan.passed.sort();
    plan.dropped.sort();
    plan
}

/// The sockets and files that the opening variables among `kept` name, to make visible.
pub fn opened_paths(kept: &[(OsString, OsString)]) -> Vec<PathBuf> {
    let var = |name: &str| {
        kept.iter()
            .find(|(n, _)| n == OsStr::new(name))
            .map(|(_, v)| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty())
    };
    let mut out = Vec::new();
    for (name, _) in OPENING_ENV {
        let Some(value) = var(name) else { continue };
        match *name {
            // `/tmp/tmux-1000/default,1234,0`
            "TMUX" => out.extend(value.split(',').next().map(PathBuf::from)),
            "SSH_AUTH_SOCK" | "XAUTHORITY" => out.push(PathBuf::from(value)),
            "GPG_AGENT_INFO" => out.extend(value.split(':').next().map(PathBuf::from)),
            "DBUS_SESSION_BUS_ADDRESS" => out.extend(super::layout::bus_paths(&value)),
            "WAYLAND_DISPLAY" => {
                let path = PathBuf::from(&value);
                match (path.is_absolute(), var("XDG_RUNTIME_DIR")) {
                    (true, _) => out.push(path),
                    (false, Some(runtime)) => out.push(PathBuf::from(runtime).join(path)),
                    (false, None) => {}
                }
            }
            // `:0` or `host:0.0`: only local displays have a socket.
            "DISPLAY" => {
                if let Some(number) = value.strip_prefix(':').and_then(|d| d.split('.').next()) {
                    out.push(PathBuf::from(format!("/tmp/.X11-unix/X{number}")));
                }
            }
            _ => {}
        }
    }
    out.retain(|p| p.is_absolute());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(names: &[&str]) -> Vec<(OsString, OsString)> {
        names
            .iter()
            .map(|n| (OsString::from(n), OsString::from(format!("{n}-value"))))
            .collect()
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_known_harmless_names_pass_by_default() {
        let plan = plan(
            &env(&[
                "PATH",
                "HOME",
                "LC_ALL",
                "VIRTUAL_ENV",
                "CARGO_HOME",
                "GITHUB_ACTIONS",
                "PGPASSWORD",
                "MYSQL_PWD",
                "DATABASE_URL",
                "GITHUB_PAT",
                "GITHUB_TOKEN",
                "SSHPASS",
                "NPM_CONFIG__AUTH",
                "npm_config_//registry.npmjs.org/:_authToken",
                "PIP_INDEX_URL",
                "SOMETHING_NEW",
                "TMUX",
                "STY",
                "DISPLAY",
                "WAYLAND_DISPLAY",
                "SSH_AUTH_SOCK",
                "DBUS_SESSION_BUS_ADDRESS",
            ]),
            &[],
            &[],
        );
        assert_eq!(
            plan.passed,
            [
                "CARGO_HOME",
                "GITHUB_ACTIONS",
                "HOME",
                "LC_ALL",
                "PATH",
                "VIRTUAL_ENV"
            ]
        );
        assert_eq!(plan.dropped.len(), 16);
        assert!(plan.warnings.is_empty());
    }

    #[test]
    fn the_user_adds_and_removes_names_and_opening_ones_warn() {
        let plan = plan(
            &env(&["CI_JOB_TOKEN", "TMUX", "RUST_LOG", "CORP_X", "PATH"]),
            &strings(&["CI_JOB_TOKEN", "TMUX", "CORP_*"]),
            &strings(&["RUST_LOG", "CORP_*"]),
        );
        assert_eq!(plan.passed, ["CI_JOB_TOKEN", "PATH", "TMUX"]);
        assert_eq!(plan.dropped, ["CORP_X", "RUST_LOG"], "hide wins");
        assert_eq!(plan.warnings.len(), 1);
        assert!(
            plan.warnings[0].contains("every pane"),
            "{:?}",
            plan.warnings
        );
    }

    #[test]
    fn opening_variables_name_their_sockets() {
        let kept: Vec<(OsString, OsString)> = [
            ("TMUX", "/tmp/tmux-0/default,12,0"),
            ("SSH_AUTH_SOCK", "/home/u/.1password/agent.sock"),
            ("DISPLAY", ":1.0"),
            ("WAYLAND_DISPLAY", "wayland-0"),
            ("XDG_RUNTIME_DIR", "/run/user/0"),
            ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/0/bus"),
        ]
        .iter()
        .map(|(n, v)| (OsString::from(n), OsString::from(v)))
        .collect();
        assert_eq!(
            opened_paths(&kept),
            [
                PathBuf::from("/tmp/tmux-0/default"),
                PathBuf::from("/tmp/.X11-unix/X1"),
                PathBuf::from("/run/user/0/wayland-0"),
                PathBuf::from("/home/u/.1password/agent.sock"),
                PathBuf::from("/run/user/0/bus"),
            ]
        );
    }
}
