//! Scopes and repository files: what applies to a directory, approving or refusing a
//! repository's `.sec.toml`, warming a scope's cache.

use super::*;

impl Service {
    pub(super) fn scope_info(&self, dir: &Path) -> pb::ScopeInfo {
        let snapshot = self.daemon.current_config();
        let effective = self.daemon.effective(&snapshot.config, dir);
        let mut info = pb::ScopeInfo {
            config_error: snapshot.error.clone().unwrap_or_default(),
            untrusted: snapshot
                .config
                .untrusted_for(dir)
                .map(|u| u.display().to_string())
                .unwrap_or_default(),
            repo: effective.repo.as_ref().map(|r| repo_info(r, &self.daemon)),
            notice: effective
                .repo
                .as_ref()
                .and_then(RepoView::notice)
                .unwrap_or_default(),
            ..Default::default()
        };
        if let Some(scope) = &effective.scope {
            // Where the scope in force comes from: the user's config, an approved
            // repository file for the same directory, or both merged.
            let repo_file = effective
                .repo
                .as_ref()
                .filter(|r| r.trust == crate::policy::trust::Trust::Allowed && r.parsed.is_ok())
                .filter(|r| r.file.dir == scope.dir)
                .map(|r| r.file.path.display().to_string());
            let config_file = snapshot
                .config
                .scope_for(dir)
                .filter(|user| user.dir == scope.dir)
                .map(|_| self.daemon.config.path().display().to_string());
            info.found = true;
            info.dir = scope.dir.display().to_string();
            info.source = match (config_file, repo_file) {
                (Some(config), Some(repo)) => format!("{config} and {repo}"),
                (Some(config), None) => config,
                (None, Some(repo)) => repo,
                (None, None) => self.daemon.config.path().display().to_string(),
            };
            info.vars = var_infos(scope, &self.daemon, false);
            info.ttl_secs = scope.ttl.as_secs();
            info.max_ttl_secs = scope.max_ttl.as_secs();
            info.unlocked = self.daemon.scope_unlocked(scope);
            info.prompt = scope.prompt;
            info.on_leave_revoke = scope.on_leave == OnLeave::Revoke;
            info.ssh_keys = scope
                .ssh_keys
                .iter()
                .map(|k| k.reference.to_string())
                .collect();
            info.git = scope
                .git
                .iter()
                .map(|g| format!("{} {} {}", g.target(), g.username, g.secret))
                .collect();
        }
        info
    }
}

pub(super) async fn resolve(
    service: &Service,
    request: Request<pb::ResolveRequest>,
) -> Result<Response<pb::ScopeInfo>, Status> {
    caller(&request)?;
    let dir = absolute_dir(&request.get_ref().dir)?;
    Ok(Response::new(service.scope_info(&dir)))
}

pub(super) async fn unlock(
    service: &Service,
    request: Request<pb::UnlockRequest>,
) -> Result<Response<pb::ScopeInfo>, Status> {
    let peer = caller(&request)?;
    let dir = absolute_dir(&request.get_ref().dir)?;
    let snapshot = service.daemon.current_config();
    if let Some(scope) = &service.daemon.effective(&snapshot.config, &dir).scope {
        let resolved = service
            .daemon
            .resolve_vars(scope, &[], true)
            .await
            .map_err(lease_status)?;
        // Unlocking checks access; a credential minted per command is not kept for later.
        service.daemon.revoke_minted(
            "",
            resolved.minted,
            "minted while unlocking the scope; each command gets its own",
        );
        tracing::info!(scope = %scope.dir.display(), "unlocked");
        service.daemon.audit.note(
            Event::Unlock,
            &Record {
                scope: scope.dir.display().to_string(),
                names: scope.env.keys().cloned().collect(),
                references: scope
                    .env
                    .values()
                    .filter_map(|v| match v {
                        Value::Secret(r) => Some(r.to_string()),
                        Value::Literal(_) => None,
                    })
                    .collect(),
                pid: peer.pid.map(|p| p as u32),
                ..Default::default()
            },
        );
    }
    Ok(Response::new(service.scope_info(&dir)))
}

