//! `sec import pypirc|netrc [PATH]`: move credentials out of a plaintext file into a vault.
//!
//! Each credential is stored through the daemon and read back (`Verify`) before anything
//! else happens. Then the scope snippet that uses them is printed (`--write --dir DIR` adds
//! it to config.toml, checked by the daemon and rolled back when it does not parse). The
//! original file is changed only with `--remove`, and only after every credential was
//! stored and verified; a failure half-way leaves it untouched and says what was stored.

use std::path::{Path, PathBuf};

use sec_proto::config::toml_string;
use sec_proto::pb;
use secrecy::ExposeSecret;

use crate::cli::{ImportArgs, ImportKind};
use crate::daemon_conn::{Client, connect};
use crate::import_files::{Credential, dotenv, netrc, pypirc, url_has_credentials};
use crate::report::Failure;

/// The plaintext credential files `sec import` reads (SSH keys are `import_ssh`'s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileKind {
    Pypirc,
    Netrc,
    Env,
}

/// A credential stored under a reference, with the value the vault is asked to hold.
struct Stored<'a> {
    credential: &'a Credential,
    reference: String,
    /// Where the repository URL went when it holds a credential (`https://user:TOKEN@host/`):
    /// stored as a secret of its own, never written to config.toml or printed.
    url_reference: Option<String>,
}

pub async fn run(args: ImportArgs) -> Result<u8, Failure> {
    let kind = match args.kind {
        ImportKind::Pypirc => FileKind::Pypirc,
        ImportKind::Netrc => FileKind::Netrc,
        ImportKind::Env => FileKind::Env,
        ImportKind::Ssh => return crate::import_ssh::run(args).await,
    };
    if args.write && args.dir.is_none() {
        return Err(Failure::new(
            "--write needs --dir DIR: the directory the new scope covers",
        ));
    }
    let path = match &args.path {
        Some(path) => path.clone(),
        None => default_path(kind)?,
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?;
    let parsed = match kind {
        FileKind::Pypirc => pypirc::parse(&text),
        FileKind::Netrc => netrc::parse(&text),
        FileKind::Env => dotenv::parse(&text),
    };
    let credentials = parsed.map_err(|e| Failure::new(format!("{}:{e}", path.display())))?;
    if credentials.is_empty() {
        return Err(Failure::new(format!(
            "{} holds no credential with a password",
            path.display()
        )));
    }
    // A netrc file's machines go together: one NETRC file for curl, wget, git and pip.
    let credentials = match kind {
        FileKind::Netrc => vec![whole_netrc(&credentials, &path)],
        FileKind::Pypirc => credentials,
        // Named after the project, so two projects' DATABASE_URL stay apart.
        FileKind::Env => {
            let project = project_of(&path)
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "env".into());
            credentials
                .into_iter()
                .map(|c| Credential {
                    suggested_name: format!("{project}/{}", c.suggested_name),
                    ..c
                })
                .collect()
        }
    };
    if args.remove && args.backend.as_deref() == Some("keyutils") {
        return Err(Failure::new(format!(
            "--remove with --backend keyutils would leave the kernel keyring's copy as the only one, and the kernel forgets it at reboot; import into a persistent store (keyring, local, pass) or without --remove; {} was left untouched",
            path.display()
        )));
    }
    let mut client = connect(true).await?;
    let (scheme, explicit) = match &args.backend {
        Some(scheme) => (scheme.clone(), true),
        None => {
            let status = crate::passphrase::local_status(&mut client).await?;
            eprintln!(
                "sec: importing into {} ({}); --backend SCHEME chooses another store",
                status.default_store, status.default_reason
            );
            (status.default_store, false)
        }
    };
    if scheme == "local" {
        let source = crate::passphrase::Source::from_flag(args.passphrase_fd);
        crate::passphrase::ensure_unlocked(&mut client, &source, true).await?;
    }
    let mut stored: Vec<Stored<'_>> = Vec::new();
    for credential in &credentials {
        let name = &credential.suggested_name;
        // Without --backend, named as `sec set NAME` names it.
        let reference = if explicit {
            format!("{scheme}:{name}")
        } else {
            crate::commands::default_reference(&scheme, name)
        };
        let secret_url = credential
            .repository
            .as_deref()
            .filter(|url| kind == FileKind::Pypirc && url_has_credentials(url));
        let url_reference = secret_url.map(|_| format!("{reference}/url"));
        // A pypirc password, or the netrc text `whole_netrc` made, as is.
        let mut result =
            store_and_verify(&mut client, credential.password.expose_secret(), &reference).await;
        if let (Ok(()), Some(url), Some(url_reference)) = (&result, secret_url, &url_reference) {
            result = store_and_verify(&mut client, url, url_reference).await;
        }
        if let Err(failure) = result {
            let done: Vec<&str> = stored.iter().map(|s| s.reference.as_str()).collect();
            let done = if done.is_empty() {
                "nothing".to_string()
            } else {
                done.join(", ")
            };
            // The way out when the chosen store does not answer: sec's own vault.
            let instead = if explicit && scheme != "local" {
                "; `--backend local` imports into sec's own encrypted vault instead"
            } else {
                ""
            };
            return Err(Failure::new(format!(
                "{} ({}): {}; stored so far: {done}; {} was left untouched{instead}",
                credential.origin,
                reference,
                failure.message,
                path.display()
            )));
        }
        eprintln!(
            "stored {} (line {}) as {reference}",
            credential.origin, credential.line
        );
        if let Some(url_reference) = &url_reference {
            eprintln!(
                "its repository URL holds a credential: stored as {url_reference}, not written anywhere in clear"
            );
        }
        stored.push(Stored {
            credential,
            reference,
            url_reference,
        });
    }
    // A .env file belongs to its directory: that is the scope, unless --dir says otherwise.
    let env_dir = (kind == FileKind::Env).then(|| project_of(&path)).flatten();
    let dir_text = args
        .dir
        .as_deref()
        .or(env_dir.as_deref())
        .map(|d| d.display().to_string());
    let snippet = snippet(
        kind,
        &stored,
        dir_text.as_deref().unwrap_or("~/src/YOUR-PROJECT"),
        &path,
    );
    print!("{snippet}");
    if let Some(dir) = args.dir.as_deref().filter(|_| args.write) {
        write_scope(&mut client, &snippet, dir).await?;
    }
    if args.remove {
        std::fs::remove_file(&path).map_err(|e| {
            Failure::new(format!(
                "every credential is stored, but {} could not be removed: {e}",
                path.display()
            ))
        })?;
        eprintln!("removed {}", path.display());
    }
    Ok(0)
}

