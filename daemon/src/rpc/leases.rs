//! Leases: granting one for `sec exec`, the child it started, revoking, and watching a
//! lease until it ends.

use tokio_stream::StreamExt;

use super::*;
use crate::daemon::grant::Granted;
use crate::lease::live::Notice;

pub(super) async fn lease(
    service: &Service,
    request: Request<pb::LeaseRequest>,
) -> Result<Response<LeaseStream>, Status> {
    let peer = caller(&request)?;
    let ask = lease_ask(&peer, request.into_inner())?;
    let granted = service.daemon.grant(&ask).await.map_err(lease_status)?;
    let (grant, receiver) = publish(&service.daemon, granted);
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

/// `sec exec`'s lean lease (`sec_proto::lean`): one request, one reply, then the caller
/// replaces itself with the command and secd follows the lease by that process.
#[cfg(unix)]
pub async fn serve_lean(daemon: Arc<Daemon>, mut conn: sec_proto::socket::LeanConn) {
    use sec_proto::lean;
    let Ok(Ok(request)) =
        tokio::time::timeout(Duration::from_secs(5), lean::read_request(&mut conn.stream)).await
    else {
        return;
    };
    let reply = lean_reply(&daemon, &conn.peer, request).await;
    let _ = lean::write_reply(&mut conn.stream, &reply).await;
}

#[cfg(unix)]
async fn lean_reply(
    daemon: &Arc<Daemon>,
    peer: &Peer,
    request: pb::LeaseRequest,
) -> pb::LeanLeaseReply {
    use pb::lean_lease_reply::Reply;
    let refusal = |status: Status, retry_with_grpc: bool| pb::LeanLeaseReply {
        reply: Some(Reply::Refusal(pb::LeanRefusal {
            code: status.code() as i32,
            message: status.message().to_string(),
            retry_with_grpc,
        })),
    };
    if !peer_allowed(peer) {
        return refusal(
            Status::permission_denied("secd serves only the user it runs as"),
            false,
        );
    }
    if request.protocol != sec_proto::PROTOCOL || !request.in_place || request.shield {
        // gRPC's Hello says what differs and replaces this daemon if it must.
        return refusal(Status::unavailable("ask through gRPC"), true);
    }
    let ask = match lease_ask(peer, request) {
        Ok(ask) => ask,
        Err(status) => return refusal(status, false),
    };
    match daemon.grant(&ask).await {
        Ok(granted) => {
            let (grant, receiver) = publish(daemon, granted);
            // Nobody holds the lease's stream: secd follows its process (`watch_lease`),
            // and on revocation ends it itself.
            drop(receiver);
            pb::LeanLeaseReply {
                reply: Some(Reply::Grant(grant)),
            }
        }
        // Masked output needs a supervising `sec`.
        Err(error @ LeaseError::InPlaceMasked) => {
            refusal(Status::failed_precondition(error.to_string()), true)
        }
        Err(error) => {
            let status = lease_status(error);
            // A locked local vault: gRPC's path asks for the passphrase and asks again.
            let locked = status.code() == tonic::Code::Unauthenticated;
            refusal(status, locked)
        }
    }
}

/// What a lease request asks, with what the kernel says about the caller.
fn lease_ask(peer: &Peer, request: pb::LeaseRequest) -> Result<LeaseAsk, Status> {
    let cwd = peer::caller_cwd(peer, &request.cwd).ok_or_else(|| {
        Status::invalid_argument(
            "cannot tell the caller's working directory: the client passed no handle of it (an older or another client, or a directory that was removed)",
        )
    })?;
    Ok(LeaseAsk {
        argv: request.argv,
        only: request.only,
        shield: request.shield,
        in_place: request.in_place,
        cwd,
        pid: peer.pid.unwrap_or_default() as u32,
        exe: peer::caller_exe(peer.pid)
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    })
}

/// Records a granted lease and starts watching it; returns the client's Grant and the
/// lease's notices.
fn publish(daemon: &Arc<Daemon>, granted: Granted) -> (pb::Grant, mpsc::Receiver<Notice>) {
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
        files_dir: granted
            .files_dir
            .map(|dir| dir.display().to_string())
            .unwrap_or_default(),
    };
    drop(granted.vars);
    let (events, receiver) = mpsc::channel(4);
    let watched = Watched {
        id: record.id.clone(),
        holder: record.holder.map(|p| p.pid),
        in_place: record.in_place,
        max_lease: granted.max_lease,
    };
    daemon.leases.insert(record, events.clone());
    tokio::spawn(watch_lease(Arc::clone(daemon), watched, events));
    (grant, receiver)
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

/// What `watch_lease` needs of a lease's record, taken when it is granted.
pub(super) struct Watched {
    id: String,
    /// The holder's pid: `sec`, or the command that replaced it.
    holder: Option<i32>,
    in_place: bool,
    max_lease: Option<Duration>,
}

/// A lease lives as long as its stream, and after that as long as processes with its
/// secrets run (its holder was killed, or the child left a background process); with
/// `max_lease` it ends (as if revoked) when that much time has passed.
pub(super) async fn watch_lease(daemon: Arc<Daemon>, watched: Watched, events: EventSender) {
    let Watched {
        id,
        holder,
        in_place,
        max_lease,
    } = watched;
    let limit = async {
        match max_lease {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(limit);
    // The holder's exit is looked at the moment it happens, not at the next sample: a
    // command that replaced its `sec` is the holder.
    let holder_exit = crate::host::pidfd::exited(holder);
    tokio::pin!(holder_exit);
    let mut holder_gone = false;
    // A lease in place has no stream to hold it (its receiver is dropped at once); it is
    // first looked at after a sample's time or when its command exits, not right away
    // (a whole look at /proc while the command starts would compete with it).
    let mut held = !in_place;
    loop {
        tokio::select! {
            _ = events.closed(), if held => held = false,
            _ = &mut holder_exit, if !holder_gone => holder_gone = true,
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
        if lease.in_place {
            // The command is the holder: it and what runs below it now, remembered for
            // when it is gone (it is a child subreaper, so what it orphans stays below it).
            let seen = daemon::lease_processes(&lease, false, false);
            let command_runs = lease.holder.is_some_and(|h| h.alive());
            if command_runs && !seen.is_empty() {
                daemon.leases.remember(&id, seen);
                continue;
            }
        }
        // The holder is gone: the lease stays while its processes run.
        let left = daemon::lease_processes(&lease, false, true);
        if left.is_empty() {
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
        if lease.in_place {
            // Followed by pid from now on, also once their marker is gone.
            daemon.leases.remember(&id, left);
        }
        if !lease.orphaned && daemon.leases.orphan(&id) {
            tracing::info!(lease = %id, "sec (or the command that replaced it) is gone, processes with the lease's secrets still run");
        }
    }
}

/// How often a lease looks at its processes: below its `sec` while it holds the lease,
/// whether any still runs once it is gone.
const LEASE_SAMPLE: Duration = Duration::from_secs(1);
