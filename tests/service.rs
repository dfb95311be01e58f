//! secd under a service manager: the systemd user units in daemon/dist/systemd pass
//! `systemd-analyze verify`, and secd serves on the socket systemd hands it (socket
//! activation, tried with systemd's own `systemd-socket-activate`), leaving that socket to
//! systemd when it stops. Without either, `sec` starts secd itself (every other test).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sec_tests::{World, require_program, secd_bin, wait_until};

fn units_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../daemon/dist/systemd")
}

/// `systemd-analyze verify --user UNITS` with a home whose ~/.cargo/bin/secd exists.
fn verify(units: &[PathBuf], home: &Path, runtime: &Path) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(["verify", "--user"])
        .args(units)
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", runtime)
        .output()
        .expect("cannot run systemd-analyze")
}

#[test]
fn the_systemd_user_units_verify() {
    require_program("systemd-analyze", "systemd");
    let world = World::without_keyring();
    let home = world.root().join("unit-home");
    std::fs::create_dir_all(home.join(".cargo/bin")).unwrap();
    std::fs::copy(secd_bin(), home.join(".cargo/bin/secd")).unwrap();
    let units = [
        units_dir().join("secd.socket"),
        units_dir().join("secd.service"),
    ];
    let out = verify(&units, &home, &world.runtime_dir);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed: {out:?}"
    );
    // Control: verify does look (a unit whose program is missing fails).
    std::fs::remove_file(home.join(".cargo/bin/secd")).unwrap();
    let out = verify(&units, &home, &world.runtime_dir);
    assert!(
        !out.status.success(),
        "verify passed a unit whose secd is missing"
    );
}

#[test]
fn secd_serves_on_the_socket_systemd_passes_and_leaves_it_to_systemd() {
    require_program("systemd-socket-activate", "systemd");
    let world = World::without_keyring();
    world.write_config("[[scope]]\ndir = {project}\n[scope.env]\nA = { value = \"activated\" }\n");
    let dir = world.sec_runtime_dir();
    std::fs::create_dir_all(&dir).unwrap();
    sec_tests::chmod(&dir, 0o700);
    let socket = world.socket_path();
    let mut activator = world.command("systemd-socket-activate");
    activator.arg("-l").arg(&socket);
    // It hands the program a clean environment but for what -E names.
    for (name, _) in world.env() {
        activator.arg("-E").arg(&name);
    }
    activator
        .arg(secd_bin())
        .arg("--foreground")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut activator = activator.spawn().unwrap();
    wait_until("systemd-socket-activate to listen", || socket.exists());
    // The first connection starts secd on the passed socket.
    assert_eq!(world.child_sees(&world.project, "A").0, "activated");
    let pid = world.daemon_pid();
    assert_eq!(
        pid as u32,
        activator.id(),
        "secd is not the process systemd started"
    );
    world.run(&["daemon", "stop"]).assert_success();
    let _ = activator.wait();
    let mut stderr = String::new();
    std::io::Read::read_to_string(activator.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("socket systemd passed"), "{stderr}");
    assert!(socket.exists(), "secd removed the socket systemd owns");
    // Without systemd, the next command starts its own secd over the left socket file.
    assert_eq!(world.child_sees(&world.project, "A").0, "activated");
    assert_ne!(world.daemon_pid(), pid);
}
