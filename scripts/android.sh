#!/usr/bin/env bash
# Build libpossdk_jni.so for Android (arm64-v8a, armeabi-v7a, x86_64) with cargo-ndk, linked for 16 KB
# pages, and copy it into android-demo/possdk/src/main/jniLibs/<abi>/. Called by `./build.sh android`.
#
# Needs: an Android NDK (r25 or newer; ANDROID_NDK_HOME, ANDROID_NDK_ROOT or $ANDROID_HOME/ndk/<version>),
# cargo-ndk (`cargo install cargo-ndk`), and the Rust targets (`rustup target add aarch64-linux-android
# armv7-linux-androideabi x86_64-linux-android`). Without them it says what is missing and exits 1.
#
# Environment: ANDROID_API (minimum API level, default 24, as possdk/build.gradle.kts), PROFILE (release
# or dev, default release).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/android-demo/possdk/src/main/jniLibs"
API="${ANDROID_API:-24}"
PROFILE="${PROFILE:-release}"
ABIS=(arm64-v8a armeabi-v7a x86_64)
TRIPLES=(aarch64-linux-android armv7-linux-androideabi x86_64-linux-android)

missing=()

# 1. The NDK.
ndk="${ANDROID_NDK_HOME:-${ANDROID_NDK_ROOT:-}}"
if [[ -z "$ndk" ]]; then
    for sdk in "${ANDROID_HOME:-}" "${ANDROID_SDK_ROOT:-}"; do
        if [[ -n "$sdk" && -d "$sdk/ndk" ]]; then
            # The newest installed side-by-side NDK.
            ndk="$(find "$sdk/ndk" -mindepth 1 -maxdepth 1 -type d | sort -V | tail -n 1)"
            [[ -n "$ndk" ]] && break
        fi
    done
fi
if [[ -z "$ndk" ]]; then
    missing+=("Android NDK: set ANDROID_NDK_HOME to an NDK r25+ (or install one under \$ANDROID_HOME/ndk/ with sdkmanager 'ndk;27.2.12479018')")
elif [[ ! -f "$ndk/source.properties" ]]; then
    missing+=("Android NDK: '$ndk' (from ANDROID_NDK_HOME / ANDROID_NDK_ROOT / ANDROID_HOME) is not an NDK (no source.properties)")
else
    export ANDROID_NDK_HOME="$ndk"
fi

# 2. cargo-ndk.
if ! cargo ndk --version >/dev/null 2>&1; then
    missing+=("cargo-ndk: cargo install cargo-ndk")
fi

# 3. The Rust targets.
if command -v rustup >/dev/null 2>&1; then
    installed="$(rustup target list --installed 2>/dev/null || true)"
    need=()
    for t in "${TRIPLES[@]}"; do
        grep -qx "$t" <<<"$installed" || need+=("$t")
    done
    if ((${#need[@]})); then
        missing+=("Rust targets: rustup target add ${need[*]}")
    fi
else
    missing+=("rustup (to add the Android targets ${TRIPLES[*]})")
fi

if ((${#missing[@]})); then
    echo "android: cannot build libpossdk_jni.so for Android; missing:" >&2
    for m in "${missing[@]}"; do
        echo "  - $m" >&2
    done
    echo "See docs/ANDROID.md." >&2
    exit 1
fi

echo "android: NDK $ANDROID_NDK_HOME, API $API, profile $PROFILE, ABIs ${ABIS[*]}"

# 16 KB page alignment of every LOAD segment (required for Android 15+ devices with 16 KB pages).
# Per-target flags so a RUSTFLAGS the caller set still applies and host build scripts are untouched.
for t in "${TRIPLES[@]}"; do
    var="CARGO_TARGET_$(tr '[:lower:]-' '[:upper:]_' <<<"$t")_RUSTFLAGS"
    export "$var"="${!var:-} -C link-arg=-Wl,-z,max-page-size=16384"
done

targets=()
for abi in "${ABIS[@]}"; do
    targets+=(-t "$abi")
done
profile_args=()
[[ "$PROFILE" == "release" ]] && profile_args=(--release)

mkdir -p "$OUT"
(cd "$ROOT" && cargo ndk "${targets[@]}" -P "$API" -o "$OUT" build -p possdk-jni --features tls "${profile_args[@]}")

# Check what landed: present, and every LOAD segment aligned to 16 KB (when the NDK's readelf is there).
readelf="$(find "$ANDROID_NDK_HOME/toolchains/llvm/prebuilt" -maxdepth 3 -name llvm-readelf -type f 2>/dev/null | head -n 1 || true)"
status=0
for abi in "${ABIS[@]}"; do
    so="$OUT/$abi/libpossdk_jni.so"
    if [[ ! -f "$so" ]]; then
        echo "android: $so was not produced" >&2
        status=1
        continue
    fi
    if [[ -n "$readelf" ]]; then
        aligned=1
        for align in $("$readelf" -lW "$so" | awk '$1 == "LOAD" { print $NF }'); do
            (( align < 16384 )) && aligned=0
        done
        if (( aligned )); then
            echo "android: $abi ok ($(du -h "$so" | cut -f1), LOAD segments 16 KB aligned)"
        else
            echo "android: $abi: a LOAD segment is aligned below 16 KB" >&2
            status=1
        fi
    else
        echo "android: $abi built ($(du -h "$so" | cut -f1)); llvm-readelf not found, alignment not checked"
    fi
done
exit $status
