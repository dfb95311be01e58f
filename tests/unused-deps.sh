#!/usr/bin/env bash
# Unused dependencies, found the way `cargo machete` finds them: by reading, not compiling.
# For every workspace member, each dependency its Cargo.toml declares (workspace-inherited
# and target-specific ones included) must be named by the crate's own sources, as
# `use NAME`, `NAME::` (a path, a macro path, an attribute such as `#[tokio::main]`) or
# `extern crate NAME`, with `-` in NAME read as `_`:
#
#   [dependencies]        in the crate's code that is not test code: test code is the files
#                         under tests/ and benches/, the modules declared under
#                         `#[cfg(test)]`, and the items marked `#[cfg(test)]` in other files
#                         (a dependency only tests use belongs in [dev-dependencies])
#   [dev-dependencies]    anywhere in the crate's sources
#   [build-dependencies]  in build.rs
#
# The sources are every `.rs` file in the crate's folder, except target/ and folders that
# are crates of their own. Comment lines do not count as a use. Exits 1 and names every
# finding.
#
#   tests/unused-deps.sh        (run by .ci/run before the tests)
set -euo pipefail
cd "$(dirname "$0")/.."

# Used where no source file can show it: code generated at build time. "CRATE DEPENDENCY".
readonly GENERATED=(
    "sec-proto prost"       # the messages tonic-prost-build generates derive prost::Message
    "sec-proto tonic-prost" # and are encoded with tonic_prost::ProstCodec
)

# The members listed in the root Cargo.toml's `members = [...]`.
members() {
    awk '
        /^members[[:space:]]*=/ { on = 1 }
        on {
            line = $0
            while (match(line, /"[^"]*"/)) {
                print substr(line, RSTART + 1, RLENGTH - 2)
                line = substr(line, RSTART + RLENGTH)
            }
            if ($0 ~ /\]/) exit
        }
    ' Cargo.toml
}

# The package name of the crate in folder $1.
package_name() {
    awk -F'"' '/^\[package\]/ { on = 1; next } /^\[/ { on = 0 } on && /^name[[:space:]]*=/ { print $2; exit }' "$1/Cargo.toml"
}

# "KIND NAME" for every dependency of the crate in folder $1; KIND is normal, dev or build.
dependencies() {
    awk '
        /^\[/ {
            kind = ""; table = ""
            header = $0
            sub(/^\[(target\.[^]]*\.)?/, "", header)
            sub(/\][[:space:]]*(#.*)?$/, "", header)
            if (header == "dependencies") kind = "normal"
            else if (header == "dev-dependencies") kind = "dev"
            else if (header == "build-dependencies") kind = "build"
            else if (header ~ /^(dependencies|dev-dependencies|build-dependencies)\./) {
                # [dependencies.NAME]
                split(header, part, ".")
                k = part[1] == "dependencies" ? "normal" : part[1] == "dev-dependencies" ? "dev" : "build"
                print k, substr(header, length(part[1]) + 2)
            }
            next
        }
        kind != "" && /^[A-Za-z0-9_-]+(\.workspace)?[[:space:]]*=/ {
            name = $0
            sub(/(\.workspace)?[[:space:]]*=.*/, "", name)
            print kind, name
        }
    ' "$1/Cargo.toml"
}

# Every .rs file of the crate in folder $1, without target/ and nested crates.
sources() {
    local dir=$1
    find "$dir" -mindepth 1 \
        \( -type d \( -name target -o -exec test -e '{}/Cargo.toml' \; \) -prune \) \
        -o \( -type f -name '*.rs' -print \) | LC_ALL=C sort
}

# The files of the modules that $1 declares under `#[cfg(test)]` (`mod NAME;`, with or
# without `#[path = "..."]`).
test_module_files() {
    local file=$1 dir base moddir
    dir=$(dirname "$file")
    base=$(basename "$file" .rs)
    case "$base" in
        mod | lib | main | build) moddir=$dir ;;
        *) moddir=$dir/$base ;;
    esac
    awk -v dir="$dir" -v moddir="$moddir" '
        /^[[:space:]]*#\[cfg\((test|all\(test[,)].*)\)\][[:space:]]*$/ { test = 1; path = ""; next }
        test && /^[[:space:]]*#\[path[[:space:]]*=[[:space:]]*"[^"]*"\]/ {
            match($0, /"[^"]*"/); path = substr($0, RSTART + 1, RLENGTH - 2); next
        }
        test && /^[[:space:]]*#\[/ { next }
        test && /^[[:space:]]*(pub(\([^)]*\))?[[:space:]]+)?mod[[:space:]]+[A-Za-z0-9_]+[[:space:]]*;/ {
            name = $0
            sub(/^[[:space:]]*(pub(\([^)]*\))?[[:space:]]+)?mod[[:space:]]+/, "", name)
            sub(/[[:space:]]*;.*/, "", name)
            if (path != "") print dir "/" path
            else { print moddir "/" name ".rs"; print moddir "/" name "/mod.rs" }
        }
        { test = 0 }
    ' "$file"
}

