#!/usr/bin/env bash
# Size budget of the shipped libraries: build libpossdk.so and libpossdk_jni.so in release (the profile they
# ship with), strip copies, and fail when one is over its flavour's budget (x86_64):
#   plain  (no features)     2 MiB each: firmware that brings its own TLS through the transport callback, or
#                            reaches the acquirer over a private network
#   tls    (--features tls)  3 MiB each: TLS inside the library (rustls with ring, docs/PROTOCOL.md §10);
#                            the Android build ships this flavour (scripts/android.sh)
#   scripts/size-check.sh            build both flavours, check, print the sizes and the build times
set -euo pipefail
cd "$(dirname "$0")/.."

MIB=$((1024 * 1024))
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0

check() { # flavour budget cargo-feature-args...
    local flavour=$1 budget=$2
    shift 2
    local start built
    start=$(date +%s)
    # The C library as it ships: a cdylib on its own. Built together with the crate's rlib (which its Rust
    # tests link) the code is generated once for every crate type, LTO must keep what the rlib exports, and
    # the stripped .so is ~290 KB larger.
    cargo rustc --release -p possdk-ffi --lib --crate-type cdylib "$@"
    cargo build --release -p possdk-jni "$@"
    built=$(date +%s)
    for lib in libpossdk.so libpossdk_jni.so; do
        cp "target/release/$lib" "$out/$lib"
        strip --strip-all "$out/$lib"
        local size verdict
        size=$(stat -c %s "$out/$lib")
        if ((size > budget)); then
            verdict="OVER BUDGET"
            status=1
        else
            verdict="ok"
        fi
        printf '%-5s %-18s stripped %9d bytes (%.2f MiB), budget %d: %s\n' "$flavour" "$lib" "$size" \
            "$(awk -v s="$size" 'BEGIN { print s / 1048576 }')" "$budget" "$verdict"
    done
    echo "release build of the $flavour flavour: $((built - start)) s"
}

check plain $((2 * MIB))
check tls $((3 * MIB)) --features tls
exit "$status"
