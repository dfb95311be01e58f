//! An askpass program for tests of confirmation: its answer is chosen per call, and it
//! records how it was called.

use std::path::PathBuf;

use crate::{World, shell_quoted, write_file_with_mode};

/// An askpass program whose answer is set per call from a file: `yes`, `no` or `slow`
/// (sleeps 10 s). It records each call, its prompt (the single argument) and
/// `SSH_ASKPASS_PROMPT`.
pub struct Askpass {
    /// The program, for `askpass = ...` in config.toml.
    pub program: PathBuf,
    dir: PathBuf,
}

impl Askpass {
    pub fn install(world: &World) -> Self {
        let dir = world.root().join("askpass");
        std::fs::create_dir_all(&dir).unwrap();
        let program = world.root().join("askpass.sh");
        let quoted = shell_quoted(&dir);
        let script = format!(
            r#"#!/bin/sh
dir={quoted}
echo "$#" >> "$dir/calls"
printf '%s' "$1" > "$dir/prompt"
printf '%s' "$SSH_ASKPASS_PROMPT" > "$dir/env"
case "$(cat "$dir/answer" 2>/dev/null)" in
    no) exit 1 ;;
    slow) sleep 10; exit 0 ;;
    *) exit 0 ;;
esac
"#
        );
        write_file_with_mode(&program, &script, 0o755);
        Askpass { program, dir }
    }

    pub fn answer(&self, answer: &str) {
        std::fs::write(self.dir.join("answer"), answer).unwrap();
    }

    /// The argument count of each call so far.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn last_prompt(&self) -> String {
        std::fs::read_to_string(self.dir.join("prompt")).unwrap_or_default()
    }

    pub fn last_env(&self) -> String {
        std::fs::read_to_string(self.dir.join("env")).unwrap_or_default()
    }
}
