//! The config the daemon serves: the last good parse of `config.toml`, refreshed whenever
//! the file's metadata changes. A broken edit is logged and reported to clients while the
//! last good config stays in force. Each good config is also kept on disk
//! (`config.last-good.toml` in the state directory), so that a daemon started while the file
//! is broken serves what the messages say it serves: the last good one, not an empty one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::config::{Config, ConfigError};

/// What identifies a version of the file without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode,
    })
}

struct State {
    config: Arc<Config>,
    error: Option<String>,
    /// The file's stamp at the last load; `None` before the first load, `Some(None)` when
    /// the file did not exist.
    seen: Option<Option<Stamp>>,
}

pub struct LiveConfig {
    path: PathBuf,
    home: PathBuf,
    /// Where the last good config's text is kept.
    saved: PathBuf,
    state: RwLock<State>,
}

/// The config in force and, when the file on disk is broken, why it was not taken.
pub struct Snapshot {
    pub config: Arc<Config>,
    pub error: Option<String>,
    /// The file's modification time when it was last looked at (what `config` stands for,
    /// or the broken edit beside the last good one); `None` when there was no file.
    pub modified: Option<SystemTime>,
}

/// What a refresh did, so the caller can drop cache entries of a replaced config.
pub enum Refresh {
    Unchanged,
    Reloaded(Arc<Config>),
    Broken,
}

impl LiveConfig {
    /// Loads the file once; a broken file at start means the last good config kept in `saved`
    /// (or, when there never was one, an empty config) plus the error.
    pub fn load(path: PathBuf, home: PathBuf, saved: PathBuf) -> Self {
        let live = Self {
            path,
            home,
            saved,
            state: RwLock::new(State {
                config: Arc::default(),
                error: None,
                seen: None,
            }),
        };
        live.refresh_if_changed();
        live
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-reads the file when its metadata changed since the last look. Cheap (one stat)
    /// when nothing changed, so every request calls it.
    pub fn refresh_if_changed(&self) -> Refresh {
        let now = Some(stamp(&self.path));
        if self.state.read().unwrap_or_else(|p| p.into_inner()).seen == now {
            return Refresh::Unchanged;
        }
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if state.seen == now {
            return Refresh::Unchanged;
        }
        let first = state.seen.is_none();
        state.seen = now;
        let text = match Config::read(&self.path) {
            Ok(text) => text,
            Err(error) => return self.broken(&mut state, error, first),
        };
        let parsed = match &text {
            Some(text) => Config::parse(text, &self.path, &self.home),
            None => Ok(Config::default()),
        };
        match parsed {
            Ok(config) => {
                let config = Arc::new(config);
                tracing::info!(path = %self.path.display(), scopes = config.scopes.len(), "config loaded");
                if let Some(text) = &text {
                    for warning in Config::warnings(text, &self.path, &self.home) {
                        tracing::warn!("{warning}");
                    }
                    self.keep(text);
                }
                state.config = Arc::clone(&config);
                state.error = None;
                Refresh::Reloaded(config)
            }
            Err(e) => self.broken(&mut state, e, first),
        }
    }

    /// A broken file: the config in force stays, or at start the kept one is taken; the
    /// error says which one is served.
    fn broken(&self, state: &mut State, error: ConfigError, first: bool) -> Refresh {
        let served = if !first {
            "secd keeps serving the last good config".to_string()
        } else {
            match self.kept() {
                Some(config) => {
                    state.config = Arc::new(config);
                    format!(
                        "secd serves the last good config, kept in {}",
                        self.saved.display()
                    )
                }
                None => "secd serves no config until it is fixed (no good one was ever loaded): no scopes, no [shield] or [[untrusted]] settings".to_string(),
            }
        };
        tracing::error!("config not taken: {error}; {served}");
        state.error = Some(format!("{error}; {served}"));
        Refresh::Broken
    }

    /// Keeps `text` as the last good config (private, replaced atomically, never through a
    /// symlink).
    fn keep(&self, text: &str) {
        if crate::host::state_file::read_to_string(&self.saved).is_ok_and(|kept| kept == text) {
            return;
        }
        if let Err(e) = crate::host::state_file::replace(&self.saved, text.as_bytes()) {
            tracing::error!("cannot keep the last good config: {e}");
        }
    }

    /// The last good config kept on disk, if it still parses (never read through a link).
    fn kept(&self) -> Option<Config> {
        let text = match crate::host::state_file::read_to_string(&self.saved) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::error!("cannot read the last good config: {e}");
                return None;
            }
        };
        Config::parse(&text, &self.saved, &self.home).ok()
    }

    pub fn snapshot(&self) -> Snapshot {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        Snapshot {
            config: Arc::clone(&state.config),
            error: state.error.clone(),
            modified: state.seen.as_ref().and_then(|seen| seen.as_ref()?.modified),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_edit_keeps_the_last_good_config() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.toml");
        std::fs::write(&path, "[[scope]]\ndir = \"/p\"\n").unwrap();
        let live = LiveConfig::load(path.clone(), tmp.path().into(), tmp.path().join("kept"));
        assert_eq!(live.snapshot().config.scopes.len(), 1);

        std::fs::write(&path, "[[scope]]\ndir = \n").unwrap();
        assert!(matches!(live.refresh_if_changed(), Refresh::Broken));
        let snap = live.snapshot();
        assert_eq!(snap.config.scopes.len(), 1, "last good config still served");
        let error = snap.error.unwrap();
        assert!(error.contains("config.toml:2:"), "{error}");

        std::fs::write(&path, "[[scope]]\ndir = \"/p\"\n[[scope]]\ndir = \"/q\"\n").unwrap();
        assert!(matches!(live.refresh_if_changed(), Refresh::Reloaded(_)));
        let snap = live.snapshot();
        assert_eq!(snap.config.scopes.len(), 2);
        assert!(snap.error.is_none());
    }

    #[test]
    fn a_restart_on_a_broken_file_serves_the_kept_config_and_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config.toml");
        let kept = tmp.path().join("state/last-good.toml");
        std::fs::write(&path, "[[scope]]\ndir = \"/p\"\n").unwrap();
        drop(LiveConfig::load(
            path.clone(),
            tmp.path().into(),
            kept.clone(),
        ));
        std::fs::write(&path, "[[scope]]\ndir = \n").unwrap();

        let restarted = LiveConfig::load(path.clone(), tmp.path().into(), kept.clone());
        let snap = restarted.snapshot();
        assert_eq!(snap.config.scopes.len(), 1, "the kept config is served");
        let error = snap.error.unwrap();
        assert!(
            error.contains("config.toml:2:") && error.contains("kept in"),
            "{error}"
        );

        std::fs::remove_file(&kept).unwrap();
        let never = LiveConfig::load(path, tmp.path().into(), kept);
        let snap = never.snapshot();
        assert!(snap.config.scopes.is_empty());
        assert!(snap.error.unwrap().contains("serves no config"));
    }

    #[test]
    fn a_missing_file_is_an_empty_config() {
        let tmp = tempfile::tempdir().unwrap();
        let live = LiveConfig::load(
            tmp.path().join("nope.toml"),
            tmp.path().into(),
            tmp.path().join("kept"),
        );
        let snap = live.snapshot();
        assert!(snap.config.scopes.is_empty() && snap.error.is_none());
    }
}
