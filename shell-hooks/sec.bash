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
# At a prompt where the directory did not change, the hook starts no process. Most changes
# of directory start none either: with the map sec left at its last run (the config's
# scopes, and files secd keeps current) the hook settles them itself, with builtins only,
# when no scope is involved or an unlocked scope is entered. It runs sec when it cannot be
# sure (see __sec_quick).

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
            if ! __sec_quick "${__sec_from}" "${PWD-}"; then
                if __sec_code=$(\command @SEC@ hook-event bash --from "${__sec_from}" --to "${PWD-}" --declined "${__sec_declined-}"); then
                    \builtin eval "${__sec_code}" || \builtin :
                fi
            fi
        fi
        # Under errexit, a nonzero return from a prompt hook would close the shell; bash
        # restores $? after PROMPT_COMMAND anyway.
        if [[ $- == *e* ]]; then
            \builtin return 0
        fi
        \builtin return "${__sec_status}"
    }

    # Settles the change from directory $1 (empty at the first prompt) to $2 without sec,
    # as sec would: sets or unsets SEC_SCOPE and returns 0. Returns 1 when sec must run:
    # there is no map (__sec_cfg empty), or config.toml changed since it was taken; a
    # symbolic link is at or above either directory (the map's directories have their links
    # resolved), or a .sec.toml that is not an approved one of the map, unlocked and
    # unchanged (see __sec_repo_ok; others need sec's trust checks); the old
    # directory is in a scope with on_leave = "revoke" that the new one is not in; the new
    # one is [[untrusted]] and the old one was not (sec reminds of `sec shield`); the new
    # one is in a scope that may offer to unlock (prompt) whose secrets are not all cached
    # (no marker) and that was not declined in this shell.
    __sec_quick() {
        \builtin local __sec_found __sec_flags __sec_dir __sec_u
        [[ -n ${__sec_cfg-} && -n ${__sec_unlocked-} ]] || \builtin return 1
        if [[ -n ${__sec_stamp-} ]]; then
            # The stamp has the config's modification time as it was when the map was taken.
            [[ -e ${__sec_cfg} && -e ${__sec_stamp} && ! ${__sec_cfg} -nt ${__sec_stamp} && ! ${__sec_cfg} -ot ${__sec_stamp} ]] || \builtin return 1
        else
            # There was no config file.
            [[ ! -e ${__sec_cfg} && ! -L ${__sec_cfg} ]] || \builtin return 1
        fi
        # Directories compared case-insensitively would match the wrong scope.
        if \builtin shopt -q nocasematch; then
            \builtin return 1
        fi
        __sec_plain "$2" || \builtin return 1
        if [[ -n $1 ]]; then
            __sec_plain "$1" || \builtin return 1
            __sec_scope_of "$1"
            if [[ $__sec_flags == *f* ]] && ! __sec_repo_ok "$__sec_dir"; then
                \builtin return 1
            fi
            if [[ $__sec_flags == *r* ]] && ! __sec_covers "$__sec_dir" "$2"; then
                \builtin return 1
            fi
        fi
        # The map's arrays are set by the code sec prints.
        # shellcheck disable=SC2154
        for __sec_u in ${__sec_untrusted[@]+"${__sec_untrusted[@]}"}; do
            if __sec_covers "$__sec_u" "$2"; then
                if [[ -z $1 ]] || ! __sec_covers "$__sec_u" "$1"; then
                    \builtin return 1
                fi
                # sec advertises no scope there.
                \builtin unset SEC_SCOPE
                \builtin return 0
            fi
        done
        __sec_scope_of "$2"
        if [[ -z $__sec_found ]]; then
            \builtin unset SEC_SCOPE
            \builtin return 0
        fi
        if [[ $__sec_flags == *f* ]] && ! __sec_repo_ok "$__sec_dir"; then
            \builtin return 1
        fi
        if [[ $__sec_flags == *p* && ! -e ${__sec_unlocked}/${__sec_found} && ":${__sec_declined-}:" != *":${__sec_dir}:"* ]]; then
            \builtin return 1
        fi
        # For prompt themes and the programs started here.
        # shellcheck disable=SC2034
        \builtin export SEC_SCOPE="$__sec_dir"
    }

    # Whether directory $1 is as it is on disk (absolute, no `.`, `..` or `//`, no symbolic
    # link on the way) with no .sec.toml at or above it but approved ones the hook may rely
    # on (__sec_repo_ok).
    __sec_plain() {
        \builtin local __sec_d=$1
        [[ $__sec_d == /* ]] || \builtin return 1
        if [[ $__sec_d == / ]]; then
            __sec_d=
        fi
        case $__sec_d/ in
            *//* | */./* | */../*) \builtin return 1 ;;
        esac
        while :; do
            if [[ -L $__sec_d || -L $__sec_d/.sec.toml ]]; then
                \builtin return 1
            fi
            if [[ -e $__sec_d/.sec.toml ]] && ! __sec_repo_ok "${__sec_d:-/}"; then
                \builtin return 1
            fi
            [[ -n $__sec_d ]] || \builtin return 0
            __sec_d=${__sec_d%/*}
        done
    }

    # Whether the .sec.toml in directory $1 is one the hook may rely on: the map has it as an
    # approved repository file (flag f) and secd's marker for that version of it exists (it
    # is approved, unchanged and every secret of its scope is cached) with the file's
    # modification time, so the file was not touched since secd read it.
    __sec_repo_ok() {
        \builtin local __sec_e __sec_s __sec_m __sec_f=${1%/}/.sec.toml
        # shellcheck disable=SC2154
        for __sec_e in ${__sec_map[@]+"${__sec_map[@]}"}; do
            __sec_s=${__sec_e#* }
            __sec_m=${__sec_unlocked}/${__sec_s%% *}
            __sec_s=${__sec_s#* }
            if [[ $__sec_s == "$1" && ${__sec_e%% *} == *f* ]]; then
                [[ -f $__sec_m && -f $__sec_f && ! -L $__sec_f && ! $__sec_f -nt $__sec_m && ! $__sec_f -ot $__sec_m ]]
                \builtin return
            fi
        done
        \builtin return 1
    }

    # The deepest scope of the map that covers directory $1: sets the caller's __sec_found
    # (its marker id), __sec_flags and __sec_dir, all empty when none does.
    __sec_scope_of() {
        \builtin local __sec_e __sec_s __sec_len=-1
        __sec_found='' __sec_flags='' __sec_dir=''
        # shellcheck disable=SC2154
        for __sec_e in ${__sec_map[@]+"${__sec_map[@]}"}; do
            __sec_s=${__sec_e#* }
            __sec_s=${__sec_s#* }
            if __sec_covers "$__sec_s" "$1" && ((${#__sec_s} >= __sec_len)); then
                __sec_len=${#__sec_s}
                __sec_dir=$__sec_s
                __sec_flags=${__sec_e%% *}
                __sec_found=${__sec_e#* }
                __sec_found=${__sec_found%% *}
            fi
        done
    }

    # Whether directory $1 is $2 or one of its ancestors (whole components).
    __sec_covers() {
        [[ $2 == "$1" || $2 == "$1"/* || $1 == / ]]
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