pub(super) async fn allow(
    service: &Service,
    request: Request<pb::AllowRequest>,
) -> Result<Response<pb::ScopeInfo>, Status> {
    caller(&request)?;
    let pb::AllowRequest {
        dir,
        sha256,
        confirmed,
    } = request.into_inner();
    let dir = absolute_dir(&dir)?;
    let view = service.repo_file(&dir)?;
    if sha256 != view.file.sha256 {
        return Err(Status::failed_precondition(format!(
            "{} changed while you were reading it, or you were not shown it; look again and re-run `sec allow`",
            view.file.path.display()
        )));
    }
    let scope = match &view.parsed {
        Ok(scope) => scope,
        Err(e) => return Err(Status::failed_precondition(format!("not approved: {e}"))),
    };
    if !confirmed {
        // Nobody said yes at a terminal: the user must, through askpass, which the
        // caller does not control.
        let defaults = service.daemon.current_config().config.defaults.clone();
        let program = confirm::askpass_program(defaults.askpass.as_deref());
        confirm::confirm(
            program.as_deref(),
            &approval_prompt(&view, scope),
            defaults.confirm_timeout,
        )
        .await
        .map_err(|e| {
            Status::permission_denied(format!(
                "not approved: {e}; approving a repository file needs you: run `sec allow` in a terminal, or answer the askpass question"
            ))
        })?;
    }
    service
        .daemon
        .trust
        .allow(&view.file)
        .map_err(|e| Status::internal(format!("cannot record the approval: {e}")))?;
    tracing::info!(file = %view.file.path.display(), sha256 = %view.file.sha256, "repository file allowed");
    service
        .daemon
        .audit
        .note(Event::Allow, &trust_record(&view));
    Ok(Response::new(service.scope_info(&dir)))
}

pub(super) async fn deny(
    service: &Service,
    request: Request<pb::DenyRequest>,
) -> Result<Response<pb::ScopeInfo>, Status> {
    caller(&request)?;
    let dir = absolute_dir(&request.get_ref().dir)?;
    let view = service.repo_file(&dir)?;
    service
        .daemon
        .trust
        .deny(&view.file)
        .map_err(|e| Status::internal(format!("cannot record the refusal: {e}")))?;
    // Whatever the file's scope had cached goes too.
    service.daemon.cache.revoke_scope(&view.file.dir);
    tracing::info!(file = %view.file.path.display(), "repository file denied");
    service
        .daemon
        .audit
        .note(Event::DenyTrust, &trust_record(&view));
    Ok(Response::new(service.scope_info(&dir)))
}

/// The variables of a scope; literal values only with `show_literals` (a repository file's,
/// which the user must see in full to approve them).
pub(super) fn var_infos(scope: &Scope, daemon: &Daemon, show_literals: bool) -> Vec<pb::VarInfo> {
    scope
        .env
        .iter()
        .map(|(name, value)| match value {
            Value::Literal(text) => pb::VarInfo {
                name: name.clone(),
                literal: true,
                value: if show_literals {
                    text.clone()
                } else {
                    String::new()
                },
                ..Default::default()
            },
            Value::Secret(reference) => pb::VarInfo {
                name: name.clone(),
                reference: reference.to_string(),
                literal: false,
                cached: daemon.is_cached(&scope.dir, reference),
                value: String::new(),
                broker: broker_rules(scope, name),
            },
        })
        .collect()
}

/// Where a brokered variable's rules let its value go, `; `-separated; empty otherwise.
fn broker_rules(scope: &Scope, name: &str) -> String {
    scope
        .brokered
        .get(name)
        .map(|b| {
            let rules: Vec<String> = b.rules.iter().map(ToString::to_string).collect();
            rules.join("; ")
        })
        .unwrap_or_default()
}

/// What an approval question shows: the file and every variable it asks for, each literal
/// in full, untrusted text made visible (no escape sequence can hide a line).
pub(super) fn approval_prompt(view: &RepoView, scope: &Scope) -> String {
    use sec_proto::display::visible;
    let mut prompt = format!(
        "Approve {} (sha256 {})? It asks for:",
        visible(&view.file.path.display().to_string()),
        &view.file.sha256[..12]
    );
    for (name, value) in &scope.env {
        match value {
            Value::Literal(text) => prompt.push_str(&format!("\n  {name} = \"{}\"", visible(text))),
            Value::Secret(reference) => {
                prompt.push_str(&format!(
                    "\n  {name} <- {}",
                    visible(&reference.to_string())
                ));
                let rules = broker_rules(scope, name);
                if !rules.is_empty() {
                    prompt.push_str(&format!(" (brokered: only to {})", visible(&rules)));
                }
            }
        }
    }
    prompt
}

pub(super) fn repo_info(view: &RepoView, daemon: &Daemon) -> pb::RepoFile {
    let (vars, error) = match &view.parsed {
        Ok(scope) => (var_infos(scope, daemon, true), String::new()),
        Err(e) => (Vec::new(), e.to_string()),
    };
    pb::RepoFile {
        path: view.file.path.display().to_string(),
        dir: view.file.dir.display().to_string(),
        trust: view.trust.as_str().into(),
        sha256: view.file.sha256.clone(),
        vars,
        error,
    }
}

/// The audit record of a trust decision about a repository file.
pub(super) fn trust_record(view: &RepoView) -> Record {
    Record {
        scope: view.file.dir.display().to_string(),
        names: view
            .parsed
            .as_ref()
            .map(|s| s.env.keys().cloned().collect())
            .unwrap_or_default(),
        reason: format!("{} sha256 {}", view.file.path.display(), view.file.sha256),
        ..Default::default()
    }
}
