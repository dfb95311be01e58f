//! The sentence for a shield that could not be built: which part failed, and what to do.

use std::path::Path;

use nix::errno::Errno;

use super::sandbox::{Step, StepError};

/// Why the step failed, naming the path of a failed mount and the setting that blocks.
/// Why the shield must refuse to start when abstract Unix sockets (a session bus, an X
/// display) would stay reachable: only Landlock scopes (Linux 6.12) or a network namespace
/// (`--no-network`) close them. `listening` is asked only when it matters.
pub fn unguarded_abstract_sockets(
    has_landlock: bool,
    no_network: bool,
    listening: impl FnOnce() -> bool,
) -> Option<&'static str> {
    (!has_landlock && !no_network && listening()).then_some(
        "abstract Unix sockets listen here (a session bus or an X display may be among them), and this kernel cannot keep the command from them (Landlock scopes need Linux 6.12). Add --no-network, which closes them",
    )
}

pub fn explain(error: &StepError, plan_paths: &[std::path::PathBuf]) -> String {
    let errno = error.errno;
    let path = || {
        plan_paths
            .get(error.index)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "a path".into())
    };
    match error.step {
        Step::UserNamespace | Step::NestedNamespace => format!(
            "the kernel refused a user namespace ({errno}): {}",
            userns_refusal(errno)
        ),
        Step::MapIds | Step::NestedMapIds => format!(
            "the kernel refused to map your uid and gid in a new user namespace ({errno}); {}",
            sysctl_hint(&[(
                "kernel.apparmor_restrict_unprivileged_userns",
                "AppArmor restricts unprivileged user namespaces (Ubuntu 23.10 and later); allow them for sec with an AppArmor profile that has `userns,`"
            )])
        ),
        Step::Fork => format!("cannot start the command in the shield ({errno})"),
        Step::Propagation => format!("cannot make the mounts private ({errno})"),
        Step::NewRoot => format!(
            "cannot build the new root from a read-only copy of / ({errno}){}",
            if errno == Errno::ENOSYS {
                "; sec shield needs mount_setattr (Linux 5.12 or later)"
            } else {
                ""
            }
        ),
        Step::Mount if path() == "/proc" => format!(
            "cannot mount a /proc of the new PID namespace ({errno}); the kernel allows that only where the host's /proc is fully visible (in a container whose /proc has masked paths it is not)"
        ),
        Step::Mount if errno == Errno::ENOSYS || errno == Errno::EINVAL => format!(
            "cannot make {} read-only recursively ({errno}); sec shield needs mount_setattr (Linux 5.12 or later)",
            path()
        ),
        Step::Mount => format!("cannot set up {} in the new root ({errno})", path()),
        Step::Pivot => format!("cannot switch to the new root ({errno})"),
        Step::Chdir => format!("cannot enter {} in the new root ({errno})", path()),
        Step::Loopback => format!("cannot bring up the loopback interface ({errno})"),
        Step::Landlock => format!("cannot apply the Landlock scopes ({errno})"),
        Step::Descriptors => format!(
            "cannot close the inherited descriptors or keep the ones asked for ({errno}); check the numbers given to --keep-fd"
        ),
        Step::Seccomp => format!("cannot install the seccomp filter ({errno})"),
    }
}

/// Why `unshare(CLONE_NEWUSER)` failed, with the sysctls that say so.
fn userns_refusal(errno: Errno) -> String {
    match errno {
        Errno::ENOSPC => sysctl_hint(&[(
            "user.max_user_namespaces",
            "the number of user namespaces is limited and the limit is reached; raise it",
        )]),
        Errno::EPERM => {
            sysctl_hint(&[
                (
                    "kernel.unprivileged_userns_clone",
                    "unprivileged user namespaces are switched off; switch them on",
                ),
                (
                    "user.max_user_namespaces",
                    "the number of user namespaces is limited; raise it",
                ),
            ]) + " (in a container, its seccomp policy may forbid them: Docker's default does)"
        }
        Errno::EINVAL | Errno::ENOSYS => {
            "this kernel was built without user namespaces (CONFIG_USER_NS)".into()
        }
        _ => "an unexpected refusal".into(),
    }
}

/// The first sysctl that is set to 0 here, with its explanation; or a plain list of them.
fn sysctl_hint(candidates: &[(&str, &str)]) -> String {
    for (name, why) in candidates {
        let file = Path::new("/proc/sys").join(name.replace('.', "/"));
        if let Ok(value) = std::fs::read_to_string(&file) {
            let value = value.trim();
            let blocking = if *name == "kernel.apparmor_restrict_unprivileged_userns" {
                value != "0"
            } else {
                value == "0"
            };
            if blocking {
                return format!("{name} = {value}: {why}");
            }
        }
    }
    let names: Vec<&str> = candidates.iter().map(|(n, _)| *n).collect();
    format!("check {}", names.join(" and "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_only_when_listening_abstract_sockets_would_stay_open() {
        let listening = || true;
        assert!(unguarded_abstract_sockets(false, false, listening).is_some());
        assert!(unguarded_abstract_sockets(true, false, listening).is_none());
        assert!(unguarded_abstract_sockets(false, true, listening).is_none());
        assert!(unguarded_abstract_sockets(false, false, || false).is_none());
        let why = unguarded_abstract_sockets(false, false, listening).unwrap();
        assert!(why.contains("--no-network"), "{why}");
    }
}
