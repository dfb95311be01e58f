#!/bin/sh
# Cargo's workspace rustc wrapper (.cargo/config.toml): called as `WRAPPER RUSTC ARGS...` for
# every workspace crate. For the `sec` and `sec-cli` binaries on a glibc Linux target it links
# them statically (`+crt-static`, a static PIE: ASLR stays) with packed relative relocations,
# so they start without the dynamic loader (docs/DECISIONS.md, "A static `sec`"). Everything
# else, and any system where that link fails, gets rustc unchanged.
rustc=$1
shift

static_sec() {
    case " $* " in
    *" --crate-name sec "*" --crate-type bin "* | *" --crate-name sec_cli "*" --crate-type bin "*) ;;
    *) return 1 ;;
    esac
    target=
    previous=
    for arg in "$@"; do
        [ "$previous" = --target ] && target=$arg
        case $arg in --target=*) target=${arg#--target=} ;; esac
        previous=$arg
    done
    [ -n "$target" ] || target=$("$rustc" -vV | sed -n 's/^host: //p')
    case $target in *-linux-gnu*) return 0 ;; esac
    return 1
}

if static_sec "$@"; then
    log=$(mktemp "${TMPDIR:-/tmp}/sec-static-link.XXXXXX") || exit 1
    if "$rustc" "$@" -C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs 2>"$log"; then
        cat "$log" >&2
        rm -f "$log"
        exit 0
    fi
    rm -f "$log"
    echo "note: linking sec statically failed on this system (it needs glibc's static libc.a and binutils 2.38 or later); building a dynamically linked sec, which starts about 0.5 ms slower" >&2
fi
exec "$rustc" "$@"
