//! Shell completions and manual pages, generated from the command-line definition in
//! `cli.rs`, so they never drift from what sec accepts.

use std::path::Path;

use clap::CommandFactory;

use crate::cli::{Cli, Shell};
use crate::report::Failure;

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: Shell) -> Result<u8, Failure> {
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(
        generator,
        &mut Cli::command(),
        "sec",
        &mut std::io::stdout(),
    );
    Ok(0)
}

/// Writes `sec.1` and `sec-SUBCOMMAND.1` for every visible subcommand into `dir`.
pub fn man_pages(dir: &Path) -> Result<u8, Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))?;
    let command = Cli::command();
    clap_mangen::generate_to(command, dir).map_err(|e| {
        Failure::new(format!(
            "cannot write the manual pages into {}: {e}",
            dir.display()
        ))
    })?;
    eprintln!(
        "wrote the manual pages into {}; read one with `man -l {}/sec.1`",
        dir.display(),
        dir.display()
    );
    Ok(0)
}
