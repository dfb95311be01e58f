//! The scripts `sec hook SHELL` prints, one template per shell, kept as shell files in this
//! crate's folder (`sec.bash`, `sec.zsh`, `sec.fish`) so that shellcheck, editors and the
//! docs see real scripts, and embedded here so that the client reads nothing outside a
//! crate at build time.
//!
//! Each template calls sec as [`PLACEHOLDER`]; the client puts its own path there, quoted
//! for that shell.

/// Where a template names the sec binary; replaced by its path as one quoted word.
pub const PLACEHOLDER: &str = "@SEC@";

/// `sec.bash`: a `PROMPT_COMMAND` entry.
pub const BASH: &str = include_str!("../sec.bash");

/// `sec.zsh`: a `precmd` function.
pub const ZSH: &str = include_str!("../sec.zsh");

/// `sec.fish`: a `fish_prompt` event handler.
pub const FISH: &str = include_str!("../sec.fish");

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_calls_sec_through_the_placeholder() {
        for template in [super::BASH, super::ZSH, super::FISH] {
            assert!(template.contains(super::PLACEHOLDER));
        }
    }
}
