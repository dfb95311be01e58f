//! `cmd:PROGRAM ARG...`: the secret is what a program prints on stdout.
//!
//! The text after `cmd:` is split into words the way a POSIX shell splits them, for
//! quoting only, and the program is then run directly, **without a shell**:
//!
//! * words are separated by spaces, tabs and newlines;
//! * `'...'` keeps everything inside literally;
//! * `"..."` keeps everything inside literally except `\"`, `\\`, `` \` ``, `\$` (the
//!   character itself) and a backslash-newline (removed);
//! * outside quotes, `\c` is the character `c` and a backslash-newline is removed.
//!
//! Nothing is expanded. So that a line written for a shell does not silently mean something
//! else, characters a shell would treat specially are refused unless quoted: `| & ; < > ( )
//! $` and backtick anywhere, `$` and backtick inside double quotes, and `~` or `#` at the
//! start of a word. Glob characters (`* ? [`) are passed literally. A pipeline or a
//! variable needs an explicit shell: `cmd:sh -c 'pass show x | head -n 1'`.
//!
//! PROGRAM is a name looked up on secd's `PATH` or an absolute path (a relative path would
//! depend on secd's working directory). The program runs with secd's environment, stdin
//! from `/dev/null`, and a 30 s timeout. Its stdout, minus one trailing newline (`\n` or
//! `\r\n`), is the secret; a non-zero exit is a failure explained by the first line of its
//! stderr (at most 200 characters). `cmd:` references are read-only.
//!
//! Because a `cmd:` reference runs code, [`Reference::runs_program`] lets the configuration
//! layer accept them only from the user's own configuration.

use std::process::ExitStatus;
use std::time::Duration;

use secrecy::SecretString;
use tokio::process::Command;

use super::program::{Advice, first_line, run, stdout_secret};
use super::{CmdRef, VaultError, unsupported};

const BACKEND: &str = "the cmd: program";
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct CmdBackend {
    timeout: Duration,
}

impl CmdBackend {
    pub fn new() -> Self {
        Self { timeout: TIMEOUT }
    }

    async fn read(&self, reference: &CmdRef) -> Result<SecretString, VaultError> {
        let argv = &reference.argv;
        let name = reference.to_string();
        let program = &argv[0];
        let mut command = Command::new(program);
        command.args(&argv[1..]);
        let captured = run(command, None, self.timeout).await.map_err(|e| {
            e.explain(
                &name,
                BACKEND,
                program,
                Advice {
                    not_installed: format!(
                        "`{program}` was not found{}; install it, or name it by its absolute path",
                        if program.starts_with('/') {
                            ""
                        } else {
                            " on secd's PATH"
                        }
                    ),
                    timed_out: format!(
                        "`{program}` did not finish within {}s (it was stopped); make sure it needs no input and can reach what it asks",
                        self.timeout.as_secs()
                    ),
                },
            )
        })?;
        if !captured.status.success() {
            return Err(VaultError::Failed {
                reference: name,
                backend: BACKEND,
                reason: exit_reason(
                    program,
                    captured.status,
                    &String::from_utf8_lossy(&captured.stderr),
                ),
            });
        }
        stdout_secret(captured.stdout, &format!("`{program}`")).map_err(|reason| {
            VaultError::Failed {
                reference: name,
                backend: BACKEND,
                reason,
            }
        })
    }
}

