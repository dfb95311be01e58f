//! `sec git-credential ACTION`: a git credential helper
//! (`git config --global credential.helper '!sec git-credential'`). git writes its question
//! (`protocol=`, `host=`, `path=`, ...) on stdin; for `get` sec answers `username=` and
//! `password=` on stdout when the scope of git's working directory maps that host, and
//! nothing otherwise (git then asks its next helper or the user). `store` reaches the vault
//! only for an entry with `store = true`; `erase` never touches the vault.

use std::io::{BufRead, Write};

use sec_proto::pb;
use secrecy::ExposeSecret;

use crate::daemon_conn;
use crate::report::Failure;

pub async fn run(action: &str) -> Result<u8, Failure> {
    let question = read_question(std::io::stdin().lock())?;
    if !matches!(action, "get" | "store" | "erase") {
        // git may add actions; a helper ignores those it does not know.
        return Ok(0);
    }
    let mut client = daemon_conn::connect(true).await?;
    let request = pb::GitCredentialRequest {
        action: action.into(),
        protocol: question.protocol,
        host: question.host,
        path: question.path,
        username: question.username,
        password: question
            .password
            .map(|p| p.expose_secret().to_string())
            .unwrap_or_default(),
    };
    let reply = client
        .git_credential(request)
        .await
        .map_err(Failure::from_status)?
        .into_inner();
    if action == "get" && reply.found {
        let answer = format!("username={}\npassword={}\n", reply.username, reply.password);
        let answer = sec_proto::into_secret(answer);
        drop(reply);
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(answer.expose_secret().as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(|e| Failure::new(format!("cannot answer git: {e}")))?;
    }
    Ok(0)
}

/// git's `key=value` lines, up to an empty line or the end.
#[derive(Default)]
struct Question {
    protocol: String,
    host: String,
    path: String,
    username: String,
    password: Option<secrecy::SecretString>,
}

fn read_question(input: impl BufRead) -> Result<Question, Failure> {
    let mut question = Question::default();
    for line in input.lines() {
        let line = line.map_err(|e| Failure::new(format!("cannot read git's question: {e}")))?;
        if line.is_empty() {
            break;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "protocol" => question.protocol = value.into(),
            "host" => question.host = value.into(),
            "path" => question.path = value.into(),
            "username" => question.username = value.into(),
            "password" => question.password = Some(sec_proto::into_secret(value.to_string())),
            _ => {}
        }
    }
    Ok(question)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gits_question_up_to_the_blank_line() {
        let q = read_question(
            "protocol=https\nhost=git.example.org:8443\npath=team/repo.git\nusername=bob\npassword=pw\n\nhost=ignored\n"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(q.protocol, "https");
        assert_eq!(q.host, "git.example.org:8443");
        assert_eq!(q.path, "team/repo.git");
        assert_eq!(q.username, "bob");
        assert_eq!(q.password.unwrap().expose_secret(), "pw");
    }
}
