//! `sec log`: the daemon's audit log, read straight from its file (it needs no daemon):
//! `$XDG_STATE_HOME/sec/audit.jsonl`, after its rotated predecessors `audit.jsonl.4` to
//! `audit.jsonl.1`.

use std::path::PathBuf;

use sec_proto::audit::Line;

use crate::report::Failure;

/// The rotated logs first, oldest first, then the current one.
fn log_files() -> Result<Vec<PathBuf>, Failure> {
    let log = sec_proto::paths::audit_log()
        .ok_or_else(|| Failure::new("cannot tell the state directory; set HOME"))?;
    Ok(sec_proto::paths::generations(&log))
}

pub fn show(last: Option<usize>, json: bool) -> Result<u8, Failure> {
    let mut lines = Vec::new();
    let files = log_files()?;
    for path in &files {
        match std::fs::read_to_string(path) {
            Ok(text) => lines.extend(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(String::from),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Failure::new(format!("cannot read {}: {e}", path.display()))),
        }
    }
    if lines.is_empty() && !json {
        // On stderr, so that scripts reading stdout see an empty log.
        eprintln!(
            "sec: the audit log is empty: nothing was granted, refused or revoked yet ({})",
            files
                .first()
                .map_or(String::new(), |p| p.display().to_string())
        );
        return Ok(0);
    }
    let skip = last.map_or(0, |n| lines.len().saturating_sub(n));
    for line in &lines[skip..] {
        if json {
            println!("{line}");
        } else {
            println!("{}", human_line(line));
        }
    }
    Ok(0)
}

/// `TIME EVENT SCOPE NAMES (REFS) `COMMAND` pid N: REASON`, from one JSON line (the
/// format secd writes, `sec_proto::audit`).
fn human_line(line: &str) -> String {
    let Ok(Line {
        time,
        event,
        record,
    }) = serde_json::from_str::<Line>(line)
    else {
        return format!("(unreadable entry) {line}");
    };
    let event = serde_json::to_value(event)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let mut out = format!("{time} {event:<10}");
    for part in [
        record.scope,
        record.names.join(","),
        match record.references {
            refs if refs.is_empty() => String::new(),
            refs => format!("({})", refs.join(", ")),
        },
        match record.command {
            cmd if cmd.is_empty() => String::new(),
            cmd => format!("`{}`", sec_proto::shell_words(&cmd)),
        },
        record.pid.map(|p| format!("pid {p}")).unwrap_or_default(),
        record.lease.chars().take(12).collect::<String>(),
        match record.engine_leases {
            ids if ids.is_empty() => String::new(),
            ids => format!("engine lease {}", ids.join(", ")),
        },
    ] {
        if !part.is_empty() {
            out.push(' ');
            out.push_str(&part);
        }
    }
    if !record.reason.is_empty() {
        out.push_str(": ");
        out.push_str(&record.reason);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_an_entry_on_one_line() {
        let line = r#"{"time":"2026-11-25T12:00:00Z","event":"grant","scope":"/p","names":["A","B"],"references":["keyring:s/a"],"command":["twine","upload"],"pid":7,"lease":"abc"}"#;
        assert_eq!(
            human_line(line),
            "2026-11-25T12:00:00Z grant      /p A,B (keyring:s/a) `twine upload` pid 7 abc"
        );
        let deny = r#"{"time":"t","event":"deny","reason":"no"}"#;
        assert_eq!(human_line(deny), "t deny      : no");
    }
}
