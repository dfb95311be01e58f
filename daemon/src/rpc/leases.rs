//! Leases: granting one for `sec exec`, the child it started, revoking, and watching a
//! lease until it ends.

use tokio_stream::StreamExt;

use super::*;
use crate::lease::live::Notice;

pub(super) async fn lease(
    service: &Service,
    request: Request<pb::LeaseRequest>,
) -> Result<Response<LeaseStream>, Status> {
    let peer = caller(&request)?;
    let request = request.into_inner();
    let cwd = peer::caller_cwd(&peer, &request.cwd).ok_or_else(|| {
        Status::invalid_argument(
            "cannot tell the caller's working directory: the client passed no handle of it (an older or another client, or a directory that was removed)",
        )
    })?;
    let ask = LeaseAsk {
        argv: request.argv,
        only: request.only,
        shield: request.shield,
        cwd,
        pid: peer.pid.unwrap_or_default() as u32,
        exe: peer::caller_exe(peer.pid)
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    };
    let granted = service.daemon.grant(&ask).await.map_err(lease_status)?;
    let record = granted.record;
    tracing::info!(
        lease = %record.id,
        scope = %record.scope.as_deref().map(Path::display).map(|d| d.to_string()).unwrap_or_default(),
        names = ?record.names,
        pid = record.pid,
        "granted"
    );
    let grant = pb::Grant {
        lease_id: record.id.clone(),
        scope: record
            .scope
            .as_deref()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        env: granted
            .vars
            .iter()
            .map(|r| pb::EnvVar {
                name: r.name.clone(),
                value: r.value.expose_secret().to_string(),
            })
            .collect(),
        config_error: granted.config_error,
        notice: granted.notice,
        mask: granted.mask,
        files_dir: Some(service.daemon.files.lease_dir(&record.id))
            .filter(|dir| dir.is_dir())
            .map(|dir| dir.display().to_string())
            .unwrap_or_default(),
    };
    drop(granted.vars);
    let (events, receiver) = mpsc::channel(4);
    let id = record.id.clone();
    service.daemon.leases.insert(record, events.clone());
    tokio::spawn(watch_lease(
        Arc::clone(&service.daemon),
        id,
        events,
        granted.max_lease,
    ));
    // The grant first, then whatever the lease has to say, as the wire's messages.
    let grant = pb::LeaseEvent {
        event: Some(lease_event::Event::Grant(grant)),
    };
    let notices = ReceiverStream::new(receiver).map(|notice| match notice {
        Notice::Revoked { reason, terminate } => Ok(pb::LeaseEvent {
            event: Some(lease_event::Event::Revoked(pb::Revoked {
                reason,
                terminate,
            })),
        }),
    });
    Ok(Response::new(Box::pin(
        tokio_stream::once(Ok(grant)).chain(notices),
    )))
}

pub(super) async fn lease_started(
    service: &Service,
    request: Request<pb::LeaseStartedRequest>,
) -> Result<Response<pb::LeaseStartedReply>, Status> {
    let peer = caller(&request)?;
    let pb::LeaseStartedRequest {
        lease_id,
        child_pid,
        failure,
    } = request.into_inner();
    let holder = peer.pid.unwrap_or_default() as u32;
    if !service
        .daemon
        .leases
        .set_child(&lease_id, holder, child_pid, &failure)
    {
        return Err(Status::not_found(format!(
            "no live lease {lease_id} of this process"
        )));
    }
    Ok(Response::new(pb::LeaseStartedReply {}))
}

pub(super) async fn revoke(
    service: &Service,
    request: Request<pb::RevokeRequest>,
) -> Result<Response<pb::RevokeReply>, Status> {
    let peer = caller(&request)?;
    let pb::RevokeRequest {
        dir,
        lease_id,
        reference,
    } = request.into_inner();
    let selector = if !lease_id.is_empty() {
        Selector::Lease(lease_id)
    } else if !reference.is_empty() {
        Selector::Reference(parse_reference(&reference)?)
    } else if !dir.is_empty() {
        let dir = absolute_dir(&dir)?;
        let snapshot = service.daemon.current_config();
        let effective = service.daemon.effective(&snapshot.config, &dir);
        Selector::Scope(effective.scope.map_or(dir, |s| s.dir))
    } else {
        Selector::All
    };
    let requester = peer.pid.map(|p| p as u32);
    let revoked = service.daemon.revoke(&selector, "`sec revoke`", requester);
    if let Selector::Lease(id) = &selector
        && revoked.ended == 0
    {
        return Err(Status::not_found(format!(
            "no live lease {id}; `sec status` lists them"
        )));
    }
    Ok(Response::new(pb::RevokeReply {
        secrets_dropped: revoked.dropped as u32,
        leases_ended: revoked.ended as u32,
        grants_refused: revoked.refused as u32,
        local_vault_locked: revoked.vault_locked,
    }))
}

/// A lease lives as long as its stream, and after that as long as processes with its
/// secrets run (its holder was killed, or the child left a background process); with
/// `max_lease` it ends (as if revoked) when that much time has passed.
pub(super) async fn watch_lease(
    daemon: Arc<Daemon>,
    id: String,
    events: EventSender,
    max_lease: Option<Duration>,
) {
    let limit = async {
        match max_lease {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(limit);
    let mut held = true;
    loop {
        tokio::select! {
            _ = events.closed(), if held => held = false,
            _ = &mut limit => {
                let limit = humantime::format_duration(max_lease.unwrap_or_default());
                let reason = format!("the lease outlived its max_lease of {limit}");
                if !daemon.end_leases(|l| l.id == id, &reason, Event::Expire).is_empty() {
                    tracing::info!(lease = %id, "lease expired (max_lease)");
                }
                return;
            }
            _ = tokio::time::sleep(LEASE_SAMPLE) => {}
        }
        let Some(lease) = daemon.leases.get(&id) else {
            return; // revoked meanwhile
        };
        if held {
            // What runs below its `sec` now, remembered for when `sec` is gone.
            let seen = daemon::lease_processes(&lease, true, false);
            daemon.leases.remember(&id, seen);
            continue;
        }
        // The holder is gone: the lease stays while its processes run.
        if daemon::lease_processes(&lease, false, true).is_empty() {
            let reason = match daemon.leases.remove(&id) {
                Some(ended) => {
                    tracing::info!(lease = %id, "lease ended");
                    let reason = match &ended.not_started {
                        Some(why) => format!("the command never started: {why}"),
                        None => "the command ended".to_string(),
                    };
                    daemon.audit.note(Event::End, &ended.audit_record(&reason));
                    reason
                }
                None => "the command ended".to_string(),
            };
            daemon.lease_gone(&id, &reason);
            return;
        }
        if !lease.orphaned && daemon.leases.orphan(&id) {
            tracing::info!(lease = %id, "sec is gone, processes with the lease's secrets still run");
        }
    }
}

/// How often a lease looks at its processes: below its `sec` while it holds the lease,
/// whether any still runs once it is gone.
const LEASE_SAMPLE: Duration = Duration::from_secs(1);
