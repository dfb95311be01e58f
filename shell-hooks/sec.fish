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
# At a prompt where the directory did not change, the hook starts no process. Most changes
# of directory start none either (fish 3.5 and later): with the map sec left at its last
# run (the config's scopes, and files secd keeps current) the hook settles them itself,
# with builtins only, when no scope is involved or an unlocked scope is entered. It runs
# sec when it cannot be sure (see __sec_quick).

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
            if not __sec_quick "$__sec_from" "$PWD"
                set -l __sec_code (command @SEC@ hook-event fish --from "$__sec_from" --to "$PWD" --declined "$__sec_declined")
                and builtin printf '%s\n' $__sec_code | builtin source
            end
        end
        return $__sec_status
    end

    # Settles the change from directory $argv[1] (empty at the first prompt) to $argv[2]
    # without sec, as sec would: sets or erases SEC_SCOPE and returns 0. Returns 1 when sec
    # must run: there is no map (__sec_cfg empty), or config.toml changed since it was
    # taken; a symbolic link is at or above either directory (the map's directories have
    # their links resolved), or a .sec.toml that is not an approved one of the map, unlocked
    # and unchanged (see __sec_repo_ok; others need sec's trust checks); the old directory
    # is in a scope with on_leave = "revoke" that the new one is not in; the new one is
    # [[untrusted]] and the old one was not (sec reminds of `sec shield`); the new one is in
    # a scope that may offer to unlock (prompt) whose secrets are not all cached (no
    # marker) and that was not declined in this shell.
    function __sec_quick --argument-names from to
        test -n "$__sec_cfg"; and test -n "$__sec_unlocked"; or return 1
        if test -n "$__sec_cfg_mtime"
            # The config's modification time, in whole seconds, as it was when the map was
            # taken (secd hands out no map for a config edited a moment before). `path` is
            # a builtin from fish 3.5 on.
            contains -- path (builtin -n); or return 1
            set -l mtime (path mtime -- $__sec_cfg); or return 1
            test "$mtime" = "$__sec_cfg_mtime"; or return 1
        else
            # There was no config file.
            not test -e "$__sec_cfg"; and not test -L "$__sec_cfg"; or return 1
        end
        __sec_plain "$to"; or return 1
        if test -n "$from"
            __sec_plain "$from"; or return 1
            set -l i (__sec_scope_of "$from")
            if test -n "$i"; and string match -q -- '*f*' $__sec_map_flags[$i]
                __sec_repo_ok $__sec_map_dir[$i]; or return 1
            end
            if test -n "$i"; and string match -q -- '*r*' $__sec_map_flags[$i]
                __sec_covers $__sec_map_dir[$i] "$to"; or return 1
            end
        end
        set -l u
        for u in $__sec_untrusted
            if __sec_covers "$u" "$to"
                test -n "$from"; and __sec_covers "$u" "$from"; or return 1
                # sec advertises no scope there.
                set -e SEC_SCOPE
                return 0
            end
        end
        set -l i (__sec_scope_of "$to")
        if test -z "$i"
            set -e SEC_SCOPE
            return 0
        end
        set -l dir $__sec_map_dir[$i]
        if string match -q -- '*f*' $__sec_map_flags[$i]
            __sec_repo_ok $dir; or return 1
        end
        if string match -q -- '*p*' $__sec_map_flags[$i]
            and not test -e "$__sec_unlocked/$__sec_map_id[$i]"
            and not contains -- $dir (string split : -- "$__sec_declined")
            return 1
        end
        set -gx SEC_SCOPE $dir
    end

    # Whether directory $argv[1] is as it is on disk (absolute, no `.`, `..` or `//`, no
    # symbolic link on the way) with no .sec.toml at or above it but approved ones the hook
    # may rely on (__sec_repo_ok).
    function __sec_plain --argument-names d
        string match -q -- '/*' "$d"; or return 1
        test "$d" = /; and set d ''
        string match -q -r -- '//|/\.\.?/' "$d/"; and return 1
        while true
            if test -L "$d"; or test -L "$d/.sec.toml"
                return 1
            end
            if test -e "$d/.sec.toml"
                if test -n "$d"
                    __sec_repo_ok "$d"; or return 1
                else
                    __sec_repo_ok /; or return 1
                end
            end
            test -n "$d"; or return 0
            set d (string replace -r -- '/[^/]*$' '' "$d")
        end
    end

    # Whether the .sec.toml in directory $argv[1] is one the hook may rely on: the map has it
    # as an approved repository file (flag f) and secd's marker for that version of it
    # exists (it is approved, unchanged and every secret of its scope is cached) with the
    # file's modification time, so the file was not touched since secd read it. fish has no
    # -nt: `path mtime` (fish 3.5) gives whole seconds, and secd makes no marker for a file
    # modified less than two seconds before it looked, so a later edit is a later second.
    function __sec_repo_ok --argument-names dir
        set -l file "$dir/.sec.toml"
        test "$dir" = /; and set file /.sec.toml
        set -l i 0
        set -l d
        for d in $__sec_map_dir
            set i (math $i + 1)
            if test "$d" = "$dir"; and string match -q -- '*f*' $__sec_map_flags[$i]
                set -l marker "$__sec_unlocked/$__sec_map_id[$i]"
                test -f "$marker"; and test -f "$file"; and not test -L "$file"; or return 1
                contains -- path (builtin -n); or return 1
                set -l times (path mtime -- $file $marker); or return 1
                test (count $times) -eq 2; and test "$times[1]" = "$times[2]"
                return $status
            end
        end
        return 1
    end

    # The deepest scope of the map that covers directory $argv[1]: prints its index in the
    # map's lists, nothing when none does.
    function __sec_scope_of --argument-names p
        set -l best
        set -l len -1
        set -l i 0
        set -l dir
        for dir in $__sec_map_dir
            set i (math $i + 1)
            if __sec_covers "$dir" "$p"
                set -l n (string length -- "$dir")
                if test $n -ge $len
                    set best $i
                    set len $n
                end
            end
        end
        test -n "$best"; and echo $best
    end

    # Whether directory $argv[1] is $argv[2] or one of its ancestors (whole components).
    function __sec_covers --argument-names top p
        if test "$top" = /; or test "$p" = "$top"
            return 0
        end
        set -l head (string sub -l (string length -- "$top/") -- "$p")
        test "$head" = "$top/"
    end

end