impl Default for CmdBackend {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a program failed: its exit status and the first line of its stderr.
fn exit_reason(program: &str, status: ExitStatus, stderr: &str) -> String {
    let how = match status.code() {
        Some(code) => format!("`{program}` exited with status {code}"),
        None => format!("`{program}` was killed ({status})"),
    };
    let line = first_line(stderr);
    if line.is_empty() {
        format!("{how} and printed nothing on stderr")
    } else {
        format!("{how}: {line}")
    }
}

const READ_ONLY: &str =
    "a cmd: reference is read-only; store the secret where your command reads it";

impl CmdBackend {
    pub async fn get(&self, reference: &CmdRef) -> Result<SecretString, VaultError> {
        self.read(reference).await
    }
}

/// Why a `cmd:` reference cannot be written or deleted.
pub fn refusal(reference: &CmdRef, action: &'static str) -> VaultError {
    unsupported(reference, BACKEND, action, READ_ONLY)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::super::program::{STDERR_CHARS, trim_newline};
    use super::*;
    use crate::store::vault::Reference;

    #[test]
    fn parses_cmd_references() {
        let r = Reference::parse("cmd:secret-tool lookup service 'my pypi'").unwrap();
        assert_eq!(r.to_string(), "cmd:secret-tool lookup service 'my pypi'");
        assert!(r.runs_program());
        let Reference::Command(CmdRef { argv, .. }) = &r else {
            panic!("{r:?}")
        };
        assert_eq!(argv, &["secret-tool", "lookup", "service", "my pypi"]);
        assert!(Reference::parse("cmd:/usr/bin/true").is_ok());
        for bad in [
            "cmd:",
            "cmd:   ",
            "cmd:'' x",
            "cmd:bin/get-token",
            "cmd:./get",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
        assert!(!Reference::parse("keyring:a/b").unwrap().runs_program());
    }

    #[test]
    fn parse_errors_never_repeat_the_text() {
        for text in [
            "cmd:pypi-AgEIcHlwaS5vcmc | x",
            "cmd:'pypi-AgEIcHlwaS5vcmc",
            "cmd:pypi-AgEIcHlwaS5vcmc $X",
            "cmd:./pypi-AgEIcHlwaS5vcmc",
        ] {
            let err = Reference::parse(text).unwrap_err();
            assert!(!err.contains("AgEIcHlwaS5vcmc"), "{err}");
        }
    }

    #[test]
    fn trims_exactly_one_trailing_newline() {
        for (raw, want) in [
            ("tok", "tok"),
            ("tok\n", "tok"),
            ("tok\r\n", "tok"),
            ("tok\n\n", "tok\n"),
            ("a\nb\n", "a\nb"),
            ("tok\r", "tok\r"),
            ("", ""),
            ("\n", ""),
        ] {
            let mut value = raw.to_string();
            trim_newline(&mut value);
            assert_eq!(value, want, "{raw:?}");
        }
    }

    #[test]
    fn keeps_stderr_short_and_single_line() {
        assert_eq!(
            first_line("\n  \n  first problem  \nsecond\n"),
            "first problem"
        );
        let long = "x".repeat(500);
        let line = first_line(&long);
        assert_eq!(line.chars().count(), STDERR_CHARS + 1);
        assert!(line.ends_with('…'));
        assert_eq!(first_line("bell\x07here\x1b[31m"), "bell?here?[31m");
        assert_eq!(first_line(""), "");
    }

    fn reference(text: &str) -> CmdRef {
        CmdRef::try_from(Reference::parse(text).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn reads_a_programs_stdout() {
        let backend = CmdBackend::new();
        let r = reference(r#"cmd:sh -c 'printf "to ken\r\n"'"#);
        assert_eq!(backend.get(&r).await.unwrap().expose_secret(), "to ken");
        let r = reference(r#"cmd:sh -c 'printf "%s\n" "$1"' sh "two words""#);
        assert_eq!(backend.get(&r).await.unwrap().expose_secret(), "two words");
    }

    #[tokio::test]
    async fn explains_failures() {
        let backend = CmdBackend::new();
        let secretish = "canary-stdout";
        let r = reference(&format!(
            "cmd:sh -c 'echo {secretish}; echo \"no token for you\" >&2; echo more >&2; exit 3'"
        ));
        let err = backend.get(&r).await.unwrap_err();
        assert!(matches!(err, VaultError::Failed { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.ends_with("`sh` exited with status 3: no token for you"),
            "{text}"
        );

        let r = reference("cmd:sh -c 'exit 1'");
        let text = backend.get(&r).await.unwrap_err().to_string();
        assert!(text.ends_with("printed nothing on stderr"), "{text}");

        let r = reference("cmd:sec-test-no-such-program --flag");
        let err = backend.get(&r).await.unwrap_err();
        assert!(matches!(err, VaultError::Unavailable { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("`sec-test-no-such-program` was not found on secd's PATH"),
            "{err}"
        );
        let r = reference("cmd:/nonexistent/prog");
        let err = backend.get(&r).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("`/nonexistent/prog` was not found;"),
            "{err}"
        );

        let r = reference(r"cmd:printf '\377'");
        let err = backend.get(&r).await.unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    #[tokio::test]
    async fn stops_a_program_that_hangs() {
        let backend = CmdBackend {
            timeout: Duration::from_millis(200),
        };
        let r = reference("cmd:sleep 30");
        let started = std::time::Instant::now();
        let err = backend.get(&r).await.unwrap_err();
        assert!(matches!(err, VaultError::Unavailable { .. }), "{err}");
        assert!(err.to_string().contains("did not finish within"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn is_read_only() {
        let r = reference("cmd:true");
        let err = refusal(&r, "store");
        assert!(matches!(err, VaultError::Unsupported { .. }), "{err}");
        assert!(
            err.to_string().ends_with(
                "a cmd: reference is read-only; store the secret where your command reads it"
            ),
            "{err}"
        );
        assert!(refusal(&r, "delete").to_string().contains("delete"));
    }
}
