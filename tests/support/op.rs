//! A stand-in for 1Password's `op` CLI, which cannot be installed here (it is not in any
//! registry this machine reaches, and it needs a 1Password account). It implements only what
//! secd uses, `op read [--no-newline] REF`, with op's own error lines, so the tests using it
//! (named `op_standin_*` or saying so) exercise secd's real process handling and error
//! classification, not 1Password itself.

use std::path::{Path, PathBuf};

use crate::{shell_quoted, write_file_with_mode};

/// Controls for the stand-in: the items it knows, sign-in state, a delay, and the log of
/// its invocations.
pub struct OpStandin {
    dir: PathBuf,
}

const SCRIPT: &str = r#"#!/bin/sh
# Stand-in for 1Password's `op` (see tests/support/op.rs): `op read [--no-newline] REF`.
dir=__DIR__
printf '%s\n' "$*" >> "$dir/invocations"
if [ -f "$dir/op-delay" ]; then sleep "$(cat "$dir/op-delay")"; fi
if [ -f "$dir/op-signed-out" ]; then
    echo '[ERROR] 2024/05/01 10:00:00 You are not currently signed in. Please run `op signin --help` for instructions' >&2
    exit 1
fi
if [ "$1" != read ]; then
    echo "[ERROR] 2024/05/01 10:00:00 unknown command \"$1\" for \"op\"" >&2
    exit 1
fi
shift
newline=yes
ref=
for arg in "$@"; do
    case "$arg" in
        -n|--no-newline) newline= ;;
        *) ref=$arg ;;
    esac
done
while IFS= read -r line; do
    case "$line" in
        "$ref="*)
            value=${line#"$ref="}
            if [ -n "$newline" ]; then printf '%s\n' "$value"; else printf '%s' "$value"; fi
            exit 0
            ;;
    esac
done < "$dir/items"
# op://VAULT/ITEM/FIELD
rest=${ref#op://}
vault=${rest%%/*}
rest=${rest#*/}
item=${rest%%/*}
echo "[ERROR] 2024/05/01 10:00:00 \"$item\" isn't an item in the \"$vault\" vault. Specify the item with its UUID, name, or domain." >&2
exit 1
"#;

impl OpStandin {
    /// Writes `BIN/op`, keeping its state in `dir`.
    pub(crate) fn install(dir: &Path, bin: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("cannot create the op stand-in's directory");
        std::fs::write(dir.join("items"), "").expect("cannot create the op items file");
        write_file_with_mode(
            &bin.join("op"),
            &SCRIPT.replace("__DIR__", &shell_quoted(dir)),
            0o755,
        );
        OpStandin {
            dir: dir.to_path_buf(),
        }
    }

    /// Makes `op read REFERENCE` print `value`.
    pub fn add_item(&self, reference: &str, value: &str) {
        use std::io::Write;
        let mut items = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("items"))
            .expect("cannot open the op items file");
        writeln!(items, "{reference}={value}").expect("cannot write the op items file");
    }

    /// From now on every call fails as a signed-out `op` does.
    pub fn sign_out(&self) {
        std::fs::write(self.dir.join("op-signed-out"), "").expect("cannot sign the stand-in out");
    }

    pub fn sign_in(&self) {
        let _ = std::fs::remove_file(self.dir.join("op-signed-out"));
    }

    /// Every call sleeps `seconds` (as `sleep` takes it, e.g. "0.5") before answering, so
    /// concurrent lookups overlap.
    pub fn set_delay(&self, seconds: &str) {
        std::fs::write(self.dir.join("op-delay"), seconds).expect("cannot set the op delay");
    }

    /// One entry per call so far: its arguments.
    pub fn invocations(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("invocations"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}