fn default_path(kind: FileKind) -> Result<PathBuf, Failure> {
    if kind == FileKind::Env {
        return Ok(PathBuf::from(".env"));
    }
    let home = sec_proto::paths::home_dir()
        .ok_or_else(|| Failure::new("cannot tell your home directory; give the file's path"))?;
    Ok(home.join(match kind {
        FileKind::Pypirc => ".pypirc",
        FileKind::Netrc => ".netrc",
        FileKind::Env => unreachable!("a .env file is the current directory's"),
    }))
}

/// Every entry of a netrc file as one netrc text, so it can be delivered as a file to
/// `curl --netrc-file`: on one line (netrc's words need no line breaks, and a `pass:`
/// entry keeps only its first line), `default` last as netrc wants it.
fn whole_netrc(entries: &[Credential], source: &Path) -> Credential {
    let mut ordered: Vec<&Credential> = entries.iter().collect();
    ordered.sort_by_key(|c| c.repository.is_none());
    let stanzas: Vec<String> = ordered
        .iter()
        .map(|c| {
            let mut stanza = match &c.repository {
                Some(host) => format!("machine {}", netrc::word(host)),
                None => "default".to_string(),
            };
            if let Some(login) = &c.username {
                stanza.push_str(&format!(" login {}", netrc::word(login)));
            }
            stanza.push_str(&format!(
                " password {}",
                netrc::word(c.password.expose_secret())
            ));
            stanza
        })
        .collect();
    let machines: Vec<&str> = ordered
        .iter()
        .map(|c| c.repository.as_deref().unwrap_or("default"))
        .collect();
    Credential {
        origin: format!("{}: {}", source.display(), machines.join(", ")),
        suggested_name: "netrc".into(),
        username: None,
        password: sec_proto::into_secret(format!("{}\n", stanzas.join(" "))),
        repository: None,
        line: entries.first().map_or(1, |c| c.line),
    }
}

