//! Deciding a lease: the scope in force for the caller's directory, the variables asked
//! for, the scope's rules (`commands`, `confirm`), the vault lookups, and the audit record,
//! which must be written before anything is handed out.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;

use crate::config::{Scope, Value};
use crate::daemon::broker::LeaseFile;
use crate::daemon::{Daemon, LeaseError, RepoView, Resolution, Resolved};
use crate::lease::audit::{Event, Record};
use crate::lease::confirm;
use crate::lease::files::FileVar;
use crate::lease::live::LeaseRecord;

/// What a client asks for, with what the kernel says about it.
pub struct LeaseAsk {
    pub argv: Vec<String>,
    pub only: Vec<String>,
    /// The caller's working directory, from the kernel where possible.
    pub cwd: PathBuf,
    pub pid: u32,
    pub exe: String,
    /// For `sec shield`: only the brokered variables, without the SSH agent.
    pub shield: bool,
    /// The caller becomes the command (execve): the lease follows that process.
    pub in_place: bool,
}

/// A decided lease: its record, the values, and what to tell the user.
pub struct Granted {
    /// The scope asks for its commands' output to be masked.
    pub mask: bool,
    pub record: LeaseRecord,
    pub vars: Vec<Resolved>,
    pub notice: String,
    pub config_error: String,
    pub max_lease: Option<Duration>,
    /// The lease's file directory, when it has files (the broker's CA files among them).
    pub files_dir: Option<PathBuf>,
}

impl Daemon {
    pub async fn grant(&self, ask: &LeaseAsk) -> Result<Granted, LeaseError> {
        let snapshot = self.current_config();
        if let Some(dir) = snapshot.config.untrusted_for(&ask.cwd) {
            let error = LeaseError::Untrusted {
                dir: dir.to_path_buf(),
            };
            let refusal = Record {
                command: ask.argv.clone(),
                pid: Some(ask.pid),
                exe: ask.exe.clone(),
                reason: error.to_string(),
                ..Default::default()
            };
            self.audit.note(Event::Deny, &refusal);
            return Err(error);
        }
        let effective = self.effective(&snapshot.config, &ask.cwd);
        let notice = effective
            .repo
            .as_ref()
            .and_then(RepoView::notice)
            .unwrap_or_default();
        let config_error = snapshot.error.clone().unwrap_or_default();
        let Some(scope) = effective.scope else {
            if !ask.only.is_empty() {
                return Err(LeaseError::NoScope {
                    names: ask.only.join(","),
                    dir: ask.cwd.clone(),
                });
            }
            let record = self.record(ask, None, Vec::new(), Vec::new());
            return Ok(Granted {
                mask: false,
                record,
                vars: Vec::new(),
                notice,
                config_error,
                max_lease: None,
                files_dir: None,
            });
        };
        if ask.in_place && scope.mask {
            return Err(LeaseError::InPlaceMasked);
        }
        let names = selected_names(&scope, &ask.only, ask.shield)?;
        let references = references_of(&scope, &names);
        let audit_record = Record {
            scope: scope.dir.display().to_string(),
            names: names.clone(),
            references: references.iter().map(ToString::to_string).collect(),
            command: ask.argv.clone(),
            pid: Some(ask.pid),
            exe: ask.exe.clone(),
            ..Default::default()
        };
        let ticket = self.in_flight.start(&scope.dir, &references);
        let decided = self
            .check_and_resolve(&scope, ask, &names, &snapshot.config)
            .await
            .and_then(|resolution| match ticket.revoked_by() {
                Some(by) => {
                    self.revoke_minted(
                        "",
                        resolution.minted,
                        "the lease was revoked while it was being granted",
                    );
                    Err(LeaseError::RevokedInFlight { by })
                }
                None => Ok(resolution),
            });
        let Resolution {
            vars,
            minted,
            ssh_keys,
        } = match decided {
            Ok(resolution) => resolution,
            Err(error) => {
                let refusal = Record {
                    reason: error.to_string(),
                    ..audit_record
                };
                self.audit.note(Event::Deny, &refusal);
                return Err(error);
            }
        };
        let (mut names, mut references) = (names, references);
        if !ssh_keys.is_empty() {
            names.push(super::agent::AGENT_VAR.into());
            references.extend(scope.ssh_keys.iter().map(|k| k.reference.clone()));
        }
        let mut record = self.record(ask, Some(&scope), names, references);
        record.expires_at = scope.max_lease.map(|d| record.granted_at + d);
        let (vars, files_dir) = match self
            .start_broker(&scope, &record, vars)
            .and_then(|(vars, ca_files)| self.deliver_files(&scope, &record.id, vars, &ca_files))
            .and_then(|(mut vars, files_dir)| {
                self.start_agent(ssh_keys, &record, &scope, &snapshot.config, &mut vars)
                    .map(|()| (vars, files_dir))
            }) {
            Ok(delivered) => delivered,
            Err(error) => {
                self.lease_gone(&record.id, "the lease was refused");
                self.revoke_minted(&record.id, minted, "the lease was refused");
                return Err(error);
            }
        };
        let granted = Record {
            names: record.names.clone(),
            references: record.references.iter().map(ToString::to_string).collect(),
            lease: record.id.clone(),
            engine_leases: minted.iter().map(|h| h.lease.id.clone()).collect(),
            ..audit_record
        };
        if let Err(source) = self.audit.write(Event::Grant, &granted) {
            self.lease_gone(&record.id, "the lease was refused");
            self.revoke_minted(&record.id, minted, "the lease was refused");
            let error = LeaseError::Audit {
                path: self.audit.path().to_path_buf(),
                source,
            };
            // The audit log is what failed: secd's own log is where this is recorded.
            tracing::error!(scope = %granted.scope, "lease refused: {error}");
            return Err(error);
        }
        self.engine_leases.attach(&record.id, minted);
        Ok(Granted {
            mask: scope.mask,
            record,
            vars,
            notice,
            config_error,
            max_lease: scope.max_lease,
            files_dir,
        })
    }