# File $1 without comment lines and without the items under `#[cfg(test)]` (rustfmt's
# layout: an item ends on the first line at its own indentation that ends it).
code_outside_tests() {
    awk '
        function indent_of(s) { match(s, /^[ \t]*/); return RLENGTH }
        skipping {
            n = indent_of($0)
            if ($0 ~ /^[[:space:]]*$/) next
            if (n < depth) { skipping = 0 }                   # left the enclosing block
            else {
                if (n == depth && $0 ~ /(}|;|,)[[:space:]]*$/) skipping = 0
                next
            }
        }
        /^[[:space:]]*\/\// { next }
        /^[[:space:]]*#\[cfg\((test|all\(test[,)].*)\)\][[:space:]]*$/ { pending = 1; depth = indent_of($0); next }
        pending && /^[[:space:]]*#\[/ { next }
        pending {
            pending = 0
            if ($0 !~ /(;|,)[[:space:]]*$/) skipping = 1     # one line ends it, else its block
            next
        }
        { print }
    ' "$1"
}

# File $1 without comment lines.
code() {
    grep -v '^[[:space:]]*//' "$1" || true
}

# Whether the text on stdin names crate $1 (already with `_`).
names() {
    grep -Eq "(^|[^A-Za-z0-9_])((use|extern[[:space:]]+crate)[[:space:]]+(::)?$1([^A-Za-z0-9_]|$)|$1::)"
}

# Whether $1 is one of the remaining arguments.
listed() {
    local entry=$1 item
    shift
    for item in "$@"; do
        [[ $item == "$entry" ]] && return 0
    done
    return 1
}

findings=()
for member in $(members); do
    crate=$(package_name "$member")
    mapfile -t files < <(sources "$member")
    ((${#files[@]})) || continue

    test_files=()
    for file in "${files[@]}"; do
        while read -r candidate; do
            [[ -e $candidate ]] && test_files+=("$(realpath -m "$candidate")")
        done < <(test_module_files "$file")
    done
    all_code=""
    normal_code=""
    build_code=""
    for file in "${files[@]}"; do
        relative=${file#"$member"/}
        text=$(code "$file")
        all_code+=$text$'\n'
        if [[ $relative == build.rs ]]; then
            build_code=$text
            continue
        fi
        case "$relative" in tests/* | benches/*) continue ;; esac
        if listed "$(realpath -m "$file")" ${test_files[@]+"${test_files[@]}"}; then
            continue
        fi
        normal_code+=$(code_outside_tests "$file")$'\n'
    done

    while read -r kind name; do
        [[ -n $name ]] || continue
        listed "$crate $name" "${GENERATED[@]}" && continue
        ident=${name//-/_}
        problem=""
        case "$kind" in
            normal)
                if ! names "$ident" <<<"$normal_code"; then
                    if names "$ident" <<<"$all_code"; then
                        problem="only tests use it: move it to [dev-dependencies]"
                    else
                        problem="unused in [dependencies]"
                    fi
                fi
                ;;
            dev) names "$ident" <<<"$all_code" || problem="unused in [dev-dependencies]" ;;
            build) names "$ident" <<<"$build_code" || problem="unused in [build-dependencies]" ;;
        esac
        [[ -n $problem ]] || continue
        findings+=("$member/Cargo.toml: $name: $problem")
    done < <(dependencies "$member" | sort -u)
done

if ((${#findings[@]})); then
    printf 'unused dependency: %s\n' "${findings[@]}" >&2
    exit 1
fi
echo "unused-deps: every dependency is used"
