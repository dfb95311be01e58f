//! Vaults as requests reach them directly: storing, deleting, reading back, and the local
//! vault's unlock, status and passphrase.

use super::*;

impl Service {
    pub(super) async fn local_reply(&self) -> pb::LocalStatusReply {
        let local = self.daemon.local.status();
        let default = self.daemon.vaults.default_store().await;
        pb::LocalStatusReply {
            path: local.path.display().to_string(),
            exists: local.exists,
            unlocked: local.unlocked,
            expires_in_secs: local.expires_in.map(|d| d.as_secs()).unwrap_or_default(),
            default_store: default.scheme.into(),
            default_reason: default.reason,
            names: local.names,
        }
    }

    /// The passphrase through the askpass program, for a client without a terminal; a new
    /// vault's passphrase is asked twice.
    pub(super) async fn passphrase_by_askpass(&self, create: bool) -> Result<SecretString, Status> {
        let snapshot = self.daemon.current_config();
        let program = confirm::askpass_program(snapshot.config.defaults.askpass.as_deref());
        let timeout = snapshot.config.defaults.confirm_timeout;
        let path = self.daemon.local.status().path;
        let ask = |prompt: String| {
            let program = program.clone();
            async move {
                confirm::ask_secret(program.as_deref(), &prompt, timeout)
                    .await
                    .map_err(|e| {
                        Status::failed_precondition(format!(
                            "cannot ask for the passphrase: {e}; a script can give it on a descriptor instead: `--passphrase-fd N`"
                        ))
                    })
            }
        };
        let what = if create {
            "a new passphrase for"
        } else {
            "the passphrase of"
        };
        let first = ask(format!("sec: {what} the local vault {}", path.display())).await?;
        if create {
            let again = ask(format!(
                "sec: the same passphrase again for {}",
                path.display()
            ))
            .await?;
            if again.expose_secret() != first.expose_secret() {
                return Err(Status::invalid_argument(
                    "the two passphrases differ; nothing was created",
                ));
            }
        }
        Ok(first)
    }
}

pub(super) async fn store(
    service: &Service,
    request: Request<pb::StoreRequest>,
) -> Result<Response<pb::StoreReply>, Status> {
    let peer = caller(&request)?;
    let pb::StoreRequest {
        reference,
        value,
        keep_existing,
    } = request.into_inner();
    let reference = parse_reference(&reference)?;
    let replaced = service
        .daemon
        .store_secret(
            &reference,
            vault::into_secret(value),
            peer.pid.map(|p| p as u32),
            keep_existing,
        )
        .await
        .map_err(vault_status)?;
    Ok(Response::new(pb::StoreReply { replaced }))
}

pub(super) async fn delete(
    service: &Service,
    request: Request<pb::DeleteRequest>,
) -> Result<Response<pb::DeleteReply>, Status> {
    let peer = caller(&request)?;
    let reference = parse_reference(&request.get_ref().reference)?;
    service
        .daemon
        .delete_secret(&reference, peer.pid.map(|p| p as u32))
        .await
        .map_err(vault_status)?;
    Ok(Response::new(pb::DeleteReply {}))
}

pub(super) async fn verify(
    service: &Service,
    request: Request<pb::VerifyRequest>,
) -> Result<Response<pb::VerifyReply>, Status> {
    caller(&request)?;
    let pb::VerifyRequest { reference, value } = request.into_inner();
    let reference = parse_reference(&reference)?;
    let matches = service
        .daemon
        .verify_secret(&reference, vault::into_secret(value))
        .await
        .map_err(vault_status)?;
    Ok(Response::new(pb::VerifyReply { matches }))
}

pub(super) async fn local_status(
    service: &Service,
    request: Request<pb::LocalStatusRequest>,
) -> Result<Response<pb::LocalStatusReply>, Status> {
    caller(&request)?;
    Ok(Response::new(service.local_reply().await))
}

pub(super) async fn unlock_local(
    service: &Service,
    request: Request<pb::UnlockLocalRequest>,
) -> Result<Response<pb::LocalStatusReply>, Status> {
    let peer = caller(&request)?;
    let pb::UnlockLocalRequest {
        passphrase,
        create,
        use_askpass,
    } = request.into_inner();
    let passphrase = if use_askpass {
        service.passphrase_by_askpass(create).await?
    } else {
        vault::into_secret(passphrase)
    };
    if create {
        check_new_passphrase(&passphrase)?;
    } else if passphrase.expose_secret().is_empty() {
        return Err(Status::invalid_argument(
            "an empty passphrase is not accepted",
        ));
    }
    service
        .daemon
        .local
        .unlock(passphrase, create)
        .await
        .map_err(local_error_status)?;
    let what = if create {
        "local vault created"
    } else {
        "local vault unlocked"
    };
    service.daemon.audit.note(
        Event::Unlock,
        &Record {
            scope: "local vault".into(),
            reason: what.into(),
            pid: peer.pid.map(|p| p as u32),
            ..Default::default()
        },
    );
    Ok(Response::new(service.local_reply().await))
}

pub(super) async fn change_local_passphrase(
    service: &Service,
    request: Request<pb::ChangeLocalPassphraseRequest>,
) -> Result<Response<pb::LocalStatusReply>, Status> {
    caller(&request)?;
    let pb::ChangeLocalPassphraseRequest {
        old_passphrase,
        new_passphrase,
    } = request.into_inner();
    let (old, new) = (
        vault::into_secret(old_passphrase),
        vault::into_secret(new_passphrase),
    );
    check_new_passphrase(&new)?;
    service
        .daemon
        .local
        .change_passphrase(old, new)
        .await
        .map_err(local_error_status)?;
    Ok(Response::new(service.local_reply().await))
}

pub(super) fn local_error_status(error: vault::LocalError) -> Status {
    match &error {
        vault::LocalError::File(LocalVaultError::WrongPassphrase { .. }) => {
            Status::permission_denied(error.to_string())
        }
        vault::LocalError::NoVault(_) => Status::not_found(error.to_string()),
        vault::LocalError::Exists(_) => Status::already_exists(error.to_string()),
        _ => Status::failed_precondition(error.to_string()),
    }
}

/// The shortest passphrase a new vault (or a re-keyed one) takes, in characters.
const MIN_PASSPHRASE_CHARS: usize = 8;

/// A new passphrase guards a file that anyone who copies it can try offline: refuse one
/// too short to resist that.
fn check_new_passphrase(passphrase: &SecretString) -> Result<(), Status> {
    if passphrase.expose_secret().chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(Status::invalid_argument(format!(
            "a passphrase of fewer than {MIN_PASSPHRASE_CHARS} characters is too easy to guess for a vault file that can be tried offline; choose a longer one (a few words work well)"
        )));
    }
    Ok(())
}
