#!/usr/bin/env bash
# Size budget of the shipped libraries: build libpossdk.so and libpossdk_jni.so in release (the profile
# they ship with), strip copies, and fail when one is over its budget (2 MiB each on x86_64).
#   scripts/size-check.sh            build, check, print the sizes and the build time
set -euo pipefail
cd "$(dirname "$0")/.."

BUDGET=$((2 * 1024 * 1024))
start=$(date +%s)
cargo build --release -p possdk-ffi -p possdk-jni
built=$(date +%s)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for lib in libpossdk.so libpossdk_jni.so; do
    cp "target/release/$lib" "$out/$lib"
    strip --strip-all "$out/$lib"
    size=$(stat -c %s "$out/$lib")
    if ((size > BUDGET)); then
        verdict="OVER BUDGET"
        status=1
    else
        verdict="ok"
    fi
    printf '%-18s stripped %9d bytes (%.2f MiB), budget %d: %s\n' \
        "$lib" "$size" "$(awk -v s="$size" 'BEGIN { print s / 1048576 }')" "$BUDGET" "$verdict"
done
echo "release build of both libraries: $((built - start)) s"
exit "$status"
