//! `sec import ssh [KEY]`: move an SSH private key file into a vault. The key is decrypted
//! once with its passphrase (asked at the terminal, or read from `--key-passphrase-fd`),
//! stored unencrypted in the vault (which encrypts it), read back, and checked against the
//! public key beside it (`KEY.pub`); then the scope line that uses it is printed. The
//! private file is deleted only with `--remove`, after that check; the `.pub` stays.

use std::path::{Path, PathBuf};

use secrecy::ExposeSecret;
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey};

use crate::cli::ImportArgs;
use crate::daemon_conn::connect;
use crate::report::Failure;

pub async fn run(args: ImportArgs) -> Result<u8, Failure> {
    let path = match &args.path {
        Some(path) => path.clone(),
        None => default_key()?,
    };
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(&path)
            .map_err(|e| Failure::new(format!("cannot read {}: {e}", path.display())))?,
    );
    let key = sec_proto::openssh::read_private_key(
        text.trim(),
        |pem| PrivateKey::from_openssh(pem),
        PrivateKey::from_bytes,
    )
    .map_err(|_| {
        Failure::new(format!(
            "{} is not an OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`); an older PEM key is converted in place by `ssh-keygen -p -f {}`",
            path.display(),
            path.display()
        ))
    })?;
    drop(text);
    let key = decrypt(key, &path, args.key_passphrase_fd)?;
    let public = key.public_key().clone();
    let pub_path = PathBuf::from(format!("{}.pub", path.display()));
    let beside = match std::fs::read_to_string(&pub_path) {
        Ok(text) => Some(PublicKey::from_openssh(text.trim()).map_err(|_| {
            Failure::new(format!(
                "{} is not an OpenSSH public key",
                pub_path.display()
            ))
        })?),
        Err(_) => None,
    };
    if let Some(beside) = &beside
        && beside.key_data() != public.key_data()
    {
        return Err(Failure::new(format!(
            "{} does not belong to {}: nothing was stored",
            pub_path.display(),
            path.display()
        )));
    }
    if args.remove && args.backend.as_deref() == Some("keyutils") {
        return Err(Failure::new(format!(
            "--remove with --backend keyutils would leave the kernel keyring's copy as the only one, and the kernel forgets it at reboot; {} was left untouched",
            path.display()
        )));
    }
    let pem = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| Failure::new(format!("cannot encode the key: {e}")))?;
    drop(key);
    let mut client = connect(true).await?;
    let (scheme, explicit) = match &args.backend {
        Some(scheme) => (scheme.clone(), true),
        None => (
            crate::passphrase::local_status(&mut client)
                .await?
                .default_store,
            false,
        ),
    };
    if scheme == "local" {
        let source = crate::passphrase::Source::from_flag(args.passphrase_fd);
        crate::passphrase::ensure_unlocked(&mut client, &source, true).await?;
    }
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".into());
    let name = format!("ssh/{file_name}");
    // Named as `sec import` names the other credentials: as given, or as `sec set NAME`.
    let reference = if explicit {
        format!("{scheme}:{name}")
    } else {
        crate::commands::default_reference(&scheme, &name)
    };
    crate::import::store_and_verify(&mut client, pem.as_str(), &reference)
        .await
        .map_err(|failure| {
            Failure::new(format!(
                "{}: {}; {} was left untouched",
                reference,
                failure.message,
                path.display()
            ))
        })?;
    drop(pem);
    let fingerprint = public.fingerprint(HashAlg::Sha256);
    eprintln!(
        "stored {} ({fingerprint}) as {reference}, read back and {}",
        path.display(),
        if beside.is_some() {
            format!("checked against {}", pub_path.display())
        } else {
            "checked (no .pub file beside it)".to_string()
        }
    );
    let dir = args
        .dir
        .as_deref()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| "~/src/YOUR-PROJECT".into());
    print!(
        "[[scope]]\ndir = {}\nssh_keys = [{}]   # {fingerprint}\n",
        sec_proto::config::toml_string(&dir),
        sec_proto::config::toml_string(&reference)
    );
    if args.remove {
        std::fs::remove_file(&path).map_err(|e| {
            Failure::new(format!(
                "the key is stored, but {} could not be removed: {e}",
                path.display()
            ))
        })?;
        eprintln!("removed {} ({} stays)", path.display(), pub_path.display());
    }
    Ok(0)
}

/// The key decrypted, asking for its passphrase when it has one.
fn decrypt(key: PrivateKey, path: &Path, fd: Option<i32>) -> Result<PrivateKey, Failure> {
    if !key.is_encrypted() {
        return Ok(key);
    }
    let passphrase = match fd {
        Some(fd) => crate::passphrase::read_fd(fd)?
            .into_iter()
            .next()
            .ok_or_else(|| Failure::new(format!("descriptor {fd} holds no passphrase")))?,
        None => crate::passphrase::from_terminal(&format!(
            "passphrase of {}: ",
            path.display()
        ))
        .ok_or_else(|| {
            Failure::new(format!(
                "{} is encrypted and there is no terminal to ask for its passphrase; use --key-passphrase-fd N",
                path.display()
            ))
        })??,
    };
    key.decrypt(passphrase.expose_secret().as_bytes())
        .map_err(|_| {
            Failure::new(format!(
                "the passphrase does not open {}; nothing was stored",
                path.display()
            ))
        })
}

/// `~/.ssh/id_ed25519`, else the first of the other usual names that exists.
fn default_key() -> Result<PathBuf, Failure> {
    let home = std::env::var_os("HOME")
        .ok_or_else(|| Failure::new("HOME is not set; name the key file"))?;
    let ssh = Path::new(&home).join(".ssh");
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|name| ssh.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Failure::new(format!(
                "no key in {} (id_ed25519, id_ecdsa, id_rsa); name the key file",
                ssh.display()
            ))
        })
}
