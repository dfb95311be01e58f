# sec's hook for zsh: at each prompt where the working directory changed, asks sec what the
# new directory's scope needs (it may ask you to allow a new .sec.toml or to unlock its
# secrets, on the terminal) and applies its answer: SEC_SCOPE (the scope directory, never a
# secret) is exported or unset. Secret values never enter this shell; `sec exec` passes them
# to the one command that needs them.
#
# Install: add this line to ~/.zshrc:
#
#     eval "$(sec hook zsh)"
#
# At a prompt where the directory did not change, the hook starts no process.

if [[ -o interactive ]]; then

    # Runs before each prompt, from precmd_functions.
    __sec_hook() {
        # Taken first, before any other command overwrites it.
        \builtin local __sec_status=$?
        # zsh's own options inside, whatever the user set (ksharrays, nounset, ...). Also
        # keeps the caller's errexit from closing the shell when this returns nonzero.
        \builtin emulate -L zsh
        if [[ -z ${__sec_pwd+set} || ${__sec_pwd} != "${PWD-}" ]]; then
            \builtin local __sec_from="${__sec_pwd-}" __sec_code
            # Recorded before asking, so a failed or interrupted question is not asked
            # again at every prompt: only the next change of directory asks.
            __sec_pwd=${PWD-}
            # stdout is the code to apply; stdin and stderr stay on the terminal for the
            # questions. On failure sec has said what went wrong, in one line at most.
            if __sec_code=$(\command @SEC@ hook-event zsh --from "${__sec_from}" --to "${PWD-}" --declined "${__sec_declined-}"); then
                \builtin eval "${__sec_code}" || \builtin :
            fi
        fi
        \builtin return ${__sec_status}
    }

    # Put the hook first in precmd_functions, once, so prompt themes there see SEC_SCOPE.
    () {
        \builtin emulate -L zsh
        \builtin typeset -ga precmd_functions
        if (( ! ${precmd_functions[(Ie)__sec_hook]} )); then
            precmd_functions=(__sec_hook ${precmd_functions[@]})
        fi
    }

fi
