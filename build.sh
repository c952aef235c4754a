#!/usr/bin/env bash
# possdk build driver.
#   ./build.sh demo      the embedded acquirer host simulator + a full terminal day
#   ./build.sh test      format check, clippy (-D warnings), every test (Rust, C, Python, JVM), soak smoke,
#                        library size budget
#   ./build.sh bench     criterion benches (codec, MAC, PIN), host load client, sale latency, perf budgets
#   ./build.sh soak      crash-and-fault soak: [--rounds N] [--seed S] (release build)
#   ./build.sh android   cross-build the JNI library for Android (needs an NDK and cargo-ndk)
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }

cmd_test() {
    step "cargo fmt --check"
    cargo fmt --all -- --check
    step "cargo clippy -D warnings"
    cargo clippy --workspace --all-targets -- -D warnings
    step "build the libraries and binaries the integration tests drive"
    cargo build --workspace --bins --lib
    step "cargo test (unit, vectors, properties, host, end-to-end, C ABI, JNI)"
    local log
    log=$(mktemp)
    set +e
    cargo test --workspace --all-targets 2>&1 | tee "$log"
    local status=${PIPESTATUS[0]}
    set -e
    # One closing line for the whole run, summed over every test binary.
    awk '/^test result:/ { for (i = 1; i <= NF; i++) {
            if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
         END { printf "\npossdk: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
    rm -f "$log"
    [ "$status" -eq 0 ] || return "$status"
    # The debug binary is already built above; a release build would cost more time than it saves.
    step "soak smoke: terminal kills and host faults, seed 1 (./build.sh soak runs longer ones)"
    cargo run --quiet -p possdk-e2e --bin possdk-soak -- --rounds 280 --seed 1
    step "library size budget (release build of libpossdk.so and libpossdk_jni.so, stripped, <= 2 MiB each)"
    scripts/size-check.sh
}

cmd_demo() {
    step "possdk demo: host simulator + a full terminal day"
    cargo run --quiet -p possdk-e2e --bin possdk-demo -- "$@"
}

cmd_bench() {
    step "criterion: codec/decode_sale codec/encode_sale mac/cup_ecb pin/iso0"
    cargo bench -p possdk-core --bench codec --bench crypto -- --noplot
    step "host throughput: 8 connections of approved sales"
    cargo run --release --quiet -p possdk-host --bin possdk-host-load -- --seconds 5
    step "terminal sale latency over loopback with the durable journal"
    cargo run --release --quiet -p possdk-e2e --bin sale-bench -- --count 500
    step "the sale's floor: terminal work per sale (in-memory transport), synchronous OFF and FULL"
    cargo run --release --quiet -p possdk-e2e --bin perf-bench -- sale --count 2000
    step "journal: settle 10,000, cold start on 10,000 rows, upload 10,000"
    cargo run --release --quiet -p possdk-e2e --bin perf-bench -- journal --rows 10000
}

cmd_soak() {
    step "possdk soak: terminal kills and host faults against the host ledger"
    cargo run --release --quiet -p possdk-e2e --bin possdk-soak -- "$@"
}

cmd_android() {
    exec scripts/android.sh "$@"
}

case "${1:-}" in
    test) shift; cmd_test "$@" ;;
    demo) shift; cmd_demo "$@" ;;
    bench) shift; cmd_bench "$@" ;;
    soak) shift; cmd_soak "$@" ;;
    android) shift; cmd_android "$@" ;;
    *)
        echo "usage: $0 {demo|test|bench|soak|android}" >&2
        exit 2
        ;;
esac
