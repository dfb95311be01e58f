use super::*;

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
fn variables_name_the_sockets_and_files_to_cover() {
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
        [
            PathBuf::from("/opt/cargo/credentials*"),
            PathBuf::from("/opt/cargo/config*")
        ]
    );
    assert!(paths_in_var("SSH_AUTH_SOCK", "relative").is_empty());
}

#[test]
fn other_mounts_of_the_home_are_found() {
    let mounts = super::super::host::parse_mountinfo(
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
         2 1 8:1 / /mnt/disk rw - ext4 /dev/sda1 rw\n\
         3 1 8:1 /home/u/.ssh /srv/keys rw - ext4 /dev/sda1 rw\n\
         4 1 8:1 /var/lib/x /var/lib/x rw - ext4 /dev/sda1 rw\n\
         5 1 0:5 / /home/u/mnt rw - tmpfs tmpfs rw\n",
    );
    assert_eq!(
        home_aliases(Path::new("/home/u"), &mounts),
        [
            PathBuf::from("/mnt/disk/home/u"),
            PathBuf::from("/srv/keys")
        ]
    );
    let bound = super::super::host::parse_mountinfo(
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 8:1 /home/u /srv rw - ext4 /dev/sda1 rw\n",
    );
    assert_eq!(
        home_aliases(Path::new("/home/u"), &bound),
        [PathBuf::from("/srv")]
    );
}

/// A fake home with credentials, toolchains and a project.
struct Fixture {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    project: PathBuf,
    env: Vec<(OsString, OsString)>,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().canonicalize().unwrap().join("home");
        for dir in [
            ".ssh",
            ".config/gh",
            ".cargo/bin",
            ".cargo/registry",
            ".rustup",
            ".local/bin",
            "bin",
            "src/p/.git/hooks",
        ] {
            std::fs::create_dir_all(home.join(dir)).unwrap();
        }
        for file in [
            ".netrc",
            ".cargo/credentials.toml",
            ".bashrc",
            "src/p/.git/config",
        ] {
            std::fs::write(home.join(file), "x").unwrap();
        }
        let path = format!(
            "{}:{}:/usr/bin",
            home.join("bin").display(),
            home.join(".cargo/bin").display()
        );
        let env = vec![(OsString::from("PATH"), OsString::from(path))];
        Fixture {
            project: home.join("src/p"),
            _tmp: tmp,
            home,
            env,
        }
    }

    fn plan_with(
        &self,
        cwd: &Path,
        policy: &ShieldSettings,
        allow: &[PathBuf],
        writable: &[PathBuf],
        sockets: &[PathBuf],
    ) -> Result<(Layout, Vec<String>), Failure> {
        Layout::plan(&Request {
            home: &self.home,
            cwd,
            env: &self.env,
            settings: policy,
            daemon_dirs: &[],
            allow,
            writable,
            writable_git: false,
            opened: &[],
            mounts: &[],
            sockets,
        })
    }

    fn plan(&self) -> Layout {
        self.plan_with(&self.project, &ShieldSettings::default(), &[], &[], &[])
            .unwrap()
            .0
    }

    fn rel(&self, paths: impl Iterator<Item = PathBuf>) -> Vec<String> {
        paths
            .map(|p| {
                p.strip_prefix(&self.home)
                    .unwrap_or(&p)
                    .display()
                    .to_string()
            })
            .collect()
    }
}

#[test]
fn the_home_shows_only_toolchains_and_the_project() {
    let f = Fixture::new();
    let layout = f.plan();
    assert_eq!(
        f.rel(layout.shown.iter().map(|s| s.target.clone())),
        [
            ".cargo/bin",
            ".cargo/registry",
            ".local/bin",
            ".rustup",
            "src/p"
        ]
    );
    let project = layout.shown.iter().find(|s| s.why == "project").unwrap();
    assert!(project.writable);
    assert!(
        layout
            .shown
            .iter()
            .filter(|s| s.why != "project")
            .all(|s| !s.writable)
    );
    assert!(layout.visible(&f.home.join(".cargo/bin")));
    assert!(!layout.visible(&f.home.join(".ssh")));
    assert!(!layout.visible(&f.home.join(".cargo/credentials.toml")));
    assert!(!layout.visible(&f.home.join(".bashrc")));
    assert!(!layout.visible(Path::new("/tmp/anything")));
    assert!(layout.visible(Path::new("/usr/bin")));
    assert!(
        layout
            .notes
            .iter()
            .any(|n| n.contains("--allow") && n.contains("/bin")),
        "{:?}",
        layout.notes
    );
    assert_eq!(
        f.rel(layout.protected.iter().cloned()),
        ["src/p/.git/config", "src/p/.git/hooks"]
    );
    assert!(
        layout
            .guarded
            .iter()
            .any(|g| g.path.ends_with(".envrc") && g.link.is_none())
    );
}

