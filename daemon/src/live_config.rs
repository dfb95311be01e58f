//! The config the daemon serves: the last good parse of `config.toml`, refreshed whenever
//! the file's metadata changes. A broken edit is logged and reported to clients while the
//! last good config stays in force.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::config::Config;

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
    state: RwLock<State>,
}

/// The config in force and, when the file on disk is broken, why it was not taken.
pub struct Snapshot {
    pub config: Arc<Config>,
    pub error: Option<String>,
}

/// What a refresh did, so the caller can drop cache entries of a replaced config.
pub enum Refresh {
    Unchanged,
    Reloaded(Arc<Config>),
    Broken,
}

impl LiveConfig {
    /// Loads the file once; a broken file at start means an empty config plus the error.
    pub fn load(path: PathBuf, home: PathBuf) -> Self {
        let live = Self {
            path,
            home,
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
        state.seen = now;
        match Config::load(&self.path, &self.home) {
            Ok(config) => {
                let config = Arc::new(config);
                tracing::info!(path = %self.path.display(), scopes = config.scopes.len(), "config loaded");
                state.config = Arc::clone(&config);
                state.error = None;
                Refresh::Reloaded(config)
            }
            Err(e) => {
                tracing::error!("config not taken, still serving the last good one: {e}");
                state.error = Some(e.to_string());
                Refresh::Broken
            }
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        Snapshot {
            config: Arc::clone(&state.config),
            error: state.error.clone(),
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
        let live = LiveConfig::load(path.clone(), tmp.path().into());
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
    fn a_missing_file_is_an_empty_config() {
        let tmp = tempfile::tempdir().unwrap();
        let live = LiveConfig::load(tmp.path().join("nope.toml"), tmp.path().into());
        let snap = live.snapshot();
        assert!(snap.config.scopes.is_empty() && snap.error.is_none());
    }
}