pub(crate) async fn store_and_verify(
    client: &mut Client,
    value: &str,
    reference: &str,
) -> Result<(), Failure> {
    let value = zeroize::Zeroizing::new(value.to_string());
    client
        .store(pb::StoreRequest {
            reference: reference.into(),
            value: value.to_string(),
            // An import moves the file's credential in, whatever was there (it says so).
            keep_existing: false,
        })
        .await
        .map_err(Failure::from_status)?;
    let check = client
        .verify(pb::VerifyRequest {
            reference: reference.into(),
            value: value.to_string(),
        })
        .await
        .map_err(Failure::from_status)?;
    if check.into_inner().matches {
        Ok(())
    } else {
        Err(Failure::new(
            "the vault gave back something else than was stored",
        ))
    }
}

/// The config snippet that uses the stored credentials: the first one in force, the others
/// as commented alternatives (a scope has one TWINE_PASSWORD, one NETRC).
fn snippet(kind: FileKind, stored: &[Stored<'_>], dir: &str, source: &Path) -> String {
    let mut out = format!(
        "\n# imported from {} by `sec import`\n[[scope]]\ndir = {}\n[scope.env]\n",
        source.display(),
        toml_string(dir)
    );
    for (i, item) in stored.iter().enumerate() {
        let lines = match kind {
            FileKind::Pypirc => {
                let mut lines = vec![format!(
                    "TWINE_USERNAME = {{ value = {} }}",
                    toml_string(item.credential.username.as_deref().unwrap_or("__token__"))
                )];
                lines.push(format!("TWINE_PASSWORD = {}", toml_string(&item.reference)));
                match (&item.url_reference, &item.credential.repository) {
                    (Some(url_reference), _) => lines.push(format!(
                        "TWINE_REPOSITORY_URL = {}   # the URL holds a credential",
                        toml_string(url_reference)
                    )),
                    (None, Some(url)) => lines.push(format!(
                        "TWINE_REPOSITORY_URL = {{ value = {} }}",
                        toml_string(url)
                    )),
                    (None, None) => {}
                }
                lines
            }
            FileKind::Env => vec![format!(
                "{} = {}",
                item.credential
                    .suggested_name
                    .rsplit('/')
                    .next()
                    .unwrap_or_default(),
                toml_string(&item.reference)
            )],
            FileKind::Netrc => vec![format!(
                "NETRC = {{ secret = {}, as = \"file\", name = \".netrc\" }}   # curl --netrc-file \"$NETRC\"",
                toml_string(&item.reference)
            )],
        };
        // A .env's variables all apply; the other files' entries are alternatives.
        if i == 0 || kind == FileKind::Env {
            out.push_str(&format!("# {}\n", item.credential.origin));
            for line in lines {
                out.push_str(&line);
                out.push('\n');
            }
        } else {
            out.push_str(&format!(
                "# {} (for another scope, or instead of the above):\n",
                item.credential.origin
            ));
            for line in lines {
                out.push_str(&format!("# {line}\n"));
            }
        }
    }
    out
}

/// Appends the snippet to config.toml, then asks the daemon whether the result parses;
/// when it does not, the previous content is put back.
async fn write_scope(client: &mut Client, snippet: &str, dir: &Path) -> Result<(), Failure> {
    let config = config_path()?;
    let before = match std::fs::read_to_string(&config) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(Failure::new(format!(
                "cannot read {}: {e}",
                config.display()
            )));
        }
    };
    if let Some(parent) = config.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::new(format!("cannot create {}: {e}", parent.display())))?;
    }
    let mut text = before.clone().unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(snippet);
    std::fs::write(&config, text)
        .map_err(|e| Failure::new(format!("cannot write {}: {e}", config.display())))?;
    let info = crate::commands::resolve(client, dir).await?;
    if !info.config_error.is_empty() {
        let restored = match &before {
            Some(old) => std::fs::write(&config, old),
            None => std::fs::remove_file(&config),
        };
        let restored = if restored.is_ok() {
            "put back as it was"
        } else {
            "could NOT be put back"
        };
        return Err(Failure::new(format!(
            "the new scope does not fit into {}: {}; the file was {restored}",
            config.display(),
            info.config_error
        )));
    }
    eprintln!(
        "added the scope for {} to {}",
        dir.display(),
        config.display()
    );
    Ok(())
}

