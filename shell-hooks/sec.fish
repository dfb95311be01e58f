# sec's hook for fish: at each prompt where the working directory changed, asks sec what the
# new directory's scope needs (it may ask you to allow a new .sec.toml or to unlock its
# secrets, on the terminal) and applies its answer: SEC_SCOPE (the scope directory, never a
# secret) is exported or erased. Secret values never enter this shell; `sec exec` passes
# them to the one command that needs them.
#
# Install: add this line to ~/.config/fish/config.fish:
#
#     sec hook fish | source
#
# At a prompt where the directory did not change, the hook starts no process.

if status is-interactive

    # Runs before each prompt. Defining it again replaces it, handler included.
    function __sec_hook --on-event fish_prompt
        # Taken first, before any other command overwrites it.
        set -l __sec_status $status
        if not set -q __sec_pwd; or builtin test "$__sec_pwd" != "$PWD"
            set -l __sec_from "$__sec_pwd"
            # Recorded before asking, so a failed or interrupted question is not asked
            # again at every prompt: only the next change of directory asks.
            set -g __sec_pwd "$PWD"
            # stdout is the code to apply; stdin and stderr stay on the terminal for the
            # questions. On failure sec has said what went wrong, in one line at most.
            set -l __sec_code (command @SEC@ hook-event fish --from "$__sec_from" --to "$PWD" --declined "$__sec_declined")
            and builtin printf '%s\n' $__sec_code | builtin source
        end
        return $__sec_status
    end

end
