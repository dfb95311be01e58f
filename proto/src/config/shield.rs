//! `[shield]`: the user's additions to what `sec shield` shows and hides, checked.

use super::*;

/// `[shield]`, checked: name patterns of variable-name characters and `*`; absolute paths,
/// `*` only in the last component of `hide`, `.` and `..` folded.
pub(super) fn shield_settings(raw: &RawShield, home: &Path) -> Result<ShieldSettings, Located> {
    let patterns = |list: &[Spanned<String>], key: &str| -> Result<Vec<String>, Located> {
        list.iter()
            .map(|p| {
                let text = p.get_ref();
                let plain = text.replace('*', "");
                if looks_like_token(text) {
                    return Err(Located::new(
                        p.span(),
                        format!("an entry of `{key}` is a variable name pattern, but this {TOKEN_HINT}"),
                    ));
                }
                let valid = !text.is_empty()
                    && (plain.is_empty() || plain.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()));
                if valid {
                    Ok(text.clone())
                } else {
                    Err(Located::new(
                        p.span(),
                        format!("an entry of `{key}` is not a variable name pattern; use letters, digits, `_` and `*`"),
                    ))
                }
            })
            .collect()
    };
    let paths =
        |list: &[Spanned<String>], key: &str, glob: bool| -> Result<Vec<PathBuf>, Located> {
            list.iter()
                .map(|p| {
                    let path = canonical_or_normal(&absolute_path(p, home, key)?);
                    let star_before_last = path
                        .parent()
                        .is_some_and(|parent| parent.to_string_lossy().contains('*'));
                    if star_before_last || (!glob && path.to_string_lossy().contains('*')) {
                        let allowed = if glob {
                            "only in the last component"
                        } else {
                            "not at all"
                        };
                        return Err(Located::new(
                            p.span(),
                            format!("an entry of `{key}`: `*` may appear {allowed}"),
                        ));
                    }
                    Ok(path)
                })
                .collect()
        };
    Ok(ShieldSettings {
        hide_env: patterns(&raw.hide_env, "hide_env")?,
        keep_env: patterns(&raw.keep_env, "keep_env")?,
        hide: paths(&raw.hide, "hide", true)?,
        writable: paths(&raw.writable, "writable", false)?,
        allow: paths(&raw.allow, "allow", false)?,
    })
}