    /// The scope's rules, then the values: nothing is looked up for a refused lease.
    async fn check_and_resolve(
        &self,
        scope: &Scope,
        ask: &LeaseAsk,
        names: &[String],
        config: &crate::config::Config,
    ) -> Result<Resolution, LeaseError> {
        let defaults = &config.defaults;
        if let Some(error) = commands_refusal(scope, &ask.argv) {
            return Err(error);
        }
        // `confirm` belongs to the secret: a reference protected in any scope of the user's
        // config (or whose protection was dropped and not yet accepted) is asked for
        // whichever scope, repository file included, wants it.
        let protected = crate::policy::tripwire::protected_in(config);
        let reference_of = |name: &String| match scope.env.get(name) {
            Some(Value::Secret(r)) => Some(r.clone()),
            _ => None,
        };
        let sticky: Vec<crate::store::vault::Reference> = names
            .iter()
            .filter_map(reference_of)
            .filter(|r| self.tripwires.is_sticky(r))
            .collect();
        let to_confirm: Vec<&String> = names
            .iter()
            .filter(|n| {
                scope.confirm.contains(*n)
                    || reference_of(n)
                        .is_some_and(|r| protected.contains(&r) || sticky.contains(&r))
            })
            .collect();
        if !to_confirm.is_empty() {
            let mut prompt = confirm_prompt(&ask.argv, ask.pid, &scope.dir, names);
            if !sticky.is_empty() {
                let list: Vec<String> = sticky.iter().map(ToString::to_string).collect();
                prompt.push_str(&format!(
                    "\n(config.toml stopped asking before handing out {}; yes accepts that)",
                    list.join(", ")
                ));
            }
            let program = confirm::askpass_program(defaults.askpass.as_deref());
            confirm::confirm(program.as_deref(), &prompt, defaults.confirm_timeout)
                .await
                .map_err(|source| LeaseError::Confirm {
                    names: to_confirm
                        .iter()
                        .map(|n| n.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    source,
                })?;
            for reference in &sticky {
                self.tripwires.accept(reference);
            }
        }
        // The agent comes with the whole scope, not with `--only` names, never into a shield.
        self.resolve_vars(scope, names, ask.only.is_empty() && !ask.shield)
            .await
    }

    /// Writes the variables with `as = "file"`, and `extra` files, to the lease's files;
    /// those variables then hold the file's path instead of the value, and each of an extra
    /// file's variables is added with its path. Returns the files' directory, if any.
    fn deliver_files(
        &self,
        scope: &Scope,
        lease: &str,
        vars: Vec<Resolved>,
        extra: &[LeaseFile],
    ) -> Result<(Vec<Resolved>, Option<PathBuf>), LeaseError> {
        let wanted: Vec<FileVar<'_>> = vars
            .iter()
            .filter_map(|v| {
                let file_name = scope.files.get(&v.name)?;
                Some(FileVar {
                    var: &v.name,
                    file_name,
                    value: &v.value,
                })
            })
            .chain(extra.iter().map(|file| FileVar {
                var: file.file_name,
                file_name: file.file_name,
                value: &file.content,
            }))
            .collect();
        if wanted.is_empty() {
            return Ok((vars, None));
        }
        let paths = self
            .files
            .create(lease, &wanted)
            .map_err(LeaseError::Files)?;
        let path_of = |name: &str| {
            paths
                .iter()
                .find(|(var, _)| var == name)
                .map(|(_, path)| SecretString::from(path.display().to_string()))
        };
        let mut vars: Vec<Resolved> = vars
            .into_iter()
            .map(|v| match path_of(&v.name) {
                Some(path) => Resolved {
                    name: v.name,
                    value: path,
                },
                None => v,
            })
            .collect();
        for file in extra {
            let path = path_of(file.file_name).unwrap_or_default();
            vars.extend(file.vars.iter().map(|name| Resolved {
                name: name.clone(),
                value: path.clone(),
            }));
        }
        Ok((vars, Some(self.files.lease_dir(lease))))
    }

    fn record(
        &self,
        ask: &LeaseAsk,
        scope: Option<&Scope>,
        names: Vec<String>,
        references: Vec<crate::store::vault::Reference>,
    ) -> LeaseRecord {
        let holder = crate::lease::procs::Proc::of(ask.pid as i32);
        LeaseRecord {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            scope: scope.map(|s| s.dir.clone()),
            names,
            references,
            command: ask.argv.clone(),
            pid: ask.pid,
            // In place, the holder is the command itself once it execs.
            child_pid: if ask.in_place { ask.pid } else { 0 },
            granted_at: SystemTime::now(),
            expires_at: None,
            on_revoke: scope.map(|s| s.on_revoke).unwrap_or_default(),
            orphaned: false,
            in_place: ask.in_place,
            holder,
            known: if ask.in_place {
                holder.into_iter().collect()
            } else {
                Vec::new()
            },
            not_started: None,
        }
    }
}

/// The variables a lease hands out: all of the scope's, or those `--only` names; into a
/// shield only brokered ones (the command gets no value, only a placeholder).
fn selected_names(scope: &Scope, only: &[String], shield: bool) -> Result<Vec<String>, LeaseError> {
    if let Some(unknown) = only.iter().find(|n| !scope.env.contains_key(*n)) {
        return Err(LeaseError::UnknownName {
            name: unknown.clone(),
            scope: scope.dir.clone(),
        });
    }
    let names: Vec<String> = scope
        .env
        .keys()
        .filter(|n| only.is_empty() || only.contains(n))
        .filter(|n| !shield || scope.brokered.contains_key(*n))
        .cloned()
        .collect();
    if shield && names.is_empty() {
        return Err(LeaseError::NothingBrokered {
            scope: scope.dir.clone(),
        });
    }
    Ok(names)
}

fn references_of(scope: &Scope, names: &[String]) -> Vec<crate::store::vault::Reference> {
    names
        .iter()
        .filter_map(|n| match scope.env.get(n) {
            Some(Value::Secret(r)) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// The refusal of `argv` by the scope's `commands` rules, if they refuse it.
pub fn commands_refusal(scope: &Scope, argv: &[String]) -> Option<LeaseError> {
    if scope.commands.is_empty() || command_allowed(&scope.commands, argv) {
        return None;
    }
    Some(LeaseError::CommandNotAllowed {
        command: sec_proto::shell_words(argv),
        allowed: scope
            .commands
            .iter()
            .map(|r| format!("`{}`", r.join(" ")))
            .collect::<Vec<_>>()
            .join(", "),
        scope: scope.dir.clone(),
    })
}

/// Whether `argv` starts with one of the rules. A rule's first word without a slash matches
/// the program by its file name (`twine` matches `/usr/bin/twine`); with a slash, exactly.
pub fn command_allowed(rules: &[Vec<String>], argv: &[String]) -> bool {
    rules.iter().any(|rule| {
        let Some((program, rest)) = rule.split_first() else {
            return false;
        };
        let Some(arg0) = argv.first() else {
            return false;
        };
        let program_matches = if program.contains('/') {
            program == arg0
        } else {
            Path::new(arg0)
                .file_name()
                .is_some_and(|f| f == program.as_str())
        };
        program_matches && argv.len() > rest.len() && argv[1..=rest.len()] == *rest
    })
}

/// The question the askpass program shows: directory, full command line, variable names.
fn confirm_prompt(argv: &[String], pid: u32, dir: &Path, names: &[String]) -> String {
    format!(
        "sec: allow `{}` (pid {pid}) in {} to receive {}?",
        sec_proto::shell_words(argv),
        dir.display(),
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn command_rules_match_argv_prefixes_by_program_name() {
        let rules = vec![words("twine upload"), words("python -m twine")];
        assert!(command_allowed(&rules, &words("twine upload dist/a.whl")));
        assert!(command_allowed(
            &rules,
            &words("/usr/bin/twine upload dist/a.whl")
        ));
        assert!(command_allowed(&rules, &words("python -m twine upload")));
        assert!(!command_allowed(&rules, &words("twine check dist/a.whl")));
        assert!(!command_allowed(&rules, &words("twine")));
        assert!(!command_allowed(&rules, &words("mytwine upload")));
        assert!(!command_allowed(&rules, &words("make test")));
        let exact = vec![words("/opt/bin/tool")];
        assert!(command_allowed(&exact, &words("/opt/bin/tool x")));
        assert!(!command_allowed(&exact, &words("tool x")));
    }

    #[test]
    fn prompts_show_the_command_as_typed() {
        let argv = vec!["sh".into(), "-c".into(), "echo 'hi' there".into()];
        assert_eq!(
            sec_proto::shell_words(&argv),
            r"sh -c 'echo '\''hi'\'' there'"
        );
        let prompt = confirm_prompt(&words("twine upload"), 7, Path::new("/p"), &words("A B"));
        assert_eq!(
            prompt,
            "sec: allow `twine upload` (pid 7) in /p to receive A, B?"
        );
    }
}
