# shellcheck shell=bash
#
# sec's hook for bash: at each prompt where the working directory changed, asks sec what the
# new directory's scope needs (it may ask you to allow a new .sec.toml or to unlock its
# secrets, on the terminal) and applies its answer: SEC_SCOPE (the scope directory, never a
# secret) is exported or unset. Secret values never enter this shell; `sec exec` passes them
# to the one command that needs them.
#
# Install: add this line to ~/.bashrc (after anything else that sets PROMPT_COMMAND):
#
#     eval "$(sec hook bash)"
#
# At a prompt where the directory did not change, the hook starts no process.

if [[ $- == *i* ]]; then

    # Runs before each prompt, from PROMPT_COMMAND.
    __sec_hook() {
        # Taken first, before any other command overwrites it.
        \builtin local __sec_status=$?
        if [[ -z ${__sec_pwd+set} || ${__sec_pwd} != "${PWD-}" ]]; then
            \builtin local __sec_from=${__sec_pwd-} __sec_code
            # Recorded before asking, so a failed or interrupted question is not asked
            # again at every prompt: only the next change of directory asks.
            __sec_pwd=${PWD-}
            # stdout is the code to apply; stdin and stderr stay on the terminal for the
            # questions. On failure sec has said what went wrong, in one line at most.
            if __sec_code=$(\command @SEC@ hook-event bash --from "${__sec_from}" --to "${PWD-}" --declined "${__sec_declined-}"); then
                \builtin eval "${__sec_code}" || \builtin :
            fi
        fi
        # Under errexit, a nonzero return from a prompt hook would close the shell; bash
        # restores $? after PROMPT_COMMAND anyway.
        if [[ $- == *e* ]]; then
            \builtin return 0
        fi
        \builtin return "${__sec_status}"
    }

    # Put the hook first in PROMPT_COMMAND, once, so prompt themes there see SEC_SCOPE.
    # Both forms are handled: the string and bash 5.1's array.
    __sec_install() {
        \builtin local IFS=' ' __sec_word='(^|[;[:space:]])__sec_hook($|[;[:space:]])'
        if [[ ${PROMPT_COMMAND[*]-} =~ ${__sec_word} ]]; then
            \builtin return 0
        fi
        if ((BASH_VERSINFO[0] > 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] >= 1))); then
            # ${X@a} is "unbound" under nounset when X is unset or an empty array; `local -`
            # restores the options when this function returns.
            \builtin local -
            \builtin set +u
            if [[ ${PROMPT_COMMAND@a} == *a* ]]; then
                PROMPT_COMMAND=(__sec_hook "${PROMPT_COMMAND[@]}")
                \builtin return 0
            fi
        fi
        # The string form (the only one before bash 5.1), which shellcheck cannot tell apart.
        # shellcheck disable=SC2128,SC2178
        PROMPT_COMMAND="__sec_hook${PROMPT_COMMAND:+;${PROMPT_COMMAND}}"
    }
    __sec_install
    \builtin unset -f __sec_install

fi