#[test]
fn credentials_inside_what_shows_are_covered() {
    let f = Fixture::new();
    let policy = ShieldSettings {
        allow: vec![f.home.join(".cargo")],
        ..Default::default()
    };
    let socket = f.project.join("dev.sock");
    std::fs::write(&socket, "").unwrap();
    let (layout, _) = f
        .plan_with(&f.project, &policy, &[], &[], std::slice::from_ref(&socket))
        .unwrap();
    assert_eq!(
        f.rel(layout.hidden.iter().map(|h| h.path.clone())),
        [".cargo/credentials.toml", "src/p/dev.sock"]
    );
    // Named on purpose, a socket shows.
    let (layout, _) = f
        .plan_with(
            &f.project,
            &ShieldSettings::default(),
            std::slice::from_ref(&socket),
            &[],
            std::slice::from_ref(&socket),
        )
        .unwrap();
    assert!(layout.hidden.is_empty(), "{:?}", layout.hidden);
}

#[test]
fn allow_and_writable_show_paths_and_a_missing_one_is_refused() {
    let f = Fixture::new();
    let netrc = f.home.join(".netrc");
    let cache = f.home.join("cache");
    std::fs::create_dir(&cache).unwrap();
    let (layout, _) = f
        .plan_with(
            &f.project,
            &ShieldSettings::default(),
            std::slice::from_ref(&netrc),
            std::slice::from_ref(&cache),
            &[],
        )
        .unwrap();
    assert!(
        layout
            .shown
            .iter()
            .any(|s| s.target == netrc && !s.writable)
    );
    assert!(layout.shown.iter().any(|s| s.target == cache && s.writable));
    let err = f
        .plan_with(
            &f.project,
            &ShieldSettings::default(),
            &[],
            &[f.home.join("nope")],
            &[],
        )
        .unwrap_err();
    assert!(err.message.contains("no such file"), "{}", err.message);
}

#[test]
fn a_home_or_a_credential_dir_is_no_project() {
    let f = Fixture::new();
    let policy = ShieldSettings::default();
    let err = f.plan_with(&f.home, &policy, &[], &[], &[]).unwrap_err();
    assert!(err.message.contains("whole home"), "{}", err.message);
    let err = f
        .plan_with(&f.home.join(".ssh"), &policy, &[], &[], &[])
        .unwrap_err();
    assert!(
        err.message.contains("which the shield hides"),
        "{}",
        err.message
    );
}

#[test]
fn a_subdirectory_of_a_repository_runs_with_the_whole_repository() {
    let f = Fixture::new();
    let sub = f.project.join("tests");
    std::fs::create_dir(&sub).unwrap();
    let (layout, _) = f
        .plan_with(&sub, &ShieldSettings::default(), &[], &[], &[])
        .unwrap();
    assert_eq!(layout.project, f.project);
    assert_eq!(layout.cwd, sub);
}

#[test]
fn a_hooks_path_in_the_work_tree_is_guarded() {
    let f = Fixture::new();
    std::fs::write(
        f.project.join(".git/config"),
        "[core]\n\tbare = false\n\thooksPath = .githooks\n[alias]\n\thooksPath = x\n",
    )
    .unwrap();
    let layout = f.plan();
    assert!(
        layout
            .guarded
            .iter()
            .any(|g| g.path == f.project.join(".githooks"))
    );
    assert!(
        layout
            .guarded
            .iter()
            .any(|g| g.path == f.project.join(".pre-commit-config.yaml"))
    );
}

#[test]
fn a_directory_without_git_guards_a_new_repository() {
    let f = Fixture::new();
    let plain = f.home.join("plain");
    std::fs::create_dir(&plain).unwrap();
    std::os::unix::fs::symlink("elsewhere", plain.join(".envrc")).unwrap();
    let (layout, _) = f
        .plan_with(&plain, &ShieldSettings::default(), &[], &[], &[])
        .unwrap();
    assert!(layout.protected.is_empty());
    assert!(layout.guarded.iter().any(|g| g.path == plain.join(".git")));
    let git = plain.join(".git");
    assert!(
        layout
            .guarded
            .iter()
            .all(|g| g.path == git || !g.path.starts_with(&git))
    );
    let envrc = layout
        .guarded
        .iter()
        .find(|g| g.path.ends_with(".envrc"))
        .unwrap();
    assert_eq!(envrc.link.as_deref(), Some(Path::new("elsewhere")));
}
