//! Helpers for the `sec shield` tests: run a script with and without the shield, plant
//! credentials, and small Python probes that try a way out.

use crate::{Output, World, unique};

/// Credential files with a canary each, in the world's HOME.
pub const PLANTED: &[&str] = &[
    ".ssh/id_ed25519",
    ".netrc",
    ".pypirc",
    "corp/badge.key",
    ".bash_history",
    ".zsh_history",
    ".local/share/fish/fish_history",
];

/// Connects to a Unix socket (exit 0) or fails (exit 1).
pub const CONNECT_UNIX: &str = "import socket, sys\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect(sys.argv[1])\nexcept OSError as e:\n    sys.exit(f'{e}')\n";

/// Connects to the abstract Unix socket named by its argument (exit 0) or fails.
pub const CONNECT_ABSTRACT: &str = "import socket, sys\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect('\\0' + sys.argv[1])\nexcept OSError as e:\n    sys.exit(f'{e}')\n";

/// Connects to 127.0.0.1:PORT (exit 0) or fails (exit 1).
pub const CONNECT_TCP: &str = "import socket, sys\ntry:\n    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2)\nexcept OSError as e:\n    sys.exit(f'{e}')\n";

/// Listens on the Unix socket path in argv[1] until killed (an agent, a multiplexer).
pub const LISTEN_UNIX: &str = "import os, socket, sys, time\ns = socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\ns.listen()\nwhile True:\n    time.sleep(60)\n";

/// Types one character into a fresh controlling terminal with TIOCSTI (exit 0) or fails.
pub const TIOCSTI: &str = "import fcntl, os, pty, sys, termios
m, s = pty.openpty()
name = os.ttyname(s)
pid = os.fork()
if pid == 0:
    os.setsid()
    fd = os.open(name, os.O_RDWR)
    try:
        fcntl.ioctl(fd, termios.TIOCSTI, b'x')
    except OSError as e:
        print(e, file=sys.stderr)
        os._exit(1)
    os._exit(0)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
";

/// Plants a canary in each of [`PLANTED`] and a `.bashrc`; returns the canary.
pub fn plant_credentials(world: &World) -> String {
    let canary = unique("canary");
    for file in PLANTED {
        let path = world.home.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("export GH_TOKEN={canary}\n")).unwrap();
    }
    std::fs::write(world.home.join(".bashrc"), "# the user's own\n").unwrap();
    canary
}

/// `sh -c SCRIPT` under `sec shield ARGS` in the project, with extra environment that the
/// shield passes on (`--keep-env` for each: the probes come in through it).
pub fn shielded(world: &World, args: &[&str], script: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = world.sec(&["shield"]);
    cmd.args(args);
    for (name, _) in env {
        cmd.args(["--keep-env", name]);
    }
    cmd.args(["--", "sh", "-c", script])
        .envs(env.iter().copied());
    world.output(cmd)
}

/// The same script without the shield: the control, which must reach what the shield keeps
/// out of reach.
pub fn unshielded(world: &World, script: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = world.command("sh");
    cmd.args(["-c", script]).envs(env.iter().copied());
    world.output(cmd)
}
