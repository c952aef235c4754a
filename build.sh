#!/usr/bin/env bash
# possdk build driver.
#   ./build.sh demo      the embedded acquirer host simulator + a full terminal day [--key-family tdes|sm]
#   ./build.sh test      format check, clippy (-D warnings), every test (Rust, C, Python, JVM), soak smoke,
#                        library size budget
#   ./build.sh bench     criterion benches (codec, MAC, PIN), host load client, sale latency, perf budgets
#   ./build.sh soak      crash-and-fault soak: [--rounds N] [--seed S] [--key-family tdes|sm] (release build)
#   ./build.sh android   cross-build the JNI library for Android (needs an NDK and cargo-ndk)
#   ./build.sh fuzz [S]  every cargo-fuzz target for S seconds each (default 30; nightly + cargo-fuzz)
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }

cmd_test() {
    step "cargo fmt --check"
    cargo fmt --all -- --check
    cargo fmt --manifest-path fuzz/Cargo.toml --all -- --check
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
    step "soak smoke in the SM key family (docs/PROTOCOL.md §11), seed 2"
    cargo run --quiet -p possdk-e2e --bin possdk-soak -- --rounds 80 --seed 2 --key-family sm
    step "library size budgets (release libpossdk.so and libpossdk_jni.so, stripped: plain <= 2 MiB, tls <= 3 MiB)"
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

# Nightly and cargo-fuzz: fail loudly without them; outside CI, install cargo-fuzz (never a toolchain).
need_fuzz_tools() {
    if ! command -v python3 >/dev/null; then
        echo "error: fuzzing needs python3 (fuzz/seeds.py writes the seed corpus)" >&2
        exit 1
    fi
    if ! cargo +nightly --version >/dev/null 2>&1; then
        echo "error: fuzzing needs the nightly toolchain: rustup toolchain install nightly --profile minimal" >&2
        exit 1
    fi
    if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
        if [ "${CI:-}" = true ]; then
            echo "error: cargo-fuzz is missing (.ci/run installs it): cargo install cargo-fuzz --locked" >&2
            exit 1
        fi
        step "installing cargo-fuzz"
        cargo install cargo-fuzz --locked
    fi
}

# Longest input worth trying per target: a little over the most the field (or frame) can hold
# (profile.rs: frame 2,048 bytes, 59 999, 62 512, 48 322, 54 20); libFuzzer's default is 4,096.
fuzz_max_len() {
    case $1 in
        iso8583_frame) echo 2100 ;;
        tlv) echo 1024 ;;
        f62_keys | emv_params | detail_query) echo 600 ;;
        settlement_48) echo 400 ;;
        balance_54) echo 200 ;;
        profile) echo 12000 ;;
        *) echo 4096 ;;
    esac
}

cmd_fuzz() {
    local secs=${1:-30}
    if ! [[ $secs =~ ^[1-9][0-9]*$ ]]; then
        echo "usage: $0 fuzz [SECONDS per target]" >&2
        exit 2
    fi
    need_fuzz_tools
    local start=$SECONDS
    step "fuzz seed corpus from tests/vectors"
    python3 fuzz/seeds.py
    # No sanitizer: core has no unsafe code, and panics (overflow checks and debug assertions on)
    # are what the targets look for; ASan costs several times the executions per second.
    step "cargo +nightly fuzz build"
    (cd fuzz && cargo +nightly fuzz build --sanitizer none)
    local built=$((SECONDS - start))
    local targets
    targets=$(cd fuzz && cargo +nightly fuzz list)
    local failed=() summary=() log t runs
    log=$(mktemp)
    for t in $targets; do
        step "fuzz $t for ${secs}s"
        mkdir -p "fuzz/corpus/$t"
        # libFuzzer's progress lines (#N ...) and recommended dictionary are left out; everything
        # else, a crash included, shows.
        set +e
        (cd fuzz && cargo +nightly fuzz run --sanitizer none "$t" "corpus/$t" "seeds/$t" -- \
            -max_total_time="$secs" -max_len="$(fuzz_max_len "$t")" -timeout=10 -rss_limit_mb=2048) \
            2>&1 | tee "$log" | grep -v -e '^#' -e '^"'
        local status=${PIPESTATUS[0]}
        set -e
        runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log")
        if [ "$status" -ne 0 ]; then
            failed+=("$t")
            summary+=("$(printf '%-15s FAILED (see fuzz/artifacts/%s)' "$t" "$t")")
        else
            summary+=("$(printf '%-15s %s' "$t" "${runs:-?}")")
        fi
    done
    rm -f "$log"
    step "fuzz summary (build ${built}s, total $((SECONDS - start))s)"
    printf '  %s\n' "${summary[@]}"
    if [ ${#failed[@]} -gt 0 ]; then
        echo "error: fuzz targets failed: ${failed[*]} (reproduce: cd fuzz && cargo +nightly fuzz run --sanitizer none TARGET artifacts/TARGET/FILE)" >&2
        return 1
    fi
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
    fuzz) shift; cmd_fuzz "$@" ;;
    *)
        echo "usage: $0 {demo|test|bench|soak|android|fuzz}" >&2
        exit 2
        ;;
esac