fn config_path() -> Result<PathBuf, Failure> {
    sec_proto::paths::config_file()
        .ok_or_else(|| Failure::new("cannot tell your config directory; set HOME"))
}

/// The directory a file is in, absolute.
fn project_of(path: &Path) -> Option<PathBuf> {
    std::path::absolute(path)
        .ok()?
        .parent()
        .map(sec_proto::paths::canonical_or_normal)
}

#[cfg(test)]
mod tests {
    use sec_proto::config::{Config, Value};
    use sec_proto::reference::Reference;
    use secrecy::SecretString;

    use super::*;

    fn credential(origin: &str, username: Option<&str>, repository: Option<&str>) -> Credential {
        Credential {
            origin: origin.into(),
            suggested_name: "unused".into(),
            username: username.map(str::to_string),
            password: SecretString::from("unused"),
            repository: repository.map(str::to_string),
            line: 1,
        }
    }

    /// What `sec import` writes is read by the same parser secd uses, with every value as
    /// written, however the directory and the references are spelled.
    #[test]
    fn snippets_read_back_through_the_config_parser() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("a \"quoted\" \\ dir\twith 'marks'");
        std::fs::create_dir(&dir).unwrap();
        let pypi = credential(
            "pypirc [pypi]",
            Some("__token__"),
            Some("https://upload.pypi.org/legacy/"),
        );
        let test = credential("pypirc [testpypi]", None, None);
        let password = "keyring:sec/pypi \"x\" \\ y";
        let stored = [
            Stored {
                credential: &pypi,
                reference: password.into(),
                url_reference: None,
            },
            Stored {
                credential: &test,
                reference: "local:pypi/testpypi".into(),
                url_reference: Some("local:pypi/testpypi-url".into()),
            },
        ];
        let source = Path::new("/home/u/.pypirc");
        let text = snippet(FileKind::Pypirc, &stored, dir.to_str().unwrap(), source);
        let config = Config::parse(&text, Path::new("config.toml"), home.path())
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let scope = config.scope_for(&dir).expect("the scope covers DIR");
        assert_eq!(
            scope.env["TWINE_USERNAME"],
            Value::Literal("__token__".into())
        );
        assert_eq!(
            scope.env["TWINE_PASSWORD"],
            Value::Secret(Reference::parse(password).unwrap())
        );
        assert_eq!(
            scope.env["TWINE_REPOSITORY_URL"],
            Value::Literal("https://upload.pypi.org/legacy/".into())
        );
        assert_eq!(scope.env.len(), 3, "alternatives stay comments:\n{text}");

        let netrc = credential("netrc machine github.com", Some("me"), None);
        let stored = [Stored {
            credential: &netrc,
            reference: "local:netrc/github.com".into(),
            url_reference: None,
        }];
        let text = snippet(FileKind::Netrc, &stored, dir.to_str().unwrap(), source);
        let config = Config::parse(&text, Path::new("config.toml"), home.path())
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let scope = config.scope_for(&dir).expect("the scope covers DIR");
        assert_eq!(
            scope.env["NETRC"],
            Value::Secret(Reference::parse("local:netrc/github.com").unwrap())
        );
        assert_eq!(scope.files["NETRC"], ".netrc");
    }
}
